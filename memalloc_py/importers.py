"""Import allocation traces that real tools write.

- :func:`read_aosp`: Android's memory_replay text format
  (``<tid>: malloc <ptr> <size>``, ...), plain or inside a zip (read directly);
- :func:`read_mtrace`: glibc's ``mtrace`` log (``@ caller + 0xaddr 0xsize``, ...);
- :func:`read_rep`: the CS:APP malloc-lab ``.rep`` format (``a id size``, ...);
- :func:`read_trace`: any of these, the native ``.npz`` format, or a recording
  of ``memalloc record`` (:mod:`memalloc_py.recording`), by name.

Recorded pointers become ids: an address that is freed and handed out again
starts a new id.  What a single heap cannot use, or what does not make sense
in the recording, is dropped and counted in ``trace.meta["dropped"]``:

``thread_done``
    AOSP's end-of-thread markers (threads are not modelled: every event goes
    to one heap; ``trace.meta["threads"]`` counts the distinct thread ids);
``free_null``
    ``free(NULL)`` (a no-op);
``free_unknown`` / ``realloc_unknown``
    a free or realloc of a pointer the recording never handed out (made
    before the recording started); such a realloc becomes an allocation;
``failed_alloc`` / ``failed_realloc``
    an allocation that returned NULL, a realloc that failed (its block stays);
``implicit_free``
    an allocation returning an address that is still live in the recording (a
    free was not recorded): the old allocation is freed first.

A malformed line raises :class:`~memalloc_py.trace.TraceError` naming the
file and the line number.
"""
from __future__ import annotations

import contextlib
import io
import os
import zipfile
import zlib
from array import array
from collections import Counter
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, Optional, Union

import numpy as np

from .trace import CALLOC, FREE, MALLOC, MEMALIGN, REALLOC, Trace, TraceError

__all__ = ["read_aosp", "read_mtrace", "read_rep", "read_trace", "FORMATS", "bundled_trace",
           "BUNDLED_TRACES"]

#: Formats that :func:`read_trace` accepts.
FORMATS = ("aosp", "mtrace", "rep", "native", "record")

PathLike = Union[str, "os.PathLike[str]"]
_DATA = Path(__file__).resolve().parent / "data"
#: Real traces shipped with the package (Apache-2.0, see data/traces/NOTICE).
BUNDLED_TRACES = {
    "surfaceflinger": _DATA / "traces" / "surfaceflinger.zip",
    "systemui": _DATA / "traces" / "systemui.zip",
}


class _Builder:
    """Collects events keyed by recorded pointers (or ids) into a Trace."""

    def __init__(self, source: str):
        self.source = source
        self.op = array("B")
        self.id = array("I")
        self.size = array("Q")
        self.arg = array("Q")
        self.live: dict[Any, int] = {}
        self.next_id = 0
        self.dropped: Counter[str] = Counter()

    def _emit(self, op: int, ident: int, size: int, arg: int) -> None:
        self.op.append(op)
        self.id.append(ident)
        self.size.append(size)
        self.arg.append(arg)

    def allocate(self, op: int, key: Any, size: int, arg: int = 0) -> None:
        """An allocation that returned `key` (None: it returned NULL)."""
        if key is None:
            self.dropped["failed_alloc"] += 1
            return
        old = self.live.get(key)
        if old is not None:
            self.dropped["implicit_free"] += 1
            self._emit(FREE, old, 0, 0)
        ident = self.next_id
        self.next_id += 1
        self.live[key] = ident
        self._emit(op, ident, size, arg)

    def free(self, key: Any) -> None:
        ident = self.live.pop(key, None)
        if ident is None:
            self.dropped["free_unknown"] += 1
            return
        self._emit(FREE, ident, 0, 0)

    def realloc(self, old_key: Any, new_key: Any, size: int) -> None:
        """realloc(old) returning new; a key of None is NULL.

        In a trace a realloc to size 0 ends the lifetime, so a realloc to 0
        that returned a block (malloc(0)) becomes a malloc of 0 bytes, after
        a free of the old block: that block is live and may be freed later."""
        if old_key is None:
            self.allocate(REALLOC if size else MALLOC, new_key, size)
            return
        ident = self.live.get(old_key)
        if ident is None:
            self.dropped["realloc_unknown"] += 1
            if new_key is not None:
                self.allocate(MALLOC, new_key, size)
            return
        if new_key is None:
            if size == 0:  # realloc(p, 0): freed
                del self.live[old_key]
                self._emit(REALLOC, ident, 0, 0)
            else:
                self.dropped["failed_realloc"] += 1
            return
        if size == 0:
            del self.live[old_key]
            self._emit(FREE, ident, 0, 0)
            self.allocate(MALLOC, new_key, 0)
            return
        del self.live[old_key]
        other = self.live.get(new_key)
        if other is not None:
            self.dropped["implicit_free"] += 1
            self._emit(FREE, other, 0, 0)
        self.live[new_key] = ident
        self._emit(REALLOC, ident, size, 0)

    def trace(self, **meta: Any) -> Trace:
        meta.setdefault("name", Path(self.source).stem)
        meta["source"] = self.source
        meta["dropped"] = dict(sorted(self.dropped.items()))
        return Trace(
            np.frombuffer(self.op, dtype="u1"),
            np.frombuffer(self.id, dtype="u4"),
            np.frombuffer(self.size, dtype="u8"),
            np.frombuffer(self.arg, dtype="u8"),
            n_ids=self.next_id,
            meta=meta,
        )


_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError)


@contextlib.contextmanager
def _open_text(path: PathLike) -> Iterator[tuple[Iterable[str], str]]:
    """The lines of a text file, or of the single text member of a zip, and
    the name to report.  A damaged zip (bad CRC, unknown compression method,
    truncated) is a TraceError naming the file, whenever it shows."""
    name = os.fspath(path)
    if not zipfile.is_zipfile(name):
        with open(name, encoding="ascii", errors="replace") as f:
            yield f, name
        return
    with contextlib.ExitStack() as stack:
        try:
            z = stack.enter_context(zipfile.ZipFile(name))
            members = [m for m in z.namelist() if not m.endswith("/")]
            if len(members) != 1:
                raise TraceError(f"{name}: expected one file in the zip, found {len(members)}")
            raw = stack.enter_context(z.open(members[0]))
        except _ZIP_ERRORS as e:
            raise TraceError(f"{name}: cannot read the zip ({type(e).__name__}: {e})") from None
        source = f"{name}:{members[0]}"
        yield _zip_lines(io.TextIOWrapper(raw, encoding="ascii", errors="replace"), name), source


def _zip_lines(stream: IO[str], name: str) -> Iterator[str]:
    # Decompression and the CRC check happen as the lines are read.
    try:
        yield from stream
    except _ZIP_ERRORS as e:
        raise TraceError(f"{name}: cannot read the zip ({type(e).__name__}: {e})") from None


def _int(token: str, base: int, where: str, what: str) -> int:
    try:
        v = int(token, base)
    except ValueError:
        raise TraceError(f"{where}: {what} {token!r} is not a number") from None
    if v < 0 or v >= 1 << 64:
        raise TraceError(f"{where}: {what} {token!r} is out of range")
    return v


def _pointer(token: str, where: str) -> Optional[int]:
    """An mtrace address; None for NULL (glibc prints it as '(nil)')."""
    if token == "(nil)":
        return None
    return _int(token, 16, where, "address") or None


def read_aosp(path: PathLike) -> Trace:
    """Read an AOSP memory_replay trace (a text file, or a zip holding one).

    Line format: ``<tid>: <op> <ptr> [args]`` with ``malloc <ptr> <size>``,
    ``calloc <ptr> <nmemb> <size>``, ``memalign <ptr> <alignment> <size>``,
    ``realloc <new_ptr> <old_ptr> <size>``, ``free <ptr>`` and
    ``thread_done 0x0``.  Pointers are hexadecimal, sizes decimal.
    """
    b = _Builder(os.fspath(path))
    threads: set[str] = set()
    arity = {"malloc": 4, "calloc": 5, "memalign": 5, "realloc": 5, "free": 3, "thread_done": 3}
    with _open_text(path) as (stream, source):
        for lineno, line in enumerate(stream, 1):
            parts = line.split()
            if not parts:
                continue
            where = f"{source}, line {lineno}"
            if len(parts) < 2 or not parts[0].endswith(":"):
                raise TraceError(f"{where}: expected '<tid>: <action> <pointer> ...', got {line.strip()!r}")
            action = parts[1]
            want = arity.get(action)
            if want is None:
                raise TraceError(f"{where}: unknown action {action!r}")
            if len(parts) != want:
                raise TraceError(f"{where}: {action} takes {want - 2} fields, got {len(parts) - 2}")
            threads.add(parts[0])
            ptr = _int(parts[2], 16, where, "pointer")
            if action == "malloc":
                b.allocate(MALLOC, ptr or None, _int(parts[3], 10, where, "size"))
            elif action == "free":
                if ptr:
                    b.free(ptr)
                else:
                    b.dropped["free_null"] += 1
            elif action == "calloc":
                count = _int(parts[3], 10, where, "count")
                b.allocate(CALLOC, ptr or None, _int(parts[4], 10, where, "size"), count)
            elif action == "memalign":
                align = _int(parts[3], 10, where, "alignment")
                size = _int(parts[4], 10, where, "size")
                if align == 0 or align & (align - 1):
                    raise TraceError(f"{where}: alignment {align} is not a power of two")
                b.allocate(MEMALIGN, ptr or None, size, align)
            elif action == "realloc":
                old = _int(parts[3], 16, where, "old pointer")
                size = _int(parts[4], 10, where, "size")
                b.realloc(old or None, ptr or None, size)
            else:  # thread_done
                b.dropped["thread_done"] += 1
    return b.trace(format="aosp", threads=len(threads))


def read_mtrace(path: PathLike) -> Trace:
    """Read a glibc ``mtrace`` log (``MALLOC_TRACE=file``).

    ``@ caller + 0xaddr 0xsize`` (malloc, calloc with count * size,
    memalign, realloc(NULL)), ``@ caller - 0xaddr`` (free, and realloc to size
    0), ``@ caller < 0xold`` followed by ``@ caller > 0xnew 0xsize``
    (realloc), ``@ caller ! 0xold 0xsize`` (a failed realloc); ``= Start`` /
    ``= End`` lines are markers.  glibc prints a NULL pointer as ``(nil)``:
    ``+ (nil) 0xsize`` is an allocation that failed and ``! (nil) 0xsize`` a
    failed realloc(NULL) (both ``failed_alloc``), ``- (nil)`` a free(NULL)
    (``free_null``).
    """
    b = _Builder(os.fspath(path))
    pending: Optional[tuple[Optional[int], int]] = None  # (old pointer, line) of a '<'
    with _open_text(path) as (stream, source):
        for lineno, line in enumerate(stream, 1):
            parts = line.split()
            if not parts or parts[0] == "=":
                continue
            where = f"{source}, line {lineno}"
            if parts[0] != "@":
                raise TraceError(f"{where}: expected a line starting with '@' or '=', got {line.strip()!r}")
            k = next((i for i in range(1, len(parts)) if parts[i] in ("+", "-", "<", ">", "!")), None)
            if k is None:
                raise TraceError(f"{where}: no operation (+ - < > !) in {line.strip()!r}")
            op, args = parts[k], parts[k + 1 :]
            want = {"+": 2, "-": 1, "<": 1, ">": 2, "!": 2}[op]
            if len(args) != want:
                raise TraceError(f"{where}: '{op}' takes {want} fields, got {len(args)}")
            if pending is not None and op != ">":
                raise TraceError(f"{where}: the realloc begun at line {pending[1]} has no '>' line")
            addr = _pointer(args[0], where)
            if op == "+":
                b.allocate(MALLOC, addr, _int(args[1], 16, where, "size"))
            elif op == "-":
                if addr is None:
                    b.dropped["free_null"] += 1
                else:
                    b.free(addr)
            elif op == "<":
                pending = (addr, lineno)
            elif op == ">":
                if pending is None:
                    raise TraceError(f"{where}: '>' without the '<' line before it")
                b.realloc(pending[0], addr, _int(args[1], 16, where, "size"))
                pending = None
            else:  # '!': realloc(addr, size) returned NULL
                _int(args[1], 16, where, "size")
                # realloc(NULL, n) failing is a failed allocation; else the old block stays
                b.dropped["failed_alloc" if addr is None else "failed_realloc"] += 1
    if pending is not None:
        raise TraceError(f"{source}, line {pending[1]}: the realloc has no '>' line")
    return b.trace(format="mtrace")


def read_rep(path: PathLike) -> Trace:
    """Read a CS:APP malloc-lab trace: four header lines (suggested heap size,
    number of ids, number of operations, weight), then ``a id size``,
    ``r id size`` and ``f id`` lines."""
    name = os.fspath(path)
    b = _Builder(name)
    header: list[int] = []
    ops = 0
    with open(name, encoding="ascii", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            where = f"{name}, line {lineno}"
            if len(header) < 4:
                if len(parts) != 1:
                    raise TraceError(f"{where}: header line {len(header) + 1} must hold one number")
                header.append(_int(parts[0], 10, where, "header value"))
                continue
            kind = parts[0]
            want = {"a": 3, "r": 3, "f": 2}.get(kind)
            if want is None:
                raise TraceError(f"{where}: unknown operation {kind!r} (a, r or f)")
            if len(parts) != want:
                raise TraceError(f"{where}: '{kind}' takes {want - 1} fields, got {len(parts) - 1}")
            ident = _int(parts[1], 10, where, "id")
            if header[1] and ident >= header[1]:
                raise TraceError(f"{where}: id {ident} is not below the {header[1]} ids the header declares")
            ops += 1
            if kind == "a":
                b.allocate(MALLOC, ident, _int(parts[2], 10, where, "size"))
            elif kind == "r":
                size = _int(parts[2], 10, where, "size")
                b.realloc(ident if ident in b.live else None, ident, size)
            else:
                b.free(ident)
    if len(header) < 4:
        raise TraceError(f"{name}: the header needs four lines, found {len(header)}")
    if ops != header[2]:
        raise TraceError(f"{name}: the header declares {header[2]} operations, the file has {ops}")
    return b.trace(format="rep", suggested_heap=header[0], weight=header[3])


def guess_format(path: PathLike) -> str:
    """The format a file's name suggests (``native`` for .npz, ``mtrace`` for
    .mtrace/.log, ``rep`` for .rep, ``record`` for .mrec or a directory, else ``aosp``)."""
    if os.path.isdir(path):
        return "record"
    suffix = Path(os.fspath(path)).suffix.lower()
    return {".npz": "native", ".mtrace": "mtrace", ".log": "mtrace", ".rep": "rep",
            ".mrec": "record"}.get(suffix, "aosp")


def bundled_trace(name: str) -> Trace:
    """One of the real traces shipped with the package (``BUNDLED_TRACES``)."""
    try:
        path = BUNDLED_TRACES[name]
    except KeyError:
        raise TraceError(f"no bundled trace {name!r}; choose one of {sorted(BUNDLED_TRACES)}") from None
    return read_aosp(path)


def read_trace(path: PathLike, format: Optional[str] = None, pid: Optional[int] = None) -> Trace:
    """Read a trace file in any supported format (guessed from the name when
    ``format`` is None).  ``aosp:NAME`` names a bundled trace.  A recording
    (a directory of ``memalloc record``, or one of its logs) gives its main
    process, or process ``pid``."""
    text = os.fspath(path)
    if pid is not None and (format or guess_format(text)) != "record":
        raise ValueError(f"pid= applies to recordings (format 'record') only, not to {text}")
    if text.startswith("aosp:") and not os.path.exists(text):
        return bundled_trace(text[5:])
    fmt = format or guess_format(text)
    if fmt not in FORMATS:
        raise TraceError(f"unknown trace format {fmt!r}; choose one of {FORMATS}")
    if not os.path.exists(text):
        raise TraceError(f"{text}: no such file")
    if fmt == "native":
        return Trace.load(text)
    if fmt == "record":
        from .recording import read_recording

        return read_recording(text, pid)
    return {"aosp": read_aosp, "mtrace": read_mtrace, "rep": read_rep}[fmt](text)
