"""The C free-list family against memalloc_py.testing.FreeListReference, a
plain-Python implementation of the same rules: every address, every block and
the heap size must agree after every operation, for all twelve policies."""
import pytest
from hypothesis import given, settings, strategies as st

import memalloc_py as ma
from memalloc_py.testing import FreeListReference

POLICIES = [(fit, order) for fit in ma.FITS for order in ("address", "lifo", "fifo")]

ops = st.lists(
    st.one_of(
        st.tuples(st.just("malloc"), st.integers(0, 3000)),
        st.tuples(st.just("malloc"), st.sampled_from([0, 1, 16, 17, 100, 1000, 5000, 70000])),
        st.tuples(st.just("free"), st.integers(0, 1 << 30)),
        st.tuples(st.just("free"), st.integers(0, 1 << 30)),
        st.tuples(st.just("realloc"), st.integers(0, 1 << 30), st.integers(1, 4000)),
        st.tuples(st.just("memalign"), st.sampled_from([32, 64, 256, 1024]), st.integers(0, 500)),
    ),
    max_size=60,
)


def run_both(options, script, c_options=None):
    ref = FreeListReference(**options)
    with ma.FreeList(**options, **(c_options or {})) as a:
        live = []
        for step, op in enumerate(script):
            if op[0] == "malloc":
                got, want = a.malloc(op[1]), ref.malloc(op[1])
            elif op[0] == "memalign":
                got, want = a.memalign(op[1], op[2]), ref.memalign(op[1], op[2])
            elif not live:
                continue
            elif op[0] == "free":
                p = live.pop(op[1] % len(live))
                a.free(p)
                ref.free(p)
                got = want = None
            else:
                p = live.pop(op[1] % len(live))
                got, want = a.realloc(p, op[2]), ref.realloc(p, op[2])
                if got is None:
                    live.append(p)
            assert got == want, f"step {step} {op}: C gave {got}, the reference {want}"
            if got is not None:
                live.append(got)
            layout = [(b.offset, b.size, b.allocated) for b in a.blocks()]
            assert layout == ref.layout(), f"step {step} {op}: layouts differ"
            assert a.stats().heap_size == ref.heap
            if c_options:
                a.check()
        a.check()


@pytest.mark.parametrize("fit, order", POLICIES)
@given(script=ops)
def test_policy_matches_reference(fit, order, script):
    run_both(dict(arena_size=1 << 17, fit=fit, order=order, growth=4096), script)


@pytest.mark.parametrize("fit, order", [("best", "address"), ("next", "lifo"), ("first", "fifo"), ("worst", "address")])
@given(script=ops)
def test_trim_and_prealloc_match_reference(fit, order, script):
    run_both(dict(arena_size=1 << 17, fit=fit, order=order, growth=1024, trim=True,
                  prealloc=2048, min_block=48), script)


# Growth steps that are not powers of two (a multiple of 16 is all the heap
# needs): the heap grows and trims by whole steps, as in the reference.
@pytest.mark.parametrize("growth", [48, 4000, 3 * 4096])
@pytest.mark.parametrize("fit, order, trim", [("best", "address", False), ("next", "lifo", True),
                                              ("first", "fifo", False), ("worst", "address", True)])
@given(script=ops)
@settings(max_examples=60)
def test_growth_steps_that_are_not_powers_of_two_match_reference(fit, order, trim, growth, script):
    run_both(dict(arena_size=1 << 17, fit=fit, order=order, growth=growth, trim=trim), script)


# Best and worst fit renumber their 32-bit stamps before they run out, each
# bin in its own order: with a limit of a few dozen stamps that happens many
# times per script, and no choice may change.
# few sizes: bins of several blocks each, small and large (the treap)
few_sizes = st.lists(
    st.one_of(
        st.tuples(st.just("malloc"), st.sampled_from([16, 16, 48, 100, 17000, 17000])),
        st.tuples(st.just("free"), st.integers(0, 1 << 30)),
        st.tuples(st.just("realloc"), st.integers(0, 1 << 30), st.sampled_from([16, 100, 17000])),
    ),
    max_size=80,
)


@pytest.mark.parametrize("fit, order", [(f, o) for f in ("best", "worst") for o in ("address", "lifo", "fifo")])
@given(script=few_sizes)
@settings(max_examples=100)
def test_stamp_renumbering_changes_no_choice(fit, order, script):
    run_both(dict(arena_size=1 << 17, fit=fit, order=order, growth=1024), script,
             c_options=dict(_stamp_limit=24))


# Ten free 32-byte blocks in one bin, then sixty stamps taken at the top of
# the heap (the limit is 24: renumbered again and again), then ten more
# allocations: every step checked, every address as in the reference.
RENUMBER_SCRIPT = ([("malloc", 16)] * 20 + [("free", i) for i in range(10)]
                   + [("malloc", 100), ("free", 10)] * 30 + [("malloc", 16)] * 10)


@pytest.mark.parametrize("fit, order", [(f, o) for f in ("best", "worst") for o in ("address", "lifo", "fifo")])
def test_stamp_renumbering_keeps_a_full_bin_in_order(fit, order):
    run_both(dict(arena_size=1 << 17, fit=fit, order=order, growth=1024), RENUMBER_SCRIPT,
             c_options=dict(_stamp_limit=24))
