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

A second workload, "fragmented", takes the caches out the other way and
tests the search itself: the ramp allocates 2 x L blocks and frees every
other one, so the heap holds L live blocks separated by L free fragments
of every size (the free lists or trees every search runs over), and then
each timed pair allocates a block and frees the one allocated --window
pairs before it: the memory the pairs touch stays small and hot, and only
the number of free blocks the allocator must search past grows with L.
The churn runs once untimed before it is timed, so that the first pass
over the ramp's fragments (a one-off cost) is not counted.
There the absolute ns per operation show an O(1) search flat, an
O(log n) one rising.

    python benchmarks/bench_tlsf_scaling.py [--live 1000,10000,100000,1000000] [--pairs 1000000]
        [--workloads random,fragmented] [--window 16]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import _common  # first: it also keeps BLAS threads off the second core

import numpy as np  # noqa: E402

import memalloc_py as ma  # noqa: E402
from memalloc_py import replaying as R  # noqa: E402
from memalloc_py import workloads  # noqa: E402
from memalloc_py.trace import FREE, MALLOC, Trace  # noqa: E402


def fragmented(live: int, pairs: int, window: int, seed: int) -> tuple[Trace, Trace]:
    """(ramp, churn): the ramp makes 2 x live mallocs and frees every odd id
    in random order; the churn (ids of its own) makes `pairs` mallocs, each
    followed by the free of the id allocated `window` pairs before (none
    for the first `window`), and frees the last `window` at its end."""
    rng = np.random.default_rng(seed)
    ramp_ids = np.concatenate([np.arange(2 * live), rng.permutation(np.arange(1, 2 * live, 2))])
    ramp_ops = np.concatenate([np.full(2 * live, MALLOC), np.full(live, FREE)]).astype("u1")
    ramp_size = np.where(ramp_ops == MALLOC,
                         workloads.sizes(2 * live, "skewed", low=8, high=4096, seed=rng)[ramp_ids], 0)
    ramp = Trace(ramp_ops, ramp_ids.astype("u4"), ramp_size.astype("u8"), n_ids=2 * live,
                 meta={"name": f"fragmented ramp, {live} live"})
    churn_ids = np.full((pairs, 2), -1, dtype=np.int64)
    churn_ids[:, 0] = np.arange(pairs)
    churn_ids[window:, 1] = np.arange(pairs - window)
    churn_ops = np.tile(np.array([MALLOC, FREE], dtype="u1"), (pairs, 1))
    keep = churn_ids.ravel() >= 0
    ids = churn_ids.ravel()[keep].astype("u4")
    ops = churn_ops.ravel()[keep]
    size_of = workloads.sizes(pairs, "skewed", low=8, high=4096, seed=rng)
    size = np.where(ops == MALLOC, size_of[ids], 0).astype("u8")
    churn = _common.closed(Trace(ops, ids, size, n_ids=pairs, meta={"name": "fragmented churn"}))
    return ramp, churn


def measure_fragmented(ramp: Trace, churn: Trace, names: list[str], repeat: int):
    """Each allocator's and glibc's best ns per churn event, the churn
    replayed on a heap that holds the ramp (replayed first, then the churn
    once, both untimed; reset afterwards): glibc runs behind the same engine
    (`system`), since its bare loop cannot keep the ramp's blocks between
    two replays."""
    events = len(churn)
    allocs = {name: ma.create(name, arena_size=1 << 34) for name in names}
    allocs["system"] = ma.System()

    def run(alloc):
        def once():
            R.replay_bare(ramp, alloc)
            # The churn once untimed: its first pass over the ramp's
            # fragments (glibc sorting its unsorted bin, a best fit's first
            # walk over cold fragments) is a one-off cost, not the search's.
            R.replay_bare(churn, alloc)
            ns = R.replay_bare(churn, alloc)["nanoseconds"]
            alloc.reset()
            return ns / events
        return once

    best, ratios = _common.paired_rounds(run(allocs["system"]),
                                         {name: run(allocs[name]) for name in names}, repeat)
    for alloc in allocs.values():
        alloc.close()
    return best, {name: statistics.median(r) for name, r in ratios.items()}


def measure(trace, ramp, names, repeat):
    """Each allocator's and glibc's best ns per timed event (the bare replay
    of the closed trace minus that of its closed ramp) and the paired ratios."""
    trace, ramp = _common.closed(trace), _common.closed(ramp)
    events = len(trace) - len(ramp)
    allocs = {name: ma.create(name, arena_size=1 << 34) for name in names}

    def bare(alloc, t):
        return R.replay_bare(t, alloc)["nanoseconds"]

    runs = {name: (lambda a=alloc: (bare(a, trace) - bare(a, ramp)) / events)
            for name, alloc in allocs.items()}
    best, ratios = _common.paired_rounds(
        lambda: (R.replay_libc(trace)["nanoseconds"] - R.replay_libc(ramp)["nanoseconds"]) / events,
        runs, repeat)
    for alloc in allocs.values():
        alloc.close()
    return best, {name: statistics.median(r) for name, r in ratios.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--live", default="1000,10000,100000,1000000")
    p.add_argument("--pairs", type=int, default=1_000_000)
    p.add_argument("--allocators", default="tlsf", help="comma-separated names (glibc always runs)")
    p.add_argument("--workloads", default="random,fragmented")
    p.add_argument("--window", type=int, default=16,
                   help="fragmented: pairs between a block's malloc and its free")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--seed", type=int, default=4)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    lives = [int(x) for x in args.live.split(",") if x]
    names = [n for n in args.allocators.split(",") if n]
    kinds = [k for k in args.workloads.split(",") if k]
    for k in kinds:
        if k not in ("random", "fragmented"):
            p.error(f"unknown workload {k!r} (random, fragmented)")
    if args.window < 1 or args.pairs <= args.window:
        p.error("need 1 <= --window < --pairs")

    out = {}
    for kind in kinds:
        res = {name: {} for name in [*names, "glibc"]}
        ratio = {name: {} for name in names}
        for live in lives:
            if kind == "random":
                steady = workloads.steady_state(live + args.pairs, live, seed=args.seed, free_all=False)
                best, med = measure(steady, steady[:live], names, args.repeat)
            else:
                ramp, churn = fragmented(live, args.pairs, args.window, args.seed)
                best, med = measure_fragmented(ramp, churn, names, args.repeat)
            res["glibc"][live] = best["baseline"]
            for name in names:
                res[name][live] = best[name]
                ratio[name][live] = med[name]
        out[kind] = {"ns_per_op": res, "x_glibc": ratio}
    glibc = os.environ.get("GLIBC_TUNABLES", "")
    if args.json:
        print(json.dumps({**out, "glibc_tunables": glibc}, indent=2))
        return
    for kind in kinds:
        res, ratio = out[kind]["ns_per_op"], out[kind]["x_glibc"]
        what = ("random frees (steady state), glibc's bare loop" if kind == "random" else
                f"fragmented heap (L free fragments), each block freed {args.window} pairs later, "
                "glibc behind the engine")
        print(f"{what}: {args.pairs:,} malloc+free pairs timed per live count; glibc "
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
        print(line + "\n")


if __name__ == "__main__":
    main()
