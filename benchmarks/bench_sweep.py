"""A parameter sweep of 64 replays three ways: one replay at a time in this
process (the baseline), on ma.sweep's default process pool over this
machine's cores, and on a local Dask cluster of one single-threaded worker
process per core.

    python benchmarks/bench_sweep.py                 # 1,000,000-event workloads, best of 3 rounds
    python benchmarks/bench_sweep.py --events 4000 --repeat 1   # a smoke run

The grid: two workloads (steady, peaks) x two seeds x eight allocators x
two size scales (1, 16).  Each run starts with no trace in any cache, so
every run generates its workloads (the pool's and the cluster's workers each
generate the ones they replay); the Dask cluster is started once, before the
rounds, as a user's running cluster would be.  The three runs take turns in
every round and each one's best time is kept (the machine's speed drifts).
The runs must agree on every measure: the script stops if they do not.
"""
import argparse
import os
import time

import _common  # noqa: F401  (sets OPENBLAS_NUM_THREADS)

import memalloc_py as ma
from memalloc_py import sweeping

ALLOCATORS = ["buddy", "best-ao", "best-lifo", "first-ao", "first-lifo", "next-ao", "next-fifo", "worst-ao"]
MEASURES = ["events", "failures", "peak_heap", "peak_live", "jw1", "jw2", "jw3", "jw4",
            "internal_fragmentation"]


def clear_cache():
    """Forget the traces this process holds (run on the Dask workers too)."""
    sweeping._CACHE._items.clear()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000, help="events per workload (default 1,000,000)")
    p.add_argument("--repeat", type=int, default=3, help="rounds (default 3)")
    args = p.parse_args()

    from distributed import Client, LocalCluster

    cores = sweeping._cores()
    traces = [ma.Workload("steady", events=args.events), ma.Workload("peaks", events=args.events)]
    spec = dict(traces=traces, allocators=ALLOCATORS, grid={"arena_size": "4G", "size_scale": [1, 16]},
                seeds=[1, 2], progress=False)

    load = os.getloadavg()
    started = time.perf_counter()
    cluster = LocalCluster(n_workers=cores, threads_per_worker=1, processes=True, dashboard_address=":0")
    client = Client(cluster)
    cluster_start = time.perf_counter() - started
    frames = {}

    def timed(name, executor):
        def run():
            clear_cache()
            if name == "dask":
                client.run(clear_cache)
            t = time.perf_counter()
            frames[name] = ma.sweep(**spec, executor=executor)
            return time.perf_counter() - t
        return run

    try:
        best = _common.interleaved_best({"serial": timed("serial", "serial"),
                                         "process pool": timed("pool", None),
                                         "dask": timed("dask", client)}, args.repeat)
    finally:
        client.close()
        cluster.close()

    serial = frames["serial"]
    assert len(serial) == 64 and (serial["error"] == "").all(), serial["error"].unique()
    for name, df in frames.items():
        assert df[MEASURES].equals(serial[MEASURES]), f"{name} measured otherwise than serial"
    work = serial["seconds"].sum()
    print(f"{len(serial)} replays of {args.events:,}-event workloads on {cores} cores "
          f"(replay time alone, serially: {work:.2f} s; best of {args.repeat} rounds)")
    print(f"{'executor':<14}{'wall s':>9}{'speed-up':>10}")
    for name, seconds in best.items():
        print(f"{name:<14}{seconds:>9.2f}{best['serial'] / seconds:>9.2f}x")
    print(f"(the Dask cluster took {cluster_start:.1f} s to start, not counted; load average "
          f"{load[0]:.1f} before the rounds, {os.getloadavg()[0]:.1f} after: other processes' share "
          f"of the {cores} cores)")


if __name__ == "__main__":
    main()
