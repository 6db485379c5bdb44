"""Synthetic workloads: seeded, deterministic, vectorised trace generators.

Every generator takes a ``seed`` and returns a :class:`~memalloc_py.trace.Trace`
that is identical for the same arguments on every machine (numpy's PCG64).
"""
from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np

from .trace import FREE, MALLOC, Trace

__all__ = ["sizes", "steady_state", "SIZE_DISTRIBUTIONS"]

#: The size distributions that :func:`sizes` draws from.
SIZE_DISTRIBUTIONS = ("uniform", "log-uniform", "skewed", "exponential", "power-of-two")


def sizes(
    n: int,
    distribution: str = "skewed",
    *,
    low: int = 8,
    high: int = 4096,
    mean: Optional[float] = None,
    seed: Union[int, np.random.Generator] = 0,
) -> np.ndarray:
    """``n`` request sizes in ``[low, high]`` as a uint64 array.

    - ``uniform``: every size in the range equally likely;
    - ``log-uniform``: ``exp`` of a uniform between ``log(low)`` and ``log(high)``;
    - ``skewed``: log-uniform of a squared uniform, so small sizes dominate
      (the REFERENCES.md peer benchmark's distribution);
    - ``exponential``: exponential with the given ``mean`` (default
      ``(low+high)/4``), shifted by ``low`` and clipped at ``high``;
    - ``power-of-two``: a uniformly chosen power of two in the range.
    """
    _check_range(n, low, high)
    rng = np.random.default_rng(seed)
    if distribution == "uniform":
        out = rng.integers(low, high, size=n, endpoint=True)
    elif distribution in ("log-uniform", "skewed"):
        u = rng.random(n)
        if distribution == "skewed":
            u = u * u
        lo, hi = np.log(low), np.log(high + 1)
        out = np.floor(np.exp(lo + u * (hi - lo)))
    elif distribution == "exponential":
        m = float(mean if mean is not None else (low + high) / 4)
        if m <= 0:
            raise ValueError("mean must be positive")
        out = low + np.floor(rng.exponential(m - low if m > low else m, size=n))
    elif distribution == "power-of-two":
        lo = int(low - 1).bit_length() if low > 1 else 0
        hi = int(high).bit_length() - 1
        if hi < lo:
            raise ValueError(f"no power of two between {low} and {high}")
        out = np.left_shift(1, rng.integers(lo, hi, size=n, endpoint=True))
    else:
        raise ValueError(f"unknown size distribution {distribution!r}; use one of {SIZE_DISTRIBUTIONS}")
    return np.clip(out, low, high).astype("u8")


def _check_range(n: int, low: int, high: int) -> None:
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if low < 0 or high < low:
        raise ValueError(f"need 0 <= low <= high, got low={low}, high={high}")


def steady_state(
    n_mallocs: int = 2_000_000,
    live: int = 50_000,
    *,
    distribution: str = "skewed",
    low: int = 8,
    high: int = 4096,
    seed: int = 0,
    free_all: bool = True,
    **size_options: Any,
) -> Trace:
    """Ramp up to ``live`` blocks, then free a random live block and allocate
    a new one until ``n_mallocs`` allocations were made, then (``free_all``)
    free the rest in random order.  Every live block is equally likely to be
    freed next: the equilibrium of Knuth's fifty-percent rule, and the
    REFERENCES.md peer benchmark (2M mallocs, 50,000 live, 4M events).
    """
    if live < 1 or n_mallocs < live:
        raise ValueError(f"need 1 <= live <= n_mallocs, got live={live}, n_mallocs={n_mallocs}")
    rng = np.random.default_rng(seed)
    size_of = sizes(n_mallocs, distribution, low=low, high=high, seed=rng, **size_options)
    pairs = n_mallocs - live
    slot = rng.integers(0, live, size=pairs)
    # The id freed at pair k is the previous occupant of slot[k]: the initial
    # id (== slot) or the id allocated at the latest earlier pair on the slot.
    order = np.lexsort((np.arange(pairs), slot))
    s_sorted = slot[order]
    first_in_slot = np.ones(pairs, dtype=bool)
    first_in_slot[1:] = s_sorted[1:] != s_sorted[:-1]
    prev_sorted = np.where(first_in_slot, s_sorted, 0).astype(np.int64)
    prev_sorted[~first_in_slot] = live + order[np.flatnonzero(~first_in_slot) - 1]
    freed = np.empty(pairs, dtype=np.int64)
    freed[order] = prev_sorted
    # Final occupant of every slot.
    final = np.arange(live, dtype=np.int64)
    if pairs:
        last_in_slot = np.ones(pairs, dtype=bool)
        last_in_slot[:-1] = s_sorted[1:] != s_sorted[:-1]
        final[s_sorted[last_in_slot]] = live + order[last_in_slot]
    n_tail = live if free_all else 0
    n = live + 2 * pairs + n_tail
    op = np.empty(n, dtype="u1")
    ids = np.empty(n, dtype="u4")
    op[:live] = MALLOC
    ids[:live] = np.arange(live)
    op[live : live + 2 * pairs : 2] = FREE
    ids[live : live + 2 * pairs : 2] = freed
    op[live + 1 : live + 2 * pairs : 2] = MALLOC
    ids[live + 1 : live + 2 * pairs : 2] = np.arange(live, n_mallocs)
    if free_all:
        op[live + 2 * pairs :] = FREE
        ids[live + 2 * pairs :] = rng.permutation(final)
    size = np.where(op == MALLOC, size_of[np.minimum(ids, n_mallocs - 1)], 0).astype("u8")
    meta = {"name": f"steady-state {distribution} {n_mallocs} mallocs, {live} live",
            "generator": "steady_state", "seed": seed}
    return Trace(op, ids, size, n_ids=n_mallocs, meta=meta)
