"""The C registry (ma_create, ma_registry_*) as Python sees it: ma.create goes
through it, ma.ALLOCATORS / ALIASES / ARENA_ALLOCATORS come from it, and
`memalloc list` and the CLI's checks read it."""
import re

import pytest

import memalloc_py as ma
from memalloc_py import cli
from memalloc_py._native import ffi, lib
from memalloc_py.allocators import REGISTRY, accepted_options, info
from memalloc_py.testing import FAMILY_RULES, machine_for, machine_options

POLICIES = [f"{fit}-{order}" for fit in ("best", "first", "next", "worst") for order in ("ao", "lifo", "fifo")]


def test_the_names_come_from_the_registry():
    assert list(REGISTRY) == ["buddy", *POLICIES, "zones", "tlsf", "system"]
    assert ma.ALLOCATORS == ("buddy", *POLICIES, "zones", "tlsf", "system", "best", "first", "next", "worst")
    assert ma.ALIASES == {"best": "best-ao", "first": "first-ao", "next": "next-ao", "worst": "worst-ao"}
    assert ma.ARENA_ALLOCATORS == ("buddy", *POLICIES, "zones", "tlsf")
    assert {e.family for e in REGISTRY.values()} == {"buddy", "free-list", "zones", "tlsf", "system"}
    assert all(e.description for e in REGISTRY.values())
    assert lib.ma_registry_count() == len(REGISTRY)


def test_options_as_listed():
    buddy = info("buddy")
    assert [(o.name, o.type, o.default, o.default_text, o.min, o.max) for o in buddy.options] == [
        ("arena_size", "size", 1 << 20, "1M", 1 << 10, 1 << 40),
        ("min_block", "size", 16, "16", 16, 1 << 40)]
    fl = info("best")
    assert fl.name == "best-ao"
    assert [(o.name, o.type, o.default, o.hidden) for o in fl.options] == [
        ("arena_size", "size", 1 << 30, False), ("growth", "size", 4096, False),
        ("prealloc", "size", 0, False), ("min_block", "size", 32, False),
        ("trim", "boolean", False, False), ("stamp_limit", "integer", 0, True)]
    assert info("system").options == ()
    assert [(o.name, o.type, o.default, o.default_text, o.min, o.max, o.choices) for o in info("zones").options] == [
        ("arena_size", "size", 1 << 30, "1G", 1 << 20, 64 << 30, ()),
        ("tiny_max", "size", 128, "128", 16, 1024, ()),
        ("small_max", "size", 4096, "4K", 256, 65536, ()),
        ("classes", "choice", "fine", "fine", 0, 1, ("fine", "pow2"))]
    debug = {"scribble", "check_every", "canary", "asan", "valgrind"}
    assert accepted_options("next") == {"arena_size", "growth", "prealloc", "min_block", "trim"} | debug
    assert accepted_options("buddy") == {"arena_size", "min_block"} | debug


def test_class_defaults_are_the_registry_defaults():
    with ma.Buddy() as a, ma.create("buddy") as b:
        assert a.options == b.options == {"arena_size": 1 << 20, "min_block": 16}
    with ma.FreeList() as a, ma.create("best-ao") as b:
        assert a.options == b.options
        assert type(b) is ma.FreeList and b.min_block == 32
    with ma.create("system") as s:
        assert type(s) is ma.System and s.options == {}


def test_create_converts_keywords_to_the_options_text():
    with ma.create("first", arena_size="1M", growth=8192, trim=True, prealloc="1K") as a:
        assert a.name == "first-ao" and a.arena_size == 1 << 20
        assert a.options["trim"] is True and a.options["growth"] == 8192
        assert a.options["arena_size"] == 1 << 20 and a.options["prealloc"] == 1024
        assert a.stats().heap_size == 1024
    with ma.create("buddy", arena_size=64 << 10, min_block="64") as b:
        assert b.min_block == 64 and b.usable_size(b.malloc(1)) == 64
    with ma.create("best-lifo", arena_size=1 << 16, _stamp_limit=300) as c:
        assert "stamp_limit" not in c.options and "_stamp_limit" not in c.options


@pytest.mark.parametrize("kwargs, exc, message", [
    ({"arena_size": 1.5}, TypeError, "option arena_size must be an int, a bool or a str, not float"),
    ({"trim": None}, TypeError, "option trim must be an int, a bool or a str, not NoneType"),
    ({"arena_size": -1}, ValueError,
     "option arena_size=-1 is not a size (digits with an optional K, M, G or T suffix)"),
    ({"arena_size": 1 << 64}, ValueError, f"option arena_size={1 << 64} is too large (above 2^64 - 1)"),
    ({"arena_size": "4K,trim=1"}, ValueError, "option arena_size='4K,trim=1': a value cannot contain a comma"),
    ({"arena_size": "1X"}, ValueError,
     "option arena_size=1X is not a size (digits with an optional K, M, G or T suffix)"),
    ({"trim": 2}, ValueError, "option trim=2 is not a boolean (0 or 1)"),
    ({"growth": 8}, ValueError, "growth must be a multiple of 16 from 16 to arena_size (1073741824), got 8"),
    ({"colour": 1}, ValueError, "unknown option 'colour' for allocator 'worst-fifo' "
                                "(its options: arena_size, growth, prealloc, min_block, trim, scribble, check_every, canary, asan, valgrind)"),
])
def test_bad_options_are_errors_with_the_c_message(kwargs, exc, message):
    with pytest.raises(exc, match="^" + re.escape(message) + "$"):
        ma.create("worst-fifo", **kwargs)


@pytest.mark.parametrize("name", ["nope", "", "Buddy", None, 3])
def test_unknown_names(name):
    with pytest.raises(ValueError, match=r"^unknown allocator .*; choose one of: buddy, best-ao, "):
        ma.create(name)


def test_memalloc_list_shows_descriptions_and_options(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f"buddy  {info('buddy').description}"
    assert "    arena_size=1M  (size, 1K to 1T): address space reserved: a power of two from 1 KiB to 1 TiB" in lines
    assert ("    growth=4K  (size, 16 to 32G): heap growth step: a multiple of 16 from 16 bytes "
            "to the arena size") in lines
    assert "    trim=0  (boolean, 0 or 1): 1: give the heap's free top back (never below prealloc)" in lines
    assert "best  (= best-ao)" in lines and "    options as best-ao" in lines
    assert f"system  {info('system').description}" in lines
    assert "stamp_limit" not in out  # hidden: for tests only
    assert ("    classes=fine  (choice, one of fine, pow2): size classes: fine (16-byte steps to "
            "tiny_max, then 4 per doubling) or pow2 (powers of two; tiny_max and small_max must "
            "be ones)") in lines
    for name in REGISTRY:
        assert sum(ln.startswith(name + "  ") for ln in lines) == 1


def test_cli_defaults_and_rules_come_from_the_registry():
    args = cli._parser().parse_args(["compare"])
    assert args.growth == info("best-ao").option("growth").default
    assert cli._allocator_names(None) == list(ma.ARENA_ALLOCATORS)
    rules = cli._family_rules("arena_size")
    assert rules["free-list"] == ("the free-list policies take", "a multiple of 16 from 4 KiB to 32 GiB")
    assert rules["buddy"][0] == "buddy takes"
    assert set(cli._family_rules("growth")) == {"free-list", "tlsf"}
    assert rules["tlsf"] == ("tlsf takes", "a multiple of 16 from 4 KiB to 32 GiB")


def test_machine_for_takes_a_registered_name_and_its_family_rules():
    assert machine_options("buddy") == {"arena_size": 1 << 16}
    assert machine_options("best") == {"arena_size": 1 << 16, "growth": 4096}
    assert machine_options("system") == {}
    for name in ma.ARENA_ALLOCATORS:
        cls = machine_for(name, **machine_options(name))
        assert FAMILY_RULES[info(name).family] in cls.__mro__
    with pytest.raises(ValueError, match="^machine_for: the system allocator cannot walk its heap"):
        machine_for("system")
    with pytest.raises(TypeError, match="options go with a registered name"):
        machine_for(lambda: ma.Buddy(), arena_size=1 << 16)


def test_ma_create_from_python_directly():
    out = ffi.new("ma_allocator **")
    assert lib.ma_create(b"next", b"arena_size=64K,growth=1K", out) == lib.MA_OK
    try:
        assert ffi.string(lib.ma_name(out[0])) == b"next-ao" and lib.ma_arena_size(out[0]) == 65536
    finally:
        lib.ma_destroy(out[0])
    assert lib.ma_create(b"buddy", b"arena_size=1M,", out) == lib.MA_EINVAL
    assert ffi.string(lib.ma_thread_error()) == (
        b"options 'arena_size=1M,': an empty option at character 15 (a stray comma?)")


def test_a_family_without_a_python_class_is_a_plain_allocator(monkeypatch):
    # A new registry entry needs no Python class: create() falls back to the
    # interface every allocator shares.
    from memalloc_py import allocators
    monkeypatch.delitem(allocators._FAMILY_CLASSES, "tlsf")
    with ma.create("tlsf", arena_size=1 << 20) as a:
        assert type(a) is ma.Allocator and a.name == "tlsf"
        p = a.malloc(100)
        assert a.usable_size(p) == 104
        a.write(p, b"x" * 104)
        a.free(p)
        a.check()
        assert a.options["sl_bits"] == 5
