"""The C replay engine against the Python API, driven one event at a time."""
import math
import re

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
    """Every event through the Python API; the stats after each.  As in the
    engine, an id whose allocation failed (None) takes a free or a realloc to
    0 as the end of its life, and a realloc to a size > 0 as realloc(NULL)."""
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
        elif ident in addr and addr[ident] is None and ev[2] == 0:
            del addr[ident]  # realloc(p, 0) of a failed allocation: nothing to free
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


M, C, RE, MA, F = ma.trace.MALLOC, ma.trace.CALLOC, ma.trace.REALLOC, ma.trace.MEMALIGN, ma.trace.FREE

# Malformed traces: good events first, the bad one last.
MALFORMED = [
    # an allocation on an id that this replay's earlier events left live
    (dict(op=[M, M, F, M, C], id=[0, 1, 0, 0, 1], size=[10, 20, 0, 30, 4], arg=[0, 0, 0, 0, 2]),
     "event 4: id 1 is already live"),
    (dict(op=[RE, MA], id=[0, 0], size=[10, 5], arg=[0, 64]), "event 1: id 0 is already live"),
    (dict(op=[M, MA], id=[0, 1], size=[10, 20], arg=[0, 48]), "event 1: alignment 48 is not a power of two"),
    (dict(op=[M, F, MA], id=[0, 0, 1], size=[10, 0, 20], arg=[0, 0, 0]), "event 2: alignment 0 is not a power of two"),
]


@pytest.mark.parametrize("how", ["replay", "bare"])
@pytest.mark.parametrize("columns, message", MALFORMED)
def test_a_malformed_trace_is_an_error_and_changes_nothing(columns, message, how):
    columns = dict(columns)
    n_ids = columns.pop("n_ids", None)
    t = Trace(columns["op"], columns["id"], columns["size"], columns.get("arg"), n_ids=n_ids,
              validate=False)
    with pytest.raises(ma.TraceError):
        t.validate()
    for name in ("best-ao", "buddy", "next-fifo"):
        with ma.create(name, arena_size=1 << 16) as a:
            p = a.malloc(100)
            before, layout = a.stats(), [tuple(b) for b in a.blocks()]
            with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
                if how == "replay":
                    R.replay(t, a, sample_every=1)
                else:
                    R.replay_bare(t, a)
            assert a.stats() == before
            assert [tuple(b) for b in a.blocks()] == layout
            a.check()
            a.free(p)
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        R.replay_libc(t)


@pytest.mark.parametrize("columns", [
    dict(op=[M, M, M], id=[0, 1, 5], size=[10, 20, 30], n_ids=3),
    dict(op=[M, M, 9], id=[0, 1, 2], size=[10, 20, 30]),
])
def test_ids_and_kinds_out_of_range_never_reach_the_engine(columns):
    """An id beyond n_ids or an unknown kind is refused before C sees it: by
    the Trace's constructor or at the C boundary (the engine's own check of
    them is in tests/c/test_core.c)."""
    columns = dict(columns)
    n_ids = columns.pop("n_ids", None)
    with ma.create("best-ao", arena_size=1 << 16) as a:
        before = a.stats()
        with pytest.raises(ma.TraceError, match="event 2|n_ids"):
            t = Trace(columns["op"], columns["id"], columns["size"], n_ids=n_ids, validate=False)
            R.replay(t, a)
        assert a.stats() == before


def test_a_failed_allocation_ends_with_its_free_or_realloc_to_zero():
    # Each id's allocation fails (larger than the arena); its realloc to 0
    # ends its life like a free, so the id can be allocated again.
    t = Trace([M, RE, M, M, F, M, RE], [0, 0, 0, 1, 1, 1, 2], [4096, 0, 16, 4096, 0, 32, 0],
              validate=False)
    with ma.create("buddy", arena_size=1024) as a, ma.create("buddy", arena_size=1024) as b:
        res = R.replay(t, a, sample_every=1)
        assert res.summary["failures"] == 2
        s = a.stats()
        assert (s.live_blocks, s.requested_bytes, s.mallocs, s.frees, s.failures) == (3, 48, 5, 0, 2)
        a.check()
        stats = drive(b, t)
        for i, want in enumerate(stats):
            assert {f: int(res.samples[f][i]) for f in STAT_FIELDS} == {
                f: getattr(want, f) for f in STAT_FIELDS}, f"after event {i}"


def test_a_replay_leaving_many_blocks_live_hands_them_all_to_the_instance():
    n = 20_000
    t = Trace.from_events([("malloc", i, 16 + i % 100) for i in range(n)] + [("free", i) for i in range(0, n, 7)])
    with ma.create("first-lifo", arena_size=1 << 26) as a:
        R.replay(t, a, sample_every=0)
        s = a.stats()
        live = n - len(range(0, n, 7))
        assert s.live_blocks == live and len(a.blocks().allocated) == live
        a.check()
        for b in list(a.blocks().allocated):
            a.free(b.address)
        assert a.stats().live_blocks == 0
        a.check()


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


# ---- internal fragmentation: exact, at the peak of the live bytes


@pytest.mark.parametrize("name, events, want", [
    # buddy: a 100 -> 128, b 20 -> 32, free a, c 300 -> 512: live peaks at
    # 320 bytes after c, in 32 + 512 allocated bytes.
    ("buddy", [("malloc", "a", 100), ("malloc", "b", 20), ("free", "a"), ("malloc", "c", 300),
               ("free", "b"), ("free", "c")], 1 - 320 / 544),
    # free list: 100 + 8 -> 112, 20 + 8 -> 32: peak 120 in 144 bytes.
    ("best-ao", [("malloc", "a", 100), ("malloc", "b", 20), ("free", "a"), ("free", "b")],
     1 - 120 / 144),
    # the first of two equal peaks: 40 in 48 (a), not 40 in 32 + 32 (b, c).
    ("first-lifo", [("malloc", "a", 40), ("free", "a"), ("malloc", "b", 20), ("malloc", "c", 16),
                    ("realloc", "c", 20), ("free", "b"), ("free", "c")], 1 - 40 / 48),
])
def test_internal_fragmentation_of_a_trace_shorter_than_sample_every(name, events, want):
    t = Trace.from_events(events)
    res = R.replay(t, name, arena_size=1 << 16)  # sample_every=1000: one sample, at the end
    assert len(res.samples) == 1 and res.samples["allocated_bytes"][0] == 0
    assert res.summary["internal_fragmentation"] == pytest.approx(want, rel=1e-12)


def test_internal_fragmentation_is_nan_only_when_nothing_is_ever_live():
    t = Trace.from_events([("malloc", 1, 0), ("calloc", 2, 0, 8), ("free", 1), ("free", 2)])
    assert math.isnan(R.replay(t, "best-ao", arena_size=1 << 16).summary["internal_fragmentation"])
    t = Trace.from_events([("malloc", 1, 0), ("malloc", 2, 1)])
    assert R.replay(t, "buddy", arena_size=1 << 16).summary["internal_fragmentation"] == 1 - 1 / 32


def brute_force_internal(alloc, trace):
    best = None
    for s in drive(alloc, trace):
        if s.requested_bytes > 0 and (best is None or s.requested_bytes > best.requested_bytes):
            best = s
    return math.nan if best is None else 1 - best.requested_bytes / best.allocated_bytes


@pytest.mark.parametrize("name", ["buddy", "best-ao", "next-fifo", "worst-lifo"])
@given(t=traces(max_events=60, max_size=5000))
@settings(max_examples=60)
def test_internal_fragmentation_equals_a_brute_force_computation(name, t):
    res = R.replay(t, name, arena_size=1 << 18, sample_every=7)
    with ma.create(name, arena_size=1 << 18) as b:
        want = brute_force_internal(b, t)
    got = res.summary["internal_fragmentation"]
    assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("name", ["system", "buddy", "first-ao"])
def test_internal_fragmentation_is_the_sample_at_the_peak(name):
    # libc's usable sizes depend on its heap's state, so system is checked
    # against the samples of the same run: at the first event of peak live
    # bytes, 1 - requested/allocated of that event's sample.
    t = ma.workloads.steady_state(3000, 200, seed=4)
    opts = {} if name == "system" else {"arena_size": 1 << 24}
    res = R.replay(t, name, sample_every=1, **opts)
    s = res.samples
    i = int(np.argmax(s["requested_bytes"]))
    assert s["requested_bytes"][i] == res.summary["peak_live"] > 0
    want = 1 - s["requested_bytes"][i] / s["allocated_bytes"][i]
    assert res.summary["internal_fragmentation"] == pytest.approx(want, rel=1e-12)
    assert 0 < want < 1


def test_system_peak_heap_is_not_a_measured_zero():
    """system's heap cannot be observed: its peak_heap is NaN like its
    Johnstone-Wilson measures (it was 0, drawn as a zero bar), and compare's
    frame keeps every other allocator's peak heap exact."""
    t = ma.workloads.steady_state(2000, live=200, seed=1)
    s = R.replay(t, "system").summary
    assert math.isnan(s["peak_heap"]) and math.isnan(s["jw4"]) and s["peak_live"] > 0
    df = R.compare(t, ["buddy", "system"], arena_size=1 << 24)
    assert math.isnan(df.loc["system", "peak_heap"])
    assert df.loc["buddy", "peak_heap"] == R.replay(t, "buddy", arena_size=1 << 24).summary["peak_heap"]
