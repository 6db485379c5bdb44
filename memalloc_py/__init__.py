"""memalloc_py: an allocator research workbench.

Real allocators written in C, driven address by address from Python::

    import memalloc_py as ma
    with ma.create("buddy", arena_size=1 << 20) as a:
        p = a.malloc(100)
        a.write(p, b"hello")
        print(a.stats().internal_fragmentation)

See README.md and DESIGN.md for the full contract.
"""
from ._core import (
    BLOCK_DTYPE,
    Allocator,
    AllocatorError,
    Block,
    Blocks,
    HeapCorruption,
    InvalidAddress,
    Stats,
)
from .allocators import ALIASES, ALLOCATORS, ARENA_ALLOCATORS, FITS, ORDERS, Buddy, FreeList, System, create

__version__ = "0.1.0"

__all__ = [
    "ALIASES",
    "ALLOCATORS",
    "ARENA_ALLOCATORS",
    "BLOCK_DTYPE",
    "Allocator",
    "AllocatorError",
    "Block",
    "Blocks",
    "Buddy",
    "FITS",
    "FreeList",
    "ORDERS",
    "HeapCorruption",
    "InvalidAddress",
    "Stats",
    "System",
    "create",
    "__version__",
]
