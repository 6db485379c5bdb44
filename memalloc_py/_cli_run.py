"""``memalloc run`` and ``memalloc paths`` (the command line's part for the
C libraries; cli.py dispatches here).

    memalloc paths                  # the library, header and preload shim
    memalloc paths preload          # one of them, for $(...)
    memalloc run --allocator buddy --stats -- python3 script.py

``run`` checks everything (allocator, options, sizes, that the command
exists) before it starts the command, then replaces itself with the command
under the shim, so the command's exit status is memalloc's.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from typing import Any, Callable

_NOT_FOUND = 127   # a shell's status for a command it cannot find
_CANNOT_RUN = 126  # ... and for one it cannot execute


def add_parsers(sub: Any, size: Callable[[str], int]) -> None:
    """The `paths` and `run` subcommands; `size` parses K/M/G/T sizes."""
    p = sub.add_parser("paths", help="print where the C library, its header and the preload shim are",
                       description="Print the installed libmemalloc.so, memalloc.h and "
                                   "libmemalloc_preload.so (or only the one named).")
    p.add_argument("which", nargs="?", choices=["library", "header", "include", "preload"],
                   help="print only this path (include: the header's folder, for -I)")

    r = sub.add_parser(
        "run", help="run a command with one of the allocators as its malloc (LD_PRELOAD shim)",
        description="Run COMMAND with malloc, free, realloc and the rest of the family served by "
                    "one of the allocators, over one arena for the whole process (docs/shim.md). "
                    "The command's exit status is passed through.",
        usage="memalloc run [--allocator NAME] [--options TEXT] [--stats] [--leaks] "
              "[--abort-on-error] [--scribble] [--check-at-exit] [...] -- COMMAND ARGS...")
    r.add_argument("--allocator", default=None, metavar="NAME",
                   help="the allocator (memalloc list shows them; default best-ao)")
    r.add_argument("--options", default="", metavar="TEXT",
                   help="its options as ma_create takes them, e.g. arena_size=8G,growth=64K "
                        "(the shim's default arena is 4G)")
    r.add_argument("--stats", action="store_true",
                   help="at exit, print the statistics and the Johnstone-Wilson measures of the run")
    r.add_argument("--leaks", action="store_true", help="at exit, list the blocks never freed, largest first")
    r.add_argument("--leaks-max", type=int, default=None, metavar="N",
                   help="list at most N blocks with --leaks (default 50; 0: all)")
    r.add_argument("--abort-on-error", action="store_true",
                   help="abort, with a message, on a free or realloc of a pointer that is not a live block")
    r.add_argument("--scribble", action="store_true",
                   help="fill fresh blocks with 0xaa and freed ones with 0x55")
    r.add_argument("--check-at-exit", action="store_true",
                   help="check the heap's every invariant at exit; exit status 125 when it fails")
    r.add_argument("--mmap-threshold", type=size, default=0, metavar="SIZE",
                   help="give requests of SIZE bytes and more their own mapping (default: never)")
    r.add_argument("--report", default=None, metavar="FILE",
                   help="append the shim's messages and reports to FILE instead of stderr")
    r.add_argument("argv", nargs=argparse.REMAINDER, metavar="COMMAND",
                   help="the command and its arguments, after --")


def paths(args: argparse.Namespace) -> int:
    from .preload import paths as installed

    found = installed()
    if args.which:
        print(getattr(found, "include_dir" if args.which == "include" else args.which))
        return 0
    print(f"library  {found.library}")
    print(f"header   {found.header}")
    print(f"preload  {found.preload}")
    return 0


def run(args: argparse.Namespace, usage_error: Callable[[str], Exception]) -> int:
    from .preload import DEFAULT_ALLOCATOR, environment

    command = list(args.argv)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        raise usage_error("run needs a command: memalloc run [OPTIONS] -- COMMAND ARGS...")
    if args.leaks_max is not None and args.leaks_max < 0:
        raise usage_error(f"--leaks-max must be 0 (all) or more, got {args.leaks_max}")
    env = environment(args.allocator or DEFAULT_ALLOCATOR, args.options, stats=args.stats,
                      leaks=args.leaks, leaks_max=args.leaks_max,
                      abort_on_error=args.abort_on_error, scribble=args.scribble,
                      check_at_exit=args.check_at_exit, mmap_threshold=args.mmap_threshold,
                      report=args.report)
    program = command[0]
    path = program if os.sep in program else shutil.which(program, path=env.get("PATH"))
    if path is None or not os.path.isfile(path):
        print(f"memalloc: run: command not found: {program}", file=sys.stderr)
        return _NOT_FOUND
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(path, command, env)
    except OSError as e:
        print(f"memalloc: run: cannot execute {program}: {e.strerror}", file=sys.stderr)
        return _CANNOT_RUN
    raise AssertionError("unreachable")  # pragma: no cover
