"""Recordings of real programs made by ``memalloc record`` (the recorder).

:func:`record` runs a command with the recorder library
(``memalloc_py/lib/libmemalloc_record.so``) in ``LD_PRELOAD``: every
malloc-family call of the command and of every process it starts is logged,
one binary log per process image, ``DIR/PID.n.mrec`` (the format is in
docs/traces.md and ``csrc/record/record_format.h``).

A *process* is a pid's images joined in order: an image that calls exec is
followed by the program it became, with the same pid (the n of its file
name is the next free one).  :func:`processes` lists them; the *main*
process is the one the recording started (the one whose parent was not
recorded; the earliest, if several were not).  :func:`read_recording` (and
``ma.read_trace``) turns one process into a :class:`~memalloc_py.trace.Trace`:

- events in the order of their sequence numbers, which a process takes from
  one counter, so that the threads' events interleave as they happened;
- pointers become ids as in the other importers (an address handed out
  again after its free is a new id; a realloc keeps its id when the block
  moves) and what a single heap cannot use is dropped and counted in
  ``trace.meta["dropped"]``, with the same keys;
- at an exec, the blocks still live are freed (the new program starts with
  an empty heap) and counted as ``freed_at_exec``;
- a fork child's log starts at the fork: its parent's blocks are unknown to
  it, so its frees of them are ``free_unknown``.

A log that does not follow the format raises :class:`TraceError` naming the
file and the byte offset of the offending record.
"""
from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from .importers import _Builder
from .trace import CALLOC, FREE, MALLOC, MEMALIGN, REALLOC, Trace, TraceError

__all__ = ["record", "read_recording", "read_log", "processes", "library_path", "Image", "Process",
           "RecorderNotBuilt"]

PathLike = Union[str, "os.PathLike[str]"]

# csrc/record/record_format.h, mirrored (tests/test_record.py checks they agree).
MAGIC = b"memarec\0"
VERSION = 1
BYTE_ORDER = 0x01020304
CHUNK_MAGIC = 0x4B4E4843
SEQ_BITS = 56
KINDS = {1: "malloc", 2: "calloc", 3: "realloc", 4: "reallocarray", 5: "free", 6: "posix_memalign",
         7: "aligned_alloc", 8: "memalign", 9: "valloc", 10: "pvalloc"}
_HEADER = struct.Struct("<8sIIIIIIIIQQQII")
_CHUNK = struct.Struct("<IIII")
_RECORD_BYTES = 48
_SEQ_MASK = (1 << SEQ_BITS) - 1
LOG_SUFFIX = ".mrec"

_LIB = Path(__file__).resolve().parent / "lib" / "libmemalloc_record.so"


class RecorderNotBuilt(RuntimeError):
    """The recorder library is missing from this installation."""


def library_path() -> Path:
    """The recorder library that ``memalloc record`` preloads."""
    if not _LIB.is_file():
        raise RecorderNotBuilt(f"the recorder library {_LIB} is not built: reinstall memalloc_py "
                               "(pip install --force-reinstall .) with a C compiler present")
    return _LIB


@dataclass(frozen=True)
class Image:
    """One log: a process image from its start (or fork) to its exit or exec."""

    path: str
    pid: int
    ppid: int
    image: int
    page_size: int
    start_ticks: int
    start_ns: int
    command: tuple[str, ...]
    exe: str
    events: int
    threads: int

    @property
    def program(self) -> str:
        """The program's name: its argv[0] without the folder (else its executable's)."""
        return os.path.basename(self.command[0] if self.command else self.exe) or "?"


@dataclass(frozen=True)
class Process:
    """A pid's images, joined at each exec."""

    pid: int
    ppid: int
    images: tuple[Image, ...]
    main: bool

    @property
    def command(self) -> tuple[str, ...]:
        return self.images[-1].command

    @property
    def program(self) -> str:
        return self.images[-1].program

    @property
    def events(self) -> int:
        return sum(i.events for i in self.images)


# ----------------------------------------------------------------- reading one log

def _header(data: bytes, name: str) -> tuple[Image, int]:
    """The file header (an Image without its counts) and where the chunks start."""
    if len(data) < _HEADER.size:
        if data[: len(MAGIC)] != MAGIC[: len(data)]:
            raise TraceError(f"{name}: byte 0: not a memalloc recording (no 'memarec' header)")
        raise TraceError(f"{name}: byte 0: the file header is truncated ({len(data)} of {_HEADER.size} bytes)")
    (magic, version, header_bytes, record_bytes, order, pid, ppid, image, page, ticks, start_ns,
     _first_seq, cmd_bytes, exe_bytes) = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise TraceError(f"{name}: byte 0: not a memalloc recording (it starts with {magic!r})")
    if order != BYTE_ORDER:
        raise TraceError(f"{name}: byte 20: recorded with the other byte order (0x{order:08x})")
    if version != VERSION:
        raise TraceError(f"{name}: byte 8: format version {version}; this reader knows version {VERSION}")
    if record_bytes != _RECORD_BYTES:
        raise TraceError(f"{name}: byte 16: records of {record_bytes} bytes; version 1 has {_RECORD_BYTES}")
    least = _HEADER.size + cmd_bytes + exe_bytes
    if header_bytes < least or header_bytes % 8 or header_bytes > least + 7:
        raise TraceError(f"{name}: byte 12: header size {header_bytes} does not fit its strings "
                         f"({least} bytes, padded to a multiple of 8)")
    if header_bytes > len(data):
        raise TraceError(f"{name}: byte 0: the file header is truncated ({len(data)} of {header_bytes} bytes)")
    cmd = data[_HEADER.size:_HEADER.size + cmd_bytes]
    exe = data[_HEADER.size + cmd_bytes:least].decode("utf-8", "replace")
    args = tuple(a.decode("utf-8", "replace") for a in cmd.split(b"\0")[: -1 if cmd.endswith(b"\0") else None])
    return Image(name, pid, ppid, image, page, ticks, start_ns, args, exe, 0, 0), header_bytes


def read_log(path: PathLike) -> tuple[Image, np.ndarray]:
    """One log file: its header, and its records as a structured array
    (``offset``, ``tid``, ``seq``, ``kind`` and the five words ``w``) in the
    order of their sequence numbers.  Every record is checked."""
    name = os.fspath(path)
    try:
        data = Path(name).read_bytes()
    except FileNotFoundError:
        raise TraceError(f"{name}: no such file") from None
    info, off = _header(data, name)
    starts: list[int] = []
    counts: list[int] = []
    tids: list[int] = []
    while off < len(data):
        if len(data) - off < _CHUNK.size:
            raise TraceError(f"{name}: byte {off}: a chunk header is truncated "
                             f"({len(data) - off} of {_CHUNK.size} bytes; the log was cut short)")
        magic, tid, count, reserved = _CHUNK.unpack_from(data, off)
        if magic != CHUNK_MAGIC:
            raise TraceError(f"{name}: byte {off}: expected a chunk header ('CHNK'), "
                             f"found {data[off:off + 4]!r}")
        if count == 0 or reserved != 0:
            raise TraceError(f"{name}: byte {off}: a chunk header with "
                             + ("no records" if count == 0 else f"reserved field {reserved}, not 0"))
        end = off + _CHUNK.size + count * _RECORD_BYTES
        if end > len(data):
            whole = (len(data) - off - _CHUNK.size) // _RECORD_BYTES
            raise TraceError(f"{name}: byte {off + _CHUNK.size + whole * _RECORD_BYTES}: record {whole + 1} "
                             f"of the chunk at byte {off} is truncated (the chunk declares {count} records; "
                             f"the log was cut short)")
        starts.append(off + _CHUNK.size)
        counts.append(count)
        tids.append(tid)
        off = end
    n = sum(counts)
    rec = np.zeros(n, dtype=[("offset", "u8"), ("tid", "u4"), ("seq", "u8"), ("kind", "u1"), ("w", "u8", (5,))])
    if n:
        raw = np.concatenate([np.frombuffer(data, dtype="<u8", count=6 * c, offset=s).reshape(c, 6)
                              for s, c in zip(starts, counts)])
        within = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
        rec["offset"] = np.repeat(starts, counts) + _RECORD_BYTES * within
        rec["tid"] = np.repeat(tids, counts)
        rec["seq"] = raw[:, 0] & _SEQ_MASK
        kinds = raw[:, 0] >> SEQ_BITS
        rec["w"] = raw[:, 1:]
        bad = np.flatnonzero((kinds < 1) | (kinds > max(KINDS)))
        if bad.size:
            i = bad[0]
            raise TraceError(f"{name}: byte {rec['offset'][i]}: a record of unknown kind {kinds[i]}")
        rec["kind"] = kinds
        _check_sequence(rec, name)
        rec = rec[np.argsort(rec["seq"], kind="stable")]
    return (Image(**{**info.__dict__, "events": n, "threads": len(set(tids))}), rec)


def _check_sequence(rec: np.ndarray, name: str) -> None:
    """Sequence numbers (a realloc's release number among them) are unique
    and non-zero, and a realloc's release number is below its own."""
    seq = rec["seq"]
    zero = np.flatnonzero(seq == 0)
    if zero.size:
        raise TraceError(f"{name}: byte {rec['offset'][zero[0]]}: sequence number 0 (they start at 1)")
    kind = rec["kind"]
    moved = np.flatnonzero(((kind == 3) | (kind == 4)) & (rec["w"][:, 0] != 0))
    release = np.where(kind[moved] == 3, rec["w"][moved, 3], rec["w"][moved, 4])
    late = np.flatnonzero((release == 0) | (release >= seq[moved]))
    if late.size:
        i = moved[late[0]]
        raise TraceError(f"{name}: byte {rec['offset'][i]}: a {KINDS[int(kind[i])]} whose release number "
                         f"{release[late[0]]} is not between 1 and its own number {seq[i]}")
    keys = np.concatenate([seq, release])
    owners = np.concatenate([np.arange(len(seq)), moved])
    order = np.argsort(keys, kind="stable")
    twice = np.flatnonzero(keys[order][1:] == keys[order][:-1])
    if twice.size:
        a, b = sorted((owners[order[twice[0]]], owners[order[twice[0] + 1]]))
        raise TraceError(f"{name}: byte {rec['offset'][b]}: sequence number {keys[order[twice[0]]]} "
                         f"is used twice (also by the record at byte {rec['offset'][a]})")


# ----------------------------------------------------------------- into a trace

def _pow2(alignment: int) -> int:
    """An alignment as a trace takes it: a power of two (the C library rounds
    others up, and treats 0 as no alignment)."""
    return 1 if alignment <= 1 else 1 << (alignment - 1).bit_length()


class _RecordBuilder(_Builder):
    """The importers' builder, plus reallocs split at their release number."""

    def place(self, key: int, ident: int) -> None:
        other = self.live.get(key)
        if other is not None:
            self.dropped["implicit_free"] += 1
            self._emit(FREE, other, 0, 0)
        self.live[key] = ident

    def moved(self, ident: Optional[int], old: int, new: Optional[int], size: int) -> None:
        """A realloc of `old`, whose id (None: unknown) was taken at its release."""
        if ident is None:
            self.dropped["realloc_unknown"] += 1
            if new is not None:
                self.allocate(MALLOC, new, size)
        elif new is None:
            if size == 0:  # realloc(p, 0) freed p
                self._emit(REALLOC, ident, 0, 0)
            else:  # failed: the block stays where it was
                self.dropped["failed_realloc"] += 1
                self.place(old, ident)
        elif size == 0:  # freed, and a 0-byte block handed out
            self._emit(FREE, ident, 0, 0)
            self.allocate(MALLOC, new, 0)
        else:
            self.place(new, ident)
            self._emit(REALLOC, ident, size, 0)

    def image(self, info: Image, rec: np.ndarray) -> None:
        """Every record of one image, in sequence order, releases first."""
        kind = rec["kind"]
        w = rec["w"]
        moved = np.flatnonzero(((kind == 3) | (kind == 4)) & (w[:, 0] != 0))
        release = np.where(kind[moved] == 3, w[moved, 3], w[moved, 4])
        keys = np.concatenate([rec["seq"], release])
        which = np.concatenate([np.arange(len(rec)), -1 - moved])  # < 0: a release
        steps = which[np.argsort(keys, kind="stable")].tolist()
        kinds = kind.tolist()
        words = w.tolist()
        offsets = rec["offset"].tolist()
        taken: dict[int, Optional[int]] = {}
        page = info.page_size or 4096
        for i in steps:
            if i < 0:
                taken[-1 - i] = self.live.pop(words[-1 - i][0], None)
                continue
            k = kinds[i]
            a, b, c, d, e = words[i]
            if k == 1:
                self.allocate(MALLOC, b or None, a)
            elif k == 2:
                self.allocate(CALLOC, c or None, b, a)
            elif k == 3 or k == 4:
                old, size, new = (a, b, c) if k == 3 else (a, b * c, d)
                if size >= 1 << 64:
                    if new:
                        raise TraceError(f"{info.path}: byte {offsets[i]}: a reallocarray of {b} x {c} "
                                         "bytes (beyond 2**64) returned a block")
                    size = (1 << 64) - 1
                if not old:
                    self.realloc(None, new or None, size)
                else:
                    self.moved(taken.pop(i), old, new or None, size)
            elif k == 5:
                if a:
                    self.free(a)
                else:
                    self.dropped["free_null"] += 1
            elif k == 6:
                self.allocate(MEMALIGN, None if d else (c or None), b, _pow2(a))
            elif k in (7, 8):
                self.allocate(MEMALIGN, c or None, b, _pow2(a))
            elif k == 9:
                self.allocate(MEMALIGN, b or None, a, page)
            else:  # pvalloc: whole pages, at least one
                self.allocate(MEMALIGN, b or None, max(page, -(-a // page) * page), page)

    def exec_(self) -> None:
        """The image ended in exec: its blocks are gone."""
        for ident in sorted(self.live.values()):
            self._emit(FREE, ident, 0, 0)
        self.dropped["freed_at_exec"] += len(self.live)
        self.live.clear()


def _image_order(path: Path) -> tuple[int, int, str]:
    parts = path.name[: -len(LOG_SUFFIX)].split(".")
    try:
        return int(parts[0]), int(parts[1]), path.name
    except (ValueError, IndexError):
        return 1 << 62, 0, path.name


def _logs(folder: str) -> list[Path]:
    logs = sorted((p for p in Path(folder).iterdir() if p.name.endswith(LOG_SUFFIX)), key=_image_order)
    if not logs:
        raise TraceError(f"{folder}: no recorder logs (*{LOG_SUFFIX}) in this directory")
    return logs


def _group(images: Sequence[Image]) -> list[Process]:
    """Images joined into processes (same pid and start time, in image
    order), the main one marked."""
    by_key: dict[tuple[int, int], list[Image]] = {}
    for im in sorted(images, key=lambda i: (i.pid, i.image)):
        by_key.setdefault((im.pid, im.start_ticks), []).append(im)
    groups = list(by_key.values())
    pids = {g[0].pid for g in groups}
    roots = [g for g in groups if g[0].ppid not in pids] or groups
    main = min(roots, key=lambda g: (g[0].start_ns, g[0].pid))
    return sorted((Process(g[0].pid, g[0].ppid, tuple(g), g is main) for g in groups),
                  key=lambda p: (p.images[0].start_ns, p.pid, p.images[0].image))


def processes(path: PathLike) -> list[Process]:
    """The processes of a recording (a directory of logs, or one log file),
    in the order they started; exactly one has ``main`` set."""
    name = os.fspath(path)
    if os.path.isdir(name):
        return _group([_scan(p) for p in _logs(name)])
    return _group([_scan(Path(name))])


def _scan(path: Path) -> Image:
    """A log's header and counts, every record checked."""
    return read_log(path)[0]


def _trace_of(images: Sequence[Image], records: Sequence[np.ndarray], source: str, pid: int) -> Trace:
    b = _RecordBuilder(source)
    for k, (im, rec) in enumerate(zip(images, records)):
        if k:
            b.exec_()
        b.image(im, rec)
    last = images[-1]
    tids = {int(t) for rec in records for t in np.unique(rec["tid"])}
    return b.trace(format="record", name=f"{last.program} pid {pid}", pid=pid, ppid=images[0].ppid,
                   command=list(last.command), programs=[im.exe for im in images],
                   images=len(images), threads=len(tids))


def read_recording(path: PathLike, pid: Optional[int] = None) -> Trace:
    """One process of a recording as a trace: the main one, or ``pid``'s.
    ``path`` is the recording's directory, or one log file (that image alone)."""
    name = os.fspath(path)
    if pid is not None and (not isinstance(pid, int) or isinstance(pid, bool) or pid < 0):
        raise TypeError(f"pid must be a process id (an int >= 0), got {pid!r}")
    if not os.path.exists(name):
        raise TraceError(f"{name}: no such file")
    if not os.path.isdir(name):
        info, rec = read_log(name)
        if pid is not None and pid != info.pid:
            raise TraceError(f"{name}: this log is of pid {info.pid}, not {pid}")
        return _trace_of([info], [rec], name, info.pid)
    logs = [read_log(p) for p in _logs(name)]
    procs = _group([info for info, _ in logs])
    if pid is None:
        chosen = next(p for p in procs if p.main)
    else:
        found = [p for p in procs if p.pid == pid]
        if not found:
            raise TraceError(f"{name}: no process {pid} in this recording; it has "
                             + ", ".join(str(p.pid) for p in procs))
        if len(found) > 1:
            raise TraceError(f"{name}: pid {pid} names {len(found)} processes (the pid was reused); "
                             "read one of their logs instead: "
                             + ", ".join(p.images[0].path for p in found))
        chosen = found[0]
    records = {info.path: rec for info, rec in logs}
    return _trace_of(chosen.images, [records[i.path] for i in chosen.images], name, chosen.pid)


def describe_processes(procs: Sequence[Process]) -> str:
    """The processes as a table (what ``memalloc trace info`` prints for a recording)."""
    rows = [("pid", "parent", "images", "threads", "events", "command")]
    for p in procs:
        cmd = " ".join(p.command) or p.images[-1].exe
        cmd = (cmd[:57] + "...") if len(cmd) > 60 else cmd
        rows.append((str(p.pid), str(p.ppid), str(len(p.images)),
                     str(max(i.threads for i in p.images)), f"{p.events:,}",
                     cmd + ("   (main)" if p.main else "")))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [f"{len(procs)} process{'es' if len(procs) != 1 else ''} recorded:"]
    for r in rows:
        lines.append("  " + "  ".join(f"{c:>{w}}" for c, w in zip(r, widths)) + "  " + r[5])
    return "\n".join(lines)


# ----------------------------------------------------------------- recording

def record(command: Sequence[str], out: PathLike, env: Optional[dict[str, str]] = None) -> int:
    """Run ``command`` under the recorder, its logs going to the directory
    ``out`` (created; it must not exist or be empty).  Returns the command's
    exit status (128 + the signal's number if a signal ended it)."""
    if not command or isinstance(command, (str, bytes)):
        raise TypeError("command must be a non-empty sequence of arguments")
    lib = library_path()
    run_env = dict(os.environ if env is None else env)
    program = command[0]
    if ("/" in program and not os.access(program, os.X_OK)) or (
            "/" not in program and shutil.which(program, path=run_env.get("PATH")) is None):
        raise ValueError(f"{program}: command not found")
    folder = Path(os.fspath(out)).absolute()
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ValueError(f"{out}: exists and is not an empty directory (a recording needs a fresh one)")
    folder.mkdir(parents=True, exist_ok=True)
    preload = run_env.get("LD_PRELOAD", "")
    run_env["LD_PRELOAD"] = f"{lib}:{preload}" if preload else str(lib)
    run_env["MEMALLOC_RECORD_DIR"] = str(folder)
    proc = subprocess.Popen(list(command), env=run_env)
    while True:
        try:
            status = proc.wait()
            break
        except KeyboardInterrupt:  # the command got the signal too: let it finish
            continue
    if not any(p.name.startswith(f"{proc.pid}.") for p in folder.iterdir()):
        raise RuntimeError(f"{command[0]} wrote no log: it did not load the recorder "
                           "(a statically linked or set-user-ID program ignores LD_PRELOAD)")
    return 128 - status if status < 0 else status


def _signal_name(status: int) -> str:
    try:
        return signal.Signals(status - 128).name
    except ValueError:
        return f"signal {status - 128}"


def summary_line(folder: PathLike, command: Sequence[str], status: int) -> str:
    """What ``memalloc record`` prints when the command has ended."""
    procs = processes(folder)
    main = next(p for p in procs if p.main)
    how = f"exited with status {status}" if status < 128 else f"was ended by {_signal_name(status)}"
    n = sum(p.events for p in procs)
    return (f"memalloc record: {command[0]} {how}; {len(procs)} process{'es' if len(procs) != 1 else ''}, "
            f"{n:,} events in {os.fspath(folder)} (main: pid {main.pid}, {main.program}, "
            f"{main.events:,} events)")

