"""Is a change to the C core faster?  The work tree against a git revision, paired runs.

The machine's speed drifts by up to 2x within seconds, so two benchmark runs
made minutes apart cannot tell a 5% change from noise.  This script builds
the package at --base (default HEAD) into a temporary folder, imports it
beside the installed work-tree build under the name `memalloc_base`, and
replays one trace through each allocator of both builds in adjacent runs,
the order alternating from round to round.  For each allocator it prints
the median and the quartiles of the ratio new / base over the rounds.

A process also carries a bias of its own (the libraries and the arenas lie
at other addresses in each process; which of that matters is not known): on
this project's machine, work trees whose C code compiled to the same
instructions as their base measured new/base 0.954 (quartiles 0.932-0.971)
in one process and 1.009 and 1.020 in two others (first-ao, 5,000 live
blocks).  So --processes (default 3) repeats the
whole comparison in that many fresh processes and prints each one's median
beside the median of them all; --calibrate adds, for each allocator, the
base build against a second copy of its own library ("A/A'"), which has the
same kind of bias and no change of code.  A change is real when its
medians lie beyond the A/A' medians in every process, not merely when its
quartiles leave 1.0 on one side.

Run it after `pip install .` of the work tree, from the repository:

    python benchmarks/compare_builds.py [--base HEAD] [--allocators best-ao,first-ao]
        [--rounds 15] [--processes 3] [--mallocs 1000000] [--live 100000] [--calibrate]
"""
from __future__ import annotations

import argparse
import importlib
import json
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


def build_base(rev: str, into: Path) -> Path:
    """Build revision `rev` of this repository into `into`/site as the
    package memalloc_base, and a second copy of it as memalloc_base2 (its own
    library file, so that it is loaded on its own: the A/A' calibration)."""
    src, site = into / "src", into / "site"
    src.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive.stdout, check=True)
    print(f"building {rev} ...", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(site), str(src)], check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    shutil.move(site / "memalloc_py", site / "memalloc_base")  # its imports are relative
    shutil.copytree(site / "memalloc_base", site / "memalloc_base2")
    return site


def quartiles(values):
    v = sorted(values)
    q = len(v) // 4
    return statistics.median(v), v[q], v[-q - 1]


def measure(args, site: Path) -> dict:
    """One process's comparison: for each line, the ratios of its rounds and
    the best time of each side."""
    sys.path.insert(0, str(site))
    base = importlib.import_module("memalloc_base")
    twin = importlib.import_module("memalloc_base2")
    with tempfile.TemporaryDirectory() as tmp:
        trace = workloads.steady_state(args.mallocs, args.live, seed=args.seed)
        path = Path(tmp) / "trace.npz"
        trace.save(path)
        traces = {new: trace, base: base.Trace.load(path), twin: twin.Trace.load(path)}
    n = len(trace)

    def timer(module, name):
        alloc, tr = module.create(name, arena_size=1 << 32), traces[module]
        return lambda: module.replaying.replay_bare(tr, alloc)["nanoseconds"] / n

    pairs = {}
    for name in args.allocators.split(","):
        pairs[name] = (timer(base, name), timer(new, name))
        if args.calibrate:
            pairs[name + " (A/A')"] = (pairs[name][0], timer(twin, name))
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
    return {"events": n, "trace": trace.meta["name"], "ratios": ratios, "best": best}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base", default="HEAD", help="git revision to compare against")
    p.add_argument("--allocators", default="best-ao,best-fifo,first-ao,next-ao,worst-fifo")
    p.add_argument("--rounds", type=int, default=15, help="paired rounds in each process")
    p.add_argument("--processes", type=int, default=3, help="fresh processes to repeat it in")
    p.add_argument("--mallocs", type=int, default=1_000_000)
    p.add_argument("--live", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=2)
    p.add_argument("--calibrate", action="store_true",
                   help="also run base against a second copy of its library")
    p.add_argument("--worker", metavar="SITE", help=argparse.SUPPRESS)  # one process's share
    args = p.parse_args()
    if args.rounds < 1 or args.processes < 1:
        p.error("--rounds and --processes must be at least 1")
    if new.__file__.startswith(str(ROOT / "memalloc_py")):
        p.error("memalloc_py is imported from the source tree, which has no build: "
                "pip install . first, and run this script as benchmarks/compare_builds.py")
    if args.worker:
        json.dump(measure(args, Path(args.worker)), sys.stdout)
        return

    with tempfile.TemporaryDirectory() as tmp:
        try:
            site = build_base(args.base, Path(tmp))
        except subprocess.CalledProcessError as e:
            err = e.stderr.decode(errors="replace").strip() if e.stderr else ""
            sys.exit(f"compare_builds: cannot build {args.base!r}: {err or e}")
        runs = []
        for i in range(args.processes):
            print(f"process {i + 1} of {args.processes} ...", file=sys.stderr, flush=True)
            out = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--worker", str(site)],
                                 capture_output=True, text=True)
            if out.returncode:
                sys.exit(f"compare_builds: process {i + 1} failed:\n{out.stderr.strip()}")
            runs.append(json.loads(out.stdout))

    print(f"trace: {runs[0]['trace']}, {runs[0]['events']:,} events; {args.rounds} rounds of "
          f"adjacent runs in each of {args.processes} processes")
    print(f"{'allocator':<20} {'base ns':>8} {'new ns':>8} {'new/base median':>16} "
          f"{'quartiles':>12}  each process's median")
    for name in runs[0]["ratios"]:
        pooled = [x for r in runs for x in r["ratios"][name]]
        med, lo, hi = quartiles(pooled)
        each = " ".join(f"{statistics.median(r['ratios'][name]):.3f}" for r in runs)
        b = min(r["best"][name][0] for r in runs)
        w = min(r["best"][name][1] for r in runs)
        print(f"{name:<20} {b:8.1f} {w:8.1f} {med:16.3f} {f'{lo:.3f}-{hi:.3f}':>12}  {each}")


if __name__ == "__main__":
    main()
