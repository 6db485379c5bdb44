"""Constructor rules live in the C create functions: every bad value is a
ValueError whose message names the parameter, the value and the allowed
range (C's own message); Python only converts types."""
import re

import pytest

import memalloc_py as ma
from memalloc_py._native import lib
from memalloc_py.testing import machine_for

TIB, GIB32 = 1 << 40, 1 << 35


@pytest.mark.parametrize("kwargs, message", [
    ({"arena_size": 1000}, f"arena_size must be a power of two from 1024 to {TIB}, got 1000"),
    ({"arena_size": 512}, f"arena_size must be a power of two from 1024 to {TIB}, got 512"),
    ({"arena_size": 1 << 41}, f"arena_size must be a power of two from 1024 to {TIB}, got {1 << 41}"),
    ({"arena_size": 0}, f"arena_size must be a power of two from 1024 to {TIB}, got 0"),
    ({"min_block": 0}, "min_block must be a power of two from 16 to arena_size (1048576), got 0"),
    ({"min_block": 8}, "min_block must be a power of two from 16 to arena_size (1048576), got 8"),
    ({"min_block": 48}, "min_block must be a power of two from 16 to arena_size (1048576), got 48"),
    ({"arena_size": 1024, "min_block": 2048},
     "min_block must be a power of two from 16 to arena_size (1024), got 2048"),
])
def test_bad_buddy_values_are_c_messages(kwargs, message):
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        ma.Buddy(**kwargs)
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        ma.create("buddy", **kwargs)


@pytest.mark.parametrize("kwargs, message", [
    ({"arena_size": 4000}, f"arena_size must be a multiple of 16 from 4096 to {GIB32}, got 4000"),
    ({"arena_size": 4104}, f"arena_size must be a multiple of 16 from 4096 to {GIB32}, got 4104"),
    ({"arena_size": 1 << 36}, f"arena_size must be a multiple of 16 from 4096 to {GIB32}, got {1 << 36}"),
    ({"arena_size": 0}, f"arena_size must be a multiple of 16 from 4096 to {GIB32}, got 0"),
    ({"growth": 0}, "growth must be a multiple of 16 from 16 to arena_size (65536), got 0"),
    ({"growth": 24}, "growth must be a multiple of 16 from 16 to arena_size (65536), got 24"),
    ({"growth": 1 << 17}, "growth must be a multiple of 16 from 16 to arena_size (65536), got 131072"),
    ({"min_block": 0}, "min_block must be a multiple of 16 from 32 to arena_size (65536), got 0"),
    ({"min_block": 16}, "min_block must be a multiple of 16 from 32 to arena_size (65536), got 16"),
    ({"min_block": 40}, "min_block must be a multiple of 16 from 32 to arena_size (65536), got 40"),
    ({"min_block": 1 << 17}, "min_block must be a multiple of 16 from 32 to arena_size (65536), got 131072"),
    ({"prealloc": 16}, "prealloc must be 0 or a multiple of 16 from min_block (32) to arena_size (65536), got 16"),
    ({"prealloc": 100}, "prealloc must be 0 or a multiple of 16 from min_block (32) to arena_size (65536), got 100"),
    ({"prealloc": 48, "min_block": 64},
     "prealloc must be 0 or a multiple of 16 from min_block (64) to arena_size (65536), got 48"),
    ({"prealloc": 1 << 17},
     "prealloc must be 0 or a multiple of 16 from min_block (32) to arena_size (65536), got 131072"),
    ({"_stamp_limit": 1 << 32},
     f"stamp_limit must be 0 (the built-in limits) or from 1 to {(1 << 32) - (1 << 20) - 1}, got {1 << 32}"),
])
def test_bad_free_list_values_are_c_messages(kwargs, message):
    opts = {"arena_size": 1 << 16, **kwargs}
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        ma.FreeList(**opts)
    if "_stamp_limit" not in kwargs:
        with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
            ma.create("next-fifo", **opts)


def test_the_limits_themselves_are_accepted():
    for kwargs in ({"arena_size": 1024, "min_block": 1024}, {"arena_size": TIB, "min_block": 16}):
        ma.Buddy(**kwargs).close()
    for kwargs in ({"arena_size": 4096, "growth": 16, "min_block": 4096, "prealloc": 4096},
                   {"arena_size": GIB32, "growth": GIB32, "min_block": 32},
                   {"arena_size": 4096, "_stamp_limit": (1 << 32) - (1 << 20) - 1},
                   {"arena_size": 4096, "_stamp_limit": 1}):
        ma.FreeList(**kwargs).close()


@pytest.mark.parametrize("make", [
    lambda: ma.Buddy(arena_size=1024.0),
    lambda: ma.Buddy(min_block="16"),
    lambda: ma.Buddy(arena_size=True),
    lambda: ma.FreeList(growth=4096.0),
    lambda: ma.FreeList(min_block=None),
    lambda: ma.FreeList(prealloc=False),
    lambda: ma.FreeList(arena_size=b"4096"),
    lambda: ma.FreeList(trim=1),
    lambda: ma.FreeList(fit=0),
    lambda: ma.FreeList(order=None),
])
def test_non_integers_are_type_errors(make):
    with pytest.raises(TypeError):
        make()


@pytest.mark.parametrize("kwargs, param", [
    ({"arena_size": -4096}, "arena_size"), ({"growth": -16}, "growth"),
    ({"min_block": 1 << 64}, "min_block"), ({"prealloc": -1}, "prealloc"),
    ({"fit": "good"}, "fit"), ({"order": "random"}, "order"),
])
def test_values_c_cannot_hold_are_value_errors_in_python(kwargs, param):
    with pytest.raises(ValueError, match=f"^{param} "):
        ma.FreeList(**kwargs)


def test_python_defaults_are_the_c_defaults():
    d = lib.ma_freelist_config_default()
    with ma.FreeList() as a:
        assert a.options == {"arena_size": d.arena_size, "fit": ma.FITS[d.fit],
                             "order": "address", "growth": d.growth, "prealloc": d.prealloc,
                             "trim": bool(d.trim), "min_block": d.min_block}
        assert (d.arena_size, d.growth, d.min_block, d.prealloc, d.trim, d.stamp_limit) == (
            1 << 30, 4096, 32, 0, 0, 0)
        assert (d.fit, d.order) == (lib.MA_FIT_BEST, lib.MA_ORDER_ADDRESS)


@pytest.mark.parametrize("name, kwargs", [
    ("best-ao", {"fit": "worst"}), ("best-ao", {"fit": "best"}), ("best-ao", {"order": "lifo"}),
    ("worst", {"order": "fifo"}), ("next-fifo", {"fit": "first", "order": "fifo"}),
])
def test_a_name_fixes_fit_and_order_so_they_are_not_its_options(name, kwargs):
    # The registry's names are the twelve policies: fit and order are in the
    # name (ma.FreeList takes them as arguments).
    key = next(iter(kwargs))
    real = ma.ALIASES.get(name, name)
    message = (f"unknown option '{key}' for allocator '{real}' "
               "(its options: arena_size, growth, prealloc, min_block, trim, scribble, check_every, canary, asan, valgrind)")
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        ma.create(name, arena_size=1 << 16, **kwargs)


def test_a_name_gives_its_fit_and_order():
    with ma.create("best-ao", arena_size=1 << 16) as a:
        assert (a.name, a.fit, a.order) == ("best-ao", "best", "address")
        assert a.options["fit"] == "best" and a.options["order"] == "address"
    with ma.create("worst", arena_size=1 << 16) as a:
        assert (a.name, a.fit, a.order) == ("worst-ao", "worst", "address")
    with ma.create("next-lifo", arena_size=1 << 16) as a:
        assert (a.name, a.fit, a.order) == ("next-lifo", "next", "lifo")


def test_machine_for_refuses_the_system_allocator_at_once():
    made = []

    def factory():
        made.append(ma.System())
        return made[-1]

    with pytest.raises(ValueError, match=r"^machine_for: the system allocator cannot walk its heap"
                                         r" \(blocks\(\) is not supported\) and has no arena"):
        machine_for(factory)
    assert len(made) == 1 and made[0].closed  # probed once, and the probe closed
    with pytest.raises(TypeError, match="must return an Allocator"):
        machine_for(lambda: "buddy")


def test_machine_for_closes_its_probe():
    made = []

    def factory():
        made.append(ma.Buddy(arena_size=1 << 12))
        return made[-1]

    machine_for(factory)
    assert len(made) == 1 and made[0].closed
