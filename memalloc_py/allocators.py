"""The allocators: one small class each, and the name registry behind ``create``."""
from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

from ._core import Allocator, _count
from ._native import ffi, lib

__all__ = ["Buddy", "FreeList", "System", "FITS", "ORDERS", "ALIASES", "ALLOCATORS", "ARENA_ALLOCATORS", "create", "accepted_options"]


def _power_of_two(value: Any, name: str, lo: int, hi: int) -> int:
    v = _count(value, name)
    if v & (v - 1) or not lo <= v <= hi:
        raise ValueError(f"{name} must be a power of two from {lo} to {hi}, got {v}")
    return v


class Buddy(Allocator):
    """Binary buddy allocator ("twins"): power-of-two blocks, split and merge.

    ``arena_size``: a power of two from 1 KiB to 1 TiB (address space reserved,
    not memory).  ``min_block``: a power of two from 16 to ``arena_size``.

    Bookkeeping lives in a side table (4 bits per minimum block, reported as
    ``metadata_bytes``), so every byte of a block is usable: a request takes
    the smallest power of two >= max(request, min_block), aligned to its size.
    ``heap_size`` is the end of the highest allocated block, and only free
    blocks below it count as free "inside the heap".
    """

    def __init__(self, arena_size: int = 1 << 20, min_block: int = 16):
        arena_size = _power_of_two(arena_size, "arena_size", 1 << 10, 1 << 40)
        min_block = _power_of_two(min_block, "min_block", 16, 1 << 40)
        if min_block > arena_size:
            raise ValueError(
                f"min_block ({min_block}) must not exceed arena_size ({arena_size})"
            )
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


def _multiple_of_16(value: Any, name: str, lo: int, hi: int) -> int:
    v = _count(value, name)
    if v % 16 or not lo <= v <= hi:
        raise ValueError(f"{name} must be a multiple of 16 from {lo} to {hi}, got {v}")
    return v


class FreeList(Allocator):
    """The free-list family: one boundary-tag heap, twelve placement policies.

    ``fit``: ``"best"`` (the smallest free block that fits), ``"first"`` (the
    first in the free-list order that fits), ``"next"`` (like first, from a
    roving pointer, wrapping around) or ``"worst"`` (the largest).
    ``order``: the free-list order, ``"address"``, ``"lifo"`` (most recently
    freed first) or ``"fifo"``; it also breaks ties between equal sizes.

    The heap grows at the top of the arena (``arena_size``, address space
    reserved: 4 KiB to 32 GiB) in multiples of ``growth`` bytes, like the
    program break, extending a free last block.  ``prealloc``: heap bytes
    taken at creation.  ``trim``: give the top of the heap back when it becomes
    free (never below ``prealloc``).  ``min_block``: the smallest block
    (a multiple of 16, at least 32).

    Each block has a 16-byte header (so ``usable_size`` is the block size
    minus 16); free blocks also carry a footer and their index node, and are
    coalesced with free neighbours at once.  A request of n bytes takes a
    block of ``max(min_block, round_up(n + 16, 16))`` bytes; a free block is
    split when the remainder can hold a minimum block, the allocation taking
    its low end.  ``memalign`` looks for a block of size + alignment +
    min_block and frees the leading fragment.
    """

    def __init__(
        self,
        arena_size: int = 1 << 30,
        fit: str = "best",
        order: str = "address",
        growth: int = 4096,
        prealloc: int = 0,
        trim: bool = False,
        min_block: int = 32,
        _stamp_limit: int = 0,
    ):
        if fit not in _FIT_CODES:
            raise ValueError(f"fit must be one of {FITS}, got {fit!r}")
        if order not in _ORDER_CODES:
            raise ValueError(f"order must be one of {tuple(ORDERS)}, got {order!r}")
        arena_size = _multiple_of_16(arena_size, "arena_size", 4096, 1 << 35)
        growth = _multiple_of_16(growth, "growth", 16, arena_size)
        min_block = _multiple_of_16(min_block, "min_block", 32, arena_size)
        prealloc = _multiple_of_16(prealloc, "prealloc", 0, arena_size)
        if 0 < prealloc < min_block:
            raise ValueError(f"prealloc must be 0 or at least min_block ({min_block}), got {prealloc}")
        if not isinstance(trim, bool):
            raise TypeError(f"trim must be True or False, not {type(trim).__name__}")
        cfg = ffi.new("ma_freelist_config *")
        cfg.arena_size = arena_size
        cfg.fit = _FIT_CODES[fit]
        cfg.order = _ORDER_CODES[order]
        cfg.growth = growth
        cfg.prealloc = prealloc
        cfg.min_block = min_block
        cfg.trim = int(trim)
        cfg.stamp_limit = _count(_stamp_limit, "_stamp_limit")
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
