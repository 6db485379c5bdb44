"""Property-based fuzzing of allocators with hypothesis.

This module is for users as much as for memalloc_py's own tests: it fuzzes
any allocator configuration against a pure-Python model in a few lines::

    import memalloc_py as ma
    from memalloc_py.testing import machine_for

    TestMyBuddy = machine_for(lambda: ma.Buddy(arena_size=1 << 16)).TestCase

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
from typing import Any, Callable, Optional

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
    "pattern",
    "sizes",
    "alignments",
    "expected_buddy_block",
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
    data: bytes


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

    def teardown(self) -> None:
        self.allocator.close()

    # -- helpers

    def _fill(self, address: int, requested: int, alignment: int) -> None:
        self.tag += 1
        data = pattern(self.tag, requested)
        self.allocator.write(address, data)
        self.model.add(address, requested, alignment, data)

    def _assert_aligned(self, address: int, alignment: int) -> None:
        need = max(alignment, 16)
        assert address % need == 0, f"{address:#x} is not aligned to {need}"

    # -- rules

    @rule(target=addresses, size=sizes())
    def malloc(self, size: int) -> Any:
        self.model.mallocs += 1
        p = self.allocator.malloc(size)
        if p is None:
            self.model.failures += 1
            return multiple()
        self._assert_aligned(p, 16)
        self._fill(p, size, 16)
        return p

    @rule(target=addresses, count=st.integers(0, 40), size=st.integers(0, 100))
    def calloc(self, count: int, size: int) -> Any:
        self.model.mallocs += 1
        p = self.allocator.calloc(count, size)
        if p is None:
            self.model.failures += 1
            return multiple()
        self._assert_aligned(p, 16)
        assert self.allocator.read(p, count * size) == bytes(count * size), "calloc: not zeroed"
        self._fill(p, count * size, 16)
        return p

    @rule(target=addresses, alignment=alignments(1024), size=sizes(2048, huge=False))
    def memalign(self, alignment: int, size: int) -> Any:
        self.model.mallocs += 1
        p = self.allocator.memalign(alignment, size)
        if p is None:
            self.model.failures += 1
            return multiple()
        self._assert_aligned(p, alignment)
        self._fill(p, size, max(alignment, 16))
        return p

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
            assert self.allocator.read(p, old.requested) == old.data, "failed realloc lost data"
            return p
        self._assert_aligned(q, 16)
        keep = min(old.requested, size)
        got = self.allocator.read(q, keep)
        assert got == old.data[:keep], "realloc did not preserve the contents"
        self.model.remove(p)
        self._fill(q, size, 16)
        return q

    @rule(p=consumes(addresses))
    def free(self, p: int) -> None:
        self.allocator.free(p)
        self.model.frees += 1
        self.model.remove(p)

    @rule(p=addresses)
    def rewrite(self, p: int) -> None:
        block = self.model.live[p]
        self.tag += 1
        block.data = pattern(self.tag, block.requested)
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
            assert b.address + usable <= b.offset + b.size, "usable bytes pass the block"
            got = self.allocator.read(b.address, model_block.requested)
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
    """Free-list rules: a 16-byte header, the smallest block that serves the
    request (plus an unsplittable remainder below min_block), no two free
    blocks adjacent."""

    allocator: Allocator

    def block_invariant(self, block: Any, model_block: LiveBlock) -> None:
        min_block = int(self.allocator.options["min_block"])
        want = max(min_block, -(-(model_block.requested + 16) // 16) * 16)
        assert block.address == block.offset + 16, "the header is not 16 bytes"
        assert 0 <= block.size - want < min_block, (
            f"block at {block.offset:#x} is {block.size} bytes for a request of "
            f"{model_block.requested} (expected {want} + less than {min_block})"
        )

    def heap_end(self, stats: Stats) -> int:
        blocks = self.allocator.blocks().array
        free = ~blocks["allocated"]
        assert not (free[1:] & free[:-1]).any(), "two free blocks are adjacent"
        assert (blocks["size"] >= int(self.allocator.options["min_block"])).all()
        return stats.heap_size


def machine_for(
    factory: Callable[[], Allocator], name: Optional[str] = None
) -> type[AllocatorMachine]:
    """A state machine class for allocators made by ``factory``.

    Its ``.TestCase`` attribute is a unittest class that pytest collects.
    Allocator-specific rules are chosen from the kind of allocator made.
    """
    probe = factory()
    kind = probe.name
    probe.close()
    bases: tuple[type, ...] = (AllocatorMachine,)
    if kind == "buddy":
        bases = (_BuddyRules, AllocatorMachine)
    elif kind.split("-")[0] in ("best", "first", "next", "worst"):
        bases = (_FreeListRules, AllocatorMachine)
    cls = type(
        name or f"{kind.title().replace('-', '')}Machine",
        bases,
        {"make_allocator": lambda self: factory()},
    )
    return cls
