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

The full contract is in the documentation: docs/api.md (the interface),
docs/measures.md (statistics and fragmentation measures), docs/traces.md
(traces and file formats) and docs/references.md (the published results).
"""
from importlib import import_module as _import_module
from pathlib import Path as _Path


def _not_built_message() -> str:
    """Why ``memalloc_py._native`` is missing, and what to do about it."""
    here = _Path(__file__).resolve().parent
    root = here.parent
    what = f"memalloc_py's C extension is not built in {here}: "
    if (root / "setup.py").is_file() or (root / "pyproject.toml").is_file():
        return what + (
            "you are importing the source folder of a checkout (Python puts the current "
            "directory first on sys.path, so this folder shadows any installed memalloc_py). "
            f"Developers: run `pip install -e .` in {root} to build it in place; "
            "users: run Python from another directory to import the installed package."
        )
    return what + "the installation is incomplete; run `pip install --force-reinstall memalloc_py`."


try:
    _import_module(f"{__name__}._native")  # the C core, compiled by cffi at install time
except ModuleNotFoundError as _missing:
    if _missing.name != f"{__name__}._native":
        raise
    raise ImportError(_not_built_message(), name=f"{__name__}._native") from None
del _import_module, _Path, _not_built_message

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
from .allocators import (
    ALIASES, ALLOCATORS, ARENA_ALLOCATORS, DEBUG_OPTIONS, FITS, ORDERS, REGISTRY, TLSF, Buddy, FreeList, System, create,
)
from .allocators import ZONE_DTYPE, Zones

from .importers import read_trace
from . import preload
from .preload import paths
from .replaying import ReplayResult, compare, replay, replay_bare, replay_libc
from . import sweeping
from .sweeping import Workload, sweep
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
    "REGISTRY",
    "DEBUG_OPTIONS",
    "HeapCorruption",
    "InvalidAddress",
    "Stats",
    "System",
    "ZONE_DTYPE",
    "Zones",
    "sweep",
    "sweeping",
    "TLSF",
    "create",
    "compare",
    "importers",
    "paths",
    "plot",
    "preload",
    "read_trace",
    "replay",
    "replay_bare",
    "replay_libc",
    "ReplayResult",
    "Trace",
    "TraceError",
    "Workload",
    "workloads",
    "__version__",
]
