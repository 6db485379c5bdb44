"""The allocators: one small class each, and the name registry behind ``create``."""
from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

from ._core import Allocator, _count
from ._native import ffi, lib

__all__ = ["Buddy", "FreeList", "System", "FITS", "ORDERS", "ALIASES", "ALLOCATORS", "ARENA_ALLOCATORS", "create", "accepted_options"]


def _option(value: Any, name: str) -> int:
    """An integer option as C takes it (uint64_t).  Only the type and what a
    uint64_t can hold are checked here; the C create function checks the
    range and names the parameter, its value and the allowed range."""
    return _count(value, name)


class Buddy(Allocator):
    """Binary buddy allocator ("twins"): power-of-two blocks, split and merge.

    ``arena_size``: a power of two from 1 KiB to 1 TiB (address space reserved,
    not memory).  ``min_block``: a power of two from 16 to ``arena_size``.
    A value out of range raises ValueError naming the parameter, the value and
    the allowed range (the C core's own check); a non-integer TypeError.

    Bookkeeping lives in a side table (4 bits per minimum block, reported as
    ``metadata_bytes``), so every byte of a block is usable: a request takes
    the smallest power of two >= max(request, min_block), aligned to its size.
    ``heap_size`` is the end of the highest allocated block, and only free
    blocks below it count as free "inside the heap".  Block addresses start
    at 0, so ``memalign`` meets any power-of-two alignment up to
    ``arena_size`` (on an empty heap, the whole arena is one block at 0).
    """

    def __init__(self, arena_size: int = 1 << 20, min_block: int = 16):
        arena_size = _option(arena_size, "arena_size")
        min_block = _option(min_block, "min_block")
        super().__init__(
            lambda out: lib.ma_buddy_create(arena_size, min_block, out),
            {"arena_size": arena_size, "min_block": min_block},
        )
        self.min_block = min_block


#: Placement policies of :class:`FreeList`.
FITS = ("best", "first", "next", "worst")
#: Free-list orders of :class:`FreeList` and their short names.
ORDERS = {"address": "ao", "lifo": "lifo", "fifo": "fifo"}
_FIT_CODES = {"best": lib.MA_FIT_BEST, "first": lib.MA_FIT_FIRST,
              "next": lib.MA_FIT_NEXT, "worst": lib.MA_FIT_WORST}
_ORDER_CODES = {"address": lib.MA_ORDER_ADDRESS, "lifo": lib.MA_ORDER_LIFO,
                "fifo": lib.MA_ORDER_FIFO}
# The C core's defaults (ma_freelist_config_default), FreeList's own.
_FL_DEFAULT = lib.ma_freelist_config_default()


def _name_code(value: Any, name: str, codes: dict[str, int]) -> int:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if value not in codes:
        raise ValueError(f"{name} must be one of {tuple(codes)}, got {value!r}")
    return codes[value]


class FreeList(Allocator):
    """The free-list family: one boundary-tag heap, twelve placement policies.

    ``fit``: ``"best"`` (the smallest free block that fits), ``"first"`` (the
    first in the free-list order that fits), ``"next"`` (like first, from a
    roving pointer, wrapping around) or ``"worst"`` (the largest).
    ``order``: the free-list order, ``"address"``, ``"lifo"`` (most recently
    freed first) or ``"fifo"``; it also breaks ties between equal sizes.

    The heap grows at the top of the arena (``arena_size``, address space
    reserved: a multiple of 16 from 4 KiB to 32 GiB) in whole steps of
    ``growth`` bytes (a multiple of 16 from 16 to ``arena_size``, not
    necessarily a power of two), like the program break, extending a free
    last block.  ``prealloc``: heap bytes taken at creation (0, or a multiple
    of 16 from ``min_block`` to ``arena_size``).  ``trim``: give the top of
    the heap back when it becomes free (never below ``prealloc``).
    ``min_block``: the smallest block (a multiple of 16 from 32 to
    ``arena_size``).  A value out of range raises ValueError naming the
    parameter, the value and the allowed range (the C core's own check); a
    non-integer TypeError.

    Each block has a 16-byte header (so ``usable_size`` is the block size
    minus 16); free blocks also carry a footer and their index node, and are
    coalesced with free neighbours at once.  A request of n bytes takes a
    block of ``max(min_block, round_up(n + 16, 16))`` bytes; a free block is
    split when the remainder can hold a minimum block, the allocation taking
    its low end.  ``memalign`` looks for a block of size + alignment +
    min_block and frees the leading fragment.  An address is its block's
    offset + 16, never 0, so no address is a multiple of ``arena_size``:
    alignments up to ``arena_size / 2`` can succeed (on a fresh heap, when
    the heap can grow by block size + alignment + min_block), larger ones are
    out of memory (None).
    """

    def __init__(
        self,
        arena_size: int = int(_FL_DEFAULT.arena_size),
        fit: str = FITS[_FL_DEFAULT.fit],
        order: str = tuple(ORDERS)[_FL_DEFAULT.order],
        growth: int = int(_FL_DEFAULT.growth),
        prealloc: int = int(_FL_DEFAULT.prealloc),
        trim: bool = bool(_FL_DEFAULT.trim),
        min_block: int = int(_FL_DEFAULT.min_block),
        _stamp_limit: int = int(_FL_DEFAULT.stamp_limit),
    ):
        if not isinstance(trim, bool):
            raise TypeError(f"trim must be True or False, not {type(trim).__name__}")
        cfg = ffi.new("ma_freelist_config *")
        cfg.fit = _name_code(fit, "fit", _FIT_CODES)
        cfg.order = _name_code(order, "order", _ORDER_CODES)
        cfg.arena_size = arena_size = _option(arena_size, "arena_size")
        cfg.growth = growth = _option(growth, "growth")
        cfg.prealloc = prealloc = _option(prealloc, "prealloc")
        cfg.min_block = min_block = _option(min_block, "min_block")
        cfg.trim = int(trim)
        cfg.stamp_limit = _option(_stamp_limit, "_stamp_limit")
        super().__init__(
            lambda out: lib.ma_freelist_create(cfg, out),
            {"arena_size": arena_size, "fit": fit, "order": order, "growth": growth,
             "prealloc": prealloc, "trim": trim, "min_block": min_block},
        )
        self.fit = fit
        self.order = order
        self.min_block = min_block


class System(Allocator):
    """The C library's malloc behind the common interface: the speed baseline.

    There is no arena: addresses are real pointers (they differ between runs)
    and ``arena_size`` is 0.  ``blocks()`` and ``dump()`` raise
    NotImplementedError (libc's heap cannot be walked from outside) and
    ``heap_size`` is 0.  Bad addresses are still rejected with InvalidAddress
    before libc sees them.
    """

    def __init__(self) -> None:
        super().__init__(lambda out: lib.ma_system_create(out), {})


_FACTORIES: dict[str, Callable[..., Allocator]] = {"buddy": Buddy}
for _fit in FITS:
    for _order, _short in ORDERS.items():
        _FACTORIES[f"{_fit}-{_short}"] = functools.partial(FreeList, fit=_fit, order=_order)
for _fit in FITS:  # the -ao variants under their short names
    _FACTORIES[_fit] = functools.partial(FreeList, fit=_fit, order="address")
_FACTORIES["system"] = System

#: The names that :func:`create` accepts, in a stable order.
ALLOCATORS: tuple[str, ...] = tuple(_FACTORIES)

#: Short names and the allocators they stand for.
ALIASES: dict[str, str] = {fit: f"{fit}-ao" for fit in FITS}

#: Every distinct allocator that manages an arena (no aliases, no ``system``).
ARENA_ALLOCATORS: tuple[str, ...] = tuple(
    n for n in ALLOCATORS if n != "system" and n not in ALIASES
)


def create(name: str, **options: Any) -> Allocator:
    """Create the allocator registered as ``name`` (see ``ALLOCATORS``)."""
    try:
        factory = _FACTORIES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown allocator {name!r}; choose one of: {', '.join(ALLOCATORS)}"
        ) from None
    if isinstance(factory, functools.partial):  # a name that fixes fit and order
        for key, fixed in factory.keywords.items():
            if key in options and options[key] != fixed:
                raise ValueError(
                    f"allocator {name!r} has {key}={fixed!r}; the option "
                    f"{key}={options[key]!r} conflicts with it"
                )
    return factory(**options)


def accepted_options(name: str) -> frozenset[str]:
    """The keyword options that ``create(name, ...)`` accepts."""
    factory = _FACTORIES[name]
    fixed: set[str] = set()
    if isinstance(factory, functools.partial):
        fixed = set(factory.keywords)
        factory = factory.func
    params = inspect.signature(factory).parameters
    return frozenset(p for p in params if p != "self" and p not in fixed and not p.startswith("_"))
