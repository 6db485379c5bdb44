"""Is a change to the C core faster?  The work tree against a git revision, in one process.

The machine's speed drifts by up to 2x within seconds, so two benchmark runs
made minutes apart (or in two processes) cannot tell a 5% change from noise.
This script builds the package at --base (default HEAD) into a temporary
folder, imports it beside the installed work-tree build under the name
`memalloc_base`, and replays one trace through each allocator of both
builds in adjacent runs, the order alternating from round to round.  For
each allocator it prints the median and the quartiles of the ratio
new / base over the rounds.  --calibrate adds the base build against a
second instance of itself (an A/A run).  Two instances of one build can
differ steadily (their memory lies elsewhere): on this project's machine
A/A quartiles have sat wholly above 1.0 (1.10-1.13 on a small trace), so a
change is real only when its median lies clearly beyond the A/A medians,
not merely when its quartiles leave 1.0 on one side.

Run it after `pip install .` of the work tree, from the repository:

    python benchmarks/compare_builds.py [--base HEAD] [--allocators best-ao,first-ao]
        [--rounds 15] [--mallocs 1000000] [--live 100000] [--calibrate]
"""
from __future__ import annotations

import argparse
import importlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import _common  # noqa: F401  (first: it keeps BLAS threads off the second core)

import memalloc_py as new  # noqa: E402
from memalloc_py import workloads  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def build_base(rev: str, into: Path):
    """Build revision `rev` of this repository and import it as memalloc_base."""
    src, site = into / "src", into / "site"
    src.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive.stdout, check=True)
    print(f"building {rev} ...", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(site), str(src)], check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    shutil.move(site / "memalloc_py", site / "memalloc_base")  # its imports are relative
    sys.path.insert(0, str(site))
    return importlib.import_module("memalloc_base")


def quartiles(values):
    v = sorted(values)
    q = len(v) // 4
    return statistics.median(v), v[q], v[-q - 1]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base", default="HEAD", help="git revision to compare against")
    p.add_argument("--allocators", default="best-ao,best-fifo,first-ao,next-ao,worst-fifo")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--mallocs", type=int, default=1_000_000)
    p.add_argument("--live", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=2)
    p.add_argument("--calibrate", action="store_true", help="also run base against base")
    args = p.parse_args()
    if new.__file__.startswith(str(ROOT / "memalloc_py")):
        p.error("memalloc_py is imported from the source tree, which has no build: "
                "pip install . first, and run this script as benchmarks/compare_builds.py")

    with tempfile.TemporaryDirectory() as tmp:
        try:
            base = build_base(args.base, Path(tmp))
        except subprocess.CalledProcessError as e:
            err = e.stderr.decode(errors="replace").strip() if e.stderr else ""
            sys.exit(f"compare_builds: cannot build {args.base!r}: {err or e}")
        trace = workloads.steady_state(args.mallocs, args.live, seed=args.seed)
        path = Path(tmp) / "trace.npz"
        trace.save(path)
        base_trace = base.Trace.load(path)  # each build replays its own Trace
        n = len(trace)

        def timer(module, tr, alloc):
            return lambda: module.replaying.replay_bare(tr, alloc)["nanoseconds"] / n

        pairs = {}
        for name in args.allocators.split(","):
            pairs[name] = (timer(base, base_trace, base.create(name, arena_size=1 << 32)),
                           timer(new, trace, new.create(name, arena_size=1 << 32)))
            if args.calibrate:
                pairs[name + " (A/A)"] = (pairs[name][0],
                                          timer(base, base_trace, base.create(name, arena_size=1 << 32)))
        for first, second in pairs.values():  # fault the memory in
            first(), second()
        ratios = {name: [] for name in pairs}
        best = {name: [float("inf"), float("inf")] for name in pairs}
        for r in range(args.rounds):
            for name, runs in pairs.items():
                order = (0, 1) if r % 2 == 0 else (1, 0)
                t = [0.0, 0.0]
                for k in order:
                    t[k] = runs[k]()
                    best[name][k] = min(best[name][k], t[k])
                ratios[name].append(t[1] / t[0])

    print(f"trace: {trace.meta['name']}, {n:,} events; {args.rounds} rounds of adjacent runs")
    print(f"{'allocator':<18} {'base ns':>8} {'new ns':>8} {'new/base median':>16} {'quartiles':>12}")
    for name, v in ratios.items():
        med, lo, hi = quartiles(v)
        print(f"{name:<18} {best[name][0]:8.1f} {best[name][1]:8.1f} {med:16.3f} "
              f"{f'{lo:.3f}-{hi:.3f}':>12}")


if __name__ == "__main__":
    main()
