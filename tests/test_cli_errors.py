"""Every failure of the memalloc command is one line on stderr, starting with
'memalloc: ', with no traceback and exit status 2 (README, "The command line").

Malformed files are built byte by byte in tmp_path; command-line mistakes go
through the same in-process ``main``; a few cases run as real processes, where
a traceback or an "Exception ignored" message would show.
"""
import json
import os
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import memalloc_py as ma
from memalloc_py import cli
from memalloc_py.cli import main

AOSP_TEXT = "1: malloc 0x10 24\n1: malloc 0x20 40\n1: free 0x10\n1: free 0x20\n"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *words):
    assert code == 2, err
    assert "Traceback" not in err and "usage:" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("memalloc: "), err
    for word in words:
        assert word in lines[0], (word, err)


# ------------------------------------------------------------ malformed files


def stored_zip(path, text=AOSP_TEXT):
    """A zip holding one uncompressed AOSP trace; returns its bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("trace.txt", text)
    return bytearray(path.read_bytes())


def zip_with_bad_crc(tmp_path):
    path = tmp_path / "bad_crc.zip"
    data = stored_zip(path)
    assert data[:4] == b"PK\x03\x04"
    name_len, extra_len = struct.unpack_from("<HH", data, 26)
    start = 30 + name_len + extra_len       # the member's first data byte: '1'
    assert data[start:start + 1] == b"1"
    data[start] ^= 0x01                      # '1' -> '0': still a valid line, wrong CRC
    path.write_bytes(bytes(data))
    return path


def zip_with_unknown_method(tmp_path):
    path = tmp_path / "bad_method.zip"
    data = stored_zip(path)
    local = 0
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<H", data, local + 8, 99)     # compression method, local header
    struct.pack_into("<H", data, central + 10, 99)  # and central directory
    path.write_bytes(bytes(data))
    return path


def npz_with_header(tmp_path, name, header):
    path = tmp_path / name
    with open(path, "wb") as f:
        np.savez_compressed(
            f, op=np.array([0, 4], dtype="u1"), id=np.zeros(2, dtype="u4"),
            size=np.array([24, 0], dtype="u8"), arg=np.zeros(2, dtype="u8"),
            header=np.frombuffer(json.dumps(header).encode(), dtype="u1"))
    return path


GOOD_HEADER = {"format": "memalloc_py-trace", "version": 1, "n_ids": 1, "meta": {}}
BAD_FILES = {
    "zip, bad CRC": zip_with_bad_crc,
    "zip, unknown compression method": zip_with_unknown_method,
    "npz, header a list": lambda p: npz_with_header(p, "list.npz", [GOOD_HEADER]),
    "npz, meta a list": lambda p: npz_with_header(p, "meta.npz", {**GOOD_HEADER, "meta": [1]}),
    "npz, version a string": lambda p: npz_with_header(p, "version.npz", {**GOOD_HEADER, "version": "1"}),
    "npz, n_ids null": lambda p: npz_with_header(p, "n_ids.npz", {**GOOD_HEADER, "n_ids": None}),
}


def test_the_good_versions_of_the_bad_files_load(tmp_path):
    # The files differ from loadable ones only in the defect under test.
    stored_zip(tmp_path / "ok.zip")
    assert len(ma.read_trace(tmp_path / "ok.zip")) == 4
    assert len(ma.Trace.load(npz_with_header(tmp_path, "ok.npz", GOOD_HEADER))) == 2


@pytest.mark.parametrize("make", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_malformed_trace_file_is_one_line(capsys, tmp_path, make):
    path = make(tmp_path)
    code, out, err = run(capsys, "trace", "info", str(path))
    assert_one_line_error(code, err, path.name)
    code, out, err = run(capsys, "compare", "--trace", str(path), "--allocators", "buddy")
    assert_one_line_error(code, err, path.name)
    assert out == ""


# ----------------------------------------------------------- the command line


@pytest.mark.parametrize("argv, words", [
    (["compare", "--allocators", ","], ["--allocators", "no allocator"]),
    (["compare", "--allocators", " , ,"], ["--allocators", "no allocator"]),
    (["compare", "--allocators", "buddy,best-ao,buddy"], ["--allocators", "buddy", "twice"]),
    (["compare", "--allocators", "best,best-ao"], ["--allocators", "best-ao", "twice"]),
    (["compare", "--size-scale", str(10**30)], ["--size-scale", "2**64"]),
    (["compare", "--size-scale", str(2**64)], ["--size-scale", "2**64"]),
    (["compare", "--size-scale", "0"], ["--size-scale", "from 1"]),
    (["compare", "--sample-every", str(10**23)], ["--sample-every", "2**64"]),
    (["compare", "--sample-every", "-1"], ["--sample-every", "from 0"]),
    (["compare", "--events", "10000000000"], ["--events", "memory"]),
    (["compare", "--seed", "-1"], ["--seed", "-1"]),
    (["compare", "--csv", "-", "--json", "-"], ["--csv -", "--json -", "stdout"]),
    (["compare", "--plot", "x.png", "--sample-every", "0"], ["--plot", "--sample-every"]),
])
def test_bad_options_are_one_line(capsys, argv, words):
    events = [] if "--events" in argv else ["--events", "2000"]
    code, out, err = run(capsys, *argv, *events, "--no-progress")
    assert_one_line_error(code, err, *words)
    assert out == ""


@pytest.mark.parametrize("argv, words", [
    ([], ["a command", "compare", "list"]),
    (["frobnicate"], ["invalid choice: 'frobnicate'"]),
    (["compare", "--bogus"], ["unrecognized arguments: --bogus"]),
    (["compare", "--events", "abc"], ["argument --events", "'abc'"]),
    (["compare", "--events"], ["argument --events", "expected one argument"]),
    (["compare", "--format", "csv"], ["argument --format", "invalid choice: 'csv'"]),
    (["compare", "--arena-size", "12Q"], ["argument --arena-size", "'12Q' is not a size"]),
    (["compare", "--trace", "a", "--workload", "ramp"], ["not allowed with argument"]),
    (["trace"], ["trace takes an action"]),
    (["trace", "info"], ["required", "file"]),
])
def test_argparse_errors_are_one_line_without_usage(capsys, argv, words):
    code, out, err = run(capsys, *argv)
    assert_one_line_error(code, err, *words)
    assert out == ""


def test_help_still_prints_the_usage(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["compare", "--help"])
    out, err = capsys.readouterr()
    assert exc.value.code == 0 and out.startswith("usage: memalloc compare") and err == ""


# -------------------------------------------------- arena size and growth (#11)


@pytest.mark.parametrize("argv, words", [
    (["--arena-size", "0", "--allocators", "buddy"], ["--arena-size 0 ", "buddy", "1 KiB to 1 TiB"]),
    (["--arena-size", "100", "--allocators", "buddy"], ["--arena-size 100 ", "1 KiB to 1 TiB"]),
    (["--arena-size", "2T", "--allocators", "buddy"], ["--arena-size", "1 KiB to 1 TiB"]),
    (["--arena-size", "100", "--allocators", "best-ao"],
     ["--arena-size 100 ", "free-list", "multiple of 16 from 4 KiB to 32 GiB"]),
    (["--arena-size", "5000", "--allocators", "first-lifo"], ["--arena-size 5000 ", "multiple of 16"]),
    (["--arena-size", "33G", "--allocators", "next-fifo"], ["--arena-size", "4 KiB to 32 GiB"]),
    (["--arena-size", "64G"], ["--arena-size", "free-list", "4 KiB to 32 GiB"]),
    (["--arena-size", "99999999999T"], ["--arena-size", "1 KiB to 1 TiB", "4 KiB to 32 GiB"]),
    (["--growth", "0"], ["--growth 0 ", "multiple of 16 from 16 bytes to the arena size"]),
    (["--growth", "100", "--allocators", "worst-ao"], ["--growth 100 ", "multiple of 16"]),
    (["--growth", "8G", "--arena-size", "4G"], ["--growth", "4 GiB"]),
    (["--growth", "99999999999T"], ["--growth"]),
])
def test_arena_size_and_growth_out_of_range_are_errors(capsys, argv, words):
    code, out, err = run(capsys, "compare", "--events", "2000", "--no-progress", *argv)
    assert_one_line_error(code, err, *words)
    assert out == ""


def test_the_cli_ranges_are_the_allocators_own():
    # The bounds the CLI states are the constructors' bounds, and nothing is clamped.
    ma.create("buddy", arena_size=1 << 10).close()
    ma.create("best-ao", arena_size=4096, growth=4096).close()
    for name, arena in [("buddy", 1 << 9), ("buddy", 1 << 41), ("best-ao", 4080), ("best-ao", (1 << 35) + 16)]:
        with pytest.raises(ValueError, match="arena_size"):
            ma.create(name, arena_size=arena)
    assert cli._arena_for("buddy", 1 << 10) == 1 << 10
    assert cli._arena_for("buddy", 3 << 30) == 4 << 30        # rounded up, as --help says
    assert cli._arena_for("buddy", 1 << 40) == 1 << 40
    assert cli._arena_for("best-ao", 5 << 30) == 5 << 30      # never changed
    assert cli._arena_for("best-ao", 1 << 35) == 1 << 35


def test_arena_size_at_the_limits_runs(capsys):
    code, out, err = run(capsys, "compare", "--events", "2000", "--no-progress", "--arena-size", "1K",
                         "--allocators", "buddy", "--json", "-")
    assert code == 0 and err == ""
    assert json.loads(out)[0]["failures"] > 0       # a 1 KiB arena is allowed, and too small
    code, out, err = run(capsys, "compare", "--events", "2000", "--no-progress", "--arena-size", "3000K",
                         "--growth", "3000K", "--allocators", "buddy,best-ao", "--json", "-")
    assert code == 0 and err == "" and [r["failures"] for r in json.loads(out)] == [0, 0]


# ------------------------------------------- one rule for size_scale (#13)


@pytest.mark.parametrize("option, value, ok", [
    ("size_scale", -1, False), ("size_scale", 0, False), ("size_scale", 1, True),
    ("size_scale", 2**64 - 1, True), ("size_scale", 2**64, False), ("size_scale", 10**30, False),
    ("sample_every", -1, False), ("sample_every", 0, True), ("sample_every", 7, True),
    ("sample_every", 2**64 - 1, True), ("sample_every", 2**64, False), ("sample_every", 10**23, False),
])
def test_cli_and_replay_agree_on_size_scale_and_sample_every(capsys, tmp_path, option, value, ok):
    trace = ma.Trace.from_events([("malloc", "a", 24), ("malloc", "b", 8), ("free", "a")])
    path = tmp_path / "t.npz"
    trace.save(path)
    flag = "--" + option.replace("_", "-")
    code, out, err = run(capsys, "compare", "--trace", str(path), "--allocators", "buddy", "--json", "-",
                         flag, str(value))
    if ok:
        assert code == 0 and err == ""
        res = ma.replay(trace, "buddy", **{option: value})
        assert res.summary["events"] == 3
        assert json.loads(out)[0]["failures"] == res.summary["failures"]
        assert res.summary["failures"] == (2 if option == "size_scale" and value > 1 else 0)
    else:
        assert_one_line_error(code, err, flag)
        with pytest.raises(ValueError, match=option):
            ma.replay(trace, "buddy", **{option: value})


@pytest.mark.parametrize("value", [0, 2**64])
def test_bare_and_libc_replays_take_the_same_size_scale(value):
    trace = ma.Trace.from_events([("malloc", "a", 24), ("free", "a")])
    with pytest.raises(ValueError, match="size_scale"):
        ma.replaying.replay_bare(trace, "buddy", size_scale=value)
    with pytest.raises(ValueError, match="size_scale"):
        ma.replaying.replay_libc(trace, size_scale=value)
    assert ma.replaying.replay_bare(trace, "buddy", size_scale=2**64 - 1)["failures"] == 1
    assert ma.replaying.replay_libc(trace, size_scale=1)["failures"] == 0


def test_replay_rejects_non_integer_counts():
    trace = ma.Trace.from_events([("malloc", "a", 24)])
    for kwargs in ({"size_scale": 1.5}, {"size_scale": True}, {"sample_every": "10"}):
        with pytest.raises(TypeError, match=next(iter(kwargs))):
            ma.replay(trace, "buddy", **kwargs)


# ------------------------------------------------- memory needed by --events


def test_events_beyond_the_memory_are_refused_before_allocating(capsys, monkeypatch):
    monkeypatch.setattr(cli, "_available_memory", lambda: 1 << 30)
    generated = []
    monkeypatch.setattr(ma.workloads, "generate", lambda *a, **k: generated.append(a))
    code, out, err = run(capsys, "compare", "--events", "100000000", "--no-progress")
    assert_one_line_error(code, err, "--events 100,000,000", "memory", "1 GiB is available")
    assert generated == []
    # The limit it names is one that the estimate accepts.
    limit = int(err.split("at most ")[1].split()[0].replace(",", ""))
    assert cli._memory_needed(limit, 1000, len(ma.ARENA_ALLOCATORS)) <= 1 << 30 < cli._memory_needed(
        limit * 2, 1000, len(ma.ARENA_ALLOCATORS))


def test_samples_kept_for_every_allocator_count_towards_the_memory(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(cli, "_available_memory", lambda: 1 << 20)
    path = tmp_path / "t.npz"
    ma.workloads.ramp(5000, seed=1).save(path)
    code, out, err = run(capsys, "compare", "--trace", str(path), "--sample-every", "1",
                         "--no-progress")
    assert_one_line_error(code, err, "the trace's 10,000 events with --sample-every 1 need", "memory")
    least = int(err.split("use --sample-every ")[1].split()[0].replace(",", ""))
    fits = lambda s: cli._memory_needed(10_000, s, len(ma.ARENA_ALLOCATORS), n_ids=5000,  # noqa: E731
                                        generate=False) <= 1 << 20
    assert fits(least) and not fits(least - 1)
    code, out, err = run(capsys, "compare", "--trace", str(path), "--no-progress", "--sample-every", str(least))
    assert code == 0 and err == ""


# --------------------------------------------------- real processes


def python_m(*argv, **kw):
    return subprocess.run([sys.executable, "-m", "memalloc_py", *argv], capture_output=True, text=True,
                          timeout=300, **kw)


def test_closed_pipe_exits_quietly(tmp_path):
    # As in `memalloc list | head -2` when head has quit: here the reader is
    # gone before the first write, so that write fails every time.
    for argv in (["list"], ["compare", "--events", "2000", "--allocators", "buddy", "--json", "-"]):
        r, w = os.pipe()
        os.close(r)
        proc = subprocess.Popen([sys.executable, "-m", "memalloc_py", *argv], stdout=w,
                                stderr=subprocess.PIPE, text=True, cwd=tmp_path)
        os.close(w)
        _, err = proc.communicate(timeout=300)
        assert err == "" and proc.returncode == 141, (argv, proc.returncode, err)


@pytest.mark.parametrize("case", ["size-scale", "bad-crc-zip"])
def test_a_real_process_prints_one_line(tmp_path, case):
    if case == "size-scale":
        argv = ["compare", "--events", "2000", "--size-scale", str(10**30)]
    else:
        argv = ["trace", "info", str(zip_with_bad_crc(tmp_path))]
    proc = python_m(*argv, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith("memalloc: "), proc.stderr


@pytest.mark.parametrize("plot, extra, words", [
    ("out.xyz", [], ["--plot out.xyz", "extension", ".png"]),
    ("{tmp}/missing/x.png", [], ["does not exist"]),
    ("-", [], ["--plot needs a file name", "stdout"]),
    ("", [], ["--plot needs a file name"]),
    ("{tmp}/x.png", ["--allocators", "system"], ["system's cannot be observed"]),
    ("{tmp}/x.png", ["--events", "1000", "--sample-every", "5000"], ["at least two samples"]),
])
def test_plot_outputs_are_checked_before_any_replay(capsys, tmp_path, plot, extra, words):
    """A bad --plot target once failed only after every replay, with the table
    printed; "-" wrote a file named "-.png"; a lone system warned on stderr."""
    events = [] if "--events" in extra else ["--events", "2000"]
    code, out, err = run(capsys, "compare", "--plot", plot.format(tmp=tmp_path), *extra, *events,
                         "--no-progress")
    assert_one_line_error(code, err, *words)
    assert out == ""
    assert list(tmp_path.iterdir()) == []


def test_csv_and_json_into_a_missing_folder_are_refused_before_any_replay(capsys, tmp_path):
    for option in ("--csv", "--json"):
        code, out, err = run(capsys, "compare", option, str(tmp_path / "no" / "t.csv"),
                             "--events", "2000", "--no-progress")
        assert_one_line_error(code, err, option, "does not exist")
        assert out == ""
