"""The debugging switches every allocator of the registry takes (csrc/debug.c,
docs/api.md "Debugging switches"), one by one from Python, and the C suite of
them (tests/c/test_debug.c) built with and without AddressSanitizer.

Memory is corrupted the way a buggy program would: through the arena's base
address with ctypes, past what the bounds-checked API allows."""
from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import memalloc_py as ma
from memalloc_py.allocators import accepted_options

ROOT = Path(__file__).resolve().parent.parent
CSRC = ROOT / "csrc"
WARN = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-Wpedantic", "-Wshadow",
        "-Wconversion", "-Wstrict-prototypes", "-Wmissing-prototypes"]
NAMES = tuple(ma.REGISTRY)
SWITCHES = ("scribble", "check_every", "canary", "asan", "valgrind")


def raw(a: ma.Allocator, address: int, n: int) -> bytes:
    """n bytes of the arena at address, whatever the allocator thinks of them."""
    return ctypes.string_at(a.arena_base + address, n)


def flip(a: ma.Allocator, address: int) -> None:
    """Invert one byte of the arena: a stray write."""
    b = ctypes.c_ubyte.from_address(a.arena_base + address)
    b.value ^= 0xFF


def compiler(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (apt-get install {name})")
    return path


def test_every_allocator_takes_the_switches():
    assert tuple(o.name for o in ma.DEBUG_OPTIONS) == SWITCHES
    assert all(o.default in (0, False) for o in ma.DEBUG_OPTIONS)
    for name in NAMES:
        assert set(SWITCHES) <= accepted_options(name)
        assert not set(SWITCHES) & set(ma.REGISTRY[name].option_names(hidden=True))
        with ma.create(name) as a:  # off: not among the options
            assert not set(SWITCHES) & set(a.options)
        with ma.create(name, canary=True, check_every=5) as a:
            assert a.options["canary"] is True and a.options["check_every"] == 5
            assert "check_every=5, canary=True)" in repr(a)


@pytest.mark.parametrize("options, message", [
    ({"check_every": 1 << 32}, "option check_every: check_every must be from 0 to 4294967295, got 4294967296"),
    ({"scribble": 2}, "option scribble=2 is not a boolean (0 or 1)"),
    ({"canary": "yes"}, "option canary=yes is not a boolean (0 or 1)"),
])
def test_bad_switches_are_refused(options, message):
    expected = message.removeprefix("option check_every: ")
    with pytest.raises(ValueError, match="^" + re.escape(expected) + "$"):
        ma.create("best-ao", **options)


@pytest.mark.parametrize("name", NAMES)
def test_scribble(name):
    with ma.create(name, scribble=True) as a:
        left, p, right = a.malloc(64), a.malloc(200), a.malloc(64)
        assert a.read(p, 200) == b"\xaa" * 200  # fresh
        a.write(p, b"\x11" * a.usable_size(p))
        a.free(p)
        if a.arena_size:  # system's freed memory is libc's, not ours to read
            old = raw(a, p, 200)
            assert old.count(0x11) == 0 and old.count(0x55) >= 200 - 64
        z = a.calloc(10, 10)
        assert a.read(z, 100) == bytes(100)  # calloc still zeroes
        q = a.malloc(40)
        a.write(q, b"\x22" * 40)
        moved = a.realloc(q, 4000)
        assert a.read(moved, 4000) == b"\x22" * 40 + b"\xaa" * 3960
        if a.arena_size and moved != q:
            assert raw(a, q, 40).count(0x22) == 0  # the old block scribbled too
        a.check()
        for b in (left, right, moved, z):
            a.free(b)


@pytest.mark.parametrize("name", NAMES)
def test_canary(name):
    with ma.create(name, canary=True) as a:
        p, other = a.malloc(24), a.malloc(24)
        assert a.usable_size(p) == 24  # the request: the rest is the canary's
        with pytest.raises(IndexError):
            a.write(p, b"x", offset=24)
        flip(a, p + 24)  # a write one past the end
        block = f"the canary after the block at {p:#x} (24 bytes requested) is overwritten at byte 24"
        with pytest.raises(ma.HeapCorruption, match=re.escape(block)):
            a.check()
        before = a.stats()
        with pytest.raises(ma.HeapCorruption, match="^free: " + re.escape(block)):
            a.free(p)
        with pytest.raises(ma.HeapCorruption, match="^realloc: " + re.escape(block)):
            a.realloc(p, 100)
        assert a.stats() == before  # nothing done
        flip(a, p + 24)
        a.check()
        a.free(p)
        a.free(other)


@pytest.mark.parametrize("name", NAMES)
def test_check_every(name):
    # The canary is the corruption that every allocator can be given.
    with ma.create(name, check_every=2, canary=True) as a:
        p = a.malloc(8)  # operation 1: not checked
        flip(a, p + 8)
        before = a.stats()
        with pytest.raises(ma.HeapCorruption, match="^check_every: allocation refused, nothing done: "
                           "check: the canary after the block at"):
            a.malloc(8)  # 2: checked
        assert a.stats() == before
        q = a.malloc(8)  # 3: not checked
        with pytest.raises(ma.HeapCorruption, match="^check_every: free refused"):
            a.free(q)  # 4: checked
        flip(a, p + 8)
        a.free(q)
    with ma.create(name, check_every=1, canary=True) as a:
        p = a.malloc(8)
        flip(a, p + 9)
        with pytest.raises(ma.HeapCorruption, match="^check_every: realloc refused"):
            a.realloc(p, 16)


def test_check_every_catches_the_allocators_own_metadata():
    # A free list's header, and buddy's free-list link (as test_corruption.py).
    with ma.create("best-ao", arena_size=1 << 16, check_every=1) as a:
        p = a.malloc(100)
        a.malloc(100)
        ctypes.c_uint64.from_address(a.arena_base + p - 8).value = 0x12345
        with pytest.raises(ma.HeapCorruption, match="^check_every: allocation refused, nothing done: "):
            a.malloc(10)
        assert a.stats().mallocs == 2
    with ma.create("buddy", arena_size=1024, check_every=1) as a:
        assert a.malloc(16) == 0
        ctypes.c_uint64.from_address(a.arena_base + 16).value = 0x1234
        with pytest.raises(ma.HeapCorruption, match="^check_every: free refused, nothing done: .*free list"):
            a.free(0)
        assert a.stats().live_blocks == 1


def test_asan_and_valgrind_need_their_builds():
    asan = next(o for o in ma.DEBUG_OPTIONS if o.name == "asan")
    valgrind = next(o for o in ma.DEBUG_OPTIONS if o.name == "valgrind")
    if asan.max == 0:  # this build has no AddressSanitizer
        with pytest.raises(ValueError, match=r"^asan=1 needs a build with AddressSanitizer"):
            ma.create("best-ao", asan=True)
    else:
        with ma.create("best-ao", asan=True) as a:
            assert a.usable_size(a.malloc(24)) == 24
    if valgrind.max == 0:
        with pytest.raises(ValueError, match=r"^valgrind=1 needs a build with valgrind's header"):
            ma.create("best-ao", valgrind=True)
    else:  # off valgrind the client requests do nothing
        with ma.create("best-ao", valgrind=True) as a:
            p = a.malloc(24)
            assert a.usable_size(p) == 24
            a.write(p, b"y" * 24)
            a.free(p)
            a.check()


def test_replay_refuses_the_switches():
    trace = ma.Trace.from_events([("malloc", "a", 24), ("free", "a")])
    with ma.create("best-ao", scribble=True) as a:
        with pytest.raises(ValueError, match="^replay does not go through the debugging switches"):
            ma.replay(trace, a)
        assert a.stats().mallocs == 0
    assert ma.replay(trace, "best-ao").summary["events"] == 2


def test_list_shows_the_switches(capsys):
    from memalloc_py import cli
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out.splitlines()
    at = out.index("every allocator also takes the debugging switches (docs/api.md):")
    assert [line.split("=")[0].strip() for line in out[at + 1:]] == list(SWITCHES)
    assert "    canary=0  (boolean, 0 or 1): debugging: canary bytes after each block's request, " \
           "verified by free, realloc and check" in out


def _build(tmp_path: Path, cc: str, flags: list[str], source: str, name: str) -> Path:
    exe = tmp_path / name
    sources = sorted(str(p) for p in CSRC.glob("*.c"))
    done = subprocess.run([compiler(cc), *WARN, *flags, "-D_GNU_SOURCE", f"-I{CSRC}", *sources,
                           str(ROOT / source), "-o", str(exe), "-lpthread"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return exe


@pytest.mark.parametrize("cc, flags", [
    ("clang", ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g", "-O1"]),
    ("gcc", ["-O2"]),
])
def test_c_suite_of_the_switches(cc, flags, tmp_path):
    exe = _build(tmp_path, cc, flags, "tests/c/test_debug.c", "test_debug")
    done = subprocess.run([str(exe)], capture_output=True, text=True,
                          env={"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1"})
    assert done.returncode == 0, done.stderr[-3000:]
    m = re.search(r"^(\d+) passed, (\d+) failed$", done.stdout, re.M)
    assert m and int(m.group(2)) == 0
    # Every entry: more checks with ASan (the poison read back) than without.
    assert int(m.group(1)) > (55 if "-O2" in flags else 70) * len(NAMES)


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_new_c_programs_compile_without_warnings(cc, tmp_path):
    for source in ("tests/fuzz/fuzz_core.c", "tests/c/misuse.c", "tests/c/test_debug.c",
                   "tests/c/replay_file.c"):
        done = subprocess.run([compiler(cc), *WARN, "-O2", "-D_GNU_SOURCE", f"-I{CSRC}", "-c",
                               str(ROOT / source), "-o", str(tmp_path / "x.o")],
                              capture_output=True, text=True)
        assert done.returncode == 0, f"{source}: {done.stderr}"
