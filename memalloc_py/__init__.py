"""memalloc_py: an allocator research workbench.

Real allocators written in C, driven address by address from Python::

    import memalloc_py as ma
    with ma.create("buddy", arena_size=1 << 20) as a:
        p = a.malloc(100)
        a.write(p, b"hello")
        print(a.stats().internal_fragmentation)

and traces replayed through them at C speed::

    t = ma.workloads.steady_state(1_000_000, live=50_000, seed=1)
    print(ma.compare(t, ["buddy", "best-ao", "first-lifo"], arena_size=1 << 32))

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
from . import importers, workloads
from .allocators import ALIASES, ALLOCATORS, ARENA_ALLOCATORS, FITS, ORDERS, Buddy, FreeList, System, create

from .importers import read_trace
from .replaying import ReplayResult, compare, replay, replay_bare, replay_libc
from .trace import Trace, TraceError

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # ``ma.plot`` imports matplotlib, so only on first use.
    if name == "plot":
        import importlib

        return importlib.import_module(".plot", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | {"plot"})


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
    "compare",
    "importers",
    "plot",
    "read_trace",
    "replay",
    "replay_bare",
    "replay_libc",
    "ReplayResult",
    "Trace",
    "TraceError",
    "workloads",
    "__version__",
]
