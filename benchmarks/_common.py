"""What every benchmark script shares."""
import os

# Idle OpenBLAS threads (numpy) would spin on one of the two cores.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def interleaved_best(runs, repeat):
    """The smallest result of each of `runs` (a dict of name -> function
    returning a time) over `repeat` rounds, each round calling every run once.

    The machine's speed drifts (shared cores, up to 2x within minutes), so
    the contenders take turns rather than each taking its rounds in a row:
    every best is then drawn from the same stretches of time.  One untimed
    call of each comes first (it faults the memory in, for every contender
    alike)."""
    for run in runs.values():
        run()
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeat):
        for key, run in runs.items():
            best[key] = min(best[key], run())
    return best
