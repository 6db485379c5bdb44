"""Replay throughput: events per second of the C engine, on one random trace
and on the two bundled AOSP traces.

A 10-million-event steady-state trace (sizes 8-4096 skewed small) replayed
  - through buddy, best-ao and zones by the engine, sampling every 1,000
    events (what `memalloc compare` does), and bare (the allocator's
    operations only: the engine's overhead is the difference);
  - through the C library's malloc by the same engine (`system`) and in a
    bare loop with no interface.
Then each bundled AOSP trace (surfaceflinger, systemui; --aosp-events keeps
the first N events) replayed bare through zones and best-ao, against glibc's
bare loop (`ma_replay_libc`): issue #18's target is zones at most 1.0x.
The AOSP traces leave blocks live at their end; before the next round they
are freed one by one (untimed), so every round starts from an empty heap
whose pages are already touched, as glibc's bare loop does.
The machine's speed drifts (shared cores), so the runs are interleaved: each
of --repeat rounds times every contender in every mode once, on warm
allocators, and each figure is the best of its rounds.

    python benchmarks/bench_replay.py [--events 10000000] [--live 50000] [--aosp-events 0]
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
    p.add_argument("--aosp-events", type=int, default=0,
                   help="replay only the first N events of each AOSP trace (0: all)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    trace = workloads.steady_state(args.events // 2, min(args.live, args.events // 2), seed=args.seed)
    n = len(trace)
    allocs = {name: ma.create(name, arena_size=1 << 32) if name != "system" else ma.System()
              for name in ("buddy", "best-ao", "zones", "system")}
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

    aosp = {name: aosp_ratios(name, args.aosp_events, args.repeat)
            for name in ("surfaceflinger", "systemui")}

    if args.json:
        print(json.dumps({"random": res, "aosp": aosp}, indent=2))
        return
    print(f"trace: {trace.meta['name']}, {n:,} events")
    print(f"{'':<16} {'engine (M ev/s)':>16} {'bare (M ev/s)':>14} {'engine overhead':>16}")
    for name, r in res.items():
        eng = f"{r['engine_events_per_s'] / 1e6:16.1f}" if "engine_events_per_s" in r else f"{'—':>16}"
        ovh = f"{r['engine_overhead']:15.1%}" if "engine_overhead" in r else f"{'—':>15}"
        print(f"{name:<16} {eng} {r['bare_events_per_s'] / 1e6:14.1f} {ovh}")
    print()
    print(f"{'AOSP trace':<16} {'events':>10} {'glibc bare ns':>14} "
          + " ".join(f"{n + ' x glibc':>16}" for n in AOSP_CONTENDERS))
    for name, r in aosp.items():
        print(f"{name:<16} {r['events']:>10,} {r['glibc_bare_ns']:14.1f} "
              + " ".join(f"{r['x_glibc_bare'][n]:16.2f}" for n in AOSP_CONTENDERS))


AOSP_CONTENDERS = ("zones", "best-ao")


def _drain(alloc):
    """Free every block a replay left live (untimed, between rounds)."""
    for address in alloc.blocks().allocated.array["address"]:
        alloc.free(int(address))


def aosp_ratios(trace_name, events, repeat):
    """Bare replays of a bundled AOSP trace against glibc's bare loop: the
    best ns per event of each, and each contender's best over glibc's."""
    trace = ma.importers.bundled_trace(trace_name)
    if events:
        trace = trace[:events]
    n = len(trace)
    allocs = {name: ma.create(name, arena_size=1 << 32) for name in AOSP_CONTENDERS}

    def bare(alloc):
        def run():
            ns = R.replay_bare(trace, alloc)["nanoseconds"]
            _drain(alloc)
            return ns
        return run

    runs = {"glibc": lambda: R.replay_libc(trace)["nanoseconds"]}
    runs.update({name: bare(alloc) for name, alloc in allocs.items()})
    best = _common.interleaved_best(runs, repeat)
    for alloc in allocs.values():
        alloc.close()
    return {"events": n, "glibc_bare_ns": best["glibc"] / n,
            "ns": {name: best[name] / n for name in allocs},
            "x_glibc_bare": {name: best[name] / best["glibc"] for name in allocs}}


if __name__ == "__main__":
    main()
