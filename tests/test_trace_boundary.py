"""What may reach the C core through a Trace: read-only columns, the checks
at the C boundary, and ``Trace.load`` on malformed files (every one a
TraceError naming the file, with memory bounded by what the file holds)."""
import json
import re
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

import memalloc_py as ma
from memalloc_py import replaying as R
from memalloc_py.trace import FREE, MALLOC, Trace, TraceError


def run_python(code: str) -> subprocess.CompletedProcess:
    """Run code in a fresh interpreter importing this memalloc_py (a crash
    there fails the test instead of killing pytest)."""
    where = str(Path(ma.__file__).resolve().parent.parent)  # first on sys.path, as the cwd
    env = dict(os.environ, PYTHONPATH=where)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=env, cwd=where, timeout=300)


# ------------------------------------------------------------ read-only columns

COLUMNS = ("op", "id", "size", "arg")


def small() -> Trace:
    return Trace.from_events([("malloc", "a", 10), ("calloc", "b", 2, 3), ("free", "a"),
                              ("memalign", "c", 64, 5), ("free", "b"), ("free", "c")])


@pytest.mark.parametrize("name", COLUMNS + ("n_ids",))
def test_assigning_a_column_is_refused_and_says_how_to_build_a_trace(name):
    t = small()
    before = getattr(t, name)
    with pytest.raises(AttributeError, match=r"read-only.*Trace\(op, id, size, arg, n_ids="):
        setattr(t, name, np.zeros(len(t), dtype="u8"))
    after = getattr(t, name)
    assert after is before or np.array_equal(after, before)


@pytest.mark.parametrize("name", COLUMNS)
def test_columns_cannot_be_changed_in_place(name):
    t = small()
    col = getattr(t, name)
    assert not col.flags.writeable and col.flags.c_contiguous
    assert col.dtype == {"op": "u1", "id": "u4", "size": "u8", "arg": "u8"}[name]
    with pytest.raises(ValueError, match="read-only"):
        col[0] = 1
    # neither the exposed array nor anything it is a view of can be made writable
    arr = col
    while isinstance(arr, np.ndarray):
        with pytest.raises(ValueError, match="WRITEABLE"):
            arr.setflags(write=True)
        arr = arr.base
    assert list(t.events()) == list(small().events())


def test_the_callers_arrays_are_copied():
    op = np.array([MALLOC, FREE], dtype="u1")
    ids = np.array([0, 0], dtype="u4")
    size = np.array([10, 0], dtype="u8")
    t = Trace(op, ids, size)
    op[1], ids[1], size[0] = MALLOC, 7, 1 << 63
    assert list(t.events()) == [("malloc", 0, 10), ("free", 0)]


def test_traces_built_every_way_have_read_only_columns(tmp_path):
    w = ma.workloads.steady_state(1000, live=10, seed=1)
    t = small()
    t.save(tmp_path / "t.npz")
    for u in (w, w[100:900], w + t, Trace.load(tmp_path / "t.npz"),
              ma.workloads.random_lifetimes(500, seed=2), ma.workloads.peaks(5, per_peak=100, seed=3)):
        for name in COLUMNS:
            assert not getattr(u, name).flags.writeable
        u.validate()


def test_the_reported_crash_and_silent_overread_cannot_happen():
    """issue #14: assigning a u1 size column segfaulted the replay; a 1-entry
    column was read past its end (peak_live 97).  Both are refused now, and
    replay still works on the untouched trace."""
    proc = run_python("""
        import numpy as np
        import memalloc_py as ma
        t = ma.workloads.steady_state(2_000_000, live=1000, seed=1)
        try:
            t.size = t.size.astype('u1')
        except AttributeError as e:
            print("refused:", type(e).__name__)
        print(ma.replay(t, 'best-ao', sample_every=0).summary['failures'])
        t = ma.workloads.steady_state(5, live=5, seed=1)
        assert len(t) == 10
        try:
            t.size = np.zeros(1, 'u1')
        except AttributeError as e:
            print("refused:", type(e).__name__)
        print(ma.replay(t, 'best-ao').summary['peak_live'] == t.summary()['max_live_bytes'])
    """)
    assert (proc.returncode, proc.stdout) == (0, "refused: AttributeError\n0\nrefused: AttributeError\nTrue\n"), proc.stderr


def test_the_c_boundary_checks_every_column_on_every_call():
    """Even a Trace whose internals were replaced behind its back (its private
    slots) cannot hand C an array of the wrong type or length."""
    proc = run_python("""
        import numpy as np
        import memalloc_py as ma
        from memalloc_py import replaying as R
        from memalloc_py.trace import TraceError
        def fresh():
            return ma.workloads.steady_state(200_000, live=1000, seed=1)
        n = len(fresh())
        cases = {
            "size u1": ("_size", lambda t: t.size.astype("u1")),
            "size short": ("_size", lambda t: np.zeros(1, "u1")),
            "size 1 entry u8": ("_size", lambda t: np.zeros(1, "u8")),
            "op u8": ("_op", lambda t: t.op.astype("u8")),
            "id u2": ("_id", lambda t: t.id.astype("u2")),
            "id i4": ("_id", lambda t: t.id.astype("i4")),
            "id big-endian": ("_id", lambda t: t.id.astype(">u4")),
            "arg strided": ("_arg", lambda t: np.zeros(2 * n, "u8")[::2]),
            "arg 2-d": ("_arg", lambda t: np.zeros((n, 1), "u8")),
            "arg list": ("_arg", lambda t: [0] * n),
            "arg longer": ("_arg", lambda t: np.zeros(n + 1, "u8")),
            "n_ids too small": ("_n_ids", lambda t: 3),
            "n_ids negative": ("_n_ids", lambda t: -1),
            "n_ids over 2**32": ("_n_ids", lambda t: (1 << 32) + 1),
            "n_ids float": ("_n_ids", lambda t: 1e6),
        }
        for label, (slot, bad) in cases.items():
            for call in (lambda t: R.replay(t, "best-ao", sample_every=0),
                         lambda t: R.replay_bare(t, "buddy", arena_size=1 << 30),
                         lambda t: R.replay_libc(t)):
                t = fresh()
                setattr(t, slot, bad(t))
                try:
                    call(t)
                    why = "REACHED C"
                except TraceError as e:
                    why = "refused: " + str(e).split(":")[0]
                print(label, why)
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [line for line in [
        "size u1 refused: size must be a C-contiguous uint64 array of 400000 entries",
        "size short refused: size must be a C-contiguous uint64 array of 400000 entries",
        "size 1 entry u8 refused: size must be a C-contiguous uint64 array of 400000 entries",
        "op u8 refused: op must be a C-contiguous uint8 array",
        "id u2 refused: id must be a C-contiguous uint32 array of 400000 entries",
        "id i4 refused: id must be a C-contiguous uint32 array of 400000 entries",
        "id big-endian refused: id must be a C-contiguous uint32 array of 400000 entries",
        "arg strided refused: arg must be a C-contiguous uint64 array of 400000 entries",
        "arg 2-d refused: arg must be a C-contiguous uint64 array of 400000 entries",
        "arg list refused: arg must be a C-contiguous uint64 array of 400000 entries",
        "arg longer refused: arg must be a C-contiguous uint64 array of 400000 entries",
        "n_ids too small refused: n_ids 3 is not above the largest id 199999",
        "n_ids negative refused: n_ids -1 is not an integer in [0, 2**32]",
        "n_ids over 2**32 refused: n_ids 4294967297 is not an integer in [0, 2**32]",
        "n_ids float refused: n_ids 1000000.0 is not an integer in [0, 2**32]",
    ] for _ in range(3)]


# ------------------------------------------------- values checked before converting

@pytest.mark.parametrize("op, ids, size, arg, message", [
    ([256, FREE], [0, 0], [10, 0], None, r"op 256 \(event 0\) is not an event code"),
    ([MALLOC + 5, FREE], [0, 0], [10, 0], None, r"op 5 \(event 0\) is not an event code"),
    ([-1], [0], [1], None, r"op -1 \(event 0\) is negative"),
    ([MALLOC], [1 << 32], [1], None, r"id 4294967296 \(event 0\) does not fit uint32"),
    (np.array([MALLOC], "u1"), np.array([1 << 40], "u8"), [1], None,
     r"id 1099511627776 \(event 0\) does not fit uint32"),
    ([MALLOC, MALLOC], [0, 1], [5, -3], None, r"size -3 \(event 1\) is negative"),
    ([MALLOC], [0], [1 << 64], None, r"size 18446744073709551616 \(event 0\) does not fit uint64"),
    ([MALLOC], [0], [1], [1 << 64], r"arg 18446744073709551616 \(event 0\) does not fit uint64"),
    ([MALLOC], [0], [1.0], None, "size must hold integers, not float"),
    ([MALLOC], [0], np.array([1.0]), None, "size must hold integers, not float64"),
    ([MALLOC], [0], [True], None, "size must hold integers, not bool"),
    ([MALLOC, MALLOC], [0, 1], [1, True], None, "size must hold integers, not bool"),
    ([MALLOC], [0], np.array([True]), None, "size must hold integers, not bool"),
    ([MALLOC], [0], ["1"], None, "size must hold integers, not str"),
    ([MALLOC], [0], np.array([1], dtype=object), None, "size must hold integers, not object"),
    ([MALLOC], [np.int64(-2)], [1], None, r"id -2 \(event 0\) is negative"),
])
def test_column_values_are_checked_before_any_conversion(op, ids, size, arg, message):
    with pytest.raises(TraceError, match=message):
        Trace(op, ids, size, arg)


def test_exact_python_ints_up_to_2_to_the_64_are_kept():
    t = Trace([MALLOC, MALLOC], [0, 1], [(1 << 64) - 1, 100])
    assert t.size.tolist() == [(1 << 64) - 1, 100]


@pytest.mark.parametrize("n_ids, message", [
    (-1, r"n_ids -1 is not an integer in \[0, 2\*\*32\]"),
    ((1 << 32) + 1, r"n_ids 4294967297 is not an integer in \[0, 2\*\*32\]"),
    (1 << 70, r"n_ids 1180591620717411303424 is not an integer"),
    (2.0, "n_ids 2.0 is not an integer"),
    ("2", "n_ids '2' is not an integer"),
    (True, "n_ids True is not an integer"),
])
def test_n_ids_must_be_a_bounded_integer(n_ids, message):
    with pytest.raises(TraceError, match=message):
        Trace([MALLOC], [0], [1], n_ids=n_ids)


# ------------------------------------------------------------- malformed files

def saved(tmp_path, t=None, name="t.npz") -> Path:
    p = tmp_path / name
    (t or small()).save(p)
    return p


def rewrite(tmp_path, header=None, drop=(), replace=None, name="bad.npz", raw_header=None) -> Path:
    """A copy of a good trace file with its header or arrays changed."""
    with np.load(saved(tmp_path)) as z:
        arrays = {k: z[k] for k in z.files}
    h = json.loads(bytes(arrays["header"]).decode())
    if header is not None:
        h = header(h)
    arrays["header"] = np.frombuffer(raw_header if raw_header is not None else json.dumps(h).encode(),
                                     dtype="u1")
    for k in drop:
        del arrays[k]
    arrays.update(replace or {})
    p = tmp_path / name
    np.savez_compressed(p, **arrays)
    return p


def with_n_ids(v):
    return lambda h: {**h, "n_ids": v}


MALFORMED = {
    "header is a list": (dict(header=lambda h: [h]), "the header is not a JSON object"),
    "header not JSON": (dict(raw_header=b"{nope"), "not a readable memalloc_py trace file"),
    "header not UTF-8": (dict(raw_header=b"\xff\xfe"), "not a readable memalloc_py trace file"),
    "wrong format": (dict(header=lambda h: {**h, "format": "other"}), "not a memalloc_py trace file"),
    "meta is a list": (dict(header=lambda h: {**h, "meta": [1, 2]}), "meta is not a JSON object"),
    "meta.dropped is a string": (dict(header=lambda h: {**h, "meta": {"dropped": "x"}}),
                                 "meta.dropped is not an object of counts"),
    "meta.name is a number": (dict(header=lambda h: {**h, "meta": {"name": 5}}),
                              "meta.name is not a string"),
    "version is a string": (dict(header=lambda h: {**h, "version": "1"}),
                            "version '1' is not a format version"),
    "version missing": (dict(header=lambda h: {k: v for k, v in h.items() if k != "version"}),
                        "version None is not a format version"),
    "version too new": (dict(header=lambda h: {**h, "version": 2}), "version 2 is newer"),
    "n_ids null": (dict(header=with_n_ids(None)), r"n_ids None is not an integer in \[0, 2\*\*32\]"),
    "n_ids negative": (dict(header=with_n_ids(-3)), r"n_ids -3 is not an integer"),
    "n_ids a string": (dict(header=with_n_ids("3")), r"n_ids '3' is not an integer"),
    "n_ids a float": (dict(header=with_n_ids(3.0)), r"n_ids 3.0 is not an integer"),
    "n_ids true": (dict(header=with_n_ids(True)), r"n_ids True is not an integer"),
    "n_ids 2**28": (dict(header=with_n_ids(1 << 28)), "n_ids 268435456 is more than the 6 events"),
    "n_ids 2**32": (dict(header=with_n_ids(1 << 32)), "n_ids 4294967296 is more than the 6 events"),
    "n_ids 2**70": (dict(header=with_n_ids(1 << 70)), "n_ids 1180591620717411303424 is not an integer"),
    "n_ids too small": (dict(header=with_n_ids(1)), "id 1 is not below n_ids=1"),
    "missing op": (dict(drop=["op"]), "no array 'op'"),
    "missing header": (dict(drop=["header"]), "no array 'header'"),
    "op 2-d": (dict(replace={"op": np.zeros((6, 1), "u1")}), "op must be one-dimensional"),
    "size 0-d": (dict(replace={"size": np.array(5, "u8")}), "size must be one-dimensional"),
    "arg short": (dict(replace={"arg": np.zeros(2, "u8")}), "arg has 2 entries, op has 6"),
    "size float": (dict(replace={"size": np.zeros(6)}), "size must hold integers, not float64"),
    "id out of range": (dict(replace={"id": np.array([0, 1, 0, 2, 1, 1 << 40], "u8")}),
                        r"id 1099511627776 \(event 5\) does not fit uint32"),
    "op out of range": (dict(replace={"op": np.array([256, 1, 4, 3, 4, 4], "u2")}),
                        r"op 256 \(event 0\) is not an event code"),
    "header 2-d": (dict(replace={"header": np.zeros((2, 2), "u1")}), "the header is not a byte string"),
    "header floats": (dict(replace={"header": np.zeros(3)}), "the header is not a byte string"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_load_rejects_a_malformed_file_naming_it(tmp_path, case):
    how, message = MALFORMED[case]
    p = rewrite(tmp_path, **how)
    with pytest.raises(TraceError, match=message) as e:
        Trace.load(p)
    assert str(e.value).startswith(f"{p}: ")


def test_a_huge_n_ids_costs_nothing(tmp_path):
    """issue #14: a 1,346-byte file with n_ids 2**28 made replay take 4.2 GB."""
    p = rewrite(tmp_path, header=with_n_ids(1 << 28))
    assert p.stat().st_size < 2000
    with pytest.raises(TraceError, match="n_ids 268435456 is more than the 6 events"):
        Trace.load(p)


def member_data(path: Path, member: str) -> tuple[int, int]:
    """Offset and length of a zip member's stored bytes."""
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member)
    raw = path.read_bytes()
    off = info.header_offset
    assert raw[off:off + 4] == b"PK\x03\x04"
    name_len = int.from_bytes(raw[off + 26:off + 28], "little")
    extra_len = int.from_bytes(raw[off + 28:off + 30], "little")
    return off + 30 + name_len + extra_len, info.compress_size


def corrupt_crc(path: Path, member: str) -> None:
    start, length = member_data(path, member)
    raw = bytearray(path.read_bytes())
    raw[start + length - 1] ^= 0xFF  # the last data byte: past the .npy header
    path.write_bytes(bytes(raw))


def set_compression_method(path: Path, method: int) -> None:
    raw = bytearray(path.read_bytes())
    for sig, field in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        at = raw.find(sig)
        while at >= 0:
            raw[at + field:at + field + 2] = method.to_bytes(2, "little")
            at = raw.find(sig, at + 4)
    path.write_bytes(bytes(raw))


def stored_trace(tmp_path) -> Path:
    """A trace file written without compression, so data bytes are plain."""
    t = small()
    p = tmp_path / "stored.npz"
    header = {"format": "memalloc_py-trace", "version": 1, "n_ids": t.n_ids, "meta": {}}
    np.savez(p, op=t.op, id=t.id, size=t.size, arg=t.arg,
             header=np.frombuffer(json.dumps(header).encode(), dtype="u1"))
    assert Trace.load(p) == t
    return p


@pytest.mark.parametrize("member", ["op.npy", "size.npy", "header.npy"])
def test_load_rejects_a_bad_crc(tmp_path, member):
    p = stored_trace(tmp_path)
    corrupt_crc(p, member)
    with pytest.raises(TraceError, match="not a readable memalloc_py trace file") as e:
        Trace.load(p)
    assert str(e.value).startswith(f"{p}: ") and "CRC" in str(e.value)


def test_load_rejects_an_unknown_compression_method(tmp_path):
    p = stored_trace(tmp_path)
    set_compression_method(p, 99)
    with pytest.raises(TraceError, match="not a readable memalloc_py trace file") as e:
        Trace.load(p)
    assert str(e.value).startswith(f"{p}: ") and "compression method" in str(e.value)


def test_load_rejects_a_truncated_file(tmp_path):
    p = saved(tmp_path)
    p.write_bytes(p.read_bytes()[:200])
    with pytest.raises(TraceError, match="not a readable memalloc_py trace file"):
        Trace.load(p)


def test_a_trace_with_more_ids_than_events_is_not_saved(tmp_path):
    t = Trace([MALLOC], [0], [8], n_ids=5)
    with pytest.raises(TraceError, match=r"5 ids for 1 events.*t\[:\]"):
        t.save(tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()
    t[:].save(tmp_path / "x.npz")
    assert Trace.load(tmp_path / "x.npz").n_ids == 1
    sparse = Trace([MALLOC], [4], [8])  # ids 0-3 unused: n_ids 5 for one event
    with pytest.raises(TraceError, match="5 ids for 1 events"):
        sparse.save(tmp_path / "y.npz")


def test_a_replay_of_a_loaded_file_is_bounded_by_its_events(tmp_path):
    t = ma.workloads.steady_state(2000, live=100, seed=4)
    p = saved(tmp_path, t)
    u = Trace.load(p)
    assert u == t and u.n_ids <= len(u)
    assert R.replay(u, "best-ao", sample_every=0).summary["failures"] == 0


def test_a_trace_that_cannot_be_saved_leaves_the_file_as_it_was(tmp_path):
    """save() once opened the file before making the header: a meta that JSON
    cannot hold left an empty file; a meta load() refuses was written."""
    t = Trace.from_events([("malloc", "a", 10), ("free", "a")])
    p = tmp_path / "keep.npz"
    t.save(p)
    before = p.read_bytes()
    for meta, message in (({"seed": np.int64(3)}, "cannot be saved as JSON"),
                          ({"x": float("nan")}, "cannot be saved as JSON"),
                          ({"name": 5}, "meta.name is not a string"),
                          ({"dropped": {"x": -1}}, "meta.dropped is not an object of counts")):
        bad = Trace(t.op, t.id, t.size, t.arg, meta=meta)
        with pytest.raises(TraceError, match=message):
            bad.save(p)
        assert p.read_bytes() == before
        assert Trace.load(p) == t
    assert sorted(x.name for x in tmp_path.iterdir()) == ["keep.npz"]


def test_arrays_declared_huge_or_headers_nested_deep_are_trace_errors(tmp_path):
    """A small file whose op array claims 10**11 entries, or whose header nests
    100,000 lists deep, is a TraceError (once a MemoryError/RecursionError)."""
    import io
    import zipfile as zf

    p = saved(tmp_path)
    huge = tmp_path / "huge.npz"
    with zf.ZipFile(p) as src, zf.ZipFile(huge, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "op.npy":
                buf = io.BytesIO()
                np.lib.format.write_array_header_1_0(
                    buf, {"descr": "|u1", "fortran_order": False, "shape": (100_000_000_000,)})
                data = buf.getvalue() + b"\0" * 64
            dst.writestr(info.filename, data)
    with pytest.raises(TraceError, match=f"^{re.escape(str(huge))}: "):
        Trace.load(huge)
    deep = rewrite(tmp_path, raw_header=b"[" * 100_000 + b"]" * 100_000, name="deep.npz")
    with pytest.raises(TraceError, match=f"^{re.escape(str(deep))}: "):
        Trace.load(deep)


def test_n_ids_beyond_what_the_events_name_costs_no_memory():
    """Trace(..., n_ids=2**26) with two events made a replay take 1 GB (16
    bytes per declared id); the engine now sizes its tables by the largest id
    the events name.  Measured in a fresh process (peak RSS)."""
    out = run_python("""
        import resource, memalloc_py as ma
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t = ma.Trace([0, 4], [0, 0], [10, 0], n_ids=1 << 26)
        for how in ("replay", "bare", "libc"):
            if how == "replay":
                r = ma.replay(t, "buddy")
                assert r.summary["peak_live"] == 10
            elif how == "bare":
                ma.replay_bare(t, "buddy")
            else:
                ma.replay_libc(t)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base)
    """)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.split()[-1]) < 64 * 1024  # KiB: far below the 1 GiB it took
