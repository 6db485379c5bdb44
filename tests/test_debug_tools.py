"""The tools people already use, on our allocators: tests/c/misuse.c writes
one byte past a 24-byte block or reads it after freeing it, and with the
debugging switch AddressSanitizer (asan=1, the program built with
-fsanitize=address) or valgrind's memcheck (valgrind=1) reports the bug;
canary=1 makes the free itself fail.  Each family of the registry that has
an arena is tried through one of its entries (system's blocks are the C
library's, which both tools watch already).  Also the raw-column replay
driver that CI runs under valgrind (tests/c/replay_file.c)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import memalloc_py as ma

ROOT = Path(__file__).resolve().parent.parent
CSRC = ROOT / "csrc"
# One entry per family with an arena: the first of each in registry order.
FAMILY_ENTRIES = tuple({info.family: name for name, info in reversed(list(ma.REGISTRY.items()))
                        if name in ma.ARENA_ALLOCATORS}.values())


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (apt-get install {name}); README: What the machine needs")
    return path


def build(tmp_path: Path, cc: str, flags: list[str], source: str) -> Path:
    exe = tmp_path / Path(source).stem
    sources = sorted(str(p) for p in CSRC.glob("*.c"))
    done = subprocess.run([tool(cc), "-std=c11", "-D_GNU_SOURCE", *flags, f"-I{CSRC}", *sources,
                           str(ROOT / source), "-o", str(exe), "-lpthread"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return exe


@pytest.fixture(scope="module")
def misuse_asan(tmp_path_factory):
    return build(tmp_path_factory.mktemp("asan"), "clang",
                 ["-g", "-O1", "-fsanitize=address", "-fno-omit-frame-pointer"], "tests/c/misuse.c")


@pytest.fixture(scope="module")
def misuse_plain(tmp_path_factory):
    return build(tmp_path_factory.mktemp("plain"), "gcc", ["-g", "-O0"], "tests/c/misuse.c")


def run(cmd: list[str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASAN_", "LD_PRELOAD"))}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)


def block_address(stdout: str, which: int = 1) -> int:
    """The block's pointer (which=1) or its address for the allocator (2)."""
    m = re.search(r"^a block of 24 bytes at (0x[0-9a-f]+) \(address (0x[0-9a-f]+)\)$", stdout, re.M)
    assert m, stdout
    return int(m.group(which), 16)


@pytest.mark.parametrize("name", FAMILY_ENTRIES)
def test_asan_reports_a_write_past_the_end(misuse_asan, name):
    done = run([str(misuse_asan), "overflow", name, "asan=1"])
    assert done.returncode != 0
    at = block_address(done.stdout) + 24
    assert f"ERROR: AddressSanitizer: use-after-poison on address {at:#x}" in done.stderr
    assert f"WRITE of size 1 at {at:#x}" in done.stderr
    assert re.search(r"#0 0x[0-9a-f]+ in write_past .*misuse\.c:\d+", done.stderr), done.stderr


@pytest.mark.parametrize("name", FAMILY_ENTRIES)
def test_asan_reports_a_read_after_free(misuse_asan, name):
    done = run([str(misuse_asan), "use-after-free", name, "asan=1"])
    assert done.returncode != 0
    at = block_address(done.stdout)
    assert f"ERROR: AddressSanitizer: use-after-poison on address {at:#x}" in done.stderr
    assert f"READ of size 1 at {at:#x}" in done.stderr
    assert re.search(r"#0 0x[0-9a-f]+ in read_after_free .*misuse\.c:\d+", done.stderr), done.stderr


def test_without_the_switch_asan_sees_nothing(misuse_asan):
    for bug in ("overflow", "use-after-free"):
        done = run([str(misuse_asan), bug, FAMILY_ENTRIES[0], ""])
        assert done.returncode == 0 and "AddressSanitizer" not in done.stderr, done.stderr


@pytest.mark.parametrize("name", FAMILY_ENTRIES)
def test_valgrind_reports_both_bugs(misuse_plain, name):
    valgrind = tool("valgrind")
    done = run([valgrind, "--error-exitcode=9", str(misuse_plain), "overflow", name, "valgrind=1"])
    assert done.returncode == 9, done.stderr
    at = block_address(done.stdout) + 24
    assert re.search(r"Invalid write of size 1\n==\d+==    at 0x[0-9A-F]+: write_past \(misuse\.c:\d+\)",
                     done.stderr), done.stderr
    assert f"Address {at:#x} is 0 bytes after a block of size 24 alloc'd" in done.stderr
    done = run([valgrind, "--error-exitcode=9", str(misuse_plain), "use-after-free", name, "valgrind=1"])
    assert done.returncode == 9, done.stderr
    at = block_address(done.stdout)
    assert re.search(r"Invalid read of size 1\n==\d+==    at 0x[0-9A-F]+: read_after_free \(misuse\.c:\d+\)",
                     done.stderr), done.stderr
    assert f"Address {at:#x} is 0 bytes inside a block of size 24 free'd" in done.stderr
    assert "ERROR SUMMARY: 1 errors from 1 contexts" in done.stderr


def test_without_the_switch_valgrind_sees_nothing(misuse_plain):
    done = run([tool("valgrind"), "--error-exitcode=9", str(misuse_plain), "use-after-free",
                FAMILY_ENTRIES[0], ""])
    assert done.returncode == 0 and "ERROR SUMMARY: 0 errors" in done.stderr, done.stderr


@pytest.mark.parametrize("name", FAMILY_ENTRIES + ("system",))
def test_canary_makes_the_free_fail(misuse_plain, name):
    done = run([str(misuse_plain), "overflow", name, "canary=1"])
    assert done.returncode == 3
    address = block_address(done.stdout, 2)
    assert (f"free: free: the canary after the block at {address:#x} (24 bytes requested) is "
            f"overwritten at byte 24 (0x21, not 0xfd): a write past the end of the block") in done.stdout


def test_replay_driver(tmp_path):
    """The program CI replays a bundled trace with under memcheck."""
    exe = build(tmp_path, "gcc", ["-O1", "-Wall", "-Wextra", "-Werror"], "tests/c/replay_file.c")
    trace = ma.workloads.steady_state(3000, 300, seed=3)
    for column, dtype in (("op", np.uint8), ("id", np.uint32), ("size", np.uint64), ("arg", np.uint64)):
        np.asarray(getattr(trace, column), dtype=dtype).tofile(tmp_path / f"{column}.bin")
    (tmp_path / "n_ids.txt").write_text(str(trace.n_ids))
    names = [n if n != "buddy" else "buddy:arena_size=64M" for n in ma.REGISTRY]
    done = run([str(exe), str(tmp_path), "0", *names])
    assert done.returncode == 0, done.stdout + done.stderr
    n = len(trace.op)
    def peak(name: str, opts: dict) -> int:  # system's heap is not measured: nan here, 0 in C
        value = ma.replay(trace, name, **opts).summary["peak_heap"]
        return 0 if value != value else int(value)

    assert done.stdout.splitlines() == [
        f"{name}: {n} events, 0 failures, peak heap {peak(name, opts)}"
        for name, opts in ((n.split(":")[0], {"arena_size": "64M"} if ":" in n else {}) for n in names)]
    bad = run([str(exe), str(tmp_path), "0", "buddy:arena_size=3"])
    assert bad.returncode == 1 and bad.stdout.startswith("buddy: arena_size must be a power of two")
