"""Traces: construction, validation, the file format, slicing, summaries."""
import numpy as np
import pytest
from hypothesis import given

from memalloc_py.testing import traces
from memalloc_py.trace import FREE, MALLOC, Trace, TraceError


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
