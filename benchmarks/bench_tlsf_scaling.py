"""TLSF's time per operation from 1,000 to 1,000,000 live blocks, beside glibc's, in one run.

For each --live count L, a steady state (sizes 8-4096 skewed small, each
allocation followed by the free of a random live block): L allocations to
ramp up, then --pairs malloc+free pairs, then the free of every live
block.  Only the pairs are timed: the steady state's time is the bare
replay of that trace minus the replay of its ramp and final frees alone,
over 2 x pairs events.  Each trace ends with its heap empty, so every run
after the first finds its memory touched (no page faults timed).
glibc's bare loop (`replay_libc`) runs the same traces in the same rounds.

The live blocks' memory grows with L (about 0.8 MB per 1,000 blocks), so
from some L on every operation misses the caches, whatever the allocator:
glibc's own time per operation shows how much.  "x glibc" takes that cost
out: at each L every allocator run follows a glibc run on the same trace
(the machine's speed drifts within seconds; two adjacent runs share it),
and the column is the median of those --repeat ratios; the times are each
one's best run.  The closing line gives the largest over the smallest of
each column ("flat": the issue sets 1.5 at most).  Run with
GLIBC_TUNABLES=glibc.malloc.tcache_count=0:glibc.malloc.mxfast=0 to compare
with glibc coalescing at once, as TLSF does.

    python benchmarks/bench_tlsf_scaling.py [--live 1000,10000,100000,1000000] [--pairs 1000000]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import _common  # first: it also keeps BLAS threads off the second core

import memalloc_py as ma  # noqa: E402
from memalloc_py import replaying as R  # noqa: E402
from memalloc_py import workloads  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--live", default="1000,10000,100000,1000000")
    p.add_argument("--pairs", type=int, default=1_000_000)
    p.add_argument("--allocators", default="tlsf", help="comma-separated names (glibc always runs)")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--seed", type=int, default=4)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    lives = [int(x) for x in args.live.split(",") if x]
    names = [n for n in args.allocators.split(",") if n]

    res = {name: {} for name in [*names, "glibc"]}
    ratio = {name: {} for name in names}
    for live in lives:
        steady = workloads.steady_state(live + args.pairs, live, seed=args.seed, free_all=False)
        trace, ramp = _common.closed(steady), _common.closed(steady[:live])
        events = len(trace) - len(ramp)
        allocs = {name: ma.create(name, arena_size=1 << 34) for name in names}

        def bare(alloc, t):
            return R.replay_bare(t, alloc)["nanoseconds"]

        runs = {name: (lambda a=alloc: (bare(a, trace) - bare(a, ramp)) / events)
                for name, alloc in allocs.items()}
        best, ratios = _common.paired_rounds(
            lambda: (R.replay_libc(trace)["nanoseconds"] - R.replay_libc(ramp)["nanoseconds"]) / events,
            runs, args.repeat)
        for alloc in allocs.values():
            alloc.close()
        res["glibc"][live] = best["baseline"]
        for name in names:
            res[name][live] = best[name]
            ratio[name][live] = statistics.median(ratios[name])
    if args.json:
        print(json.dumps({"ns_per_op": res, "x_glibc": ratio,
                          "glibc_tunables": os.environ.get("GLIBC_TUNABLES", "")}, indent=2))
        return
    glibc = os.environ.get("GLIBC_TUNABLES", "")
    print(f"steady state, {args.pairs:,} malloc+free pairs timed per live count; glibc "
          f"{'with GLIBC_TUNABLES=' + glibc if glibc else 'as shipped'}; {args.repeat} paired rounds")
    head = f"{'live blocks':>12} {'glibc ns/op':>12}"
    for name in names:
        head += f" {name + ' ns/op':>14} {'x glibc':>8}"
    print(head)
    for live in lives:
        line = f"{live:>12,} {res['glibc'][live]:12.1f}"
        for name in names:
            line += f" {res[name][live]:14.1f} {ratio[name][live]:8.2f}"
        print(line)

    def spread(col):
        return max(col.values()) / min(col.values())

    line = f"{'max / min':>12} {spread(res['glibc']):12.2f}"
    for name in names:
        line += f" {spread(res[name]):14.2f} {spread(ratio[name]):8.2f}"
    print(line)


if __name__ == "__main__":
    main()
