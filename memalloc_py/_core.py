"""The allocator-independent Python layer over the C interface.

Every allocator is an :class:`Allocator`: a thin, typed wrapper around one C
``ma_allocator`` handle.  Subclasses only add a constructor that calls the
right ``ma_*_create`` function.  Arguments are checked here, before the C
call, so that a bad argument raises a typed exception and changes nothing.
"""
from __future__ import annotations

import contextlib
import dataclasses
import operator
import os
import threading
import weakref
from typing import Any, Callable, Iterator, NamedTuple, Optional

import numpy as np

from ._native import ffi, lib

__all__ = [
    "AllocatorError",
    "InvalidAddress",
    "HeapCorruption",
    "Stats",
    "Block",
    "Blocks",
    "Allocator",
    "BLOCK_DTYPE",
]

_U64_MAX = (1 << 64) - 1
MA_NULL = _U64_MAX
_NEG_ENOMEM = -lib.MA_ENOMEM


class AllocatorError(Exception):
    """Base class of the errors that an allocator reports."""


class InvalidAddress(AllocatorError, ValueError):
    """An address that is not the start of a live block (the heap is unchanged)."""


class HeapCorruption(AllocatorError):
    """``check()`` found a broken heap invariant; the message names the first."""


# --------------------------------------------------------------------------- stats

_STAT_FIELDS = (
    "live_blocks",
    "requested_bytes",
    "allocated_bytes",
    "free_bytes",
    "free_blocks",
    "largest_free",
    "heap_size",
    "peak_heap_size",
    "peak_requested_bytes",
    "metadata_bytes",
    "mallocs",
    "frees",
    "reallocs",
    "failures",
    "arena_size",
)


@dataclasses.dataclass(frozen=True)
class Stats:
    """A snapshot of an allocator's statistics; docs/measures.md defines every field.

    ``heap_size`` is where the part of the arena in use ends: for the
    free-list family the top of the heap, which grows in ``growth`` steps like
    the program break; for buddy the end of the highest live block (free
    blocks above it are not counted in ``free_bytes``); 0 for ``system``,
    whose heap cannot be observed.

    ``mallocs`` counts malloc, calloc, memalign and ``realloc(None, n)`` calls
    (successful or not); ``frees`` counts frees of live blocks, including
    ``realloc(p, 0)``; ``reallocs`` counts realloc calls on a live block with a
    size above zero; ``failures`` counts out-of-memory results.
    """

    live_blocks: int
    requested_bytes: int
    allocated_bytes: int
    free_bytes: int
    free_blocks: int
    largest_free: int
    heap_size: int
    peak_heap_size: int
    peak_requested_bytes: int
    metadata_bytes: int
    mallocs: int
    frees: int
    reallocs: int
    failures: int
    arena_size: int

    @property
    def internal_fragmentation(self) -> float:
        """``1 - requested/allocated``: the share of allocated bytes not asked for."""
        if self.allocated_bytes == 0:
            return 0.0
        return 1.0 - self.requested_bytes / self.allocated_bytes

    @property
    def external_fragmentation(self) -> float:
        """``1 - largest_free/free_bytes`` (0 when nothing is free)."""
        if self.free_bytes == 0:
            return 0.0
        return 1.0 - self.largest_free / self.free_bytes

    def as_dict(self) -> dict[str, float]:
        d: dict[str, float] = dataclasses.asdict(self)
        d["internal_fragmentation"] = self.internal_fragmentation
        d["external_fragmentation"] = self.external_fragmentation
        return d


# -------------------------------------------------------------------------- blocks

#: dtype of :attr:`Blocks.array`; ``address`` is -1 for a free block.
BLOCK_DTYPE = np.dtype(
    [
        ("offset", "<u8"),
        ("size", "<u8"),
        ("allocated", "?"),
        ("address", "<i8"),
        ("requested", "<u8"),
    ]
)

# The C struct ma_block, as numpy sees it.
_C_BLOCK_DTYPE = np.dtype(
    {
        "names": ["offset", "size", "address", "requested", "allocated"],
        "formats": ["<u8", "<u8", "<i8", "<u8", "<i4"],
        "offsets": [
            ffi.offsetof("ma_block", "offset"),
            ffi.offsetof("ma_block", "size"),
            ffi.offsetof("ma_block", "address"),
            ffi.offsetof("ma_block", "requested"),
            ffi.offsetof("ma_block", "allocated"),
        ],
        "itemsize": ffi.sizeof("ma_block"),
    }
)


class Block(NamedTuple):
    """One block of the heap, as ``blocks()`` reports it."""

    offset: int
    size: int
    allocated: bool
    address: Optional[int]
    requested: int


class Blocks:
    """Every block of a heap in address order, held in a numpy structured array.

    ``blocks["size"]`` is a numpy column; iterating or indexing with an integer
    gives :class:`Block` tuples (whose ``address`` is ``None`` for a free
    block); :meth:`to_pandas` gives a DataFrame.
    """

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray):
        self.array = array

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return self.array[key]
        if isinstance(key, (int, np.integer)):
            return self._block(self.array[key])
        return Blocks(self.array[key])

    def __iter__(self) -> Iterator[Block]:
        for row in self.array:
            yield self._block(row)

    @staticmethod
    def _block(row: Any) -> Block:
        allocated = bool(row["allocated"])
        return Block(
            int(row["offset"]),
            int(row["size"]),
            allocated,
            int(row["address"]) if allocated else None,
            int(row["requested"]),
        )

    @property
    def allocated(self) -> "Blocks":
        return Blocks(self.array[self.array["allocated"]])

    @property
    def free(self) -> "Blocks":
        return Blocks(self.array[~self.array["allocated"]])

    def to_pandas(self) -> Any:
        import pandas as pd

        df = pd.DataFrame(self.array)
        df["address"] = df["address"].where(df["allocated"]).astype("Int64")
        return df

    def __repr__(self) -> str:
        n_alloc = int(self.array["allocated"].sum())
        return f"<Blocks: {len(self)} blocks, {n_alloc} allocated>"


# ------------------------------------------------------------------ argument checks


def _count(value: Any, what: str) -> int:
    """An unsigned 64-bit quantity (a size, a count): TypeError / ValueError."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"{what} must be an integer, not {type(value).__name__}")
    v = operator.index(value)
    if v < 0:
        raise ValueError(f"{what} must be >= 0, got {v}")
    if v > _U64_MAX:
        raise ValueError(f"{what} {v} does not fit in 64 bits")
    return v


def _address(value: Any, op: str) -> int:
    """An address argument; something that can never be live is InvalidAddress."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"{op}: address must be an int or None, not {type(value).__name__}")
    v = operator.index(value)
    if v < 0 or v >= _U64_MAX:
        raise InvalidAddress(f"{op}({v:#x}): not the start of a live block")
    return v


_STATUS_EXC: dict[int, type[Exception]] = {
    lib.MA_EADDR: InvalidAddress,
    lib.MA_EINVAL: ValueError,
    lib.MA_ERANGE: IndexError,
    lib.MA_ECORRUPT: HeapCorruption,
    lib.MA_ESYS: AllocatorError,
    lib.MA_EUNSUPPORTED: NotImplementedError,
    lib.MA_ECLOSED: ValueError,
    lib.MA_ENOMEM: MemoryError,
    lib.MA_EBUSY: AllocatorError,  # a call from inside the instance's own callback
}


def _status_error(status: int, handle: Any = None) -> Exception:
    """The typed exception for a failed C call, with the message that call
    left for this thread (read right after it, so never another thread's)."""
    del handle  # the message is per thread, not per instance
    message = ffi.string(lib.ma_thread_error()).decode()
    if not message:
        message = ffi.string(lib.ma_status_message(status)).decode()
    return _STATUS_EXC.get(status, AllocatorError)(message)


# ------------------------------------------------------------------------ allocator


class Allocator:
    """One allocator instance over its own arena.

    Addresses are byte offsets from the start of the arena (0 is valid; every
    address is a multiple of 16).  Use :func:`memalloc_py.create` or a
    subclass's constructor; close it with :meth:`close` or a ``with`` block.
    """

    def __init__(self, create: Callable[[Any], int], options: dict[str, Any]):
        out = ffi.new("ma_allocator **")
        status = create(out)
        if status != lib.MA_OK:
            raise _status_error(status, None)
        self._h: Any = ffi.gc(out[0], lib.ma_destroy)  # owns the C instance
        self._hp: Any = self._h  # the handle while usable, None once closed
        self._closed = False
        # Set in a forked child when the instance was busy in another thread
        # at the fork (see _after_fork_in_child): why it cannot be used.
        self._unusable: Optional[str] = None
        # Threads inside a replay of this instance with a Python progress
        # callback (see _calling_back).
        self._py_replays: list[int] = []
        self.options: dict[str, Any] = dict(options)
        self.name = ffi.string(lib.ma_name(self._h)).decode()
        self.arena_size: int = int(lib.ma_arena_size(self._h))
        with _registry_lock:
            _instances.add(self)

    # -- plumbing

    def _handle(self) -> Any:
        if self._closed:
            raise ValueError(f"operation on a closed {self.name} allocator")  # as C says it
        if self._unusable is not None:
            raise AllocatorError(self._unusable)
        return self._h

    @contextlib.contextmanager
    def _calling_back(self) -> Iterator[None]:
        """Mark a C call that runs Python callbacks on this instance (a replay
        with a progress function): the fork hooks must not wait for it."""
        me = threading.get_ident()
        self._py_replays.append(me)
        try:
            yield
        finally:
            self._py_replays.remove(me)

    def _raise(self, status: int, h: Any) -> None:
        raise _status_error(status, h)

    # -- allocation

    def malloc(self, size: int) -> Optional[int]:
        """Allocate ``size`` bytes: the address, or ``None`` when out of memory."""
        if type(size) is not int or not 0 <= size <= _U64_MAX:
            size = _count(size, "size")
        h = self._hp
        if h is None:
            h = self._handle()
        r = lib.ma_malloc_r(h, size)
        if r >= 0:
            return r
        if r == _NEG_ENOMEM:
            return None
        self._raise(-r, h)
        return None  # unreachable

    def calloc(self, count: int, size: int) -> Optional[int]:
        """``count * size`` zeroed bytes; an overflowing product is out of memory."""
        count = _count(count, "count")
        size = _count(size, "size")
        h = self._handle()
        out = ffi.new("uint64_t *")
        status = lib.ma_calloc(h, count, size, out)
        if status == lib.MA_OK:
            return int(out[0])
        if status == lib.MA_ENOMEM:
            return None
        self._raise(status, h)
        return None

    def memalign(self, alignment: int, size: int) -> Optional[int]:
        """``size`` bytes at an address that is a multiple of ``alignment``
        (a power of two; values below 16 mean 16)."""
        alignment = _count(alignment, "alignment")
        if alignment == 0 or alignment & (alignment - 1):
            raise ValueError(f"alignment must be a power of two, got {alignment}")
        size = _count(size, "size")
        h = self._handle()
        out = ffi.new("uint64_t *")
        status = lib.ma_memalign(h, alignment, size, out)
        if status == lib.MA_OK:
            return int(out[0])
        if status == lib.MA_ENOMEM:
            return None
        self._raise(status, h)
        return None

    def realloc(self, address: Optional[int], size: int) -> Optional[int]:
        """Resize a block, keeping its contents up to the smaller size.

        ``realloc(None, n)`` is ``malloc(n)``; ``realloc(a, 0)`` frees ``a`` and
        returns ``None``; on out of memory it returns ``None`` and the old block
        stays allocated, contents intact.
        """
        size = _count(size, "size")
        addr = MA_NULL if address is None else _address(address, "realloc")
        h = self._handle()
        out = ffi.new("uint64_t *")
        status = lib.ma_realloc(h, addr, size, out)
        if status == lib.MA_OK:
            return None if out[0] == MA_NULL else int(out[0])
        if status == lib.MA_ENOMEM:
            return None
        self._raise(status, h)
        return None

    def free(self, address: Optional[int]) -> None:
        """Free a live block; ``free(None)`` does nothing.

        Raises :class:`InvalidAddress` (heap unchanged) for anything else.
        """
        if address is None:
            self._handle()
            return
        if type(address) is not int or not 0 <= address < _U64_MAX:
            address = _address(address, "free")
        h = self._hp
        if h is None:
            h = self._handle()
        status = lib.ma_free(h, address)
        if status:
            self._raise(status, h)

    def usable_size(self, address: int) -> int:
        """Bytes usable at ``address`` (at least what was requested)."""
        addr = _address(address, "usable_size")
        h = self._handle()
        out = ffi.new("uint64_t *")
        status = lib.ma_usable_size(h, addr, out)
        if status != lib.MA_OK:
            self._raise(status, h)
        return int(out[0])

    def read(self, address: int, size: int, offset: int = 0) -> bytes:
        """``size`` bytes of the block at ``address`` from ``offset`` on.

        Raises IndexError past ``usable_size``.
        """
        addr = _address(address, "read")
        size = _count(size, "size")
        offset = _count(offset, "offset")
        h = self._handle()
        if size > 1 << 16 and offset + size > self.usable_size(addr):
            # Refuse before allocating a buffer the block could never fill.
            raise IndexError(f"read of {size} bytes at offset {offset} passes the block at {addr:#x}")
        buf = ffi.new("char[]", size or 1)
        status = lib.ma_read(h, addr, offset, buf, size)
        if status != lib.MA_OK:
            self._raise(status, h)
        return ffi.unpack(buf, size)

    def write(self, address: int, data: Any, offset: int = 0) -> None:
        """Copy ``data`` (bytes-like) into the block at ``address`` from ``offset`` on.

        Raises IndexError past ``usable_size``; nothing is written then.
        """
        addr = _address(address, "write")
        offset = _count(offset, "offset")
        view = memoryview(data).cast("B")
        h = self._handle()
        src = ffi.from_buffer(view)
        status = lib.ma_write(h, addr, offset, src, len(view))
        if status != lib.MA_OK:
            self._raise(status, h)

    # -- inspection

    def stats(self) -> Stats:
        """A snapshot of the statistics (see :class:`Stats`)."""
        h = self._handle()
        st = ffi.new("ma_stats *")
        status = lib.ma_get_stats(h, st)
        if status != lib.MA_OK:
            self._raise(status, h)
        return Stats(*(int(getattr(st, f)) for f in _STAT_FIELDS))

    def blocks(self) -> Blocks:
        """Every block, free and allocated, in address order (tiles the heap)."""
        h = self._handle()
        count = ffi.new("uint64_t *")
        capacity = 64
        while True:
            raw = np.empty(capacity, dtype=_C_BLOCK_DTYPE)
            status = lib.ma_blocks(
                h, ffi.cast("ma_block *", ffi.from_buffer(raw)), capacity, count
            )
            if status != lib.MA_OK:
                self._raise(status, h)
            if count[0] <= capacity:
                break
            capacity = int(count[0]) + 16
        raw = raw[: int(count[0])]
        out = np.empty(len(raw), dtype=BLOCK_DTYPE)
        for field in ("offset", "size", "address", "requested"):
            out[field] = raw[field]
        out["allocated"] = raw["allocated"] != 0
        return Blocks(out)

    def check(self) -> None:
        """Verify every heap invariant; raise :class:`HeapCorruption` naming the first."""
        h = self._handle()
        status = lib.ma_check(h)
        if status != lib.MA_OK:
            self._raise(status, h)

    def dump(self) -> str:
        """A readable map of the heap, one line per block (like ``show_alloc_mem``).

        Three header lines come first: the arena and the heap size (what
        ``heap_size`` means for this allocator: the free-list heap's top,
        which moves in growth steps like the program break, or the end of the
        buddy system's highest live block), the live blocks, and the free
        blocks of the listing.  The buddy system lists free blocks above its
        heap size too; ``stats()`` counts only those inside the heap, so the
        header gives both counts when they differ.  Each allocated block's line
        gives its address, the bytes requested and its usable size (a free-list
        block's payload runs 8 bytes past its end, into the next block's first
        word, as in glibc).
        """
        def _blocks(n: int) -> str:
            return f"{n} block" if n == 1 else f"{n} blocks"

        st = self.stats()
        blocks = self.blocks()
        width = max(4, len(f"{max(st.heap_size, 1):x}"))
        if self.name == "buddy":
            meaning = "the end of the highest live block"
        else:
            meaning = "the top of the heap, moved in growth steps like the program break"
        free = blocks.free.array
        inside = free[free["offset"] + free["size"] <= st.heap_size]
        if len(free) == 0:
            free_line = "free: none"
        else:
            free_line = f"free: {_blocks(len(free))}, {int(free['size'].sum())} B"
            if len(inside) == len(free):
                free_line += ", all inside the heap"
            else:
                free_line += (f"; inside the heap (what stats() counts): "
                              f"{int(inside['size'].sum())} B in {_blocks(len(inside))}")
        lines = [
            f"{self.name}: arena {st.arena_size} B; heap {st.heap_size} B ({meaning}), "
            f"peak {st.peak_heap_size} B",
            f"live: {_blocks(st.live_blocks)}, "
            f"{st.requested_bytes} B requested in {st.allocated_bytes} B allocated",
            free_line,
        ]
        for b in blocks:
            span = f"0x{b.offset:0{width}x} - 0x{b.offset + b.size:0{width}x}"
            if b.allocated:
                assert b.address is not None
                lines.append(
                    f"  {span} : {b.size:>10} B  allocated  at 0x{b.address:0{width}x}"
                    f"  ({b.requested} requested, {self.usable_size(b.address)} usable)"
                )
            else:
                lines.append(f"  {span} : {b.size:>10} B  free")
        return "\n".join(lines)

    # -- life cycle

    def reset(self) -> None:
        """Free every block: the allocator is as new, statistics included."""
        h = self._handle()
        status = lib.ma_reset(h)
        if status != lib.MA_OK:
            self._raise(status, h)

    def close(self) -> None:
        """Release the arena.  Any later call raises ValueError; closing twice is fine.

        From inside the instance's own replay-progress callback it raises
        :class:`AllocatorError` and the instance stays open.
        """
        if self._closed:
            return
        if self._unusable is None:  # else its lock is held for ever: leave C alone
            status = lib.ma_close(self._h)
            if status != lib.MA_OK:
                self._raise(status, self._h)
        self._closed = True
        self._hp = None

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def arena_base(self) -> int:
        """Where the arena starts in this process (for ctypes/numpy views)."""
        return int(ffi.cast("uintptr_t", lib.ma_arena_base(self._handle())))

    def __enter__(self) -> "Allocator":
        self._handle()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        state = " (closed)" if self._closed else ""
        return f"<{type(self).__name__} {self.name!r}({opts}){state}>"


# ------------------------------------------------------------------------- fork
#
# A forked child has only the thread that called fork(): an instance's mutex
# that another thread held at that moment would stay held for ever there.
# So before a fork every open instance's lock is taken (waiting for the
# calls in progress), and after it released in the parent and renewed in the
# child (ma_fork_prepare / _parent / _child).  The exception: an instance
# inside a replay whose Python progress callback runs in another thread.
# The fork must not wait for that replay (its callback may wait for
# something the forking thread holds, and the replay may last minutes), so
# it is skipped, and in the child, where its heap may be caught in the middle
# of an event, every call on it raises AllocatorError.  So does every
# instance created while the fork was being prepared (not prepared itself).

_registry_lock = threading.Lock()  # guards _instances
_instances: "weakref.WeakSet[Allocator]" = weakref.WeakSet()
_fork_lock = threading.Lock()  # one fork at a time: held from before to after
_fork_prepared: list[Allocator] = []


def _before_fork() -> None:
    _fork_lock.acquire()
    with _registry_lock:
        candidates = list(_instances)
    me = threading.get_ident()
    for a in candidates:
        busy = a._py_replays
        if a._unusable is not None or (busy and me not in busy):
            continue  # not prepared: unusable in the child
        if lib.ma_fork_prepare(a._h) == lib.MA_OK:
            _fork_prepared.append(a)


def _after_fork_in_parent() -> None:
    try:
        for a in _fork_prepared:
            lib.ma_fork_parent(a._h)
    finally:
        _fork_prepared.clear()
        _fork_lock.release()


def _after_fork_in_child() -> None:
    try:
        me = threading.get_ident()
        prepared = set()
        for a in _fork_prepared:
            if lib.ma_fork_child(a._h) == lib.MA_OK:
                prepared.add(id(a))
            a._py_replays[:] = [t for t in a._py_replays if t == me]
        for a in list(_instances):
            if id(a) in prepared or a._unusable is not None:
                continue
            a._unusable = (
                f"the {a.name} allocator was busy in another thread when the process "
                "forked (in a replay with a progress callback, or being created): it "
                "cannot be used in the child process"
            )
            a._hp = None
            a._py_replays.clear()
            ffi.gc(a._h, None)  # never destroy it: its lock may stay held here
    finally:
        _fork_prepared.clear()
        _fork_lock.release()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                        after_in_child=_after_fork_in_child)
