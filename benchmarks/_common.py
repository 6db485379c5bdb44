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


def paired_rounds(baseline, runs, repeat, unpaired=None):
    """Each contender of `runs` (name -> function returning a time) timed
    right after a run of `baseline`, in `repeat` rounds; `unpaired` ones
    (same form) once per round on their own.

    Returns (best, ratios): each contender's and the baseline's smallest
    time, and for each paired contender the ratio of every one of its runs
    to the baseline run just before it.  The machine's speed changes within
    seconds; two runs a fraction of a second apart share its state, so the
    spread of these ratios shows how far one run's ratio can be trusted,
    and their median does not depend on each side meeting a fast moment.
    One untimed call of each comes first, as in interleaved_best."""
    unpaired = unpaired or {}
    baseline()
    for run in [*unpaired.values(), *runs.values()]:
        run()
    best = {key: float("inf") for key in [*unpaired, *runs, "baseline"]}
    ratios = {key: [] for key in runs}
    for _ in range(repeat):
        for key, run in unpaired.items():
            best[key] = min(best[key], run())
        for key, run in runs.items():
            b = baseline()
            t = run()
            best["baseline"] = min(best["baseline"], b)
            best[key] = min(best[key], t)
            ratios[key].append(t / b)
    return best, ratios


def closed(trace):
    """`trace` followed by the free of every id it leaves live, so that
    replaying it again on the same allocator starts from an empty heap
    whose memory is already touched (no reset, no page faults timed)."""
    import numpy as np
    from memalloc_py.trace import FREE, REALLOC, Trace

    op, ids, size = trace.op, trace.id, trace.size
    uniq, first_from_end = np.unique(ids[::-1], return_index=True)
    last = len(ids) - 1 - first_from_end
    ended = (op[last] == FREE) | ((op[last] == REALLOC) & (size[last] == 0))
    live = uniq[~ended]
    n = len(live)
    return Trace(np.concatenate([op, np.full(n, FREE, dtype=op.dtype)]), np.concatenate([ids, live]),
                 np.concatenate([size, np.zeros(n, dtype=size.dtype)]),
                 np.concatenate([trace.arg, np.zeros(n, dtype=trace.arg.dtype)]),
                 n_ids=trace.n_ids, meta={**trace.meta, "name": f"{trace.meta.get('name', 'trace')}, closed"})
