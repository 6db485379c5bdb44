"""Importers: hand-written files in every format, every malformed-line case,
and the two real AOSP traces."""
import os
import subprocess
import zipfile
from pathlib import Path

import pytest

import memalloc_py as ma
from memalloc_py import replaying as R
from memalloc_py.importers import (BUNDLED_TRACES, bundled_trace, read_aosp, read_mtrace,
                                   read_rep, read_trace)
from memalloc_py.trace import TraceError

AOSP = """\
186: malloc 0xb6027400 1024
186: calloc 0xb6030000 4 16
187: memalign 0xb6040000 64 100
186: realloc 0xb6050000 0xb6027400 2048
186: realloc 0xb6060000 0x0 10
186: free 0xb6030000
186: free 0x0
187: free 0xdeadbee0
186: malloc 0xb6030000 8
186: malloc 0xb6030000 9
186: realloc 0x0 0xb6060000 0
187: thread_done 0x0
"""


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_aosp_text(tmp_path):
    t = read_aosp(write(tmp_path, "app.txt", AOSP))
    assert list(t.events()) == [
        ("malloc", 0, 1024), ("calloc", 1, 4, 16), ("memalign", 2, 64, 100),
        ("realloc", 0, 2048),          # same id, moved
        ("realloc", 3, 10),            # realloc(NULL, 10) starts a lifetime
        ("free", 1),
        ("malloc", 4, 8),              # address reused after its free: a new id
        ("free", 4), ("malloc", 5, 9),  # live address handed out again: implicit free
        ("realloc", 3, 0),             # realloc(p, 0) frees
    ]
    assert t.meta["dropped"] == {"free_null": 1, "free_unknown": 1, "implicit_free": 1,
                                 "thread_done": 1}
    assert t.meta["threads"] == 2 and t.meta["format"] == "aosp"


def test_aosp_zip_is_read_directly(tmp_path):
    z = tmp_path / "app.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("app.txt", AOSP)
    assert read_aosp(z) == read_aosp(write(tmp_path, "app.txt", AOSP))
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as f:
        f.writestr("a.txt", AOSP)
        f.writestr("b.txt", AOSP)
    with pytest.raises(TraceError, match="expected one file in the zip"):
        read_aosp(two)


@pytest.mark.parametrize("line, message", [
    ("186 malloc 0x10 5", "expected '<tid>: <action> <pointer>"),
    ("186: grow 0x10 5", "unknown action 'grow'"),
    ("186: malloc 0x10", "malloc takes 2 fields, got 1"),
    ("186: malloc 0x10 5 6", "malloc takes 2 fields, got 3"),
    ("186: malloc zz 5", "pointer 'zz' is not a number"),
    ("186: malloc 0x10 five", "size 'five' is not a number"),
    ("186: calloc 0x10 x 5", "count 'x' is not a number"),
    ("186: memalign 0x10 48 5", "alignment 48 is not a power of two"),
    ("186: realloc 0x10 5", "realloc takes 3 fields"),
    ("186: free", "free takes 1 fields, got 0"),
    ("186: malloc 0x10 -5", "size '-5' is out of range"),
])
def test_aosp_malformed_lines_name_file_and_line(tmp_path, line, message):
    p = write(tmp_path, "bad.txt", "1: malloc 0x20 4\n\n" + line + "\n")
    with pytest.raises(TraceError, match=message) as e:
        read_aosp(p)
    assert f"{p}, line 3" in str(e.value)


MTRACE = """\
= Start
@ ./prog:[0x400624] + 0x1c6e460 0x64
@ ./prog:(main+0x1a)[0x400632] + 0x1c6e4d0 0x10
@ ./prog:[0x40063e] < 0x1c6e4d0
@ ./prog:[0x40063e] > 0x1c6e500 0x20
@ ./prog:[0x400650] ! 0x1c6e500 0x100000000
@ [0x400700] - 0x1c6e460
@ [0x400700] - 0x9999
= End
"""


def test_mtrace(tmp_path):
    t = read_mtrace(write(tmp_path, "log.mtrace", MTRACE))
    assert list(t.events()) == [("malloc", 0, 100), ("malloc", 1, 16), ("realloc", 1, 32), ("free", 0)]
    assert t.meta["dropped"] == {"failed_realloc": 1, "free_unknown": 1}


def test_mtrace_null_pointers_as_glibc_logs_them(tmp_path):
    """glibc prints NULL as '(nil)': a failed malloc/calloc/memalign or
    realloc(NULL, n) is '+ (nil) size', a failed realloc(NULL, n) of older
    glibc '! (nil) size', free(NULL) (when logged) '- (nil)'."""
    text = """\
= Start
@ ./prog:[0x11a0] + 0x4a0 0x64
@ ./prog:[0x11b6] + (nil) 0x7fffffffffffffff
@ ./prog:[0x11c0] ! (nil) 0x7fffffffffffffff
@ ./prog:[0x11c4] ! 0x4a0 0x7fffffffffffffff
@ ./prog:[0x11c8] - (nil)
@ ./prog:[0x11d0] < (nil)
@ ./prog:[0x11d0] > 0x510 0x10
@ ./prog:[0x11d4] + 0x0 0x8
@ ./prog:[0x11e0] - 0x4a0
@ ./prog:[0x11f0] < 0x510
@ ./prog:[0x11f0] > (nil) 0x20
@ ./prog:[0x11f8] < 0x510
@ ./prog:[0x11f8] > (nil) 0x0
= End
"""
    t = read_mtrace(write(tmp_path, "nil.mtrace", text))
    assert list(t.events()) == [("malloc", 0, 100), ("realloc", 1, 16), ("free", 0), ("realloc", 1, 0)]
    assert t.meta["dropped"] == {"failed_alloc": 3, "failed_realloc": 2, "free_null": 1}
    with pytest.raises(TraceError, match=r"line 1: size '\(nil\)' is not a number"):
        read_mtrace(write(tmp_path, "bad.mtrace", "@ c + 0x10 (nil)\n"))


MTRACE_PROGRAM = r"""
#include <mcheck.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int main(void)
{
    volatile size_t huge = PTRDIFF_MAX; /* no allocator can return that much */
    mtrace();
    char *a = malloc(100);
    char *b = calloc(4, 25);
    char *c = malloc(7);
    a = realloc(a, 300);
    void *failed = malloc(huge);   /* returns NULL */
    void *kept = realloc(b, huge); /* returns NULL; b stays */
    free(failed);                  /* free(NULL) */
    free(kept);
    free(c);
    free(b);
    c = realloc(NULL, 40);
    c = realloc(c, 0);             /* frees c */
    free(a);
    muntrace();
    return failed == NULL && kept == NULL ? 0 : 3;
}
"""


def glibc_mtrace_log(tmp_path: Path, source: str) -> Path:
    """Compile and run a C program under glibc's mtrace; the log's path."""
    src = tmp_path / "prog.c"
    src.write_text(source)
    exe = tmp_path / "prog"
    subprocess.run(["gcc", "-O0", "-o", str(exe), str(src)], check=True, capture_output=True)
    log = tmp_path / "prog.mtrace"
    env = dict(os.environ, MALLOC_TRACE=str(log))
    # glibc >= 2.34 moved mtrace into libc_malloc_debug.so, which must be preloaded
    debug = subprocess.run(["gcc", "-print-file-name=libc_malloc_debug.so.0"], capture_output=True,
                           text=True, check=True).stdout.strip()
    if os.path.isabs(debug) and os.path.exists(debug):
        env["LD_PRELOAD"] = debug
    proc = subprocess.run([str(exe)], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert log.read_text().startswith("= Start"), log.read_text()
    return log


def test_a_real_glibc_mtrace_log(tmp_path):
    log = glibc_mtrace_log(tmp_path, MTRACE_PROGRAM)
    assert "(nil)" in log.read_text()  # the failed malloc
    t = read_mtrace(log)
    assert list(t.events()) == [
        ("malloc", 0, 100), ("malloc", 1, 100), ("malloc", 2, 7),  # calloc logs count * size
        ("realloc", 0, 300),
        ("free", 2), ("free", 1),
        ("malloc", 3, 40),                                         # realloc(NULL, 40) logs '+'
        ("free", 3),                                               # realloc(c, 0) logs '-'
        ("free", 0),
    ]
    assert t.meta["dropped"] == {"failed_alloc": 1, "failed_realloc": 1}
    assert R.replay(t, "best-ao").summary["peak_live"] == t.summary()["max_live_bytes"] == 407


@pytest.mark.parametrize("text, line, message", [
    ("# comment\n", 1, "expected a line starting with '@' or '='"),
    ("@ caller * 0x10 0x4\n", 1, r"no operation \(\+ - < > !\)"),
    ("@ caller + 0x10\n", 1, "'\\+' takes 2 fields, got 1"),
    ("@ caller - 0x10 0x4\n", 1, "'-' takes 1 fields, got 2"),
    ("@ caller + 0xzz 0x4\n", 1, "address '0xzz' is not a number"),
    ("@ caller + 0x10 0x4\n@ c > 0x20 0x8\n", 2, "'>' without the '<' line"),
    ("@ caller + 0x10 0x4\n@ c < 0x10\n@ c - 0x10\n", 3, "the realloc begun at line 2 has no '>'"),
    ("@ caller + 0x10 0x4\n@ c < 0x10\n", 2, "the realloc has no '>' line"),
])
def test_mtrace_malformed_lines(tmp_path, text, line, message):
    p = write(tmp_path, "bad.mtrace", text)
    with pytest.raises(TraceError, match=message) as e:
        read_mtrace(p)
    assert f"line {line}" in str(e.value) and str(p) in str(e.value)


def test_a_realloc_to_0_that_returns_a_block_keeps_that_block_live(tmp_path):
    """realloc(NULL, 0) and realloc(p, 0) may return a block (malloc(0)); it
    is live and may be freed later, which made the imported trace invalid."""
    text = ("1: realloc 0x60 0x0 0\n1: malloc 0x80 5\n1: realloc 0x90 0x80 0\n"
            "1: free 0x60\n1: free 0x90\n")
    t = read_aosp(write(tmp_path, "r0.txt", text))
    assert list(t.events()) == [("malloc", 0, 0), ("malloc", 1, 5), ("free", 1), ("malloc", 2, 0),
                                ("free", 0), ("free", 2)]
    assert t.summary()["max_live_blocks"] == 2
    rep = read_rep(write(tmp_path, "r0.rep", "1\n2\n5\n1\na 0 5\nr 0 0\nr 1 0\nf 0\nf 1\n"))
    assert list(rep.events()) == [("malloc", 0, 5), ("free", 0), ("malloc", 1, 0), ("malloc", 2, 0),
                                  ("free", 1), ("free", 2)]


def test_an_aosp_calloc_whose_product_overflows_is_an_impossible_request(tmp_path):
    """issue #14: 'calloc 0x10 4294967296 4294967296' was counted as 0 bytes."""
    t = read_aosp(write(tmp_path, "calloc.txt", "1: calloc 0x10 4294967296 4294967296\n"
                                                "1: malloc 0x20 16\n1: free 0x10\n"))
    s = t.summary()
    assert (s["impossible_requests"], s["total_allocated_bytes"], s["max_live_bytes"]) == (1, 16, 16)
    assert (s["live_bytes_at_end"], s["live_blocks_at_end"]) == (16, 1)
    assert "impossible requests (over 2**62 bytes, out of memory in any allocator): 1" in t.describe()


def stored_zip(tmp_path, name, text):
    z = tmp_path / name
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_STORED) as f:
        f.writestr("trace.txt", text)
    return z


@pytest.mark.parametrize("reader, text", [(read_aosp, AOSP), (read_mtrace, MTRACE)])
def test_a_zip_with_a_bad_crc_is_a_trace_error(tmp_path, reader, text):
    z = stored_zip(tmp_path, "damaged.zip", text)
    raw = z.read_bytes()
    digit = raw.index(b"100") + 2  # one digit of a size changes: every line still parses
    z.write_bytes(raw[:digit] + b"1" + raw[digit + 1:])
    with pytest.raises(TraceError, match="CRC") as e:
        reader(z)
    assert str(e.value).startswith(f"{z}")
    with pytest.raises(TraceError, match="CRC"):
        read_trace(z, reader.__name__[5:])


@pytest.mark.parametrize("reader, text", [(read_aosp, AOSP), (read_mtrace, MTRACE)])
def test_a_zip_with_an_unknown_compression_method_is_a_trace_error(tmp_path, reader, text):
    z = stored_zip(tmp_path, "method.zip", text)
    raw = bytearray(z.read_bytes())
    for sig, field in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        at = raw.index(sig)
        raw[at + field:at + field + 2] = (99).to_bytes(2, "little")
    z.write_bytes(bytes(raw))
    with pytest.raises(TraceError, match="compression method") as e:
        reader(z)
    assert str(e.value).startswith(f"{z}")


def test_a_zip_with_a_damaged_member_header_is_a_trace_error(tmp_path):
    z = stored_zip(tmp_path, "header.zip", AOSP)
    raw = bytearray(z.read_bytes())
    raw[0:4] = b"XXXX"  # the member's local header signature
    z.write_bytes(bytes(raw))
    with pytest.raises(TraceError, match="cannot read the zip") as e:
        read_aosp(z)
    assert str(e.value).startswith(f"{z}")


REP = """\
20000
3
6
1
a 0 512
a 1 128
r 0 640
f 1
a 2 16
f 0
"""


def test_rep(tmp_path):
    t = read_rep(write(tmp_path, "short.rep", REP))
    assert list(t.events()) == [("malloc", 0, 512), ("malloc", 1, 128), ("realloc", 0, 640),
                                ("free", 1), ("malloc", 2, 16), ("free", 0)]
    assert t.meta["suggested_heap"] == 20000 and t.meta["weight"] == 1


@pytest.mark.parametrize("text, message", [
    ("20000\n3\n", "the header needs four lines, found 2"),
    ("20000 1\n3\n1\n1\na 0 5\n", "line 1: header line 1 must hold one number"),
    ("1\n3\n2\n1\na 0 5\n", "declares 2 operations, the file has 1"),
    ("1\n3\n1\n1\nx 0 5\n", "line 5: unknown operation 'x'"),
    ("1\n3\n1\n1\na 0\n", "line 5: 'a' takes 2 fields, got 1"),
    ("1\n3\n1\n1\na 7 5\n", "line 5: id 7 is not below the 3 ids"),
    ("1\n3\n1\n1\na zero 5\n", "line 5: id 'zero' is not a number"),
])
def test_rep_malformed(tmp_path, text, message):
    p = write(tmp_path, "bad.rep", text)
    with pytest.raises(TraceError, match=message):
        read_rep(p)


def test_read_trace_by_name_and_format(tmp_path):
    p = write(tmp_path, "x.rep", REP)
    assert read_trace(p) == read_rep(p)
    n = tmp_path / "x.npz"
    read_rep(p).save(n)
    assert read_trace(n) == read_rep(p)
    assert read_trace(write(tmp_path, "x.txt", AOSP), "aosp") == read_aosp(tmp_path / "x.txt")
    with pytest.raises(TraceError, match="no such file"):
        read_trace(tmp_path / "missing.txt")
    with pytest.raises(TraceError, match="unknown trace format"):
        read_trace(p, "csv")
    with pytest.raises(TraceError, match="no bundled trace"):
        read_trace("aosp:nope")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BUNDLED_TRACES))
def test_real_aosp_traces_import_and_replay_without_failures(name):
    t = bundled_trace(name)
    expected = {"surfaceflinger": (2_452_725, 2_063_697), "systemui": (770_279, 10_441_709)}[name]
    s = t.summary()
    assert (len(t), s["max_live_bytes"]) == expected
    assert s["dropped"].get("free_unknown", 0) == 0
    for alloc in ("buddy", "best-ao"):
        res = R.replay(t, alloc, arena_size=1 << 32, sample_every=10_000)
        summary = res.summary
        assert summary["failures"] == 0 and summary["events"] == len(t)
        assert summary["peak_live"] == s["max_live_bytes"]
        assert summary["jw4"] > 0
    with ma.create("best-ao", arena_size=1 << 32) as a:
        R.replay(t, a, sample_every=0)
        a.check()  # the heap after 2.4 million real events is consistent
