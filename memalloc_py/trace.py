"""Allocation traces: sequences of malloc/free events held in numpy arrays.

A trace names allocations by *id*, not by pointer: ``malloc id size``,
``calloc id count size``, ``realloc id size``, ``memalign id alignment size``,
``free id``.  Each id has one lifetime: it starts with an allocation
(malloc, calloc, memalign, or a realloc, which then means ``realloc(NULL)``),
may be realloc'ed any number of times, and ends with a free (or a realloc to
size 0), after which it is not used again.  Importers turn recorded pointers
into ids, a reused address becoming a new id.

Columns (all numpy arrays of one length): ``op`` (uint8, see :data:`OPS`),
``id`` (uint32), ``size`` (uint64; for calloc the element size) and ``arg``
(uint64; calloc's count, memalign's alignment, else 0).
"""
from __future__ import annotations

import json
import os
from typing import Any, Iterable, Iterator, Optional, Sequence, Union

import numpy as np

__all__ = ["Trace", "TraceError", "OPS", "MALLOC", "CALLOC", "REALLOC", "MEMALIGN", "FREE"]

MALLOC, CALLOC, REALLOC, MEMALIGN, FREE = 0, 1, 2, 3, 4
#: Event kinds by code.
OPS = ("malloc", "calloc", "realloc", "memalign", "free")
_CODE = {name: code for code, name in enumerate(OPS)}
_FORMAT_VERSION = 1


class TraceError(ValueError):
    """A malformed trace or trace file; the message names the event or line."""


def _column(values: Any, dtype: str, name: str, n: Optional[int] = None) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise TraceError(f"{name} must be one-dimensional")
    if n is not None and len(arr) != n:
        raise TraceError(f"{name} has {len(arr)} entries, op has {n}")
    if arr.size and arr.dtype.kind not in "ui":
        raise TraceError(f"{name} must hold integers, not {arr.dtype}")
    if arr.size and arr.dtype.kind == "i" and arr.min() < 0:
        raise TraceError(f"{name} must not be negative (event {int(np.argmax(arr < 0))})")
    return np.ascontiguousarray(arr, dtype=dtype)


class Trace:
    """A validated sequence of allocation events (see the module docstring).

    Build one with :meth:`from_events`, an importer (``memalloc_py.importers``),
    a workload generator (``memalloc_py.workloads``), or :meth:`load`.
    """

    __slots__ = ("op", "id", "size", "arg", "n_ids", "meta")

    def __init__(
        self,
        op: Any,
        id: Any,
        size: Any,
        arg: Any = None,
        *,
        n_ids: Optional[int] = None,
        meta: Optional[dict[str, Any]] = None,
        validate: bool = True,
    ):
        self.op = _column(op, "u1", "op")
        n = len(self.op)
        self.id = _column(id, "u4", "id", n)
        self.size = _column(size, "u8", "size", n)
        self.arg = np.zeros(n, dtype="u8") if arg is None else _column(arg, "u8", "arg", n)
        self.n_ids = int(self.id.max()) + 1 if n and n_ids is None else int(n_ids or 0)
        self.meta: dict[str, Any] = dict(meta or {})
        if validate:
            self.validate()

    # ------------------------------------------------------------ construction

    @classmethod
    def from_events(cls, events: Iterable[Sequence[Any]], **meta: Any) -> "Trace":
        """From tuples: ``("malloc", id, size)``, ``("calloc", id, count, size)``,
        ``("realloc", id, size)``, ``("memalign", id, alignment, size)``,
        ``("free", id)``.  Ids may be any hashable values; they are numbered
        densely in order of first appearance (a new lifetime of a freed id
        gets a new number)."""
        ops: list[int] = []
        ids: list[int] = []
        sizes: list[int] = []
        args: list[int] = []
        number: dict[Any, int] = {}  # key -> number of its current lifetime
        ended: set[Any] = set()      # keys whose current lifetime has ended
        next_number = 0
        arity = {"malloc": 3, "calloc": 4, "realloc": 3, "memalign": 4, "free": 2}
        for i, ev in enumerate(events):
            if not ev or ev[0] not in _CODE:
                raise TraceError(f"event {i}: unknown kind {ev[0] if ev else None!r}; use one of {OPS}")
            kind = ev[0]
            if len(ev) != arity[kind]:
                raise TraceError(f"event {i}: {kind} takes {arity[kind] - 1} fields, got {len(ev) - 1}")
            key = ev[1]
            starts = kind != "free"  # realloc of a dead key means realloc(NULL)
            if key not in number or (key in ended and starts):
                number[key] = next_number
                next_number += 1
                ended.discard(key)
            if kind in ("calloc", "memalign"):
                args.append(_nonneg(ev[2], i))
                sizes.append(_nonneg(ev[3], i))
            else:
                args.append(0)
                sizes.append(_nonneg(ev[2], i) if kind != "free" else 0)
            ops.append(_CODE[kind])
            ids.append(number[key])
            if kind == "free" or (kind == "realloc" and sizes[-1] == 0):
                ended.add(key)
        return cls(
            np.array(ops, dtype="u1"),
            np.array(ids, dtype="u4"),
            np.array(sizes, dtype="u8"),
            np.array(args, dtype="u8"),
            meta=meta,
        )

    # ----------------------------------------------------------------- access

    def __len__(self) -> int:
        return len(self.op)

    def events(self) -> Iterator[tuple[Any, ...]]:
        """The events as tuples in :meth:`from_events` form (ids as ints)."""
        for o, i, s, a in zip(self.op.tolist(), self.id.tolist(), self.size.tolist(), self.arg.tolist()):
            kind = OPS[o]
            if o == FREE:
                yield (kind, i)
            elif o in (CALLOC, MEMALIGN):
                yield (kind, i, a, s)
            else:
                yield (kind, i, s)

    def request_sizes(self) -> np.ndarray:
        """Bytes each event asks for (calloc: count * size; free: 0)."""
        out = self.size.copy()
        c = self.op == CALLOC
        out[c] = self.size[c] * self.arg[c]
        out[self.op == FREE] = 0
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Trace):
            return NotImplemented
        return (
            self.n_ids == other.n_ids
            and np.array_equal(self.op, other.op)
            and np.array_equal(self.id, other.id)
            and np.array_equal(self.size, other.size)
            and np.array_equal(self.arg, other.arg)
        )

    def __repr__(self) -> str:
        name = self.meta.get("name", "")
        return f"<Trace {name + ' ' if name else ''}{len(self)} events, {self.n_ids} ids>"

    # -------------------------------------------------------------- validation

    def validate(self) -> None:
        """Raise :class:`TraceError` naming the first event that breaks the
        lifetime rules (vectorised: fast on millions of events)."""
        n = len(self.op)
        if n == 0:
            return
        bad_op = np.flatnonzero(self.op > FREE)
        if bad_op.size:
            i = int(bad_op[0])
            raise TraceError(f"event {i}: unknown event code {int(self.op[i])}")
        if int(self.id.max()) >= self.n_ids:
            i = int(np.argmax(self.id >= self.n_ids))
            raise TraceError(f"event {i}: id {int(self.id[i])} is not below n_ids={self.n_ids}")
        memalign = np.flatnonzero(self.op == MEMALIGN)
        al = self.arg[memalign]
        bad_al = memalign[(al == 0) | ((al & (al - 1)) != 0)]
        if bad_al.size:
            i = int(bad_al[0])
            raise TraceError(f"event {i}: memalign alignment {int(self.arg[i])} is not a power of two")
        order = np.argsort(self.id, kind="stable")
        ids = self.id[order]
        ops = self.op[order]
        first = np.empty(n, dtype=bool)
        first[0] = True
        first[1:] = ids[1:] != ids[:-1]
        # An event ends its lifetime: free, or realloc to size 0.
        ends = (ops == FREE) | ((ops == REALLOC) & (self.size[order] == 0))
        violations = []
        starts_ok = (ops == MALLOC) | (ops == CALLOC) | (ops == MEMALIGN) | (ops == REALLOC)
        bad = first & ~starts_ok
        if bad.any():
            violations.append((bad, "{kind} of id {id}, which is not live"))
        bad = ~first & ((ops == MALLOC) | (ops == CALLOC) | (ops == MEMALIGN))
        if bad.any():
            violations.append((bad, "{kind} reuses id {id}, which is still live"))
        after_end = np.zeros(n, dtype=bool)
        after_end[1:] = ends[:-1] & ~first[1:]
        if after_end.any():
            violations.append((after_end, "{kind} of id {id} after it was freed"))
        if violations:
            where = min(int(order[np.flatnonzero(mask)].min()) for mask, _ in violations)
            for mask, text in violations:
                if int(order[np.flatnonzero(mask)].min()) == where:
                    raise TraceError(
                        f"event {where}: "
                        + text.format(kind=OPS[int(self.op[where])], id=int(self.id[where]))
                    )

    # ------------------------------------------------------------- file format

    def save(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Save to one compressed ``.npz`` file (the ``native`` format)."""
        header = {"format": "memalloc_py-trace", "version": _FORMAT_VERSION,
                  "n_ids": self.n_ids, "meta": self.meta}
        with open(path, "wb") as f:
            np.savez_compressed(
                f, op=self.op, id=self.id, size=self.size, arg=self.arg,
                header=np.frombuffer(json.dumps(header).encode(), dtype="u1"),
            )

    @classmethod
    def load(cls, path: Union[str, "os.PathLike[str]"]) -> "Trace":
        """Load a file written by :meth:`save` (validated on load)."""
        try:
            with np.load(path, allow_pickle=False) as z:
                header = json.loads(bytes(z["header"]).decode())
                if header.get("format") != "memalloc_py-trace":
                    raise TraceError(f"{path}: not a memalloc_py trace file")
                if header.get("version", 0) > _FORMAT_VERSION:
                    raise TraceError(f"{path}: trace format version {header['version']} is newer than this memalloc_py")
                return cls(z["op"], z["id"], z["size"], z["arg"],
                           n_ids=int(header["n_ids"]), meta=header.get("meta") or {})
        except TraceError:
            raise
        except (OSError, ValueError, KeyError) as e:
            if isinstance(e, FileNotFoundError):
                raise
            raise TraceError(f"{path}: not a readable memalloc_py trace file ({e})") from None


def _nonneg(value: Any, i: int) -> int:
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TraceError(f"event {i}: {value!r} is not an integer")
    v = int(value)
    if v < 0 or v >= 1 << 64:
        raise TraceError(f"event {i}: {v} is out of range")
    return v
