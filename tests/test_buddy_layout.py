"""Exact addresses and block sizes that the buddy policy determines."""
import dataclasses

import pytest

import memalloc_py as ma


@pytest.fixture
def kib():
    with ma.Buddy(arena_size=1024, min_block=16) as a:
        yield a


def layout(a):
    return [(b.offset, b.size, b.allocated) for b in a.blocks()]


def test_issue_example(kib):
    # malloc(100) is at 0 and occupies 128 bytes; a following malloc(16) is at 128.
    p = kib.malloc(100)
    assert p == 0 and kib.usable_size(p) == 128
    q = kib.malloc(16)
    assert q == 128 and kib.usable_size(q) == 16
    assert layout(kib) == [
        (0, 128, True), (128, 16, True), (144, 16, False), (160, 32, False),
        (192, 64, False), (256, 256, False), (512, 512, False),
    ]


def test_split_remainders_are_reused_smallest_first(kib):
    assert kib.malloc(16) == 0
    assert kib.malloc(16) == 16   # the buddy of the first
    assert kib.malloc(32) == 32   # the 32-byte remainder
    assert kib.malloc(64) == 64
    assert kib.malloc(1) == 128   # min block: splits 128 -> 64 -> 32 -> 16
    assert kib.usable_size(128) == 16


def test_free_merges_buddies_back_to_one_block(kib):
    ps = [kib.malloc(16) for _ in range(64)]
    assert ps == list(range(0, 1024, 16))
    assert kib.malloc(0) is None  # full
    for p in ps:
        kib.free(p)
    assert layout(kib) == [(0, 1024, False)]
    assert kib.malloc(1024) == 0


def test_free_list_is_lifo_within_an_order(kib):
    a, b, c, d = (kib.malloc(64) for _ in range(4))
    assert (a, b, c, d) == (0, 64, 128, 192)
    kib.free(a)   # no merge: its buddy (64) is live
    kib.free(c)   # no merge: its buddy (192) is live
    assert kib.malloc(64) == 128  # most recently freed first
    assert kib.malloc(64) == 0


def test_power_of_two_rounding_and_exact_fit(kib):
    for size, block in [(0, 16), (1, 16), (16, 16), (17, 32), (64, 64), (65, 128), (512, 512)]:
        p = kib.malloc(size)
        assert kib.usable_size(p) == block, size
        kib.free(p)


def test_min_block_rounds_small_requests():
    with ma.Buddy(arena_size=4096, min_block=256) as a:
        p = a.malloc(1)
        assert (p, a.usable_size(p)) == (0, 256)
        assert a.malloc(300) == 512
        assert a.stats().allocated_bytes == 256 + 512


def test_memalign_uses_a_block_as_large_as_the_alignment(kib):
    assert kib.malloc(16) == 0
    p = kib.memalign(256, 10)
    assert p == 256 and kib.usable_size(p) == 256
    q = kib.memalign(1024, 1)
    assert q is None  # the only 1 KiB-aligned block (the arena) is in use
    assert kib.memalign(1, 1) == 16  # alignments below 16 mean 16


def test_realloc_shrinks_in_place_and_frees_the_tail(kib):
    p = kib.malloc(512)
    kib.write(p, bytes(range(256)))
    assert kib.realloc(p, 100) == p
    assert kib.usable_size(p) == 128
    assert kib.read(p, 100) == bytes(range(100))
    assert layout(kib) == [(0, 128, True), (128, 128, False), (256, 256, False), (512, 512, False)]


def test_realloc_grows_in_place_by_absorbing_free_buddies(kib):
    p = kib.malloc(16)
    kib.write(p, b"0123456789abcdef")
    assert kib.realloc(p, 200) == p      # absorbs 16, 32, 64, 128 to its right
    assert kib.usable_size(p) == 256
    assert kib.read(p, 16) == b"0123456789abcdef"
    assert layout(kib)[0] == (0, 256, True)


def test_realloc_moves_when_the_buddy_is_taken(kib):
    p = kib.malloc(16)
    q = kib.malloc(16)  # p's buddy
    kib.write(p, b"x" * 16)
    r = kib.realloc(p, 32)
    assert r == 32 and kib.read(r, 16) == b"x" * 16
    assert kib.usable_size(q) == 16
    kib.check()


def test_upper_buddy_cannot_grow_in_place(kib):
    p = kib.malloc(16)
    q = kib.malloc(16)
    kib.free(p)          # the lower buddy is free, but q is the upper half
    assert kib.realloc(q, 32) == 32
    kib.check()


def test_heap_size_is_the_end_of_the_highest_live_block(kib):
    p = kib.malloc(16)
    q = kib.malloc(256)   # at 256
    assert kib.stats().heap_size == 512
    kib.free(q)
    s = kib.stats()
    assert (s.heap_size, s.peak_heap_size) == (16, 512)
    # inside the heap [0, 16) nothing is free
    assert (s.free_bytes, s.free_blocks, s.largest_free) == (0, 0, 0)
    kib.free(p)
    assert kib.stats().heap_size == 0


def test_free_stats_count_only_blocks_below_heap_size(kib):
    a = kib.malloc(16)
    kib.malloc(16)
    kib.malloc(128)  # at 128
    kib.free(a)
    s = kib.stats()
    # heap [0, 256): free are 0..16 and 32..64 and 64..128
    assert s.heap_size == 256
    assert (s.free_bytes, s.free_blocks, s.largest_free) == (16 + 32 + 64, 3, 64)
    assert s.external_fragmentation == pytest.approx(1 - 64 / 112)
    assert s.metadata_bytes >= 1024 // 16 // 2


def test_large_arena_is_reserved_not_committed():
    with ma.Buddy(arena_size=64 << 30) as a:
        p = a.malloc(1 << 30)
        q = a.malloc(100)
        assert (p, q) == (0, 1 << 30)
        a.write(q, b"far away")
        assert a.read(q, 8) == b"far away"
        a.free(p)
        a.free(q)
        assert a.stats().heap_size == 0


@pytest.mark.parametrize("arena", [1 << 10, 1 << 16, 1 << 30])
def test_memalign_meets_the_arena_size_on_an_empty_arena(arena):
    # Address 0 is valid: the whole arena is one block aligned to its size.
    with ma.Buddy(arena_size=arena) as a:
        before = a.stats()
        assert a.memalign(2 * arena, 1) is None       # beyond the arena: out of memory
        after = a.stats()
        assert (after.failures, after.mallocs) == (before.failures + 1, before.mallocs + 1)
        assert dataclasses.replace(after, failures=before.failures, mallocs=before.mallocs) == before
        assert layout(a) == [(0, arena, False)]
        assert a.memalign(arena, 1) == 0
        assert layout(a) == [(0, arena, True)] and a.usable_size(0) == arena
        a.check()
