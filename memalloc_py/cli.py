"""The ``memalloc`` command (also ``python -m memalloc_py``).

    memalloc compare                      # the default workload through buddy + 12 policies
    memalloc compare --trace aosp:surfaceflinger --allocators buddy,best-ao,first-lifo
    memalloc compare --workload peaks --events 2000000 --plot out.png --csv out.csv
    memalloc trace info FILE              # a trace's summary
    memalloc trace convert IN OUT.npz     # any supported format to the native one
    memalloc list                         # the allocators

Errors are reported as one line on stderr with exit status 2.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
from typing import Any, Optional, Sequence

DEFAULT_ALLOCATORS = ["buddy"] + [f"{fit}-{order}" for fit in ("best", "first", "next", "worst")
                                  for order in ("ao", "lifo", "fifo")]


class UsageError(Exception):
    """A bad command line: reported in one line, exit status 2."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
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
    c.add_argument("--format", choices=["aosp", "mtrace", "rep", "native"],
                   help="the trace file's format (default: from its name)")
    c.add_argument("--allocators", metavar="A,B,...",
                   help="comma-separated names (default: buddy and the twelve free-list policies)")
    c.add_argument("--events", type=int, default=1_000_000, help="workload size (default 1,000,000)")
    c.add_argument("--seed", type=int, default=1, help="workload seed (default 1)")
    c.add_argument("--arena-size", type=_size, default=1 << 32,
                   help="address space each allocator reserves (default 4G)")
    c.add_argument("--growth", type=_size, default=4096, help="free-list heap growth step (default 4096)")
    c.add_argument("--size-scale", type=int, default=1,
                   help="multiply every request size (Johnstone and Wilson used 16)")
    c.add_argument("--sample-every", type=int, default=1000, help="events between samples (default 1000)")
    c.add_argument("--plot", metavar="PNG", help="save heap size and fragmentation over time")
    c.add_argument("--csv", metavar="FILE", help="write the table as CSV ('-' for stdout)")
    c.add_argument("--json", metavar="FILE", help="write the table as JSON ('-' for stdout)")
    c.add_argument("--no-progress", action="store_true", help="no progress bar")

    t = sub.add_parser("trace", help="inspect or convert trace files")
    tsub = t.add_subparsers(dest="trace_command", metavar="ACTION")
    info = tsub.add_parser("info", help="print a trace's summary")
    info.add_argument("file")
    info.add_argument("--format", choices=["aosp", "mtrace", "rep", "native"])
    info.add_argument("--json", action="store_true", help="the summary as JSON")
    conv = tsub.add_parser("convert", help="convert a trace to the native format (.npz)")
    conv.add_argument("input")
    conv.add_argument("output")
    conv.add_argument("--format", choices=["aosp", "mtrace", "rep", "native"], help="the input's format")

    sub.add_parser("list", help="list the allocators")
    return p


def _size(text: str) -> int:
    """A byte count with an optional K/M/G/T suffix (powers of 1024): 4096, 64K, 4GiB."""
    m = re.fullmatch(r"\s*(\d+)\s*([kmgt]?)(?:i?b)?\s*", text.lower())
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 4096, 64K, 4G)")
    return int(m.group(1)) << {"": 0, "k": 10, "m": 20, "g": 30, "t": 40}[m.group(2)]


def _pct(x: float) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"


def _table(df: Any) -> str:
    """The comparison as a readable fixed-width table."""
    cols = [
        ("allocator", lambda r, name: name, "<"),
        ("ns/event", lambda r, name: f"{r['ns_per_event']:.1f}", ">"),
        ("failures", lambda r, name: f"{int(r['failures']):,}", ">"),
        ("peak heap", lambda r, name: f"{int(r['peak_heap']):,}", ">"),
        ("peak live", lambda r, name: f"{int(r['peak_live']):,}", ">"),
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


def _compare(args: argparse.Namespace) -> int:
    from . import allocators as A
    from . import replaying as R
    from . import workloads as W
    from .importers import read_trace

    names = DEFAULT_ALLOCATORS if not args.allocators else [
        n.strip() for n in args.allocators.split(",") if n.strip()]
    for n in names:
        if n not in A.ALLOCATORS:
            raise UsageError(f"unknown allocator {n!r}; choose from: {', '.join(A.ALLOCATORS)}")
    if args.events < 1:
        raise UsageError("--events must be at least 1")
    if args.sample_every < 0 or args.size_scale < 1:
        raise UsageError("--sample-every must be >= 0 and --size-scale >= 1")
    if args.trace:
        trace = read_trace(args.trace, args.format)
    else:
        if args.workload not in W.WORKLOADS:
            raise UsageError(f"unknown workload {args.workload!r}; choose from: {', '.join(W.WORKLOADS)}")
        trace = W.generate(args.workload, args.events, seed=args.seed)
    progress = False if args.no_progress else None
    results = []
    for name in names:
        opts = R._options_for(name, {"arena_size": _arena_for(name, args.arena_size),
                                     "growth": args.growth}, {})
        results.append(R.replay(trace, name, sample_every=args.sample_every,
                                size_scale=args.size_scale, progress=progress, **opts))
    import pandas as pd

    df = pd.DataFrame([r.summary for r in results]).set_index("allocator")
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
    if args.plot:
        _plot(results, args.plot)
        if args.csv != "-" and args.json != "-":
            print(f"plot saved to {args.plot}")
    return 0


def _arena_for(name: str, arena: int) -> int:
    if name == "buddy":  # a power of two
        return 1 << max(10, min(40, (arena - 1).bit_length()))
    return min(max(arena - arena % 16, 4096), 1 << 35)


def _plot(results: Sequence[Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(2, 1, sharex=True, figsize=(10, 7))
    first = results[0].timeline
    ax1.plot(first["event"], first["live_bytes"], color="black", lw=2, label="live bytes")
    for r in results:
        df = r.timeline
        ax1.plot(df["event"], df["heap_size"], lw=1, label=r.allocator)
        ax2.plot(df["event"], (df["heap_size"] / df["live_bytes"].where(df["live_bytes"] > 0)) - 1,
                 lw=1, label=r.allocator)
    ax1.set_ylabel("heap size (bytes)")
    ax1.legend(fontsize="small", ncol=3)
    ax1.set_title(f"heap size over time: {results[0].trace_name}")
    ax2.set_ylabel("heap / live - 1")
    ax2.set_xlabel("event")
    ax2.set_yscale("symlog", linthresh=0.1)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _trace(args: argparse.Namespace) -> int:
    from .importers import read_trace

    if args.trace_command == "info":
        trace = read_trace(args.file, args.format)
        if args.json:
            print(json.dumps(trace.summary(), indent=2))
        else:
            print(trace.describe())
        return 0
    if args.trace_command == "convert":
        trace = read_trace(args.input, args.format)
        if not args.output.endswith(".npz"):
            raise UsageError("the output must be a native trace file ending in .npz")
        trace.save(args.output)
        print(f"{args.input}: {len(trace):,} events written to {args.output}")
        return 0
    raise UsageError("trace takes an action: info or convert")


def _list() -> int:
    from . import allocators as A

    for name in A.ALLOCATORS:
        alias = A.ALIASES.get(name)
        print(f"{name}" + (f"  (= {alias})" if alias else ""))
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    from ._core import AllocatorError
    from .trace import TraceError

    try:
        if args.command == "compare":
            return _compare(args)
        if args.command == "trace":
            return _trace(args)
        if args.command == "list":
            return _list()
        parser.print_help()
        return 2
    except (UsageError, TraceError, AllocatorError, ValueError, OSError) as e:
        print(f"memalloc: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("memalloc: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
