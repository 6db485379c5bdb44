"""The C libraries installed with the package, and programs run on our allocators.

``pip install`` builds, beside the Python extension:

- ``libmemalloc.so`` with its header ``memalloc.h``: every allocator of the
  registry for C programs (link with ``-lmemalloc`` or ``dlopen`` it);
- ``libmemalloc_preload.so``: the ``LD_PRELOAD`` shim that replaces malloc
  and its family in a whole process with one of the allocators
  (docs/shim.md).

::

    import memalloc_py as ma
    ma.paths().library                     # .../memalloc_py/lib/libmemalloc.so
    done = ma.preload.run(["python3", "-c", "print(1)"], allocator="buddy",
                          check_at_exit=True, capture_output=True, text=True)

``memalloc paths`` prints the paths and ``memalloc run`` runs a command under
the shim, with the same checks as :func:`environment`.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, NamedTuple, Optional, Sequence

#: The allocator ``memalloc run`` and the shim use when none is named.
DEFAULT_ALLOCATOR = "best-ao"
#: The arena the shim reserves when the options do not set arena_size.
DEFAULT_ARENA = "4G"
#: Exit status of a process whose shim could not start or whose heap failed
#: the check at exit.
SHIM_EXIT_STATUS = 125

_HERE = Path(__file__).resolve().parent


class Paths(NamedTuple):
    """Where the installed C files are."""

    library: Path      # libmemalloc.so
    header: Path       # memalloc.h
    include_dir: Path  # the folder of memalloc.h, for -I
    preload: Path      # libmemalloc_preload.so


def paths() -> Paths:
    """The installed C library, its header and the preload shim.

    Raises FileNotFoundError, naming the missing files, when the package was
    installed without them (a build that skipped its build_ext step).
    """
    found = Paths(_HERE / "lib" / "libmemalloc.so", _HERE / "include" / "memalloc.h",
                  _HERE / "include", _HERE / "lib" / "libmemalloc_preload.so")
    missing = [str(p) for p in (found.library, found.header, found.preload) if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"memalloc_py's C libraries are not built: {', '.join(missing)} missing; "
            "reinstall with `pip install --force-reinstall memalloc_py` "
            "(in a checkout: `pip install -e .`)")
    return found


def shim_options(allocator: str, options: str = "") -> str:
    """The options text the shim gives ``ma_create`` for ``allocator``:
    ``options`` with ``arena_size=4G`` put first when the allocator has an
    arena and the text does not set one.

    Checks both as the shim will, by creating the allocator (its arena is
    only reserved): an unknown allocator or option, a malformed or
    out-of-range value, or ``system`` (the C library's malloc, which the
    shim replaces) raise ValueError with the registry's message.
    """
    from ._native import ffi, lib

    if not isinstance(allocator, str) or not isinstance(options, str):
        raise TypeError("the allocator's name and its options must be str")
    index = ffi.new("size_t *")
    if lib.ma_registry_parse(allocator.encode(), options.encode(), index, ffi.NULL, 0) != lib.MA_OK:
        raise ValueError(ffi.string(lib.ma_thread_error()).decode())
    info = ffi.new("ma_registry_info *")
    lib.ma_registry_entry(index[0], info)
    if ffi.string(info.family).decode() == "system":
        raise ValueError(f"'{allocator}' is the C library's malloc, which the shim replaces: "
                         "run the program without it")
    option = ffi.new("ma_option_info *")
    names = []
    for j in range(info.n_options):
        lib.ma_registry_option(index[0], j, option)
        names.append(ffi.string(option.name).decode())
    given = {pair.split("=", 1)[0] for pair in options.split(",") if pair}
    text = options
    if "arena_size" in names and "arena_size" not in given:
        text = f"arena_size={DEFAULT_ARENA}" + (f",{options}" if options else "")
    out = ffi.new("ma_allocator **")
    if lib.ma_create(allocator.encode(), text.encode(), out) != lib.MA_OK:
        raise ValueError(f"{allocator} with options '{text}': "
                         + ffi.string(lib.ma_thread_error()).decode())
    lib.ma_destroy(out[0])
    return text


def environment(allocator: str = DEFAULT_ALLOCATOR, options: str = "", *,
                stats: bool = False, leaks: bool = False, leaks_max: Optional[int] = None,
                abort_on_error: bool = False, scribble: bool = False,
                check_at_exit: bool = False, mmap_threshold: int = 0,
                report: Optional[str] = None,
                base: Optional[dict[str, str]] = None) -> dict[str, str]:
    """The environment that runs a program under the shim: ``base`` (default
    ``os.environ``) with the shim first in ``LD_PRELOAD`` and every
    ``MEMALLOC_*`` variable set (an inherited one never applies unseen).

    The allocator and options are checked first (:func:`shim_options`).
    ``report`` is a file the shim's messages and reports are appended to
    instead of stderr (made absolute: the program may change directory).
    """
    shim_options(allocator, options)
    if isinstance(mmap_threshold, bool) or not isinstance(mmap_threshold, int) or mmap_threshold < 0:
        raise ValueError(f"mmap_threshold must be an integer >= 0, got {mmap_threshold!r}")
    if leaks_max is not None and (isinstance(leaks_max, bool) or not isinstance(leaks_max, int)
                                  or leaks_max < 0):
        raise ValueError(f"leaks_max must be an integer >= 0 (0: all), got {leaks_max!r}")
    env = dict(os.environ if base is None else base)
    shim = str(paths().preload)
    earlier = [p for p in env.get("LD_PRELOAD", "").replace(":", " ").split() if p != shim]
    env["LD_PRELOAD"] = " ".join([shim, *earlier])
    flag = {True: "1", False: "0"}
    env.update({
        "MEMALLOC_ALLOCATOR": allocator,
        "MEMALLOC_OPTIONS": options,
        "MEMALLOC_STATS": flag[bool(stats)],
        "MEMALLOC_LEAKS": flag[bool(leaks)],
        "MEMALLOC_LEAKS_MAX": "" if leaks_max is None else str(leaks_max),
        "MEMALLOC_ABORT_ON_ERROR": flag[bool(abort_on_error)],
        "MEMALLOC_SCRIBBLE": flag[bool(scribble)],
        "MEMALLOC_CHECK_AT_EXIT": flag[bool(check_at_exit)],
        "MEMALLOC_MMAP_THRESHOLD": str(mmap_threshold),
        "MEMALLOC_REPORT": os.path.abspath(report) if report else "",
    })
    return env


def run(command: Sequence[str], allocator: str = DEFAULT_ALLOCATOR, options: str = "", *,
        stats: bool = False, leaks: bool = False, leaks_max: Optional[int] = None,
        abort_on_error: bool = False, scribble: bool = False, check_at_exit: bool = False,
        mmap_threshold: int = 0, report: Optional[str] = None,
        **kwargs: Any) -> subprocess.CompletedProcess:
    """``subprocess.run(command, **kwargs)`` under the shim (see
    :func:`environment`; an ``env`` keyword is the base environment)."""
    env = environment(allocator, options, stats=stats, leaks=leaks, leaks_max=leaks_max,
                      abort_on_error=abort_on_error, scribble=scribble,
                      check_at_exit=check_at_exit, mmap_threshold=mmap_threshold,
                      report=report, base=kwargs.pop("env", None))
    return subprocess.run(list(command), env=env, **kwargs)
