"""The ``memalloc`` command (also ``python -m memalloc_py``).

    memalloc compare                      # the default workload through buddy + 12 policies
    memalloc compare --trace aosp:surfaceflinger --allocators buddy,best-ao,first-lifo
    memalloc compare --workload peaks --events 2000000 --plot out.png --csv out.csv
    memalloc trace info FILE              # a trace's summary
    memalloc trace convert IN OUT.npz     # any supported format to the native one
    memalloc record -o DIR -- CMD ARGS... # record CMD's allocations (memalloc_py.recording)
    memalloc list                         # the allocators
    memalloc sweep CONFIG.toml [-o results.parquet] [--scheduler ADDRESS]   # a parameter sweep
    memalloc run --allocator buddy --stats -- python3 script.py   # a program on an allocator
    memalloc paths                        # the C library, header and preload shim

Errors are reported as one line on stderr with exit status 2.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Any, Callable, NoReturn, Optional, Sequence

# The arena every allocator of a comparison reserves by default (one size for
# all, large enough for the bundled traces; the registry's own defaults differ
# by family).
DEFAULT_ARENA = 1 << 32
# Families whose arena the CLI rounds up to a power of two (their rule).
_ROUNDED_UP = ("buddy",)


class UsageError(Exception):
    """A bad command line: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse reporting its errors as one line (the usage only with --help)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


# Peak memory per event of generating a workload (the trace's 21 bytes per
# event and numpy's temporaries; measured 64-106 across the six workloads)
# plus the replay's table of 16 bytes per allocation (half the events).
_WORKLOAD_BYTES_PER_EVENT = 128
_ID_BYTES = 16
# Exit status after a closed pipe: a shell's status for a tool SIGPIPE ended.
_CLOSED_PIPE = 128 + 13


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="memalloc",
        description="memalloc_py: replay allocation traces through real allocators and "
                    "measure fragmentation.",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    c = sub.add_parser("compare", help="replay one trace through several allocators and tabulate",
                       description="Replay one trace (a file, a bundled real trace, or a synthetic "
                                   "workload) through several allocators; print fragmentation and speed.")
    src = c.add_mutually_exclusive_group()
    src.add_argument("--trace", metavar="FILE",
                     help="a trace file, or aosp:surfaceflinger / aosp:systemui (bundled real traces)")
    src.add_argument("--workload", default="steady",
                     help="synthetic workload when no --trace: steady, exponential, "
                          "uniform-lifetimes, ramp, peaks, plateau (default: steady)")
    c.add_argument("--format", choices=["aosp", "mtrace", "rep", "native", "record"],
                   help="the trace file's format (default: from its name)")
    c.add_argument("--pid", type=int, help="of a recording, the process to replay (default: the main one)")
    c.add_argument("--allocators", metavar="A,B,...",
                   help="comma-separated names (default: every allocator with an arena; "
                        "see memalloc list)")
    c.add_argument("--events", type=int, default=1_000_000,
                   help="workload size (default 1,000,000; refused when the machine lacks the "
                        "memory, about 128 bytes per event)")
    c.add_argument("--seed", type=int, default=1, help="workload seed, >= 0 (default 1)")
    c.add_argument("--arena-size", type=_size, default=DEFAULT_ARENA,
                   help=f"address space each allocator reserves (default {_as_given(DEFAULT_ARENA)}): "
                        + "; ".join(f"{who} {rule}" for who, rule in _family_rules("arena_size").values()))
    growth = _growth_default()
    c.add_argument("--growth", type=_size, default=growth,
                   help="heap growth step: " + "; ".join(f"{who} {rule}" for who, rule in
                                                         _family_rules("growth").values())
                        + f" (default {growth})")
    c.add_argument("--size-scale", type=int, default=1,
                   help="multiply every request size, 1 to 2**64 - 1 (Johnstone and Wilson used 16)")
    c.add_argument("--sample-every", type=int, default=1000,
                   help="events between samples, 0 to 2**64 - 1 (default 1000; 0: the final state only)")
    c.add_argument("--plot", metavar="PNG", help="save heap size and fragmentation over time")
    c.add_argument("--csv", metavar="FILE", help="write the table as CSV ('-' for stdout)")
    c.add_argument("--json", metavar="FILE", help="write the table as JSON ('-' for stdout)")
    c.add_argument("--no-progress", action="store_true", help="no progress bar")

    t = sub.add_parser("trace", help="inspect or convert trace files")
    tsub = t.add_subparsers(dest="trace_command", metavar="ACTION")
    info = tsub.add_parser("info", help="print a trace's summary")
    info.add_argument("file")
    info.add_argument("--format", choices=["aosp", "mtrace", "rep", "native", "record"])
    info.add_argument("--json", action="store_true", help="the summary as JSON")
    info.add_argument("--pid", type=int, help="of a recording, the process to show (default: the main one)")
    conv = tsub.add_parser("convert", help="convert a trace to the native format (.npz)")
    conv.add_argument("input")
    conv.add_argument("output")
    conv.add_argument("--format", choices=["aosp", "mtrace", "rep", "native", "record"], help="the input's format")
    conv.add_argument("--pid", type=int, help="of a recording, the process to convert (default: the main one)")

    r = sub.add_parser("record", help="run a command and record its allocations",
                       description="Run COMMAND with the recorder preloaded: every malloc-family call "
                                   "of it and of every process it starts is logged, one log per process "
                                   "image, in the directory DIR (read it with memalloc trace info DIR).")
    r.add_argument("-o", "--output", metavar="DIR", required=True,
                   help="the recording's directory (created; it must not exist or be empty)")
    r.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- COMMAND ARGS...")

    sub.add_parser("list", help="list the allocators")

    sw = sub.add_parser("sweep", help="run a parameter sweep described in a TOML file",
                        description="Replay traces and workloads through allocators over a grid of "
                                    "options, one task per replay, on this machine's cores or a Dask "
                                    "cluster; an existing results file is resumed (docs/sweep.md).")
    sw.add_argument("config", help="the sweep file (TOML)")
    sw.add_argument("-o", "--output", metavar="FILE",
                    help="results, .csv or .parquet (default: CONFIG with .csv); finished rows "
                         "already in it are not run again")
    where = sw.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on the Dask cluster of this scheduler (tcp://host:8786; "
                            "pip install 'memalloc_py[dask]')")
    where.add_argument("--jobs", type=int, metavar="N",
                       help="processes on this machine (default: one per core; 1: this process)")
    sw.add_argument("--retry-errors", action="store_true", help="run again the rows that failed")
    sw.add_argument("--no-progress", action="store_true", help="no progress bar")

    from ._cli_run import add_parsers

    add_parsers(sub, _size)
    return p


_UNITS = {"": 0, "k": 10, "m": 20, "g": 30, "t": 40}


def _size(text: str) -> int:
    """A byte count with an optional K/M/G/T suffix (powers of 1024): 4096, 64K, 4GiB."""
    m = re.fullmatch(r"\s*(\d+)\s*([kmgt]?)(?:i?b)?\s*", text.lower())
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 4096, 64K, 4G)")
    return int(m.group(1)) << _UNITS[m.group(2)]


def _as_given(n: int) -> str:
    """A size the way --arena-size takes it: 4G, 3000K, 5000."""
    for suffix, shift in reversed(_UNITS.items()):
        if n and shift and n % (1 << shift) == 0:
            return f"{n >> shift}{suffix.upper()}"
    return str(n)


def _human(n: float) -> str:
    """A byte count for reading: 12.3 GiB, 4 GiB."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} bytes" if unit == "bytes" else f"{n:.1f}".removesuffix(".0") + f" {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def _missing(x: Any) -> bool:
    """Not measured: None, NaN or pandas' NA."""
    import pandas as pd

    return x is None or bool(pd.isna(x))


def _pct(x: Any) -> str:
    return "—" if _missing(x) else f"{100 * x:.1f}%"


def _count(x: Any) -> str:
    return "—" if _missing(x) else f"{int(x):,}"


def _table(df: Any) -> str:
    """The comparison as a readable fixed-width table ("—": not measured)."""
    cols = [
        ("allocator", lambda r, name: name, "<"),
        ("ns/event", lambda r, name: "—" if _missing(r["ns_per_event"]) else f"{r['ns_per_event']:.1f}", ">"),
        ("failures", lambda r, name: _count(r["failures"]), ">"),
        ("peak heap", lambda r, name: _count(r["peak_heap"]), ">"),
        ("peak live", lambda r, name: _count(r["peak_live"]), ">"),
        ("JW #1", lambda r, name: _pct(r["jw1"]), ">"),
        ("JW #2", lambda r, name: _pct(r["jw2"]), ">"),
        ("JW #3", lambda r, name: _pct(r["jw3"]), ">"),
        ("JW #4", lambda r, name: _pct(r["jw4"]), ">"),
        ("internal", lambda r, name: _pct(r["internal_fragmentation"]), ">"),
    ]
    rows = [[f(r, name) for _, f, _ in cols] for name, r in df.iterrows()]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, (h, _, _) in enumerate(cols)]
    fmt = lambda cells: "  ".join(  # noqa: E731
        f"{c:{a}{w}}" for c, w, (_, _, a) in zip(cells, widths, cols))
    out = [fmt([h for h, _, _ in cols]), fmt(["-" * w for w in widths])]
    out += [fmt(row) for row in rows]
    return "\n".join(out)


def _write(target: str, text: str) -> None:
    if target == "-":
        sys.stdout.write(text)
    else:
        with open(target, "w") as f:
            f.write(text)


def _check_outputs(args: argparse.Namespace) -> None:
    """Refuse output files that cannot be written before any replay runs."""
    import os

    for option, target in (("--csv", args.csv), ("--json", args.json), ("--plot", args.plot)):
        if target is None or (target == "-" and option != "--plot"):
            continue
        if target in ("", "-"):
            raise UsageError(f"{option} needs a file name" + (" (a picture cannot go to stdout)"
                                                              if target == "-" else ""))
        folder = os.path.dirname(os.path.abspath(target))
        if not os.path.isdir(folder):
            raise UsageError(f"{option} {target}: the folder {folder} does not exist")
        if not os.access(folder, os.W_OK):
            raise UsageError(f"{option} {target}: the folder {folder} is not writable")
    if args.plot is not None:
        from matplotlib.figure import Figure

        kinds = sorted(Figure().canvas.get_supported_filetypes())
        ext = os.path.splitext(args.plot)[1].lstrip(".").lower()
        if ext not in kinds:
            raise UsageError(f"--plot {args.plot}: name the picture's format by its extension, "
                             f"one of {', '.join('.' + k for k in kinds)}")


def _allocator_names(text: Optional[str]) -> list[str]:
    """The --allocators list: known names, aliases resolved, none twice."""
    from . import allocators as A

    if text is None:
        return list(A.ARENA_ALLOCATORS)
    given = [n.strip() for n in text.split(",") if n.strip()]
    if not given:
        raise UsageError(f"--allocators {text!r} names no allocator; choose from: {', '.join(A.ALLOCATORS)}")
    names: list[str] = []
    for n in given:
        if n not in A.ALLOCATORS:
            raise UsageError(f"unknown allocator {n!r}; choose from: {', '.join(A.ALLOCATORS)}")
        name = A.ALIASES.get(n, n)
        if name in names:
            raise UsageError(f"--allocators names {name} twice" + (f" ({n} is {name})" if n != name else ""))
        names.append(name)
    return names


def _families(names: Sequence[str], option: str) -> dict[str, list[str]]:
    """The registry's families of ``names`` that have ``option``, each with its names."""
    from . import allocators as A

    found: dict[str, list[str]] = {}
    for n in names:
        entry = A.info(n)
        if option in entry.option_names():
            found.setdefault(entry.family, []).append(entry.name)
    return found


def _family_rules(option: str, names: Optional[Sequence[str]] = None) -> dict[str, tuple[str, str]]:
    """(who, rule) for each family with ``option``, from the registry's
    descriptions: {"buddy": ("buddy takes", "a power of two from 1 KiB to 1 TiB ...")}."""
    from . import allocators as A

    rules = {}
    for family, members in _families(list(A.REGISTRY) if names is None else names, option).items():
        everyone = [e.name for e in A.REGISTRY.values() if e.family == family]
        who = everyone[0] + " takes" if len(everyone) == 1 else f"the {family} policies take"
        rule = A.info(members[0]).option(option).description.split(": ", 1)[-1]
        if option == "arena_size" and family in _ROUNDED_UP:
            rule += " (--arena-size is rounded up to one)"
        rules[family] = (who, rule)
    return rules


def _growth_default() -> int:
    """--growth's default: the registry's, for the allocators that have it."""
    from . import allocators as A

    defaults = {o.default for e in A.REGISTRY.values() for o in e.options if o.name == "growth"}
    if len(defaults) != 1:  # pragma: no cover - the registry has one today
        raise AssertionError(f"the registry's growth defaults disagree: {sorted(defaults)}")
    return int(defaults.pop())


def _check_arena(names: Sequence[str], arena: int, growth: int) -> None:
    """--arena-size and --growth against the rules of the families in
    ``names``: each family's first allocator is created with them (the C
    create functions are the one place where values are checked), and a
    refusal is reported with the family's rule from the registry."""
    from . import allocators as A

    def refused(name: str, **options: int) -> Optional[str]:
        try:
            A.create(name, **options).close()
        except ValueError as e:
            return str(e)
        return None

    arena_families = _families(names, "arena_size")
    broken = [family for family, members in arena_families.items()
              if refused(members[0], arena_size=_arena_for(members[0], arena))]
    if broken:
        rules = [" ".join(_family_rules("arena_size", names)[family]) for family in broken]
        raise UsageError(f"--arena-size {_as_given(arena)} is out of range: {', '.join(rules)}")
    for family, members in _families(names, "growth").items():
        if refused(members[0], arena_size=_arena_for(members[0], arena), growth=growth):
            who, rule = _family_rules("growth", members[:1])[family]
            raise UsageError(f"--growth {_as_given(growth)} is out of range: {who} {rule} "
                             f"({_human(arena)})")


def _arena_for(name: str, arena: int) -> int:
    """The arena ``name`` gets for --arena-size: rounded up to a power of two
    for the families whose rule that is (buddy), as given for the others."""
    from . import allocators as A

    if A.info(name).family in _ROUNDED_UP and arena > 0:
        return 1 << (arena - 1).bit_length()
    return arena


def _available_memory() -> Optional[int]:
    """Bytes of memory this process can still use (None: unknown): the
    system's MemAvailable, or less under a cgroup (v2) limit."""
    found = []
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
        with open("/sys/fs/cgroup/memory.current") as f:
            used = int(f.read().strip())
        if limit != "max":
            found.append(max(0, int(limit) - used))
    except (OSError, ValueError):
        pass
    if not found:
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (OSError, ValueError, AttributeError):
            return None
    return min(found)


def _memory_needed(events: int, sample_every: int, n_allocators: int,
                   n_ids: Optional[int] = None, generate: bool = True) -> int:
    """Bytes a comparison needs besides the allocators' heaps: the workload's
    generation (``generate``), the replay's id table, and the samples, which
    are kept for every allocator (plus one replay's working copy and one
    timeline)."""
    from . import replaying as R

    samples = (events // sample_every + 2) * R._SAMPLE_DTYPE.itemsize if sample_every else 0
    ids = (events // 2 if n_ids is None else n_ids) * _ID_BYTES
    return samples * (n_allocators + 2) + ids + (events * _WORKLOAD_BYTES_PER_EVENT if generate else 0)


def _largest(fits: Callable[[int], bool], lo: int, hi: int) -> int:
    """The largest n in [lo, hi] with fits(n), fits being monotone (lo fits)."""
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
    return lo


def _check_memory(events: int, sample_every: int, n_allocators: int,
                  n_ids: Optional[int], generate: bool) -> None:
    """Refuse, before allocating, a comparison the machine has no memory for."""
    avail = _available_memory()
    if avail is None:
        return
    need = lambda e, s: _memory_needed(e, s, n_allocators, n_ids, generate)  # noqa: E731
    if need(events, sample_every) <= avail:
        return
    subject = f"--events {events:,}" if generate else f"the trace's {events:,} events"
    if sample_every:
        subject += f" with --sample-every {sample_every:,}"
    message = (f"{subject} need{'s' if generate else ''} about {_human(need(events, sample_every))} "
               f"of memory, and {_human(avail)} is available")
    fixes = []
    if generate:
        most = _largest(lambda e: need(e, sample_every) <= avail, 0, avail // _WORKLOAD_BYTES_PER_EVENT)
        fixes.append(f"at most {most:,} events")
    if sample_every and need(events, 0) <= avail:
        # the least sample_every that fits, found as the largest events + 1 - sample_every
        least = events + 1 - _largest(lambda k: need(events, events + 1 - k) <= avail, 0, events)
        fixes.append(f"--sample-every {least:,} or more")
    raise UsageError(message + (": use " + " or ".join(fixes) if fixes else ""))


def _compare(args: argparse.Namespace) -> int:
    from . import replaying as R
    from . import workloads as W
    from .importers import read_trace

    names = _allocator_names(args.allocators)
    if args.events < 1:
        raise UsageError("--events must be at least 1")
    if args.seed < 0:
        raise UsageError(f"--seed must be >= 0, got {args.seed}")
    R._check_counts(args.sample_every, args.size_scale, names=("--sample-every", "--size-scale"))
    if args.csv == "-" and args.json == "-":
        raise UsageError("--csv - and --json - would both write to stdout; send one to a file")
    if args.plot is not None:
        if args.sample_every == 0:
            raise UsageError("--plot draws the samples, and --sample-every 0 takes none")
        if all(n == "system" for n in names):
            raise UsageError("--plot draws heap sizes, and system's cannot be observed: "
                             "add an allocator that has an arena")
    if args.pid is not None and not args.trace:
        raise UsageError("--pid picks a process of a recording: give the recording with --trace")
    _check_outputs(args)
    _check_arena(names, args.arena_size, args.growth)
    if args.trace:
        trace = read_trace(args.trace, args.format, pid=args.pid)
        _check_memory(len(trace), args.sample_every, len(names), trace.n_ids, generate=False)
    else:
        if args.workload not in W.WORKLOADS:
            raise UsageError(f"unknown workload {args.workload!r}; choose from: {', '.join(W.WORKLOADS)}")
        _check_memory(args.events, args.sample_every, len(names), None, generate=True)
        trace = W.generate(args.workload, args.events, seed=args.seed)
    if args.plot and len(trace) <= max(args.sample_every, 1):
        raise UsageError(f"--plot needs at least two samples: the trace has {len(trace):,} events, "
                         f"one sample every {args.sample_every:,} (lower --sample-every)")
    progress = False if args.no_progress else None
    results = []
    for name in names:
        opts = R._options_for(name, {"arena_size": _arena_for(name, args.arena_size),
                                     "growth": args.growth}, {})
        results.append(R.replay(trace, name, sample_every=args.sample_every,
                                size_scale=args.size_scale, progress=progress, **opts))
    import pandas as pd

    df = pd.DataFrame([r.summary for r in results]).set_index("allocator")
    # system's heap size cannot be seen: its peak heap is unknown, not 0
    df["peak_heap"] = df["peak_heap"].astype("Int64")
    blind = [r.allocator for r in results if not r.raw.get("heap_observable", True)]
    df.loc[blind, "peak_heap"] = pd.NA
    if args.csv:
        _write(args.csv, df.to_csv())
    if args.json:
        _write(args.json, json.dumps(json.loads(df.reset_index().to_json(orient="records")), indent=2) + "\n")
    if args.csv != "-" and args.json != "-":
        s = trace.summary()
        print(f"trace: {s['name'] or 'unnamed'} — {s['events']:,} events, max live "
              f"{s['max_live_bytes']:,} bytes in {s['max_live_blocks']:,} blocks"
              + (f", sizes x{args.size_scale}" if args.size_scale > 1 else ""))
        print(_table(df))
        print("JW #1-#4: Johnstone-Wilson fragmentation (heap / live - 1): #1 mean over time, "
              "#2 at peak live, #3 at peak heap, #4 peak heap / peak live.")
        print("internal: 1 - requested/allocated at the moment of peak live bytes.")
    if args.plot:
        _plot(results, args.plot)
        if args.csv != "-" and args.json != "-":
            print(f"plot saved to {args.plot}")
    return 0


# Colour by placement policy (Okabe and Ito's palette, which colour-blind
# readers can tell apart), line style by free-list order: each of the
# thirteen lines is its own (colour, style) pair, and the pairing can be read.
_FAMILY_COLOURS = {"buddy": "#000000", "best": "#0072B2", "first": "#009E73",
                   "next": "#E69F00", "worst": "#CC79A7"}
_ORDER_STYLES = {"ao": "-", "lifo": "--", "fifo": ":"}
_SPARE_STYLES = [(c, s) for c in ("#56B4E9", "#D55E00", "#F0E442", "#999999")
                 for s in ("-", "--", ":", "-.")]


def _line_styles(names: Sequence[str]) -> dict[str, tuple[str, str]]:
    """A distinct (colour, line style) for every allocator name."""
    styles: dict[str, tuple[str, str]] = {}
    for name in names:
        fit, _, order = name.partition("-")
        if fit in _FAMILY_COLOURS and (order in _ORDER_STYLES or not order):
            styles[name] = (_FAMILY_COLOURS[fit], _ORDER_STYLES.get(order, "-"))
    spare = iter(s for s in _SPARE_STYLES if s not in styles.values())
    for name in names:
        if name not in styles:
            styles[name] = next(spare)
    return styles


def _log_ticks(top: float) -> list[float]:
    """Ticks for a percentage on a symlog axis from 0 to the first tick at or
    above ``top``: 0, 10, 20, 50, 100, ... (0, 10, 30, 100, ... when that is
    more than eight)."""
    for steps in ((1, 2, 5), (1, 3)):
        ticks = [0.0]
        for value in (m * 10.0 ** k for k in range(1, 20) for m in steps):
            ticks.append(value)
            if value >= top:
                break
        if len(ticks) <= 8:
            break
    return ticks


def _figure(results: Sequence[Any]) -> Any:
    """Heap size (with the live bytes under it) and heap / live - 1 over the
    events, one line per allocator whose heap can be observed, the legend
    to the right of the data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    shown = [r for r in results if r.raw.get("heap_observable", True)]
    hidden = [r.allocator for r in results if not r.raw.get("heap_observable", True)]
    styles = _line_styles([r.allocator for r in shown])
    timelines = {r.allocator: r.timeline for r in results}
    top = max([int(timelines[r.allocator]["heap_size"].max()) for r in shown]
              + [int(t["live_bytes"].max()) for t in timelines.values()] + [1])
    unit, scale = next((u, 1 << k) for u, k in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10), ("bytes", 0))
                       if top >= 2 << k or k == 0)
    every = results[0].options.get("sample_every", 0)

    fig, (heap_ax, frag_ax) = plt.subplots(2, 1, sharex=True, figsize=(12, 8.5), layout="constrained",
                                           height_ratios=[3, 2])
    # The live bytes as the replay with the fewest failures saw them.
    ref = min(results, key=lambda r: r.summary["failures"])
    live = timelines[ref.allocator]
    live_label = "live bytes" if ref.summary["failures"] == 0 else f"live bytes (in {ref.allocator}'s replay)"
    heap_ax.fill_between(live["event"], live["live_bytes"] / scale, color="#DDDDDD", lw=0, label="_live")
    heap_ax.plot(live["event"], live["live_bytes"] / scale, color="#888888", lw=1, label=live_label)
    for r in shown:
        df = timelines[r.allocator]
        colour, style = styles[r.allocator]
        kw = dict(color=colour, linestyle=style, lw=1.8 if style == ":" else 1.5, label=r.allocator)
        heap_ax.plot(df["event"], df["heap_size"] / scale, **kw)
        live_bytes = df["live_bytes"].where(df["live_bytes"] > 0)
        frag_ax.plot(df["event"], 100 * (df["heap_size"] / live_bytes - 1), **kw)

    name = results[0].trace_name or "trace"
    heap_ax.set_title(f"{name}: heap size and fragmentation over time", loc="left", fontsize=13)
    heap_ax.set_ylabel(f"heap size ({unit})", fontsize=12)
    heap_ax.set_ylim(bottom=0)
    frag_ax.set_ylabel("heap / live - 1 (%)", fontsize=12)
    frag_ax.set_xlabel(f"events replayed (sampled every {every:,})", fontsize=12)
    frag_ax.set_yscale("symlog", linthresh=10, linscale=0.5)
    counts = FuncFormatter(lambda v, _pos: f"{v:,.0f}")
    frag_ax.xaxis.set_major_formatter(counts)
    frag_ax.yaxis.set_major_formatter(counts)
    ticks = _log_ticks(max([np.nanmax(ln.get_ydata(), initial=0) for ln in frag_ax.get_lines()] + [10]))
    frag_ax.set_ylim(0, ticks[-1])
    frag_ax.yaxis.set_major_locator(FixedLocator(ticks))
    frag_ax.yaxis.set_minor_locator(NullLocator())
    frag_ax.set_xlim(0, max(int(t["event"].max()) for t in timelines.values()))
    for ax in (heap_ax, frag_ax):
        ax.grid(True, color="#EEEEEE", lw=0.8)
        ax.set_axisbelow(True)
        ax.tick_params(labelsize=11)

    handles, labels = heap_ax.get_legend_handles_labels()
    for r in hidden:
        handles.append(Line2D([], [], linestyle="none"))
        labels.append(f"{r}: not drawn\n(its heap size\ncannot be observed)")
    heap_ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0,
                   frameon=False, handlelength=3, fontsize=11)
    return fig


def _plot(results: Sequence[Any], path: str) -> None:
    import matplotlib.pyplot as plt

    fig = _figure(results)
    try:
        fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)


def _trace(args: argparse.Namespace) -> int:
    from .importers import read_trace

    if args.trace_command == "info":
        trace = read_trace(args.file, args.format, pid=args.pid)
        procs = _recorded_processes(args.file, trace)
        if args.json:
            summary = trace.summary()
            if procs:
                summary["processes"] = [{"pid": p.pid, "ppid": p.ppid, "images": len(p.images),
                                         "events": p.events, "command": list(p.command), "main": p.main}
                                        for p in procs]
            print(json.dumps(summary, indent=2))
        else:
            if procs:
                from .recording import describe_processes

                print(describe_processes(procs))
            print(trace.describe())
        return 0
    if args.trace_command == "convert":
        trace = read_trace(args.input, args.format, pid=args.pid)
        if not args.output.endswith(".npz"):
            raise UsageError("the output must be a native trace file ending in .npz")
        trace.save(args.output)
        print(f"{args.input}: {len(trace):,} events written to {args.output}")
        return 0
    raise UsageError("trace takes an action: info or convert")


def _recorded_processes(path: str, trace: Any) -> list[Any]:
    """A recording directory's processes (none for any other trace)."""
    if trace.meta.get("format") != "record" or not os.path.isdir(path):
        return []
    from .recording import processes

    return processes(path)


def _record(args: argparse.Namespace) -> int:
    from .recording import record, summary_line

    command = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not command:
        raise UsageError("record needs a command: memalloc record -o DIR -- COMMAND ARGS...")
    try:
        status = record(command, args.output)
    except RuntimeError as e:  # the library is not built, or the command did not load it
        raise UsageError(str(e)) from None
    print(summary_line(args.output, command, status), file=sys.stderr)
    return status


def _list() -> int:
    from . import allocators as A

    previous: Optional[A.AllocatorInfo] = None
    for entry in A.REGISTRY.values():
        print(f"{entry.name}  {entry.description}")
        for alias in entry.aliases:
            print(f"{alias}  (= {entry.name})")
        if previous is not None and entry.options and entry.options == previous.options:
            print(f"    options as {previous.name}")
            continue
        previous = entry
        for o in entry.options:
            if o.hidden:
                continue
            span = "0 or 1" if o.type == "boolean" else "one of " + ", ".join(o.choices) if o.choices else (
                f"{_as_given(o.min)} to {_as_given(o.max)}" if o.type == "size" else f"{o.min} to {o.max}")
            print(f"    {o.name}={o.default_text}  ({o.type}, {span}): {o.description}")
    print("every allocator also takes the debugging switches (docs/api.md):")
    for o in A.DEBUG_OPTIONS:
        span = "0 or 1" if o.type == "boolean" else f"{o.min} to {o.max}"
        if o.max == 0:
            span = "0 only: this build lacks the tool"
        print(f"    {o.name}={o.default_text}  ({o.type}, {span}): {o.description}")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    """memalloc sweep: exit status 0, or 1 when a replay failed (its row says why)."""
    from . import sweeping

    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {args.jobs}")
    try:
        df, output = sweeping.run_file(args.config, args.output, scheduler=args.scheduler, jobs=args.jobs,
                                       retry_errors=args.retry_errors,
                                       progress=False if args.no_progress else None)
    except ImportError as e:  # pyarrow or dask missing: the message says what to install
        raise UsageError(str(e)) from None
    failed = df[df["error"] != ""]
    print(f"{len(df):,} replays ({df.attrs['resumed']:,} already in the results file), "
          f"{len(failed):,} failed: results in {output}")
    for error, count in failed["error"].value_counts().head(5).items():
        print(f"  {count:,} x {error}")
    return 1 if len(failed) else 0


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that nothing (not even Python's flush at
    exit) writes into a pipe whose reader has gone."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, ValueError, AttributeError):  # stdout without a file descriptor
        pass


def main(argv: Optional[Sequence[str]] = None) -> int:
    from ._core import AllocatorError
    from .trace import TraceError

    try:
        args = _parser().parse_args(argv)
        if args.command == "compare":
            code = _compare(args)
        elif args.command == "trace":
            code = _trace(args)
        elif args.command == "list":
            code = _list()
        elif args.command == "record":
            code = _record(args)
        elif args.command == "sweep":
            code = _sweep(args)
        elif args.command in ("run", "paths"):
            from . import _cli_run

            code = _cli_run.run(args, UsageError) if args.command == "run" else _cli_run.paths(args)
        else:
            raise UsageError("a command is required: compare, trace, record, list, sweep, run or paths "
                             "(see memalloc --help)")
        sys.stdout.flush()  # here, so that a closed pipe is reported below
        return code
    except BrokenPipeError:  # the reader of stdout has gone (memalloc list | head -2)
        _quiet_stdout()
        return _CLOSED_PIPE
    except (UsageError, TraceError, AllocatorError, ValueError, OSError) as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        print("memalloc: " + (" ".join(lines) or type(e).__name__), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("memalloc: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
