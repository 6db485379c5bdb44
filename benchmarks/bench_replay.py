"""Replay throughput: events per second of the C engine, on one random trace.

A 10-million-event steady-state trace (sizes 8-4096 skewed small) replayed
  - through buddy and best-ao by the engine, sampling every 1,000 events
    (what `memalloc compare` does), and bare (the allocator's operations
    only: the engine's overhead is the difference);
  - through the C library's malloc by the same engine (`system`) and in a
    bare loop with no interface.
The machine's speed drifts (shared cores), so the runs are interleaved: each
of --repeat rounds times every contender in every mode once, on warm
allocators, and each figure is the best of its rounds.

    python benchmarks/bench_replay.py [--events 10000000] [--live 50000]
"""
from __future__ import annotations

import argparse
import json
import _common  # first: it also keeps BLAS threads off the second core

import memalloc_py as ma  # noqa: E402
from memalloc_py import replaying as R  # noqa: E402
from memalloc_py import workloads  # noqa: E402



def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--events", type=int, default=10_000_000)
    p.add_argument("--live", type=int, default=50_000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    trace = workloads.steady_state(args.events // 2, min(args.live, args.events // 2), seed=args.seed)
    n = len(trace)
    allocs = {name: ma.create(name, arena_size=1 << 32) if name != "system" else ma.System()
              for name in ("buddy", "best-ao", "system")}
    runs = {}  # (contender, mode) -> a function returning nanoseconds
    for name, alloc in allocs.items():
        runs[name, "engine"] = lambda a=alloc: R.replay(trace, a, sample_every=1000,
                                                        progress=False).raw["nanoseconds"]
        runs[name, "bare"] = lambda a=alloc: R.replay_bare(trace, a)["nanoseconds"]
    runs["glibc bare loop", "bare"] = lambda: R.replay_libc(trace)["nanoseconds"]
    best = _common.interleaved_best(runs, args.repeat)
    for alloc in allocs.values():
        alloc.close()
    res = {}
    for (name, mode), ns in best.items():
        res.setdefault(name, {})[f"{mode}_events_per_s"] = n / ns * 1e9
    for name in allocs:
        res[name]["engine_overhead"] = best[name, "engine"] / best[name, "bare"] - 1

    if args.json:
        print(json.dumps(res, indent=2))
        return
    print(f"trace: {trace.meta['name']}, {n:,} events")
    print(f"{'':<16} {'engine (M ev/s)':>16} {'bare (M ev/s)':>14} {'engine overhead':>16}")
    for name, r in res.items():
        eng = f"{r['engine_events_per_s'] / 1e6:16.1f}" if "engine_events_per_s" in r else f"{'—':>16}"
        ovh = f"{r['engine_overhead']:15.1%}" if "engine_overhead" in r else f"{'—':>15}"
        print(f"{name:<16} {eng} {r['bare_events_per_s'] / 1e6:14.1f} {ovh}")


if __name__ == "__main__":
    main()
