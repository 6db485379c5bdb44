"""A real program on our allocators: CPython's wall time under the preload shim beside glibc's malloc.

The workload is a fixed CPython script (WORKLOAD below: JSON encoding and
decoding, regular expressions, dictionaries, sorting, string building,
about a second under glibc), run as a fresh process each time:

- `glibc`: no shim, the C library's malloc as it ships;
- `glibc-nodefer`: the same with tcache and fastbins off
  (GLIBC_TUNABLES=glibc.malloc.tcache_count=0:glibc.malloc.mxfast=0), the
  baseline for allocators that coalesce at once, as best-ao does;
- `buddy`, `best-ao`, ...: `memalloc run --allocator NAME` (the shim, with
  its default 4G arena and no reporting).

Twice: as Python runs by default (pymalloc serves objects of up to 512
bytes from its own arenas, so malloc sees the larger requests and the
arenas' bookkeeping), and with PYTHONMALLOC=malloc (every object a malloc
and a free: the stress case).  The machine's speed drifts, so every
contender runs right after a glibc run in each of --repeat rounds
(_common.paired_rounds): `best` is its fastest run, `x glibc` its best over
glibc's best, `paired` the median of its ratios to the glibc run just
before it and `range` their spread.  Targets (issue #17): best-ao at most
1.5x glibc's time, buddy at most 1.3x; `met` compares `paired` with them.

    python benchmarks/bench_shim.py [--repeat 5] [--allocators buddy,best-ao] [--scale 1.0]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import _common  # first: it also keeps BLAS threads off the second core

from memalloc_py import preload  # noqa: E402

WORKLOAD = r"""
import json, re, random, sys
scale = float(sys.argv[1])
random.seed(1)
n = int(40000 * scale)
records = [{"id": i, "name": f"item{i}", "tags": [str(j) for j in range(i % 7)],
            "value": random.random(), "nested": {"a": i % 3, "b": [i, i * 2]}} for i in range(n)]
text = json.dumps(records)
back = json.loads(text)
words = re.findall(r"[a-z]+\d+", text)
counts = {}
for w in words:
    counts[w] = counts.get(w, 0) + 1
top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
lines = [" ".join(w.upper() for w in words[i:i + 20]) for i in range(0, len(words), 20)]
joined = "\n".join(sorted(set(lines)))
table = {}
for r in back:
    table.setdefault(r["nested"]["a"], []).append(r["value"])
print(len(text), len(back), len(words), top[0], len(joined), sorted((k, len(v)) for k, v in table.items()))
"""

NODEFER = "glibc.malloc.tcache_count=0:glibc.malloc.mxfast=0"
TARGETS = {"best-ao": 1.5, "buddy": 1.3}


def timed(env: dict[str, str], scale: float, expected: list[str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", WORKLOAD, str(scale)], env=env, capture_output=True, text=True)
    t = time.perf_counter() - t0
    if done.returncode != 0 or done.stderr:
        raise SystemExit(f"the workload failed (status {done.returncode}): {done.stderr[-2000:]}")
    if expected and done.stdout != expected[0]:
        raise SystemExit(f"the workload printed {done.stdout!r}, not {expected[0]!r}")
    expected[:] = [done.stdout]
    return t


def measure(pymalloc: str, allocators: list[str], scale: float, repeat: int) -> list[dict]:
    base = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith("MEMALLOC_")}
    if pymalloc != "default":
        base["PYTHONMALLOC"] = pymalloc
    else:
        base.pop("PYTHONMALLOC", None)
    expected: list[str] = []
    envs = {"glibc-nodefer": {**base, "GLIBC_TUNABLES": NODEFER}}
    envs.update({name: preload.environment(name, base=base) for name in allocators})
    runs = {name: (lambda e=env: timed(e, scale, expected)) for name, env in envs.items()}
    best, ratios = _common.paired_rounds(lambda: timed(base, scale, expected), runs, repeat)
    rows = [{"python": pymalloc, "contender": "glibc", "best": best["baseline"], "x glibc": 1.0,
             "paired": 1.0, "range": "", "target": None, "met": ""}]
    for name in envs:
        target = TARGETS.get(name)
        paired = statistics.median(ratios[name])
        rows.append({"python": pymalloc, "contender": name, "best": best[name],
                     "x glibc": best[name] / best["baseline"], "paired": paired,
                     "range": f"{min(ratios[name]):.2f}-{max(ratios[name]):.2f}", "target": target,
                     "met": "" if target is None else ("yes" if paired <= target else "NO")})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--allocators", default="buddy,best-ao")
    p.add_argument("--scale", type=float, default=1.0, help="workload size (1.0: about a second)")
    p.add_argument("--python", choices=["default", "malloc", "both"], default="both",
                   help="pymalloc as Python ships (default), PYTHONMALLOC=malloc, or both")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    modes = ["default", "malloc"] if args.python == "both" else [args.python]
    allocators = [a for a in args.allocators.split(",") if a]
    rows = [row for mode in modes for row in measure(mode, allocators, args.scale, args.repeat)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'PYTHONMALLOC':<13} {'contender':<14} {'best s':>7} {'x glibc':>8} {'paired':>7} "
          f"{'range':>10} {'target':>7} {'met':>4}")
    for r in rows:
        target = "" if r["target"] is None else f"{r['target']:.1f}"
        print(f"{r['python']:<13} {r['contender']:<14} {r['best']:7.3f} {r['x glibc']:8.2f} {r['paired']:7.2f} "
              f"{r['range']:>10} {target:>7} {r['met']:>4}")


if __name__ == "__main__":
    main()
