"""The trace recorder (memalloc record): a C program with known allocations
recorded and checked event by event (threads, fork, exec, a signal handler),
real programs (python3, perl, gcc) recorded and replayed through every
allocator, every malformed log refused with its byte offset, the importer's
ordering rules on hand-made logs, and the command line."""
import json
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import memalloc_py as ma
from memalloc_py import recording as REC
from memalloc_py import replaying as R
from memalloc_py.cli import main
from memalloc_py.trace import TraceError
from test_c_core import WARN, compiler, run

ROOT = Path(__file__).resolve().parent.parent
RECORD_SRC = ROOT / "csrc" / "record"
SUBJECT_C = ROOT / "tests" / "c" / "record_subject.c"
PAGE = os.sysconf("SC_PAGE_SIZE")
# Every allocator of the registry, each once (aliases name the same ones).
ALLOCATORS = [n for n in ma.ALLOCATORS if n not in ma.ALIASES]


# ----------------------------------------------------------------- the C library

@pytest.mark.parametrize("cc", ["gcc", "clang"])
@pytest.mark.parametrize("opt", ["-O0", "-O2"])  # -O2: the package's own build
def test_recorder_compiles_without_warnings(cc, opt, tmp_path):
    run([compiler(cc), *WARN, opt, "-fPIC", "-shared", "-fvisibility=hidden", "-pthread",
         *map(str, sorted(RECORD_SRC.glob("*.c"))), "-o", str(tmp_path / "rec.so"), "-ldl"])


def test_the_recorder_built_with_ubsan_records_the_known_program(subject, tmp_path):
    """UBSan in the recorder itself, under threads, fork, exec and signals
    (AddressSanitizer cannot run beside an interposer of malloc: it is one)."""
    lib = tmp_path / "rec_ubsan.so"
    run([compiler("gcc"), "-std=c11", "-O1", "-g", "-fsanitize=undefined", "-fno-sanitize-recover=all",
         "-fPIC", "-shared", "-fvisibility=hidden", "-pthread", *map(str, sorted(RECORD_SRC.glob("*.c"))),
         "-o", str(lib), "-ldl"])
    out = tmp_path / "logs"
    out.mkdir()
    env = {**os.environ, "LD_PRELOAD": str(lib), "MEMALLOC_RECORD_DIR": str(out),
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
    for args in ([], ["signals", "20000"]):
        proc = subprocess.run([str(subject), *args], env=env, capture_output=True, text=True)
        assert proc.returncode == 0 and "runtime error" not in proc.stderr, proc.stderr
    procs = REC.processes(out)
    assert [len(p.images) for p in procs] == [1, 1, 2, 1]
    assert own_events(ma.read_trace(out), skip=range(20001, 20200))[:3] == [
        ("malloc", 0, 10001), ("calloc", 1, 7, 10002), ("realloc", 0, 100003)]


def test_the_reader_mirrors_the_format_header():
    text = (RECORD_SRC / "record_format.h").read_text()

    def define(name):
        return re.search(rf"#define {name} (\S+)", text).group(1)

    assert define("MR_MAGIC") == '"memarec"' and REC.MAGIC == b"memarec\0"
    assert int(define("MR_VERSION").rstrip("u")) == REC.VERSION
    assert int(define("MR_BYTE_ORDER").rstrip("u"), 16) == REC.BYTE_ORDER
    assert int(define("MR_CHUNK_MAGIC").rstrip("u"), 16) == REC.CHUNK_MAGIC
    assert REC.CHUNK_MAGIC.to_bytes(4, "little") == b"CHNK"
    assert int(define("MR_SEQ_BITS")) == REC.SEQ_BITS
    kinds = {int(v): k[3:].lower() for k, v in re.findall(r"(MR_[A-Z_]+) = (\d+),", text) if k != "MR_KIND_MAX"}
    assert kinds == REC.KINDS
    # the C header's fields, in order, against the reader's struct format
    fields = re.search(r"struct mr_file_header \{(.*?)\};", text, re.S).group(1)
    types = re.findall(r"^\s*(char|uint32_t|uint64_t) \w+(?:\[8\])?;", fields, re.M)
    assert "".join({"char": "8s", "uint32_t": "I", "uint64_t": "Q"}[t] for t in types) == REC._HEADER.format[1:]


# ----------------------------------------------------------------- the known program

@pytest.fixture(scope="module")
def subject(tmp_path_factory):
    """record_subject.c, built so that the compiler keeps every call
    (gcc removes a malloc whose block is only freed)."""
    exe = tmp_path_factory.mktemp("subject") / "record_subject"
    run([compiler("gcc"), "-O0", "-fno-builtin", "-pthread", str(SUBJECT_C), "-o", str(exe)])
    return exe


@pytest.fixture(scope="module")
def subject_recording(subject, tmp_path_factory):
    out = tmp_path_factory.mktemp("rec") / "subject"
    assert REC.record([str(subject)], out) == 0
    return out


def own_events(trace, low=10001, high=60000, skip=range(0)):
    """The events on the allocations the program made itself (first asked
    for with a size from `low` to `high`, which the C library does not use,
    and not in `skip`), ids renumbered."""
    keep, ids, out = set(), {}, []
    for ev in trace.events():
        kind, ident = ev[0], ev[1]
        if ident not in keep and ident not in ids and kind != "free":
            if low <= ev[-1] < high and ev[-1] not in skip:
                keep.add(ident)
        if ident in keep:
            ids.setdefault(ident, len(ids))
            out.append((kind, ids[ident], *ev[2:]))
    return out


def test_the_main_process_trace_event_by_event(subject_recording):
    t = ma.read_trace(subject_recording)
    main_process = next(p for p in REC.processes(subject_recording) if p.main)
    assert t.meta["pid"] == main_process.pid and t.meta["format"] == "record"
    assert t.meta["name"] == f"record_subject pid {main_process.pid}" and t.meta["threads"] == 3
    assert own_events(t, skip=range(20001, 20200)) == [
        ("malloc", 0, 10001),
        ("calloc", 1, 7, 10002),
        ("realloc", 0, 100003),                # moved: the id is kept
        ("memalign", 2, 64, 10004),            # posix_memalign
        ("memalign", 3, 256, 10240),           # aligned_alloc
        ("memalign", 4, 128, 10006),
        ("memalign", 5, PAGE, 10007),          # valloc
        ("memalign", 6, PAGE, 3 * PAGE),       # pvalloc(10008): whole pages
        ("realloc", 7, 3 * 10009),             # reallocarray(NULL, 3, 10009)
        ("realloc", 7, 0),                     # realloc(h, 0) freed it
        ("free", 1), ("free", 2), ("free", 3), ("free", 4), ("free", 5), ("free", 6),
        ("free", 0),                           # after the threads, the fork and the exec
    ]
    dropped = t.meta["dropped"]
    assert dropped["failed_alloc"] == 1        # malloc(SIZE_MAX / 2)
    assert dropped["free_null"] >= 1           # the program's free(NULL)
    assert "implicit_free" not in dropped and "free_unknown" not in dropped


def test_each_thread_s_events_come_in_its_order_with_its_thread_id(subject_recording):
    t = ma.read_trace(subject_recording)
    for base in (20001, 20101):
        assert own_events(t, base, base + 3) == [("malloc", 0, base), ("free", 0), ("malloc", 1, base + 1),
                                                 ("free", 1), ("malloc", 2, base + 2), ("free", 2)]
    main = next(p for p in REC.processes(subject_recording) if p.main)
    _, rec = REC.read_log(main.images[0].path)
    mallocs = rec[rec["kind"] == 1]
    tids = {base: {int(r["tid"]) for r in mallocs if base <= r["w"][0] < base + 3} for base in (20001, 20101)}
    assert all(len(v) == 1 for v in tids.values())
    assert len(tids[20001] | tids[20101] | {main.pid}) == 3   # two threads, neither the main one
    assert (rec["seq"][1:] > rec["seq"][:-1]).all()           # in sequence order


def test_a_fork_child_logs_from_the_fork_and_an_exec_joins_its_images(subject_recording):
    procs = REC.processes(subject_recording)
    assert len(procs) == 3 and sum(p.main for p in procs) == 1
    main, forked, execed = procs
    assert main.main and forked.ppid == main.pid and execed.ppid == main.pid
    assert [len(p.images) for p in procs] == [1, 1, 2]
    assert execed.command[-1] == "exec" and execed.images[0].command[-1] != "exec"
    t = ma.read_trace(subject_recording, pid=forked.pid)
    assert own_events(t) == [("malloc", 0, 40001), ("free", 0)]
    assert t.meta["dropped"]["free_unknown"] >= 1    # its parent's block
    t = ma.read_trace(subject_recording, pid=execed.pid)
    assert own_events(t) == [("malloc", 0, 50001), ("free", 0),   # freed by the exec
                             ("malloc", 1, 30001), ("free", 1), ("malloc", 2, 30002)]
    assert t.meta["dropped"]["freed_at_exec"] >= 1 and t.meta["images"] == 2
    # one log alone is that image alone
    alone = ma.read_trace(execed.images[1].path)
    assert own_events(alone) == [("malloc", 0, 30001), ("free", 0), ("malloc", 1, 30002)]


def test_a_signal_handler_interrupting_the_recorder_is_logged_or_forwarded(subject, tmp_path):
    """SIGALRM every 200 us while the program allocates; the handler calls
    free(NULL).  The log stays valid, every event of the main loop is there,
    and each handler call is logged once or (when it interrupted the C
    library's allocator itself) forwarded unlogged, never twice."""
    out = tmp_path / "sig"
    n = 100_000
    proc = subprocess.run([sys.executable, "-m", "memalloc_py", "record", "-o", str(out), "--",
                           str(subject), "signals", str(n)], capture_output=True, text=True,
                          cwd=tmp_path)  # not the checkout, whose source folder shadows the install
    assert proc.returncode == 0, proc.stderr
    handled = int(proc.stdout)
    assert handled > 10
    t = ma.read_trace(out)
    mine = own_events(t, 10001, 10008)
    assert len(mine) == 2 * n
    assert mine[:4] == [("malloc", 0, 10001), ("free", 0), ("malloc", 1, 10002), ("free", 1)]
    assert 1 <= t.meta["dropped"]["free_null"] <= handled


def test_the_recorded_program_replays_from_the_command_line(subject_recording, capsys):
    assert main(["compare", "--trace", str(subject_recording), "--allocators", "buddy,best-ao",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "trace: record_subject pid" in out
    rows = [ln.split() for ln in out.splitlines() if ln.startswith(("buddy ", "best-ao "))]
    assert [r[2] for r in rows] == ["0", "0"]   # the failures column


# ----------------------------------------------------------------- real programs

PYTHON_WORKLOAD = """
import json, re
data = {str(i): [i] * (i % 50) for i in range(3000)}
text = json.dumps(data)
assert json.loads(text) == data
words = re.findall(r"[0-9]+", text)
print(len(words), len("".join(sorted(set(words)))))
"""
PERL_WORKLOAD = """
my %h; for my $i (1..20000) { $h{"k$i"} = "v" x ($i % 300); }
my @k = sort keys %h; my $s = join(",", map { length $h{$_} } @k);
print scalar(@k), " ", length($s), "\\n";
"""
C_FILE = """
#include <stdio.h>
struct point { int x, y; };
static int dot(struct point a, struct point b) { return a.x * b.x + a.y * b.y; }
int main(void) {
    struct point p[64];
    for (int i = 0; i < 64; i++) p[i] = (struct point){ i, 64 - i };
    long s = 0;
    for (int i = 0; i < 64; i++) for (int j = 0; j < 64; j++) s += dot(p[i], p[j]);
    printf("%ld\\n", s);
    return 0;
}
"""


@pytest.fixture(scope="module", params=["python3", "perl", "gcc"])
def real_recording(request, tmp_path_factory):
    """A real program's recording: (name, folder, {pid: trace})."""
    where = tmp_path_factory.mktemp(request.param)
    if request.param == "python3":
        command = [sys.executable, "-c", PYTHON_WORKLOAD]
    elif request.param == "perl":
        command = [compiler("perl"), "-e", PERL_WORKLOAD]
    else:
        (where / "dot.c").write_text(C_FILE)
        command = [compiler("gcc"), "-O2", "-c", str(where / "dot.c"), "-o", str(where / "dot.o")]
    out = where / "recording"
    assert REC.record(command, out) == 0
    traces = {p.pid: ma.read_trace(out, pid=p.pid) for p in REC.processes(out)}
    return request.param, out, traces


def test_real_programs_are_recorded_whole(real_recording):
    name, out, traces = real_recording
    procs = REC.processes(out)
    main = next(p for p in procs if p.main)
    assert main.program.startswith(name if name != "python3" else "python")
    big = max(traces.values(), key=len)
    assert len(big) > 2000 and big.summary()["max_live_blocks"] > 100
    if name == "gcc":   # the driver starts the compiler proper and the assembler
        assert {"cc1", "as"} <= {p.program for p in procs}


@pytest.mark.parametrize("allocator", ALLOCATORS)
def test_real_program_traces_replay_without_failures(real_recording, allocator):
    _, _, traces = real_recording
    options = R._options_for(allocator, {"arena_size": 1 << 32}, {})
    for pid, t in traces.items():
        result = R.replay(t, allocator, sample_every=0, progress=False, **options)
        assert result.summary["failures"] == 0, (pid, t.meta["name"])
        assert result.summary["events"] == len(t)
        assert result.summary["peak_live"] == t.summary()["max_live_bytes"]


# ----------------------------------------------------------------- hand-made logs

def header(pid=100, ppid=1, image=0, ticks=5000, start_ns=10, cmd=(b"prog",), exe=b"/bin/prog",
           **override):
    cmd_bytes = b"".join(c + b"\0" for c in cmd)
    f = dict(magic=REC.MAGIC, version=1, header_bytes=0, record_bytes=48, order=REC.BYTE_ORDER, pid=pid,
             ppid=ppid, image=image, page=4096, ticks=ticks, start_ns=start_ns, first_seq=0,
             cmd=len(cmd_bytes), exe=len(exe))
    f["header_bytes"] = (REC._HEADER.size + len(cmd_bytes) + len(exe) + 7) // 8 * 8
    f.update(override)
    raw = REC._HEADER.pack(*f.values()) + cmd_bytes + exe
    return raw + b"\0" * (-len(raw) % 8)


def chunk(tid, *records, magic=REC.CHUNK_MAGIC, count=None, reserved=0):
    """records: (seq, kind, w0, ...)"""
    body = b"".join(struct.pack("<6Q", seq | kind << 56, *(list(w) + [0] * (5 - len(w))))
                    for seq, kind, *w in records)
    return struct.pack("<4I", magic, tid, len(records) if count is None else count, reserved) + body


MALLOC, CALLOC, REALLOC, REALLOCARRAY, FREE = 1, 2, 3, 4, 5


def write_log(folder, data, name="100.0.mrec"):
    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes(data)
    return folder / name


def test_threads_interleave_by_sequence_number_not_by_chunk(tmp_path):
    # thread 2's chunk is written first, but thread 1 freed 0x100 before thread 2 got it again
    data = header() + chunk(2, (3, MALLOC, 64, 0x100), (4, FREE, 0x100)) + \
        chunk(1, (1, MALLOC, 32, 0x100), (2, FREE, 0x100))
    t = ma.read_trace(write_log(tmp_path, data))
    assert list(t.events()) == [("malloc", 0, 32), ("free", 0), ("malloc", 1, 64), ("free", 1)]
    assert t.meta["dropped"] == {} and t.meta["threads"] == 2


def test_a_realloc_releases_its_block_before_it_returns(tmp_path):
    """Thread 1 reallocs 0x100 to 0x200 (release number 2, its own 4);
    meanwhile thread 2 gets 0x100 (3): a new id, with no free inserted."""
    data = header() + chunk(1, (1, MALLOC, 16, 0x100), (4, REALLOC, 0x100, 64, 0x200, 2), (6, FREE, 0x200)) + \
        chunk(2, (3, MALLOC, 8, 0x100), (5, FREE, 0x100))
    t = ma.read_trace(write_log(tmp_path, data))
    assert list(t.events()) == [("malloc", 0, 16), ("malloc", 1, 8), ("realloc", 0, 64), ("free", 1),
                                ("free", 0)]
    assert t.meta["dropped"] == {}


def test_failed_calls_and_null_frees_count_as_the_other_importers_count_them(tmp_path):
    data = header() + chunk(1,
                            (1, MALLOC, 10, 0),                      # failed
                            (2, FREE, 0),                            # free(NULL)
                            (3, MALLOC, 10, 0x100),
                            (5, REALLOC, 0x100, 1 << 40, 0, 4),      # failed: the block stays
                            (6, REALLOCARRAY, 0, 1 << 33, 1 << 33, 0, 0),  # overflow: failed
                            (7, 6, 64, 10, 0, 12),                   # posix_memalign failed (ENOMEM)
                            (8, FREE, 0x300),                        # never handed out
                            (10, REALLOC, 0x400, 20, 0x500, 9),      # of an unknown block
                            (12, REALLOC, 0x100, 0, 0, 11))          # realloc(p, 0): freed
    t = ma.read_trace(write_log(tmp_path, data))
    assert list(t.events()) == [("malloc", 0, 10), ("malloc", 1, 20), ("realloc", 0, 0)]
    assert t.meta["dropped"] == {"failed_alloc": 3, "failed_realloc": 1, "free_null": 1,
                                 "free_unknown": 1, "realloc_unknown": 1}


def test_an_exec_frees_what_the_image_left_and_a_reused_pid_is_another_process(tmp_path):
    folder = tmp_path / "rec"
    write_log(folder, header(pid=100, ppid=1, image=0, start_ns=1) + chunk(100, (1, MALLOC, 8, 0x10)),
              "100.0.mrec")
    write_log(folder, header(pid=100, ppid=1, image=1, start_ns=2, cmd=(b"next", b"-x")) +
              chunk(100, (1, MALLOC, 9, 0x10), (2, FREE, 0x10)), "100.1.mrec")
    write_log(folder, header(pid=101, ppid=100, ticks=6000, start_ns=3) + chunk(7, (1, MALLOC, 5, 0x20)),
              "101.0.mrec")
    t = ma.read_trace(folder)
    assert list(t.events()) == [("malloc", 0, 8), ("free", 0), ("malloc", 1, 9), ("free", 1)]
    assert t.meta["dropped"] == {"freed_at_exec": 1}
    assert t.meta["command"] == ["next", "-x"] and t.meta["images"] == 2
    # the same pid started again later (another start time): another process
    write_log(folder, header(pid=100, ppid=101, image=2, ticks=7000, start_ns=4) + chunk(3, (1, MALLOC, 4, 0x30)),
              "100.2.mrec")
    procs = REC.processes(folder)
    assert [(p.pid, len(p.images), p.main) for p in procs] == [(100, 2, True), (101, 1, False), (100, 1, False)]
    with pytest.raises(TraceError, match=r"pid 100 names 2 processes .*100\.0\.mrec.*100\.2\.mrec"):
        ma.read_trace(folder, pid=100)
    assert list(ma.read_trace(folder / "100.2.mrec").events()) == [("malloc", 0, 4)]
    assert list(ma.read_trace(folder, pid=101).events()) == [("malloc", 0, 5)]


@pytest.mark.parametrize("make, offset, message", [
    (lambda h, c: h[:40], 0, "the file header is truncated (40 of 72 bytes)"),
    (lambda h, c: b"MZ" + h[2:] + c, 0, "not a memalloc recording"),
    (lambda h, c: header(version=2) + c, 8, "format version 2; this reader knows version 1"),
    (lambda h, c: header(record_bytes=40) + c, 16, "records of 40 bytes"),
    (lambda h, c: header(order=0x04030201) + c, 20, "recorded with the other byte order (0x04030201)"),
    (lambda h, c: header(header_bytes=200) + c, 12, "header size 200 does not fit its strings"),
    (lambda h, c: header()[:-8], 0, "the file header is truncated"),
    (lambda h, c: h + c[:10], None, "a chunk header is truncated (10 of 16 bytes"),
    (lambda h, c: h + b"XXXX" + c[4:], None, "expected a chunk header ('CHNK'), found b'XXXX'"),
    (lambda h, c: h + chunk(1), None, "a chunk header with no records"),
    (lambda h, c: h + chunk(1, (1, MALLOC, 1, 16), reserved=7), None, "a chunk header with reserved field 7, not 0"),
    (lambda h, c: h + c[:-20], "+64", "record 2 of the chunk at byte {h} is truncated"),
    (lambda h, c: h + chunk(1, (1, MALLOC, 1, 16), (2, 77, 0)), "+64", "a record of unknown kind 77"),
    (lambda h, c: h + chunk(1, (1, MALLOC, 1, 16), (0, FREE, 16)), "+64", "sequence number 0"),
    (lambda h, c: h + chunk(1, (1, MALLOC, 1, 16)) + chunk(2, (1, FREE, 16)), "+80",
     "sequence number 1 is used twice (also by the record at byte {h16})"),
    (lambda h, c: h + chunk(1, (1, MALLOC, 1, 16), (2, REALLOC, 16, 8, 32, 3)), "+64",
     "a realloc whose release number 3 is not between 1 and its own number 2"),
    (lambda h, c: h + chunk(1, (1, REALLOCARRAY, 0, 1 << 40, 1 << 40, 16, 0)), "+16",
     "a reallocarray of 1099511627776 x 1099511627776 bytes (beyond 2**64) returned a block"),
])
def test_a_malformed_log_names_the_byte_where_it_goes_wrong(tmp_path, make, offset, message):
    h = header()
    c = chunk(1, (1, MALLOC, 1, 16), (2, FREE, 16))
    path = write_log(tmp_path, make(h, c))
    if offset is None:
        offset = len(h)
    elif isinstance(offset, str):
        offset = len(h) + int(offset)
    expected = f"{path}: byte {offset}: " + message.format(h=len(h), h16=len(h) + 16)
    with pytest.raises(TraceError) as e:
        ma.read_trace(path)
    assert str(e.value).startswith(expected), str(e.value)


def test_recordings_that_cannot_be_read_as_asked(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(TraceError, match="no recorder logs"):
        ma.read_trace(empty)
    log = write_log(tmp_path / "rec", header() + chunk(1, (1, MALLOC, 4, 16)))
    with pytest.raises(TraceError, match=r"no process 7 in this recording; it has 100"):
        ma.read_trace(log.parent, pid=7)
    with pytest.raises(TraceError, match="this log is of pid 100, not 7"):
        ma.read_trace(log, pid=7)
    with pytest.raises(TypeError, match="pid must be a process id"):
        REC.read_recording(log, pid="100")
    aosp = tmp_path / "a.txt"
    aosp.write_text("1: malloc 0x10 5\n")
    with pytest.raises(ValueError, match="pid= applies to recordings"):
        ma.read_trace(aosp, pid=100)
    with pytest.raises(TraceError, match="no such file"):
        ma.read_trace(tmp_path / "missing.mrec")


# ----------------------------------------------------------------- the command line

def test_record_runs_the_command_and_returns_its_status(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["record", "-o", str(out), "--", "sh", "-c", "exit 3"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("memalloc record: sh exited with status 3; 1 process, ")
    assert f"in {out} (main: pid " in err


@pytest.mark.parametrize("argv, message", [
    (["record", "-o", "{tmp}/x"], "record needs a command"),
    (["record", "-o", "{tmp}/x", "--"], "record needs a command"),
    (["record", "--", "true"], "the following arguments are required: -o/--output"),
    (["record", "-o", "{tmp}/full", "--", "true"], "exists and is not an empty directory"),
    (["record", "-o", "{tmp}/x", "--", "no-such-program-here"], "no-such-program-here: command not found"),
    (["compare", "--pid", "7"], "--pid picks a process of a recording: give the recording with --trace"),
])
def test_record_refuses_bad_command_lines_in_one_line(tmp_path, capsys, argv, message):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("")
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("memalloc: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "x").exists()


def test_a_program_that_ignores_ld_preload_is_reported(tmp_path, capsys):
    src = tmp_path / "static.c"
    src.write_text("#include <stdlib.h>\nint main(void) { free(malloc(10)); return 0; }\n")
    exe = tmp_path / "static"
    run([compiler("gcc"), "-static", str(src), "-o", str(exe)])
    assert main(["record", "-o", str(tmp_path / "r"), "--", str(exe)]) == 2
    assert "wrote no log: it did not load the recorder" in capsys.readouterr().err


def test_preloaded_without_a_directory_the_recorder_only_forwards(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MEMALLOC_RECORD_DIR"}
    env["LD_PRELOAD"] = str(REC.library_path())
    proc = subprocess.run(["sh", "-c", "echo hi | cat"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "hi\n", "")
    assert list(tmp_path.iterdir()) == []


def test_trace_info_lists_the_processes_and_shows_the_main_one(subject_recording, capsys):
    procs = REC.processes(subject_recording)
    assert main(["trace", "info", str(subject_recording)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "3 processes recorded:"
    assert lines[1].split() == ["pid", "parent", "images", "threads", "events", "command"]
    assert lines[2].split()[0] == str(procs[0].pid) and lines[2].endswith("(main)")
    assert lines[5].startswith(f"trace record_subject pid {procs[0].pid}: ")
    assert main(["trace", "info", str(subject_recording), "--pid", str(procs[2].pid), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["name"] == f"record_subject pid {procs[2].pid}"
    assert [(p["pid"], p["images"], p["main"]) for p in info["processes"]] == \
        [(p.pid, len(p.images), p.main) for p in procs]
    assert info["dropped"]["freed_at_exec"] >= 1
    assert main(["trace", "info", str(subject_recording), "--pid", "1"]) == 2
    assert "no process 1 in this recording" in capsys.readouterr().err


def test_a_recording_converts_to_the_native_format(subject_recording, tmp_path, capsys):
    out = tmp_path / "main.npz"
    assert main(["trace", "convert", str(subject_recording), str(out)]) == 0
    assert ma.Trace.load(out) == ma.read_trace(subject_recording)


def test_the_recorder_library_ships_with_the_package():
    lib = REC.library_path()
    assert lib.parent == Path(REC.__file__).resolve().parent / "lib"
    symbols = subprocess.run(["nm", "-D", "--defined-only", str(lib)], capture_output=True, text=True,
                             check=True).stdout.split()
    wanted = {"malloc", "free", "calloc", "realloc", "reallocarray", "posix_memalign", "aligned_alloc",
              "memalign", "valloc", "pvalloc", "execve", "execv", "execvp", "execvpe", "execl", "execle",
              "execlp", "fexecve", "_exit", "_Exit"}
    assert wanted <= set(symbols)
