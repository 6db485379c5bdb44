"""Workload generators: seeded, deterministic, valid, with the promised shapes."""
import numpy as np
import pytest

from memalloc_py import workloads as W
from memalloc_py.trace import FREE, MALLOC, Trace


@pytest.mark.parametrize("dist", W.SIZE_DISTRIBUTIONS)
def test_sizes_stay_in_range_and_repeat_with_the_seed(dist):
    a = W.sizes(20_000, dist, low=16, high=2048, seed=5)
    assert a.dtype == np.uint64 and a.min() >= 16 and a.max() <= 2048
    assert np.array_equal(a, W.sizes(20_000, dist, low=16, high=2048, seed=5))
    assert not np.array_equal(a, W.sizes(20_000, dist, low=16, high=2048, seed=6))


def test_size_shapes():
    assert set(np.unique(W.sizes(5000, "power-of-two", low=16, high=256))) == {16, 32, 64, 128, 256}
    skewed = W.sizes(100_000, "skewed", low=8, high=4096)
    logu = W.sizes(100_000, "log-uniform", low=8, high=4096)
    assert np.median(skewed) < np.median(logu) < np.median(W.sizes(100_000, "uniform", low=8, high=4096))
    e = W.sizes(100_000, "exponential", low=0, high=10**9, mean=1000)
    assert 950 < e.mean() < 1050
    with pytest.raises(ValueError, match="unknown size distribution"):
        W.sizes(10, "zipf")
    with pytest.raises(ValueError):
        W.sizes(10, low=10, high=5)


def test_mixture_and_empirical():
    m = W.mixture(100_000, [(0.9, {"distribution": "uniform", "low": 16, "high": 64}),
                            (0.1, {"distribution": "uniform", "low": 10_000, "high": 20_000})], seed=1)
    assert 0.88 < (m <= 64).mean() < 0.92
    t = Trace.from_events([("malloc", 1, 7), ("malloc", 2, 9), ("free", 1)])
    e = W.empirical(1000, t, seed=1)
    assert set(np.unique(e)) == {7, 9}
    with pytest.raises(ValueError):
        W.mixture(10, [])


def test_steady_state_holds_the_live_count():
    t = W.steady_state(20_000, 1_000, seed=4)
    dbytes, dblocks = t.live_deltas()
    live = np.cumsum(dblocks)
    assert live.max() == 1000 and live[-1] == 0
    assert (live[1000:1000 + 2 * 19_000] >= 999).all()
    assert (t.op == MALLOC).sum() == 20_000 and (t.op == FREE).sum() == 20_000
    assert t == W.steady_state(20_000, 1_000, seed=4)


def test_lifetimes_ramp_peaks_plateau():
    e = W.random_lifetimes(20_000, mean_lifetime=500, seed=1)
    live = np.cumsum(e.live_deltas()[1])
    assert 400 < live[10_000:20_000].mean() < 600 and live[-1] == 0
    u = W.random_lifetimes(20_000, lifetime="uniform", mean_lifetime=500, seed=1)
    assert 400 < np.cumsum(u.live_deltas()[1])[10_000:20_000].mean() < 600
    r = W.ramp(5000, seed=1)
    live = np.cumsum(r.live_deltas()[1])
    assert (np.diff(live[:5000]) == 1).all() and live[-1] == 0
    p = W.peaks(4, 1000, background=100, seed=1)
    live = np.cumsum(p.live_deltas()[1])
    assert 1000 <= live.max() <= 1100 and live[-1] == 0
    pl = W.plateau(500, 5000, seed=1)
    assert np.cumsum(pl.live_deltas()[1]).max() == 500
    with pytest.raises(ValueError, match="lifetime"):
        W.random_lifetimes(10, lifetime="pareto")


@pytest.mark.parametrize("name", W.WORKLOADS)
def test_named_workloads_are_valid_and_about_the_right_size(name):
    t = W.generate(name, 20_000, seed=2)
    t.validate()
    assert 15_000 <= len(t) <= 21_000
    assert t == W.generate(name, 20_000, seed=2)
    with pytest.raises(ValueError, match="unknown workload"):
        W.generate("bursty")
