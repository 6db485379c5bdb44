"""The recorder's slowdown: wall time of a fixed CPython workload run plain
and under `memalloc record`'s library, in the same run.

The workload (below) builds and sorts lists, dicts and strings, round-trips
JSON and runs regular expressions, in a fresh python3 process each time,
  - as CPython ships (its small-object allocator serves most objects, so
    malloc sees the larger requests only), and
  - with PYTHONMALLOC=malloc (every object through malloc: the recorder's
    worst case, one logged event per allocation and free).
Each recorded run writes its log to a fresh temporary directory (counted
in its time, as it is in `memalloc record`).  The machine's speed drifts,
so every round runs the plain process and right after it the recorded one;
the table gives each one's best time, the ratio of the bests, the median
and range of the ratios of adjacent runs, and the ratio of the best CPU
times (user + system, which other programs on the machine disturb less).  Target: 1.5x at most.

    python benchmarks/bench_record.py [--repeat 7] [--scale 1]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import _common  # first: it also keeps BLAS threads off the second core

from memalloc_py import recording  # noqa: E402

WORKLOAD = """
import json, re, sys
n = 40000 * int(sys.argv[1])
rows = [{"id": i, "name": "item%d" % i, "tags": ["t%d" % (i % 7), "u%d" % (i % 13)], "score": i * 0.5}
        for i in range(n)]
text = json.dumps(rows)
back = json.loads(text)
assert back == rows
index = {}
for r in back:
    index.setdefault(r["tags"][0], []).append(r["name"])
words = re.findall(r"item([0-9]+)", text)
joined = ",".join(sorted(set(words), key=int))
big = [str(i) * (i % 40) for i in range(n)]
big.sort(key=len)
print(len(text), len(index), len(joined), sum(map(len, big)))
"""


CPU: dict[str, list[float]] = {}


def _timed(argv: list[str], env: dict[str, str], who: str) -> float:
    """The wall time of one run; its CPU time (user + system) goes to CPU[who]."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    took = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        sys.exit(f"the workload failed: {proc.stderr}")
    CPU.setdefault(who, []).append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return took


def measure(pythonmalloc: bool, scale: int, repeat: int) -> dict[str, float]:
    lib = str(recording.library_path())
    argv = [sys.executable, "-c", WORKLOAD, str(scale)]
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "MEMALLOC_RECORD_DIR")}
    if pythonmalloc:
        env["PYTHONMALLOC"] = "malloc"
    else:
        env.pop("PYTHONMALLOC", None)
    events = log_bytes = 0

    def recorded() -> float:
        nonlocal events, log_bytes
        folder = tempfile.mkdtemp(prefix="bench_record_")
        try:
            took = _timed(argv, {**env, "LD_PRELOAD": lib, "MEMALLOC_RECORD_DIR": folder}, "recorded")
            procs = recording.processes(folder)
            events = sum(p.events for p in procs)
            log_bytes = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
            return took
        finally:
            shutil.rmtree(folder)

    CPU.clear()
    best, ratios = _common.paired_rounds(lambda: _timed(argv, env, "plain"), {"recorded": recorded}, repeat)
    r = ratios["recorded"]
    cpu = {who: min(times) for who, times in CPU.items()}
    return {"plain_cpu_s": cpu["plain"], "recorded_cpu_s": cpu["recorded"],
            "cpu_ratio": cpu["recorded"] / cpu["plain"],"plain_s": best["baseline"], "recorded_s": best["recorded"],
            "ratio": best["recorded"] / best["baseline"], "paired_median": statistics.median(r),
            "paired_min": min(r), "paired_max": max(r), "events": events, "log_bytes": log_bytes}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=7, help="rounds (default 7)")
    p.add_argument("--scale", type=int, default=1, help="workload size multiplier (default 1)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    res = {mode: measure(mode == "PYTHONMALLOC=malloc", args.scale, args.repeat)
           for mode in ("pymalloc (default)", "PYTHONMALLOC=malloc")}
    if args.json:
        print(json.dumps(res, indent=2))
        return
    print(f"{'python3':<20} {'plain s':>8} {'recorded s':>11} {'ratio':>6} {'paired median (range)':>22} "
          f"{'CPU ratio':>10} {'events':>11} {'log MiB':>8} {'met':>4}")
    for mode, r in res.items():
        paired = f"{r['paired_median']:.2f} ({r['paired_min']:.2f}-{r['paired_max']:.2f})"
        print(f"{mode:<20} {r['plain_s']:>8.3f} {r['recorded_s']:>11.3f} {r['ratio']:>6.2f} {paired:>22} "
              f"{r['cpu_ratio']:>10.2f} {r['events']:>11,} {r['log_bytes'] / 2**20:>8.1f} "
              f"{'yes' if r['ratio'] <= 1.5 else 'no':>4}")
    print("ratio: best recorded wall time / best plain; paired: each recorded run / the plain run just "
          "before it; CPU ratio: best user + system time of each.  Target: at most 1.5x.")


if __name__ == "__main__":
    main()
