"""The allocators: one small class each, and the name registry behind ``create``."""
from __future__ import annotations

import inspect
from typing import Any, Callable

from ._core import Allocator, _count
from ._native import lib

__all__ = ["Buddy", "System", "ALLOCATORS", "ARENA_ALLOCATORS", "create", "accepted_options"]


def _power_of_two(value: Any, name: str, lo: int, hi: int) -> int:
    try:
        v = _count(value, name)
    except TypeError:
        raise
    except ValueError as e:
        raise ValueError(str(e)) from None
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


_FACTORIES: dict[str, Callable[..., Allocator]] = {
    "buddy": Buddy,
    "system": System,
}

#: The names that :func:`create` accepts, in a stable order.
ALLOCATORS: tuple[str, ...] = tuple(_FACTORIES)

#: The allocators that manage an arena of their own (all but ``system``).
ARENA_ALLOCATORS: tuple[str, ...] = tuple(n for n in ALLOCATORS if n != "system")


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
    params = inspect.signature(factory).parameters
    return frozenset(p for p in params if p != "self")
