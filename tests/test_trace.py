"""Traces: construction, validation, the file format, slicing, summaries."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from memalloc_py import replaying as R
from memalloc_py.testing import traces
from memalloc_py.trace import CALLOC, FREE, MALLOC, MEMALIGN, REALLOC, Trace, TraceError


def test_from_events_numbers_lifetimes():
    t = Trace.from_events([("malloc", "a", 10), ("free", "a"), ("malloc", "a", 20),
                           ("calloc", 7, 3, 4), ("memalign", "m", 64, 5), ("realloc", "a", 0)])
    assert list(t.events()) == [("malloc", 0, 10), ("free", 0), ("malloc", 1, 20),
                                ("calloc", 2, 3, 4), ("memalign", 3, 64, 5), ("realloc", 1, 0)]
    assert t.n_ids == 4 and len(t) == 6


@pytest.mark.parametrize("events, message", [
    ([("free", 1)], "event 0: free of id 0, which is not live"),
    ([("malloc", 1, 5), ("malloc", 1, 6)], "event 1: malloc reuses id 0"),
    ([("malloc", 1, 5), ("free", 1), ("free", 1)], "event 2: free of id 0 after it was freed"),
    ([("malloc", 1, 5), ("realloc", 1, 0), ("free", 1)], "event 2: free of id 0 after it was freed"),
    ([("memalign", 1, 48, 5)], "event 0: memalign alignment 48"),
    ([("malloc", 1, -5)], "event 0: -5 is out of range"),
    ([("malloc", 1, 2.5)], "event 0: 2.5 is not an integer"),
    ([("malloc", 1)], "event 0: malloc takes 2 fields"),
    ([("resize", 1, 5)], "event 0: unknown kind 'resize'"),
])
def test_invalid_events_name_the_event(events, message):
    with pytest.raises(TraceError, match=message):
        Trace.from_events(events)


def test_array_constructor_checks():
    with pytest.raises(TraceError, match="id has 1 entries, op has 2"):
        Trace([MALLOC, FREE], [0], [1, 0])
    with pytest.raises(TraceError, match=r"size -1 \(event 0\) is negative"):
        Trace([MALLOC], [0], [-1])
    with pytest.raises(TraceError, match="integers"):
        Trace([MALLOC], [0], [1.5])
    with pytest.raises(TraceError, match=r"op 9 \(event 0\) is not an event code"):
        Trace([9], [0], [1])
    with pytest.raises(TraceError, match="not below n_ids"):
        Trace([MALLOC], [5], [1], n_ids=2)
    assert len(Trace([], [], [])) == 0


@given(traces(max_events=80))
def test_save_and_load_give_the_same_trace(tmp_path_factory, t):
    path = tmp_path_factory.mktemp("t") / "t.npz"
    t.meta["note"] = "kept"
    t.save(path)
    u = Trace.load(path)
    assert u == t and u.meta["note"] == "kept" and u.n_ids == t.n_ids


def test_load_rejects_other_files(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(TraceError, match="not a readable memalloc_py trace"):
        Trace.load(bad)
    other = tmp_path / "other.npz"
    np.savez(other, x=np.arange(3))
    with pytest.raises(TraceError):
        Trace.load(other)


@given(traces(max_events=80))
def test_live_deltas_match_a_direct_count(t):
    dbytes, dblocks = t.live_deltas()
    held = {}
    live_b = live_n = 0
    for i, ev in enumerate(t.events()):
        kind, ident = ev[0], ev[1]
        if kind == "free":
            live_b -= held.pop(ident)
            live_n -= 1
        elif kind == "realloc" and ident in held:
            old = held.pop(ident)
            if ev[2]:
                held[ident] = ev[2]
                live_b += ev[2] - old
            else:
                live_b -= old
                live_n -= 1
        else:
            size = ev[2] * ev[3] if kind == "calloc" else ev[-1]
            if kind == "realloc" and size == 0:
                pass  # realloc(NULL, 0): nothing becomes live
            else:
                held[ident] = size
                live_b += size
                live_n += 1
        assert int(dbytes[: i + 1].sum()) == live_b
        assert int(dblocks[: i + 1].sum()) == live_n


def test_summary_by_hand():
    t = Trace.from_events([("malloc", "a", 100), ("malloc", "b", 40), ("realloc", "a", 300),
                           ("calloc", "c", 3, 10), ("free", "a"), ("free", "b"), ("malloc", "d", 5)],
                          name="demo")
    s = t.summary()
    assert s["by_kind"] == {"malloc": 3, "calloc": 1, "realloc": 1, "memalign": 0, "free": 2}
    assert (s["max_live_bytes"], s["max_live_blocks"]) == (370, 3)
    assert (s["live_bytes_at_end"], s["live_blocks_at_end"]) == (35, 2)
    assert s["total_allocated_bytes"] == 100 + 40 + 300 + 30 + 5
    assert s["size_histogram"] == {"5-8": 1, "17-32": 1, "33-64": 1, "65-128": 1, "257-512": 1}
    assert "max live: 370 bytes in 3 blocks" in t.describe()


def test_slices_drop_events_on_earlier_allocations():
    t = Trace.from_events([("malloc", "a", 1), ("malloc", "b", 2), ("free", "a"),
                           ("malloc", "c", 3), ("free", "b"), ("free", "c")])
    u = t[2:]
    assert list(u.events()) == [("malloc", 0, 3), ("free", 0)]
    assert list(t[:2].events()) == [("malloc", 0, 1), ("malloc", 1, 2)]
    with pytest.raises(TypeError):
        t[::2]


@given(traces(max_events=40), traces(max_events=40))
def test_concatenation_keeps_both_valid(a, b):
    c = a + b
    assert len(c) == len(a) + len(b) and c.n_ids == a.n_ids + b.n_ids
    assert np.array_equal(c.id[len(a):], b.id + a.n_ids)
    c.validate()


# ------------------------------------------------ sums that do not fit int64

def test_an_impossible_malloc_is_a_failure_not_live_bytes():
    """issue #14: a malloc of 2**63 then one of 100 gave 'max live: 0 bytes ...
    at the end: -9,223,372,036,854,775,708'."""
    t = Trace([MALLOC, MALLOC], [0, 1], [1 << 63, 100])
    s = t.summary()
    assert (s["max_live_bytes"], s["max_live_blocks"]) == (100, 1)
    assert (s["live_bytes_at_end"], s["live_blocks_at_end"]) == (100, 1)
    assert (s["total_allocated_bytes"], s["impossible_requests"], s["mean_request"]) == (100, 1, 100.0)
    text = t.describe()
    assert "max live: 100 bytes in 1 blocks; at the end: 100 bytes in 1 blocks" in text
    assert "impossible requests (over 2**62 bytes, out of memory in any allocator): 1" in text
    assert "allocated in all: 100 bytes, mean request 100.0 bytes" in text
    res = R.replay(t, "best-ao", sample_every=1).summary
    assert (res["failures"], res["peak_live"]) == (1, 100)


def test_a_calloc_whose_product_overflows_is_impossible_not_zero_bytes():
    """issue #14: calloc of 2**32 elements of 2**32 bytes was counted as 0 bytes."""
    t = Trace.from_events([("calloc", "c", 1 << 32, 1 << 32), ("malloc", "m", 8), ("free", "c")])
    assert t.request_sizes().tolist() == [(1 << 64) - 1, 8, 0]  # saturated, never wrapped
    s = t.summary()
    assert (s["impossible_requests"], s["total_allocated_bytes"], s["max_live_bytes"]) == (1, 8, 8)
    assert s["size_histogram"] == {"5-8": 1}
    assert R.replay(t, "buddy", arena_size=1 << 20).summary["failures"] == 1
    # 2**31 elements of 2**31 + 1 bytes: no overflow, but above 2**62
    u = Trace.from_events([("calloc", "c", 1 << 31, (1 << 31) + 1)])
    assert u.summary()["impossible_requests"] == 1 and u.summary()["max_live_bytes"] == 0
    # exactly 2**62 is possible (the C core's largest request)
    v = Trace.from_events([("calloc", "c", 1 << 31, 1 << 31)])
    assert v.summary()["impossible_requests"] == 0 and v.summary()["max_live_bytes"] == 1 << 62


def test_sums_beyond_int64_are_exact():
    q = 1 << 62
    t = Trace.from_events([("malloc", i, q) for i in range(5)] + [("free", 0), ("malloc", "x", 3)]
                          + [("realloc", 1, q - 1)])
    s = t.summary()
    assert s["max_live_bytes"] == 5 * q == 23_058_430_092_136_939_520
    assert s["live_bytes_at_end"] == 4 * q + 3 - 1
    assert s["total_allocated_bytes"] == 5 * q + 3 + q - 1
    assert s["mean_request"] == (6 * q + 2) / 7
    assert s["impossible_requests"] == 0 and s["max_live_blocks"] == 5
    assert s["size_histogram"] == {"3-4": 1, "2305843009213693953-4611686018427387904": 6}
    assert "max live: 23,058,430,092,136,939,520 bytes in 5 blocks" in t.describe()


def test_events_on_an_id_whose_allocation_failed_are_as_in_the_replay_engine():
    """A free of it does nothing; a realloc is realloc(NULL) (an allocation);
    a realloc of a live block to an impossible size fails and the block stays."""
    big = 1 << 63
    t = Trace.from_events([
        ("malloc", "a", big),        # fails
        ("free", "a"),               # nothing
        ("malloc", "b", 100),
        ("realloc", "b", big),       # fails: b keeps its 100 bytes
        ("memalign", "c", 16, big),  # fails
        ("memalign", "d", big, 8),   # the alignment fails
        ("realloc", "c", 40),        # realloc(NULL, 40)
        ("calloc", "e", 3, big),     # fails (overflow)
        ("realloc", "e", big),       # realloc(NULL, 2**63) fails
        ("realloc", "e", 24),        # realloc(NULL, 24)
        ("malloc", "f", 7),
        ("realloc", "b", 0),         # frees b's 100 bytes
        ("free", "d"),               # nothing
        ("free", "e"),
    ])
    dbytes, dblocks = t.live_deltas()
    live, blocks = np.cumsum(dbytes), np.cumsum(dblocks)
    assert live.tolist() == [0, 0, 100, 100, 100, 100, 140, 140, 140, 164, 171, 71, 71, 47]
    assert blocks.tolist() == [0, 0, 1, 1, 1, 1, 2, 2, 2, 3, 4, 3, 3, 2]
    s = t.summary()
    assert (s["impossible_requests"], s["max_live_bytes"], s["live_bytes_at_end"]) == (6, 171, 47)
    assert s["total_allocated_bytes"] == 100 + 40 + 24 + 7 + 0
    res = R.replay(t, "best-ao", sample_every=1)
    assert res.summary["failures"] == 6
    assert res.samples["requested_bytes"].tolist() == live.tolist()
    assert res.samples["live_blocks"].tolist() == blocks.tolist()


HUGE = st.sampled_from([(1 << 62) + 1, 1 << 63, (1 << 64) - 1])


@given(traces(max_events=60), st.data())
def test_summary_live_bytes_match_the_replay_engine_with_impossible_requests(t, data):
    """The same live bytes after every event, and as many impossible requests
    as the engine counts failures, when some requests are made impossible."""
    size, arg = t.size.copy(), t.arg.copy()
    for i in range(len(t)):
        if t.op[i] == FREE or not data.draw(st.booleans()):
            continue
        if t.op[i] == MEMALIGN and data.draw(st.booleans()):
            arg[i] = 1 << 63
        elif t.op[i] == CALLOC:
            arg[i] = data.draw(HUGE)
        elif t.op[i] != REALLOC or size[i]:  # a realloc to 0 ends the lifetime: keep it
            size[i] = data.draw(HUGE)
    u = Trace(t.op, t.id, size, arg)
    res = R.replay(u, "best-ao", arena_size=1 << 24, sample_every=1)
    live = np.cumsum(u.live_deltas()[0])
    assert res.samples["requested_bytes"].tolist() == live.tolist()
    s = u.summary()
    assert res.summary["failures"] == s["impossible_requests"]
    assert res.summary["peak_live"] == s["max_live_bytes"]


def test_describe_an_empty_trace_shows_no_nan():
    text = Trace([], [], []).describe()
    assert "nan" not in text.lower()
    assert "allocated in all: 0 bytes, mean request — bytes" in text
    s = Trace([], [], []).summary()
    assert s["mean_request"] is None and s["impossible_requests"] == 0
    only_impossible = Trace([MALLOC], [0], [1 << 63])
    assert "mean request — bytes" in only_impossible.describe()


def test_realloc_to_zero_bytes_of_nothing_allocates_as_in_the_replay_engine():
    """realloc(NULL, 0) is malloc(0): a minimum block of 0 requested bytes
    stays live (the summary once counted no block for it), while realloc of
    a live block to 0 frees it; a realloc to 0 of an id whose allocation
    failed only ends it."""
    t = Trace.from_events([
        ("realloc", "a", 0),         # realloc(NULL, 0): a live 0-byte block
        ("malloc", "b", 10),
        ("realloc", "c", 5),
        ("realloc", "c", 0),         # frees c
        ("malloc", "d", 1 << 63),    # fails
        ("realloc", "d", 0),         # ends the failed allocation: nothing
        ("realloc", "e", 8),         # realloc(NULL, 8)
        ("realloc", "e", 0),         # frees e
        ("free", "b"),
    ])
    dbytes, dblocks = t.live_deltas()
    assert np.cumsum(dbytes).tolist() == [0, 10, 15, 10, 10, 10, 18, 10, 0]
    assert np.cumsum(dblocks).tolist() == [1, 2, 3, 2, 2, 2, 3, 2, 1]
    s = t.summary()
    assert (s["max_live_blocks"], s["live_blocks_at_end"]) == (3, 1)
    res = R.replay(t, "best-ao", sample_every=1)
    assert res.samples["live_blocks"].tolist() == np.cumsum(dblocks).tolist()
    assert res.samples["requested_bytes"].tolist() == np.cumsum(dbytes).tolist()


def test_validate_names_a_reuse_after_free_as_such():
    """A malloc of an id after its free was reported as "still live"."""
    with pytest.raises(TraceError, match=r"^event 2: malloc of id 0 after it was freed$"):
        Trace([MALLOC, FREE, MALLOC], [0, 0, 0], [8, 0, 8])
    with pytest.raises(TraceError, match=r"^event 1: malloc reuses id 0, which is still live$"):
        Trace([MALLOC, MALLOC], [0, 0], [8, 8])
