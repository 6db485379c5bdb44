"""Buddy speed beside the C library's malloc, on one random sequence, in one run.

Measures
  1. Python per-call throughput: malloc+free pairs per second through the API
     (each trace event one Python call), for buddy and for the system
     allocator behind the same API;
  2. C-level nanoseconds per operation on the peer workload of docs/references.md
     (steady state, 50,000 live blocks, sizes 8-4096 skewed small):
       - buddy through the replay engine (what `memalloc compare` measures),
       - buddy bare (the allocator's operations only, no measurement),
       - the system allocator (glibc) through the same engine,
       - glibc in a bare loop of malloc/free with no interface at all.
Every contender runs the same trace, in --repeat interleaved rounds (the
machine's speed drifts); each figure is the best of its rounds, after a first
untimed run that faults the pages in (for glibc as for buddy), and the ratios
to glibc are printed beside the times.

    python benchmarks/bench_buddy.py [--mallocs 2000000] [--live 50000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import time

from _common import interleaved_best  # first: it also keeps BLAS threads off the second core

import memalloc_py as ma  # noqa: E402
from memalloc_py import replaying as R  # noqa: E402
from memalloc_py import workloads  # noqa: E402
from memalloc_py.trace import FREE  # noqa: E402


def python_pairs_per_second(trace, make, repeat):
    """Drive every event of `trace` through the Python API; mallocs per second.

    One instance serves every run; the first run is untimed (it faults the
    memory in, as glibc's heap is already warm in this process)."""
    ops = trace.op.tolist()
    ids = trace.id.tolist()
    sizes = trace.size.tolist()
    a = make()
    best = 0.0
    for run in range(repeat + 1):
        addr = [0] * trace.n_ids
        malloc, free = a.malloc, a.free
        t0 = time.perf_counter()
        for op, i, n in zip(ops, ids, sizes):
            if op == FREE:
                free(addr[i])
            else:
                addr[i] = malloc(n)
        dt = time.perf_counter() - t0
        if run:
            best = max(best, trace.n_ids / dt)
    a.close()
    return best


def python_immediate_pairs_per_second(sizes, make, repeat):
    """free(malloc(n)) for every size of the sequence: the API's own cost."""
    best = 0.0
    for _ in range(repeat):
        a = make()
        malloc, free = a.malloc, a.free
        t0 = time.perf_counter()
        for n in sizes:
            free(malloc(n))
        best = max(best, len(sizes) / (time.perf_counter() - t0))
        a.close()
    return best



def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mallocs", type=int, default=2_000_000)
    p.add_argument("--live", type=int, default=50_000)
    p.add_argument("--python-mallocs", type=int, default=300_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args()

    small = workloads.steady_state(args.python_mallocs, min(args.live, args.python_mallocs), seed=args.seed)
    make_buddy = lambda: ma.Buddy(arena_size=1 << 30)  # noqa: E731
    py_buddy = python_pairs_per_second(small, make_buddy, args.repeat)
    py_system = python_pairs_per_second(small, ma.System, args.repeat)
    sizes = small.size[small.op != FREE].tolist()
    py_pairs_buddy = python_immediate_pairs_per_second(sizes, make_buddy, args.repeat)
    py_pairs_system = python_immediate_pairs_per_second(sizes, ma.System, args.repeat)

    trace = workloads.steady_state(args.mallocs, args.live, seed=args.seed)
    n = len(trace)
    buddy = ma.Buddy(arena_size=1 << 30)
    system = ma.System()

    def engine(alloc):
        return lambda: R.replay(trace, alloc, sample_every=1000).raw["nanoseconds"] / n

    def bare(alloc):
        return lambda: R.replay_bare(trace, alloc)["nanoseconds"] / n

    figures = interleaved_best({
        "buddy engine": engine(buddy),
        "buddy bare": bare(buddy),
        "glibc engine": engine(system),
        "glibc bare loop": lambda: R.replay_libc(trace)["nanoseconds"] / n,
    }, args.repeat)
    frag = R.replay(trace, "buddy", arena_size=1 << 30).summary

    if args.json:
        print(json.dumps({"python_pairs_per_second": {"buddy": py_pairs_buddy, "system": py_pairs_system},
                          "python_trace_mallocs_per_second": {"buddy": py_buddy, "system": py_system},
                          "ns_per_operation": figures, "buddy_jw4": frag["jw4"]}, indent=2))
        return
    print(f"trace: {trace.meta['name']}, {n:,} events")
    print()
    print(f"Python API, malloc+free pairs per second ({len(sizes):,} sizes of the sequence):")
    print(f"  free(malloc(n))   buddy {py_pairs_buddy:>11,.0f}   system {py_pairs_system:>11,.0f}")
    print(f"  the whole trace   buddy {py_buddy:>11,.0f}   system {py_system:>11,.0f}"
          "   (one call per event, 5,000+ blocks live)")
    print()
    print("C, nanoseconds per operation (best of interleaved warm rounds):")
    glibc_engine, glibc_bare = figures["glibc engine"], figures["glibc bare loop"]
    for name, ns in figures.items():
        print(f"  {name:<16} {ns:7.1f} ns   {1e3 / ns:6.1f} M ops/s   "
              f"x{ns / glibc_engine:.2f} of glibc engine   x{ns / glibc_bare:.2f} of glibc bare")
    print()
    print(f"buddy: max heap / max live - 1 = {frag['jw4']:.1%}, "
          f"mean internal fragmentation {frag['internal_fragmentation']:.1%}")


if __name__ == "__main__":
    main()
