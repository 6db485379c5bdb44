"""Every free-list policy beside the C library's malloc, on one sequence, in one run.

The workload: a steady state of --live blocks (default 100,000) of random
sizes (8-4096 bytes, skewed small), each allocation followed by the free of a
random live block, --mallocs allocations in all.  Each allocator replays the
same trace in C (`replay_bare`: the allocator's operations only); glibc runs
it through the same engine (`system`) and in a bare loop with no interface.
Each figure is the best of --repeat warm runs; the ratios are to glibc
through the same engine, and to glibc's bare loop.

    python benchmarks/bench_freelist.py [--mallocs 1000000] [--live 100000]
"""
from __future__ import annotations

import argparse
import json
from _common import best_of  # first: it also keeps BLAS threads off the second core

import memalloc_py as ma  # noqa: E402
from memalloc_py import replaying as R  # noqa: E402
from memalloc_py import workloads  # noqa: E402



def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mallocs", type=int, default=1_000_000)
    p.add_argument("--live", type=int, default=100_000)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--seed", type=int, default=2)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    trace = workloads.steady_state(args.mallocs, args.live, seed=args.seed)
    n = len(trace)
    system = ma.System()
    glibc_engine = best_of(lambda: R.replay_bare(trace, system)["nanoseconds"] / n, args.repeat)
    glibc_bare = best_of(lambda: R.replay_libc(trace)["nanoseconds"] / n, args.repeat)
    rows = {}
    for name in [n_ for n_ in ma.ARENA_ALLOCATORS if n_ != "buddy"] + ["buddy"]:
        alloc = ma.create(name, arena_size=1 << 32)
        ns = best_of(lambda: R.replay_bare(trace, alloc)["nanoseconds"] / n, args.repeat)
        jw4 = R.replay(trace, alloc, sample_every=0).summary["jw4"]
        rows[name] = {"ns": ns, "x_glibc_engine": ns / glibc_engine,
                      "x_glibc_bare": ns / glibc_bare, "jw4": jw4}
        alloc.close()

    if args.json:
        print(json.dumps({"glibc_engine_ns": glibc_engine, "glibc_bare_ns": glibc_bare,
                          "allocators": rows}, indent=2))
        return
    print(f"trace: {trace.meta['name']}, {n:,} events")
    print(f"glibc: {glibc_engine:.1f} ns through the engine, {glibc_bare:.1f} ns in a bare loop")
    print(f"{'allocator':<12} {'ns/op':>8} {'x glibc engine':>15} {'x glibc bare':>13} {'max heap/max live - 1':>22}")
    for name, r in rows.items():
        print(f"{name:<12} {r['ns']:8.1f} {r['x_glibc_engine']:15.2f} {r['x_glibc_bare']:13.2f} {r['jw4']:22.1%}")


if __name__ == "__main__":
    main()
