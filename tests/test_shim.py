"""The preload shim (libmemalloc_preload.so) and ``memalloc run``.

A small C program, tests/c/shim_probe.c, runs under the shim and checks
each promise from inside (the malloc family's edge cases, threads with a
fork, bad pointers, exhaustion, own mappings, scribbling); these tests run
it on buddy and best-ao and read what the shim says.  Real programs (CPython's
regression tests, perl, git, sqlite3, gcc) are in test_shim_programs.py.
"""
from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import memalloc_py as ma
from memalloc_py import preload

ROOT = Path(__file__).resolve().parent.parent
ALLOCATORS = ["buddy", "best-ao"]
WARN = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-Wpedantic", "-Wshadow", "-Wconversion",
        "-Wstrict-prototypes", "-Wmissing-prototypes"]


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    exe = tmp_path_factory.mktemp("probe") / "shim_probe"
    subprocess.run(["gcc", *WARN, "-O2", str(ROOT / "tests" / "c" / "shim_probe.c"), "-o", str(exe),
                    "-lpthread"], check=True)
    return exe


def run(probe: Path, *args: str, allocator: str = "best-ao", **kw) -> subprocess.CompletedProcess:
    return preload.run([str(probe), *args], allocator, capture_output=True, text=True, timeout=300, **kw)


def report(stderr: str) -> dict[str, str]:
    """The --stats report as {first words: the rest of the line}."""
    lines = [re.sub(r"^memalloc\[\d+\]: ", "", ln) for ln in stderr.splitlines()]
    return {"title": lines[0], **{ln.split(":")[0].strip(): ln.split(":", 1)[1] for ln in lines[1:] if ":" in ln}}


def numbers(text: str) -> list[int]:
    return [int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", text)]


@pytest.mark.parametrize("allocator", ALLOCATORS)
def test_the_whole_family_and_its_edge_cases(probe, allocator):
    done = run(probe, "family", allocator=allocator, check_at_exit=True)
    assert (done.returncode, done.stdout, done.stderr) == (0, "family ok\n", "")


@pytest.mark.parametrize("allocator", ALLOCATORS)
def test_threads_and_fork_children_that_allocate(probe, allocator):
    done = run(probe, "threads", "4", allocator=allocator, check_at_exit=True)
    assert (done.returncode, done.stdout, done.stderr) == (0, "threads ok\n", "")


@pytest.mark.parametrize("allocator", ALLOCATORS)
@pytest.mark.parametrize("kind, bad, why", [
    ("stack", 1, "not a block memalloc handed out; ignored"),
    ("mapped", 1, "not a block memalloc handed out; ignored"),
    ("twice", 1, "inside the heap's arena but not the start of a live block (freed before, or inside a block); ignored"),
    ("inside", 3, "inside the heap's arena but not the start of a live block (freed before, or inside a block); ignored"),
])
def test_pointers_that_are_not_ours_are_reported_and_change_nothing(probe, allocator, kind, bad, why):
    done = run(probe, "bad", kind, allocator=allocator, check_at_exit=True, stats=True)
    assert done.returncode == 0 and done.stdout == f"survived {kind}\n"
    told = [ln for ln in done.stderr.splitlines() if not ln.startswith("memalloc[")]
    assert len(told) == bad and told[0].startswith("memalloc: free(0x") and told[0].endswith(why)
    if kind == "inside":
        assert told[1].startswith("memalloc: realloc(0x") and told[2].startswith("memalloc: malloc_usable_size(0x")
    assert numbers(report(done.stderr)["calls"])[4] == bad  # "... N bad pointers"
    assert "check at exit: the heap is consistent" in done.stderr


def test_abort_on_error_aborts_with_the_message(probe):
    done = run(probe, "bad", "twice", abort_on_error=True)
    assert done.returncode == -signal.SIGABRT and done.stdout == ""
    assert re.fullmatch(r"memalloc: free\(0x[0-9a-f]+\): inside the heap's arena but not the start of a live "
                        r"block \(freed before, or inside a block\); aborting \(MEMALLOC_ABORT_ON_ERROR\)\n",
                        done.stderr)


@pytest.mark.parametrize("allocator, blocks", [("buddy", 16), ("best-ao", 15)])
def test_exhaustion_is_enomem_and_one_message_naming_the_arena_option(probe, allocator, blocks):
    # 1 MiB of arena holds 16 blocks of 64 KiB in buddy; 15 with the free list's headers.
    done = run(probe, "exhaust", allocator=allocator, options="arena_size=1M", check_at_exit=True)
    assert done.returncode == 0 and done.stdout == f"exhausted after {blocks} blocks\n"
    assert done.stderr == (f"memalloc: out of memory: the {allocator} arena (arena_size=1M) cannot serve a "
                           "request of 65,536 bytes; give a larger arena with --options arena_size=SIZE "
                           "(MEMALLOC_OPTIONS)\n")


@pytest.mark.parametrize("allocator", ALLOCATORS)
def test_requests_above_the_threshold_get_their_own_mappings(probe, allocator):
    done = run(probe, "big", allocator=allocator, mmap_threshold=1 << 20, check_at_exit=True, stats=True)
    assert done.returncode == 0 and done.stdout == "big ok\n"
    r = report(done.stderr)
    # 3M (its realloc to 5M is a mremap), 2M, aligned 2M, calloc 2M: 4 made, none left
    assert numbers(r["own mappings"])[:2] == [4, 0]
    assert numbers(r["at exit"])[:2] == [0, 0]  # nothing live, in the arena or mapped
    assert "check at exit: the heap is consistent" in done.stderr


@pytest.mark.parametrize("allocator", ALLOCATORS)
def test_scribble_fills_fresh_and_freed_blocks(probe, allocator):
    done = run(probe, "scribble", allocator=allocator, scribble=True, check_at_exit=True)
    assert (done.returncode, done.stdout, done.stderr) == (0, "scribble ok\n", "")
    plain = run(probe, "scribble", allocator=allocator)
    assert plain.returncode == 1 and plain.stdout.startswith("FAIL")  # the probe does see the difference


@pytest.mark.parametrize("allocator", ALLOCATORS)
def test_leaks_are_listed_largest_first(probe, allocator):
    done = run(probe, "leaks", allocator=allocator, leaks=True)
    lines = [re.sub(r"^memalloc\[\d+\]: ", "", ln) for ln in done.stderr.splitlines()]
    assert done.returncode == 0 and done.stdout == "leaked\n"
    assert lines[0] == "5 blocks never freed, 38,589 bytes requested; all of them, largest first:"
    assert [ln.split(" at ")[0].strip() for ln in lines[1:]] == ["12,345 bytes"] * 3 + ["777 bytes"] * 2
    cut = run(probe, "leaks", allocator=allocator, leaks=True, leaks_max=2)
    lines = [re.sub(r"^memalloc\[\d+\]: ", "", ln) for ln in cut.stderr.splitlines()]
    assert lines[0] == "5 blocks never freed, 38,589 bytes requested; the largest first:"
    assert len(lines) == 4 and lines[3] == "  ... and 3 more blocks, 13,899 bytes (MEMALLOC_LEAKS_MAX=0 lists all)"


def test_check_at_exit_fails_loudly_on_a_corrupt_heap(probe):
    done = run(probe, "corrupt", allocator="best-ao", check_at_exit=True)
    assert done.returncode == preload.SHIM_EXIT_STATUS == 125 and done.stdout == "corrupted\n"
    # The allocator's own words for the violation (a block whose size word
    # says 1193040 bytes in a heap of 4096, with today's block layout).
    assert re.fullmatch(r"memalloc\[\d+\]: check at exit FAILED: the best-ao heap is corrupt: \S.*\n", done.stderr)
    assert run(probe, "corrupt", allocator="best-ao").returncode == 0  # unchecked, it goes unseen


def _random_trace(n: int, seed: int) -> ma.Trace:
    """malloc, calloc, memalign, realloc and free, about 300 blocks live."""
    rng = np.random.default_rng(seed)
    live: list[int] = []
    free_ids = list(range(400))
    events = []
    for _ in range(n):
        r = rng.random()
        size = int(rng.integers(1, 3000))
        if live and (r < 0.35 or not free_ids):
            events.append(("free", live.pop(int(rng.integers(len(live))))))
        elif live and r < 0.45:
            events.append(("realloc", live[int(rng.integers(len(live)))], size))
        else:
            i = free_ids.pop(int(rng.integers(len(free_ids))))
            live.append(i)
            kind = rng.choice(["malloc", "calloc", "memalign"], p=[0.8, 0.1, 0.1])
            events.append(("calloc", i, 3, size) if kind == "calloc"
                          else ("memalign", i, 256, size) if kind == "memalign" else ("malloc", i, size))
        if events[-1][0] == "free":
            free_ids.append(events[-1][1])
    return ma.Trace.from_events(events)


@pytest.mark.parametrize("allocator", ALLOCATORS)
def test_the_measures_of_a_run_are_exactly_those_of_its_replay(probe, allocator, tmp_path):
    """The probe makes a trace's calls and nothing else; the shim's report
    equals the replay engine's summary of the same trace."""
    t = _random_trace(20000, seed=7)
    recs = np.zeros(len(t), dtype=[("op", "<u4"), ("id", "<u4"), ("size", "<u8"), ("arg", "<u8")])
    recs["op"], recs["id"], recs["size"], recs["arg"] = t.op, t.id, t.size, t.arg
    ops = tmp_path / "ops.bin"
    ops.write_bytes(np.uint64(len(t)).tobytes() + recs.tobytes())
    done = run(probe, "ops", str(ops), allocator=allocator, stats=True, check_at_exit=True)
    assert done.returncode == 0, done.stderr
    r = report(done.stderr)
    s = ma.replay(t, allocator, arena_size=4 << 30, sample_every=0).summary
    assert r["title"] == f"{allocator} (arena_size=4G), {len(t):,} operations"
    assert numbers(r["peaks"]) == [s["peak_heap"], s["peak_live"]]
    jw = r["Johnstone-Wilson (heap / live - 1)"]
    expected = [f"#{k} {100 * s[f'jw{k}']:.1f}%" for k in range(1, 5)]
    assert re.findall(r"#\d -?[\d.]+%", jw) == expected
    assert jw.endswith(f"internal fragmentation at peak live {100 * s['internal_fragmentation']:.1f}%")
    k = t.summary()["by_kind"]
    # every realloc here is of a live block to a size above 0, every free of a live block
    assert numbers(r["calls"]) == [k["malloc"] + k["calloc"] + k["memalign"], k["free"], k["realloc"], 0, 0]


def test_reports_go_to_the_report_file(probe, tmp_path):
    out = tmp_path / "reports.txt"
    done = run(probe, "leaks", leaks=True, stats=True, report=str(out))
    assert done.returncode == 0 and done.stderr == ""
    text = out.read_text()
    assert "best-ao (arena_size=4G), " in text and "5 blocks never freed" in text


def test_reports_of_a_program_that_closes_stderr(tmp_path):
    """coreutils close stderr before they exit; the shim keeps a copy."""
    done = preload.run(["/bin/echo", "hello"], "buddy", stats=True, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == "hello\n"
    assert re.match(r"memalloc\[\d+\]: buddy \(arena_size=4G\), [\d,]+ operations\n", done.stderr)


@pytest.mark.parametrize("variable, value, message", [
    ("MEMALLOC_STATS", "yes", "MEMALLOC_STATS=yes: write 1 (on) or 0 (off)"),
    ("MEMALLOC_ALLOCATOR", "nope", "unknown allocator 'nope'; choose one of: buddy, best-ao, "),
    ("MEMALLOC_OPTIONS", "growth=7", "best-ao with options 'arena_size=4G,growth=7': "),
    ("MEMALLOC_MMAP_THRESHOLD", "12Q", "MEMALLOC_MMAP_THRESHOLD=12Q is not a size"),
    ("MEMALLOC_ALLOCATOR", "system", "'system' is the C library's malloc, which the shim replaces"),
])
def test_a_bad_setting_stops_the_program_at_once(probe, variable, value, message):
    env = preload.environment()
    env[variable] = value
    done = subprocess.run([str(probe), "family"], env=env, capture_output=True, text=True)
    assert done.returncode == 125 and done.stdout == ""
    assert done.stderr.startswith("memalloc: cannot start the allocator: " + message)


# ---- memalloc run -------------------------------------------------------------------

def memalloc(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "memalloc_py", *args], capture_output=True, text=True,
                          cwd=kw.pop("cwd", None) or "/", **kw)


def test_run_passes_the_exit_status_through_and_reports(tmp_path):
    done = memalloc("run", "--allocator", "buddy", "--stats", "--check-at-exit", "--",
                    sys.executable, "-c", "import sys; print('out'); sys.exit(7)")
    assert done.returncode == 7 and done.stdout == "out\n"
    lines = done.stderr.splitlines()
    assert re.fullmatch(r"memalloc\[\d+\]: buddy \(arena_size=4G\), [\d,]+ operations", lines[0])
    assert lines[-1].endswith("check at exit: the heap is consistent")


def test_run_with_options_and_without_the_double_dash():
    done = memalloc("run", "--options", "arena_size=64M,growth=64K", "--stats", "/bin/echo", "-n", "x")
    assert done.returncode == 0 and done.stdout == "x"
    assert "best-ao (arena_size=64M,growth=64K), " in done.stderr


@pytest.mark.parametrize("args, status, message", [
    (["--allocator", "nope"], 2, "memalloc: unknown allocator 'nope'; choose one of: buddy, best-ao"),
    (["--options", "arena_size=3"], 2, "memalloc: best-ao with options 'arena_size=3': arena_size must be"),
    (["--options", "colour=red"], 2, "memalloc: unknown option 'colour' for allocator 'best-ao'"),
    (["--options", "growth=4K,growth=8K"], 2, "memalloc: option growth is given twice"),
    (["--allocator", "system"], 2, "memalloc: 'system' is the C library's malloc, which the shim replaces"),
    (["--mmap-threshold", "lots"], 2, "memalloc: argument --mmap-threshold: 'lots' is not a size"),
    (["--leaks-max", "-1"], 2, "memalloc: --leaks-max must be 0 (all) or more, got -1"),
])
def test_run_refuses_bad_input_before_running_the_command(tmp_path, args, status, message):
    marker = tmp_path / "ran"
    done = memalloc("run", *args, "--", "touch", str(marker))
    assert done.returncode == status and done.stdout == ""
    assert done.stderr.startswith(message) and len(done.stderr.splitlines()) == 1
    assert not marker.exists()


def test_run_without_a_command_or_with_a_missing_one():
    done = memalloc("run", "--stats")
    assert done.returncode == 2
    assert done.stderr == "memalloc: run needs a command: memalloc run [OPTIONS] -- COMMAND ARGS...\n"
    done = memalloc("run", "--stats", "--")
    assert done.returncode == 2 and "run needs a command" in done.stderr
    done = memalloc("run", "--", "no-such-command-anywhere")
    assert done.returncode == 127
    assert done.stderr == "memalloc: run: command not found: no-such-command-anywhere\n"


def test_environment_checks_its_arguments_and_keeps_other_preloads():
    env = preload.environment("buddy", base={"LD_PRELOAD": "/x/other.so", "MEMALLOC_STATS": "1"})
    assert env["LD_PRELOAD"] == f"{ma.paths().preload} /x/other.so"
    assert env["MEMALLOC_STATS"] == "0" and env["MEMALLOC_ALLOCATOR"] == "buddy"
    assert preload.shim_options("buddy") == "arena_size=4G"
    assert preload.shim_options("best", "growth=8K") == "arena_size=4G,growth=8K"
    assert preload.shim_options("buddy", "arena_size=1M") == "arena_size=1M"
    with pytest.raises(ValueError, match="mmap_threshold must be an integer >= 0"):
        preload.environment(mmap_threshold=-1)
    with pytest.raises(ValueError, match="leaks_max must be an integer >= 0"):
        preload.environment(leaks_max=True)
    with pytest.raises(TypeError):
        preload.shim_options(3)  # type: ignore[arg-type]
    assert shutil.which("gcc")  # the probe's compiler (the README's packages)
