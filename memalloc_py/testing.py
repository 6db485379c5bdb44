"""Property-based fuzzing of allocators with hypothesis.

This module is for users as much as for memalloc_py's own tests: it fuzzes
any allocator configuration against a pure-Python model in a few lines::

    import memalloc_py as ma
    from memalloc_py.testing import machine_for

    TestMyBuddy = machine_for(lambda: ma.Buddy(arena_size=1 << 16)).TestCase
    TestBestFit = machine_for("best-ao", arena_size=1 << 16).TestCase

pytest then runs a hypothesis state machine that calls malloc, calloc,
realloc, memalign, free and write in random order (with shrinking), and after
every step checks: ``check()`` passes; no two live blocks overlap; every live
block's contents are intact (each is filled with its own pattern); addresses
are aligned; ``stats()`` agree with the model (live blocks, requested bytes,
operation counts); ``blocks()`` tiles the heap and agrees with the model; and
whatever allocator-specific rule the machine's ``block_invariant`` adds (for
``buddy``: each block is the smallest power of two that fits, aligned to its
size).  Bad inputs (invalid frees) must raise and change nothing.

Hypothesis settings come from the active profile (memalloc_py's own
``tests/conftest.py`` registers ``ci``, ``dev`` and ``thorough``).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional, Union

from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    precondition,
    rule,
)

from ._core import Allocator, Blocks, InvalidAddress, Stats

__all__ = [
    "HeapModel",
    "LiveBlock",
    "AllocatorMachine",
    "machine_for",
    "machine_options",
    "FAMILY_RULES",
    "pattern",
    "sizes",
    "alignments",
    "expected_buddy_block",
    "expected_zones_block",
    "FreeListReference",
    "traces",
]

_CYCLE = bytes(range(256)) * 2


def pattern(tag: int, n: int) -> bytes:
    """``n`` bytes that identify ``tag``: a 0..255 ramp starting at ``tag % 251``."""
    start = (tag * 7) % 251
    run = _CYCLE[start : start + 256]
    reps = n // 256 + 1
    return (run * reps)[:n]


def sizes(max_size: int = 4096, huge: bool = True) -> st.SearchStrategy[int]:
    """Request sizes: many small ones, boundary values, a spread up to
    ``max_size``, and (if ``huge``) sizes no allocator can satisfy."""
    parts = [
        st.integers(0, 64),
        st.sampled_from([0, 1, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65, 127, 128, 129]),
        st.integers(0, max_size),
    ]
    if huge:
        parts.append(st.sampled_from([1 << 40, 1 << 62, (1 << 64) - 1]))
    return st.one_of(*parts)


def alignments(max_alignment: int = 4096) -> st.SearchStrategy[int]:
    """Powers of two from 1 to ``max_alignment``."""
    return st.integers(0, max_alignment.bit_length() - 1).map(lambda k: 1 << k)


@dataclasses.dataclass
class LiveBlock:
    """The model's view of one live allocation."""

    requested: int
    alignment: int
    data: bytes  # what the machine wrote: the block's whole usable size
    # The block size a realloc kept for this block because it found no
    # room to move it (0: none); checked at that realloc (zones does it).
    kept: int = 0


@dataclasses.dataclass
class HeapModel:
    """What a correct allocator must agree with, kept in plain Python."""

    live: dict[int, LiveBlock] = dataclasses.field(default_factory=dict)
    mallocs: int = 0
    frees: int = 0
    reallocs: int = 0
    failures: int = 0

    @property
    def requested_bytes(self) -> int:
        return sum(b.requested for b in self.live.values())

    def add(self, address: int, requested: int, alignment: int, data: bytes) -> None:
        if address in self.live:
            raise AssertionError(f"address {address:#x} handed out while still live")
        self.live[address] = LiveBlock(requested, alignment, data)

    def remove(self, address: int) -> LiveBlock:
        return self.live.pop(address)

    def compare_stats(self, s: Stats) -> None:
        got = (s.live_blocks, s.requested_bytes, s.mallocs, s.frees, s.reallocs, s.failures)
        want = (
            len(self.live),
            self.requested_bytes,
            self.mallocs,
            self.frees,
            self.reallocs,
            self.failures,
        )
        names = ("live_blocks", "requested_bytes", "mallocs", "frees", "reallocs", "failures")
        for name, g, w in zip(names, got, want):
            assert g == w, f"stats().{name} is {g}, the model says {w}"


def expected_buddy_block(requested: int, alignment: int, min_block: int) -> int:
    """The block a binary buddy must use: the smallest power of two that holds
    the request and the alignment, and at least ``min_block``."""
    need = max(requested, alignment, min_block, 1)
    return 1 << (need - 1).bit_length()


class AllocatorMachine(RuleBasedStateMachine):
    """A hypothesis state machine checking one allocator against :class:`HeapModel`.

    Subclass and define :meth:`make_allocator` (or use :func:`machine_for`).
    Override :meth:`block_invariant` for allocator-specific rules about each
    allocated block, and :meth:`heap_end` if ``blocks()`` tiles something other
    than ``[0, heap_size)``.
    """

    max_size: int = 4096
    max_alignment: int = 1024
    #: How far a block's usable bytes may reach past its end: 8 for a
    #: boundary-tag layout like glibc's (the next block's first word is the
    #: payload's last while the block is allocated), else 0.
    payload_reach: int = 0

    addresses = Bundle("addresses")

    def __init__(self) -> None:
        super().__init__()
        self.allocator = self.make_allocator()
        self.model = HeapModel()
        self.tag = 0

    # -- hooks

    def make_allocator(self) -> Allocator:  # pragma: no cover - abstract
        raise NotImplementedError

    def heap_end(self, stats: Stats) -> int:
        """Where the tiling of ``blocks()`` must end."""
        return stats.heap_size

    def block_invariant(self, block: Any, model_block: LiveBlock) -> None:
        """Allocator-specific assertions on one allocated block."""

    def heap_invariant(self, blocks: Blocks) -> None:
        """Allocator-specific assertions on the whole block list."""

    def teardown(self) -> None:
        self.allocator.close()

    # -- helpers

    def _fill(self, address: int, requested: int, alignment: int) -> None:
        # Fill the whole usable size, not only the request: the allocator's
        # metadata must stay clear of every byte it says is usable.
        self.tag += 1
        data = pattern(self.tag, self.allocator.usable_size(address))
        self.allocator.write(address, data)
        self.model.add(address, requested, alignment, data)

    def _take(self, p: Optional[int], size: int, alignment: int) -> Any:
        """Account for an allocation call; the new address joins the bundle."""
        self.model.mallocs += 1
        if p is None:
            self.model.failures += 1
            return multiple()
        self._assert_aligned(p, alignment)
        self._fill(p, size, max(alignment, 16))
        return p

    def _assert_aligned(self, address: int, alignment: int) -> None:
        need = max(alignment, 16)
        assert address % need == 0, f"{address:#x} is not aligned to {need}"

    # -- rules

    @rule(target=addresses, size=sizes())
    def malloc(self, size: int) -> Any:
        return self._take(self.allocator.malloc(size), size, 16)

    @rule(target=addresses, count=st.integers(0, 40), size=st.integers(0, 100))
    def calloc(self, count: int, size: int) -> Any:
        p = self.allocator.calloc(count, size)
        if p is not None:
            assert self.allocator.read(p, count * size) == bytes(count * size), "calloc: not zeroed"
        return self._take(p, count * size, 16)

    @rule(target=addresses, alignment=alignments(1024), size=sizes(2048, huge=False))
    def memalign(self, alignment: int, size: int) -> Any:
        return self._take(self.allocator.memalign(alignment, size), size, alignment)

    @rule(target=addresses, p=consumes(addresses), size=sizes())
    def realloc(self, p: int, size: int) -> Any:
        old = self.model.live[p]
        q = self.allocator.realloc(p, size)
        if size == 0:
            self.model.frees += 1
            assert q is None, "realloc(p, 0) must return None"
            self.model.remove(p)
            return multiple()
        self.model.reallocs += 1
        if q is None:
            self.model.failures += 1
            assert self.allocator.read(p, len(old.data)) == old.data, "failed realloc lost data"
            return p
        self._assert_aligned(q, 16)
        keep = min(old.requested, size)
        got = self.allocator.read(q, keep)
        assert got == old.data[:keep], "realloc did not preserve the contents"
        self.model.remove(p)
        self._fill(q, size, 16)
        if q == p:
            self.realloc_in_place(q, size, old)
        return q

    def realloc_in_place(self, p: int, size: int, old: LiveBlock) -> None:
        """A realloc kept the block at p: allocator-specific checks."""

    @rule(p=consumes(addresses))
    def free(self, p: int) -> None:
        self.allocator.free(p)
        self.model.frees += 1
        self.model.remove(p)

    @rule(p=addresses)
    def rewrite(self, p: int) -> None:
        block = self.model.live[p]
        self.tag += 1
        block.data = pattern(self.tag, len(block.data))
        self.allocator.write(p, block.data)

    @rule(p=addresses, delta=st.sampled_from([16, 32, 48, 64, 128]))
    def free_interior_is_rejected(self, p: int, delta: int) -> None:
        self._reject_free(p + delta)

    @precondition(lambda self: self.model.live)
    @rule(data=st.data())
    def free_invalid_is_rejected(self, data: Any) -> None:
        address = data.draw(st.integers(0, self.allocator.arena_size + 4096))
        self._reject_free(address)

    def _reject_free(self, address: int) -> None:
        if address in self.model.live:
            return
        before = self.allocator.stats()
        try:
            self.allocator.free(address)
        except InvalidAddress:
            pass
        else:
            raise AssertionError(f"free({address:#x}) of a non-live address did not raise")
        assert self.allocator.stats() == before, "a rejected free changed the heap"

    # -- invariants

    @invariant()
    def heap_is_consistent(self) -> None:
        a = self.allocator
        a.check()
        s = a.stats()
        self.model.compare_stats(s)
        blocks = a.blocks()
        self._check_tiling(blocks, s)
        self._check_blocks(blocks)
        self.heap_invariant(blocks)

    def _check_tiling(self, blocks: Blocks, s: Stats) -> None:
        arr = blocks.array
        end = self.heap_end(s)
        if len(arr) == 0:
            assert end == 0, f"no blocks, but the heap ends at {end}"
            return
        assert int(arr["offset"][0]) == 0, "the first block does not start at 0"
        ends = arr["offset"] + arr["size"]
        assert (ends[:-1] == arr["offset"][1:]).all(), "blocks leave a gap or overlap"
        assert int(ends[-1]) == end, f"blocks end at {int(ends[-1])}, the heap at {end}"
        assert (arr["size"] > 0).all(), "a block of size 0"
        alloc = arr[arr["allocated"]]
        assert int(alloc["size"].sum()) == s.allocated_bytes, "allocated_bytes disagrees"

    def _check_blocks(self, blocks: Blocks) -> None:
        seen = set()
        for b in blocks.allocated:
            assert b.address is not None
            model_block = self.model.live.get(b.address)
            assert model_block is not None, f"allocated block at {b.address:#x} unknown to the model"
            seen.add(b.address)
            assert b.requested == model_block.requested, "blocks().requested disagrees"
            assert b.offset <= b.address < b.offset + b.size, "address outside its block"
            self._assert_aligned(b.address, model_block.alignment)
            usable = self.allocator.usable_size(b.address)
            assert usable >= model_block.requested, "usable_size below the request"
            assert usable == len(model_block.data), "usable_size changed while live"
            assert b.address + usable <= b.offset + b.size + self.payload_reach, (
                "usable bytes pass the block")
            got = self.allocator.read(b.address, usable)
            assert got == model_block.data, f"contents of {b.address:#x} were overwritten"
            self.block_invariant(b, model_block)
        assert seen == set(self.model.live), "live blocks missing from blocks()"


class _BuddyRules:
    """Buddy-specific invariant, mixed into machines whose allocator is a Buddy."""

    allocator: Allocator

    def heap_end(self, stats: Stats) -> int:
        return stats.arena_size

    def block_invariant(self, block: Any, model_block: LiveBlock) -> None:
        min_block = int(self.allocator.options["min_block"])
        want = expected_buddy_block(model_block.requested, model_block.alignment, min_block)
        assert block.size == want, (
            f"block at {block.offset:#x} is {block.size} bytes; the smallest power of "
            f"two for {model_block.requested} bytes is {want}"
        )
        assert block.offset % block.size == 0, "buddy block not aligned to its size"
        assert block.address == block.offset, "buddy blocks have no header"


class _FreeListRules:
    """Free-list rules: glibc's layout (the address is the block's offset +
    16, the usable size the block's size - 8), the smallest block that serves
    the request (plus an unsplittable remainder below min_block), no two free
    blocks adjacent."""

    allocator: Allocator
    payload_reach = 8

    def block_invariant(self, block: Any, model_block: LiveBlock) -> None:
        min_block = int(self.allocator.options["min_block"])
        want = max(min_block, -(-(model_block.requested + 8) // 16) * 16)
        assert block.address == block.offset + 16, "the address is not the block's offset + 16"
        assert self.allocator.usable_size(block.address) == block.size - 8, (
            "usable size is not the block's size - 8")
        assert 0 <= block.size - want < min_block, (
            f"block at {block.offset:#x} is {block.size} bytes for a request of "
            f"{model_block.requested} (expected {want} + less than {min_block})"
        )

    def heap_invariant(self, blocks: Blocks) -> None:
        arr = blocks.array
        free = ~arr["allocated"]
        assert not (free[1:] & free[:-1]).any(), "two free blocks are adjacent"
        assert (arr["size"] >= int(self.allocator.options["min_block"])).all(), "a block below min_block"
        # The free-block statistics come from the policy index (the largest
        # block from its bounds, made exact on demand): they must agree with
        # the walk.
        s = self.allocator.stats()
        sizes = arr["size"][free]
        assert s.free_blocks == len(sizes), "stats().free_blocks disagrees with the walk"
        assert s.free_bytes == int(sizes.sum()), "stats().free_bytes disagrees with the walk"
        largest = int(sizes.max()) if len(sizes) else 0
        assert s.largest_free == largest, (
            f"stats().largest_free is {s.largest_free}, the largest free block {largest}")


def expected_zones_block(requested: int, alignment: int, classes: tuple[int, ...],
                         small_max: int, page_size: int) -> int:
    """The block a zones allocator must use: the smallest size class that
    holds the request and is a multiple of the alignment (up to a page), else
    the request rounded up to whole pages (a LARGE region, at least one)."""
    need = max(requested, alignment if alignment > 16 else 1, 1)
    if need <= small_max and alignment <= page_size:
        for size in classes:
            if size >= need and size % alignment == 0:
                return size
    return max(1, -(-requested // page_size)) * page_size


class _ZonesRules:
    """Zones rules: header-less blocks of the request's size class (or whole
    pages for LARGE), at most one empty zone per class, and the free-block
    statistics equal to the walk's."""

    allocator: Any

    def _zones_block(self, requested: int, alignment: int) -> int:
        import mmap

        opts = self.allocator.options
        return expected_zones_block(requested, alignment, self.allocator.classes(),
                                    int(opts["small_max"]), mmap.PAGESIZE)

    def realloc_in_place(self, p: int, size: int, old: LiveBlock) -> None:
        usable = self.allocator.usable_size(p)
        if usable == self._zones_block(size, 16):
            return
        # Kept at its old size: only a shrink that found no room to move.
        assert size <= len(old.data) == usable, (
            f"realloc to {size} kept the block at {usable} bytes, it held {len(old.data)}")
        assert self.allocator.malloc(size) is None, (
            f"realloc to {size} kept the block in place although a block of that size was free")
        self.model.mallocs += 1
        self.model.failures += 1
        self.model.live[p].kept = usable

    def block_invariant(self, block: Any, model_block: LiveBlock) -> None:
        want = self._zones_block(model_block.requested, model_block.alignment)
        assert block.address == block.offset, "zone blocks have no header"
        assert block.size in (want, model_block.kept), (
            f"block at {block.offset:#x} is {block.size} bytes; a request of "
            f"{model_block.requested} (alignment {model_block.alignment}) takes {want}")

    def heap_invariant(self, blocks: Blocks) -> None:
        zones = self.allocator.zones()
        kept = zones[(zones["kind"] != "LARGE") & (zones["kind"] != "pool") & (zones["live"] == 0)]
        assert len(set(kept["block_size"].tolist())) == len(kept), "two empty zones of one class"
        arr = blocks.array
        s = self.allocator.stats()
        sizes = arr["size"][~arr["allocated"]]
        assert (s.free_blocks, s.free_bytes) == (len(sizes), int(sizes.sum())), "free blocks disagree"
        assert s.largest_free == int(sizes.max(initial=0)), "largest_free disagrees with the walk"
class _TlsfRules:
    """TLSF: an 8-byte size word (usable_size is the block size - 8, reaching
    8 bytes into the next block), the smallest block that serves the request
    (plus an unsplittable remainder below 32 bytes), no two free blocks
    adjacent, free statistics that agree with the walk."""

    allocator: Allocator
    payload_reach = 8

    def heap_invariant(self, blocks: Blocks) -> None:
        arr = blocks.array
        free = ~arr["allocated"]
        assert not (free[1:] & free[:-1]).any(), "two free blocks are adjacent"
        assert (arr["size"] >= 32).all() and not (arr["size"] % 16).any(), "a block size below 32 or not of 16"
        s, sizes = self.allocator.stats(), arr["size"][free]
        assert (s.free_blocks, s.free_bytes) == (len(sizes), int(sizes.sum())), "free stats disagree with the walk"
        assert s.largest_free == (int(sizes.max()) if len(sizes) else 0), "largest_free disagrees with the walk"

    def block_invariant(self, block: Any, model_block: LiveBlock) -> None:
        want = max(32, -(-(model_block.requested + 8) // 16) * 16)
        assert block.address == block.offset + 16, "the payload is not at offset + 16"
        assert self.allocator.usable_size(block.address) == block.size - 8, "usable_size is not size - 8"
        assert 0 <= block.size - want < 32, (
            f"block at {block.offset:#x} is {block.size} bytes for a request of "
            f"{model_block.requested} (expected {want} + less than 32)")


#: The allocator-specific rules, by the registry's family of the allocator
#: (``memalloc_py.REGISTRY[name].family``): the one place where a machine's
#: checks depend on which allocator it drives.
FAMILY_RULES: dict[str, type] = {"buddy": _BuddyRules, "free-list": _FreeListRules, "zones": _ZonesRules,
                                 "tlsf": _TlsfRules}


def machine_options(name: str) -> dict[str, Any]:
    """Options for fuzzing allocator ``name`` (from the registry): an arena of
    64 KiB (or its smallest, when larger), so that out-of-memory, splitting
    and merging all happen often, and a heap that grows in 4 KiB steps."""
    from .allocators import info

    entry = info(name)
    opts: dict[str, Any] = {}
    if "arena_size" in entry.option_names():
        opts["arena_size"] = max(1 << 16, entry.option("arena_size").min)
    if "growth" in entry.option_names():
        opts["growth"] = 4096
    return opts


def machine_for(
    factory: Union[str, Callable[[], Allocator]], name: Optional[str] = None, **options: Any
) -> type[AllocatorMachine]:
    """A state machine class for allocators made by ``factory``: a function
    returning an Allocator, or a registered name (``"best-ao"``), with
    ``options`` for :func:`memalloc_py.create`.

    Its ``.TestCase`` attribute is a unittest class that pytest collects.
    Allocator-specific rules come from ``FAMILY_RULES`` by the family of the
    allocator made, so ``factory`` is called once here (and that instance
    closed).  The machine compares ``blocks()`` with its model after every
    step, so an allocator that cannot walk its heap (``system``) is refused
    here with ValueError.
    """
    from .allocators import ALIASES, REGISTRY, create

    if isinstance(factory, str):
        registered, opts = factory, dict(options)
        factory = lambda: create(registered, **opts)  # noqa: E731
    elif options:
        raise TypeError("machine_for: options go with a registered name, not a factory")
    made = factory
    probe = made()
    if not isinstance(probe, Allocator):
        raise TypeError(f"machine_for: the factory must return an Allocator, not {type(probe).__name__}")
    try:
        kind = probe.name
        try:
            probe.blocks()
        except NotImplementedError:
            raise ValueError(
                f"machine_for: the {kind} allocator cannot walk its heap (blocks() is not "
                f"supported) and has no arena (arena_size {probe.arena_size}); the state "
                "machine checks blocks() and the heap's tiling against its model after "
                "every step"
            ) from None
    finally:
        probe.close()
    entry = REGISTRY.get(ALIASES.get(kind, kind))
    rules = FAMILY_RULES.get(entry.family) if entry is not None else None
    bases: tuple[type, ...] = (rules, AllocatorMachine) if rules else (AllocatorMachine,)
    cls = type(
        name or f"{kind.title().replace('-', '')}Machine",
        bases,
        {"make_allocator": lambda self: made()},
    )
    return cls


# --------------------------------------------------------------------------
# A reference implementation of the free-list family, in plain Python.


@dataclasses.dataclass
class _RefBlock:
    offset: int
    size: int
    free: bool
    stamp: int = 0


class FreeListReference:
    """The free-list family's placement rules, written for clarity, not speed.

    It keeps a sorted list of blocks and scans it: O(n) per operation, but
    every decision (which block, which address, when to grow, split, coalesce
    and trim, where the next-fit rover goes) follows the rules documented in
    ``csrc/freelist.c`` and :class:`memalloc_py.FreeList`, so a test can demand
    that the C allocator gives exactly the same addresses and block layout.
    Addresses are payload addresses (block offset + 16), as the allocator's;
    a block serving n bytes is max(min_block, round_up(n + 8, 16)) (glibc's
    layout: 8 bytes of overhead, the payload reaching 8 bytes past the block).
    """

    PAYLOAD = 16  # an address is its block's offset + 16
    OVERHEAD = 8  # an allocated block's cost in bytes

    def __init__(self, arena_size: int = 1 << 30, fit: str = "best", order: str = "address",
                 growth: int = 4096, prealloc: int = 0, trim: bool = False, min_block: int = 32):
        self.arena_size, self.fit, self.order = arena_size, fit, order
        self.growth, self.prealloc, self.trim, self.min_block = growth, prealloc, trim, min_block
        self.blocks: list[_RefBlock] = []
        self.heap = 0
        self.stamp = 0
        self.rover: Optional[int] = None  # offset of the rover's block
        if prealloc:
            self.heap = prealloc
            self._add(0, prealloc)

    # -- the free-list order

    def _okey(self, b: _RefBlock) -> int:
        if self.order == "address":
            return b.offset
        return -b.stamp if self.order == "lifo" else b.stamp

    def _free_in_order(self) -> list[_RefBlock]:
        return sorted((b for b in self.blocks if b.free), key=self._okey)

    def _at(self, offset: int) -> _RefBlock:
        for b in self.blocks:
            if b.offset == offset:
                return b
        raise KeyError(offset)

    def _index(self, offset: int) -> int:
        for i, b in enumerate(self.blocks):
            if b.offset == offset:
                return i
        raise KeyError(offset)

    def _successor(self, key: int) -> Optional[int]:
        for b in self._free_in_order():
            if self._okey(b) > key:
                return b.offset
        return None

    def _add(self, offset: int, size: int) -> _RefBlock:
        """A new free block (or an old one re-entering the index): a fresh stamp."""
        self.stamp += 1
        b = _RefBlock(offset, size, True, self.stamp)
        self.blocks = [x for x in self.blocks if x.offset != offset]
        self.blocks.append(b)
        self.blocks.sort(key=lambda x: x.offset)
        return b

    def _remove(self, b: _RefBlock) -> None:
        """Take a free block out of the index; a rover on it moves on."""
        key = self._okey(b)
        b.free = False
        if self.rover == b.offset:
            self.rover = self._successor(key)
        self.blocks.remove(b)

    # -- placement

    def _block_for(self, n: int) -> int:
        return max(self.min_block, -(-(n + self.OVERHEAD) // 16) * 16)

    def _find(self, need: int) -> Optional[_RefBlock]:
        free = self._free_in_order()
        fits = [b for b in free if b.size >= need]
        if not fits:
            return None
        if self.fit == "best":
            return min(fits, key=lambda b: (b.size, self._okey(b)))
        if self.fit == "worst":
            largest = max(b.size for b in free)
            return next(b for b in free if b.size == largest)
        if self.fit == "next" and self.rover is not None:
            start = self._okey(self._at(self.rover))
            later = [b for b in fits if self._okey(b) >= start]
            if later:
                return later[0]
        return fits[0]

    def _top(self) -> Optional[_RefBlock]:
        return self.blocks[-1] if self.blocks else None

    def _grow(self, need: int) -> Optional[_RefBlock]:
        top = self._top()
        top_free = top is not None and top.free
        have = top.size if top_free else 0
        start = top.offset if top_free else self.heap
        inc = -(-(need - have) // self.growth) * self.growth if need > have else 0
        if inc > self.arena_size - self.heap:
            return None
        was_rover = top_free and self.rover == start
        if top_free:
            self._remove(top)
        self.heap += inc
        b = self._add(start, have + inc)
        if was_rover:
            self.rover = start
        return b

    def _place(self, x: _RefBlock, size: int, align: int) -> int:
        off, have = x.offset, x.size
        lead = 0
        if align > 16:
            payload = -(-(off + self.PAYLOAD) // align) * align
            while payload - self.PAYLOAD - off != 0 and payload - self.PAYLOAD - off < self.min_block:
                payload += align
            lead = payload - self.PAYLOAD - off
        succ = self._successor(self._okey(x)) if self.fit == "next" else None
        self._remove(x)
        if lead:
            self._add(off, lead)
        start = off + lead
        rest = have - lead - size
        if rest >= self.min_block:
            self._alloc_block(start, size)
            self._add(start + size, rest)
            if self.fit == "next":
                self.rover = start + size
        else:
            self._alloc_block(start, have - lead)
            if self.fit == "next":
                self.rover = succ
        return start + self.PAYLOAD

    def _alloc_block(self, offset: int, size: int) -> None:
        self.blocks.append(_RefBlock(offset, size, False))
        self.blocks.sort(key=lambda x: x.offset)

    def _release(self, offset: int, size: int) -> None:
        i = self._index(offset)
        self.blocks.pop(i)
        start, total, was_rover = offset, size, False
        prev = self.blocks[i - 1] if i > 0 else None
        if prev is not None and prev.free and prev.offset + prev.size == offset:
            was_rover = self.rover == prev.offset
            start, total = prev.offset, total + prev.size
            self._remove(prev)
            i -= 1
        nxt = self.blocks[i] if i < len(self.blocks) else None
        if nxt is not None and nxt.free and nxt.offset == offset + size:
            total += nxt.size
            self._remove(nxt)
        self._add(start, total)
        if was_rover:
            self.rover = start
        self._maybe_trim()

    def _maybe_trim(self) -> None:
        top = self._top()
        if not self.trim or top is None or not top.free:
            return
        keep = max(-(-top.offset // self.growth) * self.growth, self.prealloc)
        while keep > top.offset and keep - top.offset < self.min_block:
            keep += self.growth
        if keep >= self.heap:
            return
        was_rover = self.rover == top.offset
        self._remove(top)
        self.heap = keep
        if keep > top.offset:
            self._add(top.offset, keep - top.offset)
            if was_rover:
                self.rover = top.offset

    # -- the API (sizes are assumed valid; None is out of memory)

    def memalign(self, alignment: int, n: int) -> Optional[int]:
        alignment = max(alignment, 16)
        if n > self.arena_size or alignment > self.arena_size:
            return None
        size = self._block_for(n)
        need = size + alignment + self.min_block if alignment > 16 else size
        x = self._find(need) or self._grow(need)
        if x is None:
            return None
        return self._place(x, size, alignment)

    def malloc(self, n: int) -> Optional[int]:
        return self.memalign(16, n)

    def free(self, address: int) -> None:
        b = self._at(address - self.PAYLOAD)
        assert not b.free
        self._release(b.offset, b.size)

    def realloc(self, address: int, n: int) -> Optional[int]:
        if n > self.arena_size:
            return None
        off = address - self.PAYLOAD
        b = self._at(off)
        want = self._block_for(n)
        i = self._index(off)
        nxt = self.blocks[i + 1] if i + 1 < len(self.blocks) else None
        next_free = nxt is not None and nxt.free
        avail = b.size + (nxt.size if next_free and want > b.size else 0)
        if want <= avail:
            if avail > b.size:
                self._remove(nxt)
            rest = avail - want
            if rest >= self.min_block:
                b.size = want
                self._alloc_tail(off + want, rest)
            else:
                b.size = avail
            return address
        moved = self.malloc(n)
        if moved is None:
            return None
        self._release(off, b.size)
        return moved

    def _alloc_tail(self, offset: int, size: int) -> None:
        # The tail is released as a block of its own (it merges with a free follower).
        self.blocks.append(_RefBlock(offset, size, False))
        self.blocks.sort(key=lambda x: x.offset)
        self._release(offset, size)

    def layout(self) -> list[tuple[int, int, bool]]:
        """(offset, size, allocated) of every block in address order."""
        return [(b.offset, b.size, not b.free) for b in self.blocks]


# --------------------------------------------------------------------------
# Whole traces


@st.composite
def traces(draw: Any, max_events: int = 60, max_size: int = 3000, kinds: Optional[list[str]] = None) -> Any:
    """Valid :class:`~memalloc_py.trace.Trace` objects: random sequences of
    malloc, calloc, memalign, realloc and free over the live allocations."""
    from .trace import Trace

    kinds = kinds or ["malloc", "calloc", "memalign", "realloc", "free"]
    n = draw(st.integers(0, max_events))
    live: list[int] = []
    next_id = 0
    events: list[tuple[Any, ...]] = []
    for _ in range(n):
        kind = draw(st.sampled_from(kinds))
        if kind in ("realloc", "free") and not live:
            kind = "malloc"
        if kind == "malloc":
            events.append(("malloc", next_id, draw(sizes(max_size, huge=False))))
        elif kind == "calloc":
            events.append(("calloc", next_id, draw(st.integers(0, 20)), draw(st.integers(0, 100))))
        elif kind == "memalign":
            events.append(("memalign", next_id, draw(alignments(512)), draw(st.integers(0, 500))))
        if kind in ("malloc", "calloc", "memalign"):
            live.append(next_id)
            next_id += 1
            continue
        i = draw(st.integers(0, len(live) - 1))
        if kind == "free":
            events.append(("free", live.pop(i)))
        else:
            size = draw(st.one_of(st.just(0), sizes(max_size, huge=False)))
            events.append(("realloc", live[i], size))
            if size == 0:
                live.pop(i)
    return Trace.from_events(events, name="hypothesis")
