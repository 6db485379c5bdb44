"""What every benchmark script shares."""
import os

# Idle OpenBLAS threads (numpy) would spin on one of the two cores.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def best_of(run, repeat):
    """The smallest of `repeat` results of run(), after one untimed warm-up run
    (which faults the memory in, for every contender alike)."""
    run()
    return min(run() for _ in range(repeat))
