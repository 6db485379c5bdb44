"""Allocation traces: sequences of malloc/free events held in numpy arrays.

A trace names allocations by *id*, not by pointer: ``malloc id size``,
``calloc id count size``, ``realloc id size``, ``memalign id alignment size``,
``free id``.  Each id has one lifetime: it starts with an allocation
(malloc, calloc, memalign, or a realloc, which then means ``realloc(NULL)``),
may be realloc'ed any number of times, and ends with a free (or a realloc to
size 0), after which it is not used again.  Importers turn recorded pointers
into ids, a reused address becoming a new id.

Columns (read-only numpy arrays of one length): ``op`` (uint8, see
:data:`OPS`), ``id`` (uint32), ``size`` (uint64; for calloc the element size)
and ``arg`` (uint64; calloc's count, memalign's alignment, else 0).
"""
from __future__ import annotations

import json
import os
import zipfile
import zlib
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


_DTYPES = {"op": np.dtype("u1"), "id": np.dtype("u4"), "size": np.dtype("u8"), "arg": np.dtype("u8")}
#: Most allocations a trace can name (the C engine's id table is indexed by uint32).
MAX_IDS = 1 << 32
#: Largest request the C core can satisfy (MA_MAX_REQUEST in csrc/ma_internal.h);
#: a larger one is out of memory in every allocator.
MAX_REQUEST = 1 << 62


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _frozen(arr: np.ndarray) -> np.ndarray:
    """``arr`` as a read-only array backed by an immutable bytes object, so
    neither it nor anything it is a view of can be made writable again, and
    the caller's own array may change afterwards without affecting it."""
    base: Any = arr
    while isinstance(base, np.ndarray) and not base.flags.writeable:
        base = base.base
    if isinstance(base, bytes) and arr.flags.c_contiguous:
        return arr  # already immutable (another trace's column)
    return np.frombuffer(arr.tobytes(), dtype=arr.dtype)


def _check_range(name: str, dtype: np.dtype, lo: int, lo_at: int, hi: int, hi_at: int) -> None:
    if lo < 0:
        raise TraceError(f"{name} {lo} (event {lo_at}) is negative")
    if name == "op" and hi > FREE:
        raise TraceError(f"op {hi} (event {hi_at}) is not an event code (0-{FREE}: {', '.join(OPS)})")
    if hi > np.iinfo(dtype).max:
        raise TraceError(f"{name} {hi} (event {hi_at}) does not fit {dtype.name}")


def _column(values: Any, name: str, n: Optional[int] = None) -> np.ndarray:
    """One validated, read-only column.  Values are checked before any
    conversion, so nothing is wrapped: negative values, values that do not
    fit the column's type, op codes that are not events, and anything that is
    not an integer (floats, bools, strings, objects) are errors."""
    dtype = _DTYPES[name]
    if isinstance(values, (list, tuple, range)):
        # Python ints are checked exactly, before numpy would turn ints
        # beyond int64 into floats or bools into ints.
        obj = np.array(values, dtype=object)
        if obj.ndim != 1:
            raise TraceError(f"{name} must be one-dimensional")
        items = obj.tolist()
        bad = next((v for v in items if not _is_int(v)), None)
        if bad is not None:
            raise TraceError(f"{name} must hold integers, not {type(bad).__name__}")
        if n is not None and len(items) != n:
            raise TraceError(f"{name} has {len(items)} entries, op has {n}")
        if items:
            lo_at = min(range(len(items)), key=items.__getitem__)
            hi_at = max(range(len(items)), key=items.__getitem__)
            _check_range(name, dtype, int(items[lo_at]), lo_at, int(items[hi_at]), hi_at)
        return _frozen(np.array([int(v) for v in items], dtype=dtype))
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise TraceError(f"{name} must be one-dimensional")
    if n is not None and len(arr) != n:
        raise TraceError(f"{name} has {len(arr)} entries, op has {n}")
    if arr.size:
        if arr.dtype.kind not in "ui":
            raise TraceError(f"{name} must hold integers, not {arr.dtype}")
        lo_at, hi_at = int(np.argmin(arr)), int(np.argmax(arr))
        _check_range(name, dtype, int(arr[lo_at]), lo_at, int(arr[hi_at]), hi_at)
    return _frozen(arr.astype(dtype, copy=False))


def _count_ids(value: Any) -> int:
    if not _is_int(value) or not 0 <= int(value) <= MAX_IDS:
        raise TraceError(f"n_ids {value!r} is not an integer in [0, 2**32]")
    return int(value)


class Trace:
    """A validated sequence of allocation events (see the module docstring).

    Build one with :meth:`from_events`, an importer (``memalloc_py.importers``),
    a workload generator (``memalloc_py.workloads``), or :meth:`load`.

    The columns ``op``, ``id``, ``size``, ``arg`` and ``n_ids`` are read-only:
    the arrays cannot be written (nor made writable), and assigning one raises
    AttributeError.  For changed events build a new trace, which is validated:
    ``Trace(op, id, size, arg, n_ids=..., meta=...)`` with your own arrays
    (the constructor copies them, so later changes to them do not reach the
    trace).  ``meta`` is an ordinary dict.
    """

    __slots__ = ("_op", "_id", "_size", "_arg", "_n_ids", "meta")

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
        self._op = _column(op, "op")
        n = len(self._op)
        self._id = _column(id, "id", n)
        self._size = _column(size, "size", n)
        self._arg = _frozen(np.zeros(n, dtype="u8")) if arg is None else _column(arg, "arg", n)
        if n_ids is None:
            n_ids = int(self._id.max()) + 1 if n else 0
        self._n_ids = _count_ids(n_ids)
        self.meta: dict[str, Any] = dict(meta or {})
        if validate:
            self.validate()

    @property
    def op(self) -> np.ndarray:
        """Event codes (uint8, read-only; see :data:`OPS`)."""
        return self._op

    @property
    def id(self) -> np.ndarray:
        """Allocation ids (uint32, read-only), each below :attr:`n_ids`."""
        return self._id

    @property
    def size(self) -> np.ndarray:
        """Request sizes (uint64, read-only; calloc: the element size)."""
        return self._size

    @property
    def arg(self) -> np.ndarray:
        """calloc's count, memalign's alignment, else 0 (uint64, read-only)."""
        return self._arg

    @property
    def n_ids(self) -> int:
        """The number of ids (every id is below it; at most 2**32)."""
        return self._n_ids

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("op", "id", "size", "arg", "n_ids"):
            raise AttributeError(
                f"Trace.{name} is read-only: build a new, validated trace with "
                f"Trace(op, id, size, arg, n_ids=..., meta=...) from your own arrays")
        object.__setattr__(self, name, value)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self._op, self._id, self._size, self._arg, self._n_ids, self.meta))

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
        """Bytes each event asks for (uint64; calloc: count * size, saturated
        at 2**64 - 1 when the product does not fit; free: 0)."""
        out = self.size.copy()
        c = np.flatnonzero(self.op == CALLOC)
        size, count = self.size[c], self.arg[c]
        with np.errstate(over="ignore"):
            product = size * count
        overflow = (size != 0) & (count > np.iinfo(np.uint64).max // np.maximum(size, 1))
        out[c] = np.where(overflow, np.iinfo(np.uint64).max, product)
        out[self.op == FREE] = 0
        return out

    def impossible_requests(self) -> np.ndarray:
        """Which events ask for more than :data:`MAX_REQUEST` (2**62) bytes,
        or a memalign for a larger alignment: out of memory in every
        allocator, so the replay engine counts them as failures (bool)."""
        return self._impossible(self.request_sizes())

    def _impossible(self, req: np.ndarray) -> np.ndarray:
        return (self.op != FREE) & ((req > MAX_REQUEST) | ((self.op == MEMALIGN) & (self.arg > MAX_REQUEST)))

    def _replay_ids(self, mask: np.ndarray, order: np.ndarray, req: np.ndarray,
                    impossible: np.ndarray, holds_s: np.ndarray,
                    held_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The state after each event of the ids in ``mask`` (sorted order),
        event by event as the replay engine sees it.  Only ids with a realloc
        to 0 bytes need it: whether that frees or allocates depends on the
        id's state before it (``realloc(NULL, 0)`` allocates a minimum block,
        as ``realloc(None, 0)`` does, while on an id whose allocation failed
        it only ends that id's lifetime, as in the engine)."""
        holds_s = holds_s.copy()
        held_s = held_s.copy()
        live, failed, cur, prev_id = False, False, 0, -1
        for k in np.flatnonzero(mask).tolist():
            e = int(order[k])
            i, o, r, bad = int(self.id[e]), int(self.op[e]), int(req[e]), bool(impossible[e])
            if i != prev_id:
                live, failed, cur, prev_id = False, False, 0, i
            if o == FREE or (o == REALLOC and r == 0 and (live or failed)):
                live, failed, cur = False, False, 0  # a free, or the end of a failed allocation
            elif o == REALLOC and live:
                if not bad:
                    cur = r
            else:  # an allocation, realloc(NULL, r) included (r == 0: a minimum block)
                live, failed, cur = not bad, bad, (0 if bad else r)
            holds_s[k], held_s[k] = live, cur
        return holds_s, held_s

    def live_deltas(self) -> tuple[np.ndarray, np.ndarray]:
        """How each event changes the live requested bytes and the live block
        count (int64 arrays), when every request that can succeed does.  Their
        cumulative sums are L(t) and the number of live blocks after event t
        (the bytes' sum may exceed int64: :meth:`summary` adds them exactly).

        As in the replay engine, an impossible request
        (:meth:`impossible_requests`) fails: an allocation leaves its id on
        NULL (a later free does nothing, a later realloc allocates), and a
        realloc leaves the block as it was.  A realloc to size 0 ends the
        lifetime of a live block; on an id that holds nothing it is
        ``realloc(NULL, 0)``, which allocates a minimum block of 0 requested
        bytes that stays live."""
        n = len(self)
        op = self.op
        req = self.request_sizes()
        impossible = self._impossible(req)
        # What the id holds after each event: live or not, and its bytes (at
        # most MAX_REQUEST, so every difference fits int64).
        holds = (op != FREE) & ~impossible & ~((op == REALLOC) & (req == 0))
        held = req.astype(np.int64)
        held[~holds] = 0
        order = np.argsort(self.id, kind="stable")
        ids = self.id[order]
        first = np.ones(n, dtype=bool)
        first[1:] = ids[1:] != ids[:-1]
        holds_s = holds[order]
        held_s = held[order]
        carries = impossible & (op == REALLOC)
        if carries.any():
            # A failed realloc changes nothing: it takes the state of the
            # event before it on its id (as an id's first event, the initial
            # state, nothing held, which is already its own).
            src = np.where(~carries[order] | first, np.arange(n), 0)
            src = np.maximum.accumulate(src)
            holds_s = holds_s[src]
            held_s = held_s[src]
        zero = (op == REALLOC) & (req == 0)
        if zero.any():
            holds_s, held_s = self._replay_ids(np.isin(ids, self.id[zero]), order, req,
                                               impossible, holds_s, held_s)
        dbytes_s = held_s.copy()
        dbytes_s[1:] -= held_s[:-1]
        dbytes_s[first] = held_s[first]
        dblocks_s = holds_s.astype(np.int64)
        dblocks_s[1:] -= holds_s[:-1]
        dblocks_s[first] = holds_s[first]
        dbytes = np.empty(n, dtype=np.int64)
        dblocks = np.empty(n, dtype=np.int64)
        dbytes[order] = dbytes_s
        dblocks[order] = dblocks_s
        return dbytes, dblocks

    def summary(self) -> dict[str, Any]:
        """Events by kind, the maxima of live bytes and blocks, total bytes
        allocated, the impossible requests, and a histogram of request sizes
        by power of two.

        Requests above 2**62 bytes (:meth:`impossible_requests`) fail as in
        replay: they are counted in ``impossible_requests`` and neither live
        nor in the totals, mean and histogram.  Every sum is exact (Python
        ints beyond int64); ``mean_request`` is None when nothing can be
        allocated."""
        n = len(self)
        dbytes, dblocks = self.live_deltas()
        blocks = np.cumsum(dblocks) if n else np.zeros(1, dtype=np.int64)
        gained = dbytes[dbytes > 0]
        if float(gained.sum(dtype=np.float64)) < 2.0 ** 62:  # live bytes fit int64
            live = np.cumsum(dbytes) if n else np.zeros(1, dtype=np.int64)
        else:
            live = np.cumsum(dbytes.astype(object))
        impossible = self.impossible_requests()
        sizes = self.request_sizes()[(self.op != FREE) & ~impossible]  # each <= MAX_REQUEST
        total = _exact_sum(sizes)
        return {
            "name": self.meta.get("name", ""),
            "events": n,
            "ids": self.n_ids,
            "by_kind": {kind: int((self.op == code).sum()) for code, kind in enumerate(OPS)},
            "max_live_bytes": max(int(live.max()), 0),
            "max_live_blocks": max(int(blocks.max()), 0),
            "live_bytes_at_end": int(live[-1]),
            "live_blocks_at_end": int(blocks[-1]),
            "total_allocated_bytes": total,
            "mean_request": total / sizes.size if sizes.size else None,
            "impossible_requests": int(impossible.sum()),
            "size_histogram": _histogram(sizes),
            "dropped": dict(self.meta.get("dropped", {})),
        }

    def describe(self) -> str:
        """The summary as readable text (what ``memalloc trace info`` prints)."""
        s = self.summary()
        lines = [f"trace {s['name'] or '(unnamed)'}: {s['events']:,} events, {s['ids']:,} allocations"]
        lines.append("  " + ", ".join(f"{k} {v:,}" for k, v in s["by_kind"].items()))
        lines.append(f"  max live: {s['max_live_bytes']:,} bytes in {s['max_live_blocks']:,} blocks; "
                     f"at the end: {s['live_bytes_at_end']:,} bytes in {s['live_blocks_at_end']:,} blocks")
        mean = "—" if s["mean_request"] is None else f"{s['mean_request']:.1f}"
        lines.append(f"  allocated in all: {s['total_allocated_bytes']:,} bytes, mean request {mean} bytes")
        if s["impossible_requests"]:
            lines.append(f"  impossible requests (over 2**62 bytes, out of memory in any allocator): "
                         f"{s['impossible_requests']:,}")
        if s["dropped"]:
            lines.append("  dropped while importing: " + ", ".join(f"{k} {v:,}" for k, v in s["dropped"].items()))
        lines.append("  request sizes:")
        total = sum(s["size_histogram"].values()) or 1
        for rng, c in s["size_histogram"].items():
            bar = "#" * max(1, round(40 * c / total)) if c else ""
            lines.append(f"    {rng:>21} {c:>12,} {bar}")
        return "\n".join(lines)

    # ------------------------------------------------------- slicing, joining

    def __getitem__(self, key: slice) -> "Trace":
        """Events ``start:stop`` as a trace of their own.  Events on
        allocations made before ``start`` are dropped (so the slice is valid);
        allocations still live at ``stop`` stay live.  Ids are renumbered."""
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("traces slice with [start:stop] only")
        start, stop, _ = key.indices(len(self))
        ids = self.id[start:stop]
        order = np.argsort(self.id, kind="stable")
        first = np.ones(len(self), dtype=bool)
        first[1:] = self.id[order][1:] != self.id[order][:-1]
        first_event = np.full(self.n_ids, len(self), dtype=np.int64)
        first_event[self.id[order][first]] = order[first]
        known = first_event[ids] >= start
        keep = np.flatnonzero(known) + start
        return self._subset(keep, {**self.meta, "name": f"{self.meta.get('name', 'trace')}[{start}:{stop}]"})

    def _subset(self, keep: np.ndarray, meta: dict[str, Any]) -> "Trace":
        ids = self.id[keep]
        uniq, dense = np.unique(ids, return_inverse=True)
        # number ids in order of first appearance, as from_events does
        first_pos = np.full(len(uniq), len(ids), dtype=np.int64)
        np.minimum.at(first_pos, dense, np.arange(len(ids)))
        rank = np.empty(len(uniq), dtype=np.int64)
        rank[np.argsort(first_pos, kind="stable")] = np.arange(len(uniq))
        return Trace(self.op[keep], rank[dense].astype("u4"), self.size[keep], self.arg[keep],
                     n_ids=len(uniq), meta=meta)

    @classmethod
    def concat(cls, traces: Sequence["Trace"], name: str = "") -> "Trace":
        """One trace after another; the ids of each follow those of the ones before."""
        offset = 0
        ids = []
        for t in traces:
            ids.append(t.id.astype(np.int64) + offset)
            offset += t.n_ids
        if offset > 1 << 32:
            raise TraceError("the concatenation has more than 2**32 allocations")
        cat = lambda f: np.concatenate([getattr(t, f) for t in traces]) if traces else np.zeros(0)  # noqa: E731
        return cls(cat("op"), np.concatenate(ids) if ids else np.zeros(0), cat("size"), cat("arg"),
                   n_ids=offset, meta={"name": name or " + ".join(t.meta.get("name", "trace") for t in traces)})

    def __add__(self, other: "Trace") -> "Trace":
        if not isinstance(other, Trace):
            return NotImplemented
        return Trace.concat([self, other])

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
        after_end = np.zeros(n, dtype=bool)
        after_end[1:] = ends[:-1] & ~first[1:]
        bad = ~first & ~after_end & ((ops == MALLOC) | (ops == CALLOC) | (ops == MEMALIGN))
        if bad.any():
            violations.append((bad, "{kind} reuses id {id}, which is still live"))
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
        """Save to one compressed ``.npz`` file (the ``native`` format).

        A trace with more ids than events (ids that no event uses) is refused,
        since :meth:`load` bounds ``n_ids`` by the events; ``t[:]`` is a copy
        with the ids numbered densely."""
        if self._n_ids > len(self):
            raise TraceError(f"{os.fspath(path)}: the trace has {self._n_ids} ids for {len(self)} events; "
                             "t[:] is a copy with dense ids that can be saved")
        header = {"format": "memalloc_py-trace", "version": _FORMAT_VERSION,
                  "n_ids": self.n_ids, "meta": self.meta}
        # The header is made and checked as load() will read it before the
        # file is touched, and the file replaced only once fully written: a
        # trace that cannot be saved leaves an existing file as it was.
        try:
            raw = np.frombuffer(json.dumps(header, allow_nan=False).encode(), dtype="u1")
        except (TypeError, ValueError) as e:
            raise TraceError(f"{os.fspath(path)}: meta cannot be saved as JSON ({e})") from None
        try:
            _read_header(raw)
        except TraceError as e:
            raise TraceError(f"{os.fspath(path)}: {e}") from None
        target = os.fspath(path)
        tmp = f"{target}.{os.getpid()}.tmp"
        try:
            with open(tmp, "wb") as f:
                np.savez_compressed(f, op=self.op, id=self.id, size=self.size, arg=self.arg,
                                    header=raw)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    @classmethod
    def load(cls, path: Union[str, "os.PathLike[str]"]) -> "Trace":
        """Load a file written by :meth:`save`, validated: any malformed file
        (not a zip, a damaged one, a bad header, missing or ill-shaped arrays,
        values out of range, ``n_ids`` above the number of events) raises
        :class:`TraceError` naming the file.  Memory stays bounded by the
        arrays the file holds."""
        name = os.fspath(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                if not hasattr(z, "files"):
                    raise TraceError("not a memalloc_py trace file (not an .npz archive)")
                for key in ("header", "op", "id", "size", "arg"):
                    if key not in z.files:
                        raise TraceError(f"not a memalloc_py trace file (no array {key!r})")
                meta, n_ids = _read_header(z["header"])
                t = cls(z["op"], z["id"], z["size"], z["arg"], n_ids=n_ids, meta=meta, validate=False)
            if t.n_ids > len(t):
                raise TraceError(f"n_ids {t.n_ids} is more than the {len(t)} events use "
                                 "(every id of a saved trace has an event)")
            t.validate()
            return t
        except TraceError as e:
            raise TraceError(f"{name}: {e}") from None
        except FileNotFoundError:
            raise
        except (OSError, ValueError, KeyError, TypeError, EOFError, NotImplementedError,
                MemoryError, RecursionError, zipfile.BadZipFile, zlib.error) as e:
            raise TraceError(f"{name}: not a readable memalloc_py trace file "
                             f"({type(e).__name__}: {e})") from None


def _read_header(raw: np.ndarray) -> tuple[dict[str, Any], int]:
    """The meta and n_ids of a trace file's header array (TraceError if bad)."""
    if raw.ndim != 1 or raw.dtype != np.dtype("u1"):
        raise TraceError(f"the header is not a byte string ({raw.dtype} array of shape {raw.shape})")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except ValueError as e:
        raise TraceError(f"not a readable memalloc_py trace file (the header: {e})") from None
    if not isinstance(header, dict):
        raise TraceError(f"the header is not a JSON object but a {type(header).__name__}")
    if header.get("format") != "memalloc_py-trace":
        raise TraceError("not a memalloc_py trace file")
    version = header.get("version")
    if not _is_int(version) or version < 1:
        raise TraceError(f"version {version!r} is not a format version")
    if version > _FORMAT_VERSION:
        raise TraceError(f"trace format version {version} is newer than this memalloc_py")
    n_ids = _count_ids(header.get("n_ids"))
    meta = header.get("meta")
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise TraceError(f"meta is not a JSON object but a {type(meta).__name__}")
    dropped = meta.get("dropped", {})
    if not isinstance(dropped, dict) or not all(_is_int(v) and v >= 0 for v in dropped.values()):
        raise TraceError("meta.dropped is not an object of counts")
    if not isinstance(meta.get("name", ""), str):
        raise TraceError("meta.name is not a string")
    return meta, n_ids


def _exact_sum(values: np.ndarray) -> int:
    """The exact sum of uint64 values (below 2**64 each, fewer than 2**31 of
    them): the high and low 32-bit halves are summed separately in uint64."""
    v = values.astype(np.uint64, copy=False)
    hi = int((v >> np.uint64(32)).sum(dtype=np.uint64))
    lo = int((v & np.uint64(0xFFFFFFFF)).sum(dtype=np.uint64))
    return (hi << 32) + lo


def _histogram(sizes: np.ndarray) -> dict[str, int]:
    """Counts of sizes by power of two: bin k holds (2**(k-1), 2**k], bin 0
    holds 0 and 1.  Exact for every uint64 (no floating-point logarithm)."""
    if not sizes.size:
        return {}
    x = sizes.astype(np.uint64) - (sizes > 0).astype(np.uint64)  # size - 1, or 0
    # bit length of x: frexp's exponent, corrected where the float rounded up
    k = np.minimum(np.frexp(x.astype(np.float64))[1], 64).astype(np.int64)
    shift = np.maximum(k - 1, 0).astype(np.uint64)
    k -= ((k > 0) & ((x >> shift) == 0)).astype(np.int64)
    ks, counts = np.unique(k, return_counts=True)
    hist: dict[str, int] = {}
    for kk, c in zip(ks.tolist(), counts.tolist()):
        lo = 0 if kk == 0 else (1 << (kk - 1)) + 1
        hist[f"{lo}-{1 << kk}"] = int(c)
    return hist


def _nonneg(value: Any, i: int) -> int:
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TraceError(f"event {i}: {value!r} is not an integer")
    v = int(value)
    if v < 0 or v >= 1 << 64:
        raise TraceError(f"event {i}: {v} is out of range")
    return v


def _rebuild(op: np.ndarray, id: np.ndarray, size: np.ndarray, arg: np.ndarray, n_ids: int,
             meta: dict[str, Any]) -> Trace:
    """Unpickling: through the constructor, so the columns are read-only again."""
    return Trace(op, id, size, arg, n_ids=n_ids, meta=meta)
