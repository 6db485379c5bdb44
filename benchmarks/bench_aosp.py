"""The two bundled AOSP traces through the replay engine, beside glibc's malloc, in one run.

Each trace (aosp:surfaceflinger, aosp:systemui: real Android allocation
traces shipped with the package) is replayed bare (`replay_bare`, the
allocator's operations only) through each allocator, and straight through
glibc's malloc/free in a bare loop with no interface (`replay_libc`, the
baseline), and through glibc behind the same engine (`system`).  Each
trace is closed with the free of every block it leaves live, so that every
run starts from an empty heap whose memory is already touched, as in the
other scripts (a reset would give the pages back, and the next run would
time their faults).

The machine's speed drifts (shared cores, up to 2x within seconds), so each
of --repeat rounds times every allocator right after a glibc bare-loop run:
"x glibc" is an allocator's best time over glibc's best, "paired" the
median and "range" the spread of the ratios of each run to the glibc run
just before it.  "target" is issue #18's (tlsf within 1.2x glibc, zones
at most 1.0x: zones defers nothing to coalesce, so its baseline is glibc
as it ships; tlsf's is glibc with its deferral off, below), "met"
compares "x glibc" with it.  Coalescing allocators are measured against
glibc with its deferral off: run with
GLIBC_TUNABLES=glibc.malloc.tcache_count=0:glibc.malloc.mxfast=0 (the
script says which glibc it met).  "JW #4" and "peak heap" come from one
measuring replay of each allocator.

    python benchmarks/bench_aosp.py [--allocators tlsf,best-ao] [--traces aosp:systemui] [--repeat 7] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import _common  # first: it also keeps BLAS threads off the second core

import memalloc_py as ma  # noqa: E402
from memalloc_py import replaying as R  # noqa: E402

TRACES = ("aosp:surfaceflinger", "aosp:systemui")
TARGETS = {"tlsf": 1.2, "zones": 1.0}


def measure(trace: ma.Trace, names: list[str], repeat: int) -> dict:
    n = len(trace)
    allocs = {name: ma.create(name, arena_size=1 << 32) for name in names}
    system = ma.System()

    def run(alloc):
        return lambda: R.replay_bare(trace, alloc)["nanoseconds"] / n

    runs = {name: run(alloc) for name, alloc in allocs.items()}
    runs["glibc engine"] = run(system)
    best, ratios = _common.paired_rounds(lambda: R.replay_libc(trace)["nanoseconds"] / n,
                                         runs, repeat)
    rows = {}
    for name, alloc in allocs.items():
        alloc.close()
        s = R.replay(trace, name, sample_every=0, progress=False, arena_size=1 << 32).summary
        rows[name] = {"ns": best[name], "x_glibc": best[name] / best["baseline"],
                      "paired_median": statistics.median(ratios[name]),
                      "paired_range": [min(ratios[name]), max(ratios[name])],
                      "target": TARGETS.get(name), "jw4": s["jw4"], "peak_heap": s["peak_heap"]}
    system.close()
    return {"events": n, "glibc_bare_ns": best["baseline"], "glibc_engine_ns": best["glibc engine"],
            "allocators": rows}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--allocators", default="tlsf,best-ao")
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--traces", default=",".join(TRACES))
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    names = [n for n in args.allocators.split(",") if n]
    glibc = os.environ.get("GLIBC_TUNABLES", "")
    res = {"glibc_tunables": glibc,
           "traces": {t: measure(_common.closed(ma.read_trace(t)), names, args.repeat)
                      for t in args.traces.split(",")}}
    if args.json:
        print(json.dumps(res, indent=2))
        return
    print(f"glibc: {'GLIBC_TUNABLES=' + glibc if glibc else 'as shipped (tcache and fastbins on)'}; "
          f"best of {args.repeat} paired rounds")
    for t, r in res["traces"].items():
        print(f"\n{t}: {r['events']:,} events; glibc bare loop {r['glibc_bare_ns']:.1f} ns/event, "
              f"through the engine {r['glibc_engine_ns']:.1f}")
        print(f"{'allocator':<10} {'ns/event':>9} {'x glibc':>8} {'paired':>7} {'range':>11} "
              f"{'peak heap':>12} {'JW #4':>7} {'target':>7} {'met':>4}")
        for name, a in r["allocators"].items():
            lo, hi = a["paired_range"]
            met = (f"{a['target']:7.1f} {'yes' if a['x_glibc'] <= a['target'] else 'no':>4}"
                   if a["target"] else f"{'-':>7} {'-':>4}")
            print(f"{name:<10} {a['ns']:9.1f} {a['x_glibc']:8.2f} {a['paired_median']:7.2f} "
                  f"{f'{lo:.2f}-{hi:.2f}':>11} {a['peak_heap']:12,} {a['jw4']:7.1%} {met}")


if __name__ == "__main__":
    main()
