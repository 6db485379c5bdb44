"""The C replay engine against the Python API, driven one event at a time."""
import math

import matplotlib
import numpy as np
import pytest
from hypothesis import given, settings

import memalloc_py as ma
from memalloc_py import replaying as R
from memalloc_py.testing import traces
from memalloc_py.trace import Trace

matplotlib.use("Agg")
STAT_FIELDS = [f for f in ma.Stats.__dataclass_fields__]
CONFIGS = [("buddy", dict(arena_size=1 << 16)), ("best-ao", dict(arena_size=1 << 16)),
           ("next-lifo", dict(arena_size=1 << 16, trim=True)), ("worst-fifo", dict(arena_size=1 << 16))]


def drive(alloc, trace, scale=1):
    """Every event through the Python API; the stats after each."""
    addr = {}
    out = []
    for ev in trace.events():
        kind, ident = ev[0], ev[1]
        if kind == "malloc":
            addr[ident] = alloc.malloc(ev[2] * scale)
        elif kind == "calloc":
            addr[ident] = alloc.calloc(ev[2], ev[3] * scale)
        elif kind == "memalign":
            addr[ident] = alloc.memalign(ev[2], ev[3] * scale)
        elif kind == "free":
            alloc.free(addr.pop(ident))
        else:
            p = addr.get(ident)
            q = alloc.realloc(p, ev[2] * scale)
            if q is not None or ev[2] == 0 or p is None:
                addr[ident] = q
        out.append(alloc.stats())
    return out


@pytest.mark.parametrize("name, options", CONFIGS)
@given(t=traces(max_events=50, max_size=6000))
@settings(max_examples=60)
def test_replay_equals_the_same_events_one_by_one(name, options, t):
    with ma.create(name, **options) as a, ma.create(name, **options) as b:
        res = R.replay(t, a, sample_every=1)
        stats = drive(b, t)
        assert len(res.samples) == len(t)
        for i, want in enumerate(stats):
            got = {f: int(res.samples[f][i]) for f in STAT_FIELDS}
            assert got == {f: getattr(want, f) for f in STAT_FIELDS}, f"after event {i}"
        assert a.stats() == b.stats()
        assert [tuple(x) for x in a.blocks()] == [tuple(x) for x in b.blocks()]
        a.check()
        assert res.summary["failures"] == b.stats().failures


def brute_force_jw(alloc, trace):
    H, L = [], []
    for s in drive(alloc, trace):
        H.append(s.heap_size)
        L.append(s.requested_bytes)
    H, L = np.array(H, float), np.array(L, float)
    if len(H) == 0:
        return (math.nan,) * 4
    pos = L > 0
    jw1 = (H[pos] / L[pos]).mean() - 1 if pos.any() else math.nan
    i_live, i_heap = int(np.argmax(L)), int(np.argmax(H))
    jw2 = H[i_live] / L[i_live] - 1 if L.max() > 0 else math.nan
    jw3 = H[i_heap] / L[i_heap] - 1 if L[i_heap] > 0 else math.nan
    jw4 = H.max() / L.max() - 1 if L.max() > 0 else math.nan
    return jw1, jw2, jw3, jw4


@pytest.mark.parametrize("name", ["buddy", "best-ao", "first-lifo"])
@given(t=traces(max_events=60, max_size=5000))
@settings(max_examples=60)
def test_johnstone_wilson_measures_equal_a_brute_force_computation(name, t):
    res = R.replay(t, name, arena_size=1 << 18, sample_every=0)
    with ma.create(name, arena_size=1 << 18) as b:
        want = brute_force_jw(b, t)
    got = tuple(res.summary[k] for k in ("jw1", "jw2", "jw3", "jw4"))
    for g, w in zip(got, want):
        assert (math.isnan(g) and math.isnan(w)) or g == pytest.approx(w, rel=1e-9, abs=1e-12)


def test_size_scale_multiplies_every_request():
    t = Trace.from_events([("malloc", 1, 10), ("calloc", 2, 3, 5), ("memalign", 3, 64, 7),
                           ("realloc", 1, 20), ("free", 2)])
    scaled = Trace(t.op, t.id, t.size * 16, t.arg)
    a = R.replay(t, "best-ao", arena_size=1 << 20, size_scale=16, sample_every=1)
    b = R.replay(scaled, "best-ao", arena_size=1 << 20, sample_every=1)
    assert np.array_equal(a.samples, b.samples)
    assert a.summary["peak_live"] == 16 * (20 + 15 + 7)  # after the realloc


def test_samples_every_k_events_and_the_final_state():
    t = ma.workloads.steady_state(1000, 100, seed=3)
    res = R.replay(t, "buddy", arena_size=1 << 24, sample_every=300)
    assert list(res.samples["event"]) == [299, 599, 899, 1199, 1499, 1799, 1999]
    assert res.samples["live_blocks"][-1] == 0
    df = res.timeline
    for col in ("event", "live_bytes", "requested_bytes", "allocated_bytes", "heap_size",
                "free_bytes", "free_blocks", "largest_free", "internal_fragmentation",
                "external_fragmentation"):
        assert col in df.columns
    assert len(df) == 7
    assert R.replay(t, "buddy", arena_size=1 << 24, sample_every=0).samples.size == 0


def test_replay_into_an_instance_keeps_what_is_still_live():
    t = Trace.from_events([("malloc", 1, 100), ("malloc", 2, 200), ("free", 1)])
    with ma.create("best-ao", arena_size=1 << 16) as a:
        p = a.malloc(10)
        R.replay(t, a)
        s = a.stats()
        assert (s.live_blocks, s.requested_bytes, s.mallocs, s.frees) == (2, 210, 3, 1)
        a.check()
        for b in a.blocks().allocated:
            a.free(b.address)
        assert a.stats().live_blocks == 0 and p is not None


def test_out_of_memory_is_counted_not_fatal():
    t = Trace.from_events([("malloc", i, 400) for i in range(10)] + [("free", i) for i in range(10)])
    res = R.replay(t, "buddy", arena_size=1024, sample_every=1)
    assert res.summary["failures"] == 8 and res.summary["events"] == 20
    assert res.samples["failures"][-1] == 8


def test_an_unvalidated_bad_trace_is_an_error_and_leaves_the_heap_consistent():
    t = Trace([0, 0], [0, 0], [10, 10], validate=False)  # id 0 allocated twice
    with ma.create("best-ao", arena_size=1 << 16) as a:
        with pytest.raises(ValueError, match="event 1: id 0 is already live"):
            R.replay(t, a)
        a.check()
        assert a.stats().live_blocks == 1


def test_progress_hook_can_stop_a_replay():
    t = ma.workloads.steady_state(50_000, 1000, seed=1)
    seen = []

    def hook(done, total):
        seen.append((done, total))
        return done >= 30_000

    res = R.replay(t, "buddy", arena_size=1 << 26, progress=hook, progress_every=10_000)
    assert seen == [(10_000, len(t)), (20_000, len(t)), (30_000, len(t))]
    assert res.summary["stopped"] and res.summary["events"] == 30_000


def test_system_allocator_replays_without_a_heap_size():
    t = ma.workloads.steady_state(2000, 100, seed=1)
    res = R.replay(t, "system")
    s = res.summary
    assert s["failures"] == 0 and s["events"] == len(t) and s["peak_live"] > 0
    # libc's heap cannot be observed: no Johnstone-Wilson measure, not a bogus -100%
    assert all(math.isnan(s[k]) for k in ("jw1", "jw2", "jw3", "jw4"))


def test_compare_tabulates_and_routes_options():
    t = ma.workloads.steady_state(5000, 500, seed=2)
    df = R.compare(t, ["buddy", "best-ao", "system"], arena_size=1 << 28, growth=8192)
    assert list(df.index) == ["buddy", "best-ao", "system"]
    assert {"jw1", "jw4", "ns_per_event", "failures"} <= set(df.columns)
    assert (df["failures"] == 0).all()


def test_plot_draws_heap_and_fragmentation():
    t = ma.workloads.steady_state(3000, 300, seed=2)
    fig = R.replay(t, "best-ao", arena_size=1 << 24, sample_every=100).plot()
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 3


def test_replay_argument_errors():
    t = Trace.from_events([("malloc", 1, 5)])
    with pytest.raises(TypeError):
        R.replay([("malloc", 1, 5)], "buddy")
    with pytest.raises(ValueError):
        R.replay(t, "buddy", sample_every=-1)
    with pytest.raises(ValueError, match="unknown allocator"):
        R.replay(t, "bogus")
    a = ma.create("buddy")
    a.close()
    with pytest.raises(ValueError, match="closed"):
        R.replay(t, a)


def test_the_package_exports_the_replay_api():
    t = ma.workloads.ramp(100, seed=1)
    assert isinstance(t, ma.Trace)
    assert ma.replay(t, "buddy", arena_size=1 << 20).summary["events"] == len(t)
    assert list(ma.compare(t, ["buddy", "best-ao"], arena_size=1 << 20).index) == ["buddy", "best-ao"]
    assert ma.read_trace is ma.importers.read_trace and issubclass(ma.TraceError, ValueError)
