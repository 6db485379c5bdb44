"""Synthetic workloads: seeded, deterministic, vectorised trace generators.

Every generator takes a ``seed`` and returns a :class:`~memalloc_py.trace.Trace`
that is identical for the same arguments on every machine (numpy's PCG64).
"""
from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np

from .trace import FREE, MALLOC, Trace

__all__ = ["sizes", "mixture", "empirical", "steady_state", "random_lifetimes", "ramp",
           "peaks", "plateau", "SIZE_DISTRIBUTIONS", "WORKLOADS", "generate"]

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
      (the distribution of the peer benchmark in docs/references.md);
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


def mixture(
    n: int,
    components: list[tuple[float, dict[str, Any]]],
    *,
    seed: Union[int, np.random.Generator] = 0,
) -> np.ndarray:
    """``n`` sizes from a mixture: ``components`` is a list of ``(weight,
    options)`` where options are :func:`sizes` keyword arguments, e.g.
    ``[(0.9, {"distribution": "uniform", "low": 16, "high": 64}),
    (0.1, {"distribution": "log-uniform", "low": 1024, "high": 65536})]``."""
    if not components:
        raise ValueError("a mixture needs at least one component")
    w = np.array([c[0] for c in components], dtype=float)
    if (w < 0).any() or w.sum() <= 0:
        raise ValueError("mixture weights must be >= 0 and not all 0")
    rng = np.random.default_rng(seed)
    which = rng.choice(len(components), size=n, p=w / w.sum())
    out = np.empty(n, dtype="u8")
    for k, (_, opts) in enumerate(components):
        idx = np.flatnonzero(which == k)
        out[idx] = sizes(len(idx), seed=rng, **opts)
    return out


def empirical(n: int, trace: Trace, *, seed: Union[int, np.random.Generator] = 0) -> np.ndarray:
    """``n`` sizes drawn (with replacement) from the requests of ``trace``."""
    pool = trace.request_sizes()[trace.op != FREE]
    if pool.size == 0:
        raise ValueError("the trace makes no allocation to draw sizes from")
    rng = np.random.default_rng(seed)
    return pool[rng.integers(0, pool.size, size=n)].astype("u8")


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
    peer benchmark of docs/references.md (2M mallocs, 50,000 live, 4M events).
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


def _from_times(alloc_t: np.ndarray, free_t: np.ndarray, size_of: np.ndarray, meta: dict[str, Any]) -> Trace:
    """A trace from allocation and free times of objects 0..n-1 (free_t may be
    inf: never freed).  At equal times frees come before allocations."""
    n = len(alloc_t)
    freed = np.isfinite(free_t)
    t = np.concatenate([alloc_t.astype(float), free_t[freed]])
    kind = np.concatenate([np.ones(n, dtype=np.int8), np.zeros(int(freed.sum()), dtype=np.int8)])
    ident = np.concatenate([np.arange(n), np.flatnonzero(freed)])
    order = np.lexsort((ident, kind, t))
    op = np.where(kind[order] == 1, MALLOC, FREE).astype("u1")
    ids = ident[order].astype("u4")
    size = np.where(op == MALLOC, size_of[ids], 0).astype("u8")
    return Trace(op, ids, size, n_ids=n, meta=meta)


def random_lifetimes(
    n_objects: int = 1_000_000,
    *,
    lifetime: str = "exponential",
    mean_lifetime: float = 10_000,
    distribution: str = "skewed",
    low: int = 8,
    high: int = 4096,
    free_all: bool = True,
    seed: int = 0,
    **size_options: Any,
) -> Trace:
    """One allocation per tick; each object lives an ``exponential`` or
    ``uniform`` (0 to 2 x mean) number of ticks.  About ``mean_lifetime``
    objects are live in equilibrium (Little's law).  Objects still live at
    the end are freed in random order (``free_all``)."""
    if n_objects < 0 or mean_lifetime <= 0:
        raise ValueError("need n_objects >= 0 and mean_lifetime > 0")
    rng = np.random.default_rng(seed)
    size_of = sizes(n_objects, distribution, low=low, high=high, seed=rng, **size_options)
    if lifetime == "exponential":
        life = rng.exponential(mean_lifetime, size=n_objects)
    elif lifetime == "uniform":
        life = rng.uniform(0, 2 * mean_lifetime, size=n_objects)
    else:
        raise ValueError(f"unknown lifetime distribution {lifetime!r}; use 'exponential' or 'uniform'")
    alloc_t = np.arange(n_objects, dtype=float)
    free_t = alloc_t + np.maximum(life, 0.5)
    end = float(n_objects)
    late = free_t >= end
    if free_all:
        free_t[late] = end + rng.permutation(int(late.sum()))
    else:
        free_t[late] = np.inf
    meta = {"name": f"{lifetime} lifetimes (mean {mean_lifetime:g}), {n_objects} objects",
            "generator": "random_lifetimes", "seed": seed}
    return _from_times(alloc_t, free_t, size_of, meta)


def ramp(n_objects: int = 1_000_000, *, distribution: str = "skewed", low: int = 8,
         high: int = 4096, free_all: bool = True, seed: int = 0, **size_options: Any) -> Trace:
    """Wilson's ramp: objects accumulate and are never freed during the run
    (then, with ``free_all``, all are freed in random order)."""
    rng = np.random.default_rng(seed)
    size_of = sizes(n_objects, distribution, low=low, high=high, seed=rng, **size_options)
    alloc_t = np.arange(n_objects, dtype=float)
    free_t = np.full(n_objects, np.inf)
    if free_all:
        free_t = n_objects + rng.permutation(n_objects).astype(float)
    meta = {"name": f"ramp of {n_objects} objects", "generator": "ramp", "seed": seed}
    return _from_times(alloc_t, free_t, size_of, meta)


def peaks(n_peaks: int = 20, per_peak: int = 50_000, *, background: int = 0,
          distribution: str = "skewed", low: int = 8, high: int = 4096, seed: int = 0,
          **size_options: Any) -> Trace:
    """Wilson's peaks: in each of ``n_peaks`` bursts ``per_peak`` short-lived
    objects are allocated and then all freed (in random order), while
    ``background`` long-lived objects, allocated along the way, live to the end."""
    rng = np.random.default_rng(seed)
    n = n_peaks * per_peak + background
    size_of = sizes(n, distribution, low=low, high=high, seed=rng, **size_options)
    span = 2.0 * per_peak
    k = np.arange(n_peaks * per_peak)
    peak, pos = np.divmod(k, per_peak)
    alloc_t = peak * span + pos
    free_t = peak * span + per_peak + rng.random(len(k)) * per_peak
    bg_alloc = rng.random(background) * n_peaks * span
    bg_free = n_peaks * span + rng.permutation(background).astype(float)
    meta = {"name": f"{n_peaks} peaks of {per_peak} objects", "generator": "peaks", "seed": seed}
    return _from_times(np.concatenate([alloc_t, bg_alloc]), np.concatenate([free_t, bg_free]),
                       size_of, meta)


def plateau(live: int = 50_000, churn: int = 500_000, *, distribution: str = "skewed",
            low: int = 8, high: int = 4096, seed: int = 0, **size_options: Any) -> Trace:
    """Wilson's plateau: ramp up to ``live`` objects, hold that level while
    ``churn`` more are allocated (each replacing a random live one), then
    free everything: :func:`steady_state` by another name, with its ramps."""
    t = steady_state(live + churn, live, distribution=distribution, low=low, high=high,
                     seed=seed, free_all=True, **size_options)
    t.meta.update(name=f"plateau of {live} objects, {churn} replaced", generator="plateau")
    return t


#: Named workloads for the command line: name -> (function, how --events maps to it).
WORKLOADS = ("steady", "exponential", "uniform-lifetimes", "ramp", "peaks", "plateau")


def generate(name: str, events: int = 1_000_000, seed: int = 0, **options: Any) -> Trace:
    """A named workload of about ``events`` events (what ``memalloc compare
    --workload`` runs).  Every workload frees what it allocates, so about half
    of the events are allocations."""
    objects = max(1, events // 2)
    if name == "steady":
        live = options.pop("live", max(1, min(50_000, objects // 10)))
        return steady_state(objects, min(live, objects), seed=seed, **options)
    if name == "exponential":
        return random_lifetimes(objects, lifetime="exponential",
                                mean_lifetime=options.pop("mean_lifetime", max(1.0, objects / 20)),
                                seed=seed, **options)
    if name == "uniform-lifetimes":
        return random_lifetimes(objects, lifetime="uniform",
                                mean_lifetime=options.pop("mean_lifetime", max(1.0, objects / 20)),
                                seed=seed, **options)
    if name == "ramp":
        return ramp(objects, seed=seed, **options)
    if name == "peaks":
        n_peaks = options.pop("n_peaks", 10)
        return peaks(n_peaks, max(1, objects // n_peaks), seed=seed, **options)
    if name == "plateau":
        live = options.pop("live", max(1, objects // 10))
        return plateau(live, max(0, objects - live), seed=seed, **options)
    raise ValueError(f"unknown workload {name!r}; choose one of {WORKLOADS}")
