"""Exact addresses that each placement policy determines, computed by hand.

Block sizes: a request of n bytes takes max(32, round_up(n + 8, 16)) bytes
(glibc's layout: 8 bytes of overhead); the address is the block's offset + 16
and the usable size the block's size - 8."""
import dataclasses

import pytest

import memalloc_py as ma


def scenario(name):
    """Free blocks of 64 (A), 32 (B), 48 (C), 32 (D) and 32 (E) bytes at known
    places, separated by live 32-byte guards, the heap otherwise full.
    Freed in the order C, D, A, B, E, so the three orders differ:
      address: A(0) B(96) C(160) D(240) E(304)
      LIFO:    E B A D C        FIFO: C D A B E
    """
    a = ma.create(name, arena_size=1 << 16, growth=4096)
    A = a.malloc(48)
    a.malloc(16)
    B = a.malloc(16)
    a.malloc(16)
    C = a.malloc(32)
    a.malloc(16)
    D = a.malloc(16)
    a.malloc(16)
    E = a.malloc(16)
    a.malloc(16)
    assert (A, B, C, D, E) == (16, 112, 176, 256, 320)
    last = a.malloc(4096 - 368 - 16)  # takes the rest of the heap exactly
    assert last == 384 and a.stats().free_blocks == 0 and a.stats().heap_size == 4096
    for p in (C, D, A, B, E):
        a.free(p)
    assert a.stats().free_blocks == 5
    return a


# malloc(16) needs a 32-byte block.
EXPECTED_FIRST_CHOICE = {
    "best-ao": 112,     # the 32-byte blocks are B, D, E: lowest address B
    "best-lifo": 320,   # most recently freed of them: E
    "best-fifo": 256,   # least recently freed of them: D
    "first-ao": 16,     # A (64 bytes) comes first by address; split, low end taken
    "first-lifo": 320,  # E was freed last
    "first-fifo": 176,  # C was freed first (48 bytes: the 16-byte rest stays in the block)
    "next-ao": 16,      # the rover starts at the beginning: as first fit
    "next-lifo": 320,
    "next-fifo": 176,
    "worst-ao": 16,     # A is the largest
    "worst-lifo": 16,
    "worst-fifo": 16,
}


@pytest.mark.parametrize("name, expected", EXPECTED_FIRST_CHOICE.items())
def test_each_policy_chooses_its_block(name, expected):
    with scenario(name) as a:
        assert a.malloc(16) == expected
        a.check()


def test_split_takes_the_low_end_and_keeps_the_remainder_free():
    with scenario("first-ao") as a:
        assert a.malloc(16) == 16
        layout = [(b.offset, b.size, b.allocated) for b in a.blocks()][:2]
        assert layout == [(0, 32, True), (32, 32, False)]


def test_no_split_when_the_remainder_is_below_min_block():
    with scenario("first-fifo") as a:
        p = a.malloc(16)  # C: 48 bytes, a 16-byte remainder cannot be a block
        assert p == 176 and a.usable_size(p) == 40


def test_next_fit_rover_and_wrap_around():
    with scenario("next-ao") as a:
        assert a.malloc(16) == 16    # A, split: the rover is the remainder at 32
        assert a.malloc(16) == 48    # the remainder itself, whole: rover -> its successor B
        assert a.malloc(16) == 112   # B whole: rover -> C
        a.free(48)                   # a block behind the rover becomes free again
        assert a.malloc(16) == 176   # next fit goes on from C ...
        assert a.malloc(16) == 256   # ... D ...
        assert a.malloc(16) == 320   # ... E, the last in the order: rover -> start
        assert a.malloc(16) == 48    # wrapped around to the block at 32
        a.check()
    with scenario("first-ao") as a:  # first fit, for contrast
        assert [a.malloc(16) for _ in range(3)] == [16, 48, 112]
        a.free(48)
        assert a.malloc(16) == 48


def test_next_fit_rover_moves_on_when_its_block_is_merged_into_a_lower_one():
    with scenario("next-ao") as a:
        assert a.malloc(16) == 16     # rover: the remainder [32, 64)
        a.free(16)                    # [0, 32) absorbs the rover's block
        assert a.malloc(16) == 112    # so the rover had moved on to B


def test_next_fit_rover_stays_on_a_block_that_absorbs_its_neighbours():
    with scenario("next-ao") as a:
        assert a.malloc(16) == 16     # rover: the remainder [32, 64)
        a.free(80)                    # the guard after it: [32, 128) at the rover's offset
        assert a.malloc(16) == 48     # the search starts at the grown block
        assert a.malloc(16) == 80     # and goes on from its remainder


def test_worst_fit_ties_follow_the_order():
    for name, expected in [("worst-ao", 16), ("worst-lifo", 112), ("worst-fifo", 16)]:
        with ma.create(name, arena_size=1 << 16) as a:
            X = a.malloc(48)          # [0, 64)
            a.malloc(16)              # guard
            Y = a.malloc(48)          # [96, 160): address 112
            a.malloc(16)
            a.malloc(4096 - 192 - 16)  # the rest
            a.free(X)
            a.free(Y)                 # two 64-byte blocks: X freed before Y
            assert a.malloc(16) == expected, name


@pytest.mark.parametrize("name, expected", [("worst-ao", [16, 20256]),
                                            ("worst-lifo", [40496, 16]),
                                            ("worst-fifo", [20256, 16])])
def test_worst_fit_ties_among_large_blocks_follow_the_order(name, expected):
    # Blocks of 16 KiB and more are indexed apart from the exact-size bins
    # (csrc/freelist.c): the largest size still wins, ties go by the order.
    with ma.create(name, arena_size=1 << 20, growth=4096) as a:
        W = a.malloc(20192)           # 20208-byte blocks at 0, 20240, 40480
        a.malloc(16)                  # guards of 32 bytes between them
        X = a.malloc(20192)
        a.malloc(16)
        Y = a.malloc(20192)
        a.malloc(16)
        Z = a.malloc(4000)            # 4016 bytes at 60720: an exact bin's size
        a.malloc(16)
        a.malloc(65536 - 64768 - 16)  # the rest of the 64 KiB heap
        assert (W, X, Y, Z) == (16, 20256, 40496, 60736)
        assert a.stats().heap_size == 65536 and a.stats().free_blocks == 0
        for p in (Z, X, W, Y):        # in address order: W X Y; LIFO: Y W X; FIFO: X W Y
            a.free(p)
        # each choice is split: its 20176-byte remainder is now the smallest large block
        assert [a.malloc(16) for _ in expected] == expected
        a.check()


def test_lifo_and_fifo_count_coalesced_blocks_as_freshly_freed():
    with scenario("first-lifo") as a:
        # free the guard between A and B: A + guard + B coalesce into one
        # 128-byte block at 0, which now counts as the most recently freed
        a.free(80)
        assert a.stats().free_blocks == 4
        assert a.malloc(16) == 16
    with scenario("first-fifo") as a:
        a.free(80)                    # the merged block goes to the back of FIFO
        assert a.malloc(16) == 176    # C is still the oldest


class TestHeapGrowth:
    def test_heap_grows_in_steps_and_extends_a_free_top(self):
        with ma.FreeList(arena_size=1 << 20, growth=4096) as a:
            assert a.stats().heap_size == 0
            p = a.malloc(100)                 # 112-byte block; the heap grows by 4096
            assert p == 16
            s = a.stats()
            assert (s.heap_size, s.free_bytes, s.free_blocks) == (4096, 3984, 1)
            q = a.malloc(5000)                # 5008 bytes; the free top has 3984:
            assert q == 128                   # it grows by 4096 and is extended in place
            s = a.stats()
            assert (s.heap_size, s.peak_heap_size) == (8192, 8192)
            assert (s.free_bytes, s.free_blocks) == (8192 - 112 - 5008, 1)
            a.free(q)                         # no trim: the heap keeps its size
            assert a.stats().heap_size == 8192
            assert [(b.offset, b.size, b.allocated) for b in a.blocks()] == [
                (0, 112, True), (112, 8080, False)]

    def test_trim_gives_the_top_back(self):
        with ma.FreeList(arena_size=1 << 20, growth=4096, trim=True) as a:
            p = a.malloc(100)
            q = a.malloc(5000)
            assert a.stats().heap_size == 8192
            a.free(q)            # top free from 112: keep round_up(112, 4096)
            s = a.stats()
            assert (s.heap_size, s.peak_heap_size) == (4096, 8192)
            assert [(b.offset, b.size, b.allocated) for b in a.blocks()] == [
                (0, 112, True), (112, 3984, False)]
            a.free(p)            # everything free: the heap shrinks to nothing
            s = a.stats()
            assert (s.heap_size, s.free_blocks, s.peak_heap_size) == (0, 0, 8192)
            assert len(a.blocks()) == 0
            a.check()

    def test_trim_never_goes_below_prealloc(self):
        with ma.FreeList(arena_size=1 << 20, growth=4096, trim=True, prealloc=65536) as a:
            assert a.stats().heap_size == 65536
            p = a.malloc(100_000)             # 100008 -> 100016-byte block: grow 36864
            s = a.stats()
            assert s.heap_size == 65536 + 36864
            a.free(p)
            assert a.stats().heap_size == 65536
            a.check()

    def test_prealloc_serves_without_growing(self):
        with ma.FreeList(arena_size=1 << 20, prealloc=128 * 1024) as a:
            assert a.stats().heap_size == 131072
            for _ in range(100):
                a.malloc(1000)
            assert a.stats().heap_size == 131072

    def test_growth_that_is_not_a_power_of_two(self):
        with ma.FreeList(arena_size=1 << 16, growth=48) as a:
            assert a.malloc(56) == 16         # a 64-byte block: the heap grows by 2 * 48
            s = a.stats()
            assert (s.heap_size, s.free_bytes, s.free_blocks) == (96, 32, 1)
            q = a.malloc(100)                 # 112 bytes from the free top's 32 + 2 * 48:
            assert q == 80                    # the 16 left over stay in the block
            s = a.stats()
            assert (s.heap_size, s.free_bytes, s.free_blocks) == (192, 0, 0)
            assert [(b.offset, b.size, b.allocated) for b in a.blocks()] == [
                (0, 64, True), (64, 128, True)]
            a.check()
        with ma.FreeList(arena_size=1 << 20, growth=3 * 4096) as a:
            assert a.malloc(100) == 16
            assert a.stats().heap_size == 3 * 4096
            assert a.malloc(3 * 4096) == 128  # 12304 bytes: 12176 free, grows by one step
            assert a.stats().heap_size == 6 * 4096
        with ma.FreeList(arena_size=1 << 16, growth=4000) as a:
            assert a.malloc(5000) == 16       # 5008 bytes: two steps of 4000
            assert a.stats().heap_size == 8000

    def test_trim_keeps_whole_steps_that_are_not_powers_of_two(self):
        with ma.FreeList(arena_size=1 << 16, growth=48, trim=True) as a:
            a.malloc(56)                      # [0, 64) live, [64, 96) free
            q = a.malloc(100)                 # heap 192
            a.free(q)                         # the top is free from 64: keep round_up(64, 48)
            s = a.stats()
            assert (s.heap_size, s.free_bytes, s.free_blocks) == (96, 32, 1)
            a.check()

    def test_growth_step_option(self):
        with ma.FreeList(arena_size=1 << 20, growth=8192) as a:
            a.malloc(100)
            assert a.stats().heap_size == 8192

    def test_out_of_memory_only_when_the_arena_is_exhausted(self):
        with ma.FreeList(arena_size=8192, growth=4096) as a:
            assert a.malloc(5000) == 16      # heap 8192: the whole arena
            before = a.stats()
            assert a.malloc(4000) is None    # 3184 free at the top: cannot grow
            after = a.stats()
            assert after.failures == before.failures + 1
            assert after.heap_size == before.heap_size == 8192
            assert a.malloc(3000) is not None  # fits the free top
            a.check()


class TestReallocInPlace:
    def test_shrink_splits_the_tail_off(self):
        with ma.FreeList(arena_size=1 << 16) as a:
            p = a.malloc(1000)            # 1008-byte block at 0
            a.malloc(16)                  # guard at 1008
            a.write(p, bytes(range(200)))
            assert a.realloc(p, 200) == p  # 208-byte block, an 800-byte tail freed
            assert a.read(p, 200) == bytes(range(200))
            assert [(b.offset, b.size, b.allocated) for b in a.blocks()][:3] == [
                (0, 208, True), (208, 800, False), (1008, 32, True)]

    def test_grow_absorbs_the_following_free_block(self):
        with ma.FreeList(arena_size=1 << 16) as a:
            p = a.malloc(100)             # [0, 112)
            q = a.malloc(200)             # [112, 320)
            a.malloc(16)                  # guard
            a.free(q)
            a.write(p, b"k" * 104)         # the whole usable size
            assert a.realloc(p, 250) == p  # 272 bytes: absorbs q's block, 48 left free
            assert a.read(p, 104) == b"k" * 104
            assert [(b.offset, b.size, b.allocated) for b in a.blocks()][:2] == [
                (0, 272, True), (272, 48, False)]

    def test_grow_moves_when_the_follower_is_live(self):
        with ma.FreeList(arena_size=1 << 16) as a:
            p = a.malloc(100)
            a.malloc(16)
            a.write(p, b"m" * 100)
            r = a.realloc(p, 300)
            assert r != p and a.read(r, 100) == b"m" * 100
            assert not a.blocks()[0].allocated  # the old block is free again
            a.check()


def test_memalign_splits_off_a_leading_fragment():
    with ma.FreeList(arena_size=1 << 16) as a:
        p = a.memalign(256, 40)
        assert p == 256                       # payload 256: a 48-byte block at 240
        assert [(b.offset, b.size, b.allocated) for b in a.blocks()][:2] == [
            (0, 240, False), (240, 48, True)]
        q = a.memalign(32, 0)                 # a 16-byte lead would be too small
        assert q % 32 == 0
        a.check()


@pytest.mark.parametrize("kwargs, param", [
    ({"fit": "good"}, "fit"),
    ({"order": "random"}, "order"),
    ({"arena_size": 4000}, "arena_size"),
    ({"arena_size": 1 << 36}, "arena_size"),
    ({"growth": 24}, "growth"),
    ({"growth": 0}, "growth"),
    ({"min_block": 16}, "min_block"),
    ({"min_block": 40}, "min_block"),
    ({"prealloc": 16}, "prealloc"),
    ({"prealloc": 100}, "prealloc"),
    ({"arena_size": 8192, "prealloc": 16384}, "prealloc"),
])
def test_bad_free_list_arguments_name_the_parameter(kwargs, param):
    with pytest.raises(ValueError, match=param):
        ma.FreeList(**kwargs)


def test_trim_must_be_a_bool():
    with pytest.raises(TypeError, match="trim"):
        ma.FreeList(trim="yes")


@pytest.mark.parametrize("order, taken", [("lifo", [2, 4, 1, 5, 0, 3]), ("fifo", [3, 0, 5, 1, 4, 2])])
def test_renumbered_stamps_keep_the_order_of_equal_large_blocks(order, taken):
    # Six free 20 KiB blocks share the large blocks' treap, ordered by stamp;
    # a hundred stamps taken at the top of the heap renumber the stamps
    # (the limit is 32) several times, and best fit still takes the six in
    # the order they were freed (LIFO: newest first).
    with ma.FreeList(arena_size=1 << 20, fit="best", order=order, _stamp_limit=32) as a:
        big = []
        for _ in range(6):
            big.append(a.malloc(20000 - 16))
            a.malloc(16)                        # a guard
        for i in (3, 0, 5, 1, 4, 2):
            a.free(big[i])
        for _ in range(50):                     # split the free top and merge it back
            a.free(a.malloc(16))
        a.check()
        assert [a.malloc(20000 - 16) for _ in range(6)] == [big[i] for i in taken]
        a.check()


@pytest.mark.parametrize("arena", [4096, 1 << 16, 1 << 20, 1 << 30])
@pytest.mark.parametrize("name", ["best-ao", "first-lifo", "next-fifo", "worst-ao"])
def test_memalign_meets_half_the_arena_size_on_a_fresh_heap(name, arena):
    # An address is its block's offset + 16, never 0: the only multiple of
    # arena_size / 2 it can be is arena_size / 2 itself (the block at
    # arena_size / 2 - 16 after a free leading fragment), and none is a
    # multiple of arena_size.
    with ma.create(name, arena_size=arena) as a:
        assert a.memalign(arena // 2, 1) == arena // 2
        # the heap grew by the block (32) + the alignment + min_block (32), in 4 KiB steps
        heap = -(-(arena // 2 + 64) // 4096) * 4096
        assert a.stats().heap_size == heap <= arena
        assert [(b.offset, b.size, b.allocated) for b in a.blocks()] == [
            (0, arena // 2 - 16, False), (arena // 2 - 16, 32, True),
            (arena // 2 + 16, heap - arena // 2 - 16, False)]
        a.check()
    with ma.create(name, arena_size=arena) as a:
        before = a.stats()
        assert a.memalign(arena, 1) is None           # out of memory, nothing changed
        after = a.stats()
        assert (after.failures, after.mallocs) == (before.failures + 1, before.mallocs + 1)
        assert dataclasses.replace(after, failures=before.failures, mallocs=before.mallocs) == before
        assert len(a.blocks()) == 0 and after.heap_size == 0
        a.check()


# ---- the block layout: glibc's, 8 bytes of overhead per allocated block

TWELVE = [f"{fit}-{order}" for fit in ("best", "first", "next", "worst") for order in ("ao", "lifo", "fifo")]


@pytest.mark.parametrize("name", TWELVE)
def test_blocks_cost_eight_bytes_like_glibc(name):
    with ma.create(name, arena_size=1 << 16) as a:
        p, q, r = a.malloc(24), a.malloc(100), a.malloc(0)
        assert (p, q, r) == (16, 48, 160)
        assert [(b.offset, b.size) for b in a.blocks().allocated] == [(0, 32), (32, 112), (144, 32)]
        assert [a.usable_size(x) for x in (p, q, r)] == [24, 104, 24]
        lines = a.dump().splitlines()
        assert lines[3] == "  0x0000 - 0x0020 :         32 B  allocated  at 0x0010  (24 requested, 24 usable)"
        assert lines[4] == "  0x0020 - 0x0090 :        112 B  allocated  at 0x0030  (100 requested, 104 usable)"
        # Every usable byte is the caller's: the last 8 of p's are the first
        # word of q's block, and writing them all disturbs nothing.
        a.write(p, b"p" * 24)
        a.write(q, b"q" * 104)
        a.write(r, b"r" * 24)
        a.check()
        a.free(q)                  # q's footer lands in r's block's first word ...
        a.check()
        assert a.read(p, 24) == b"p" * 24 and a.read(r, 24) == b"r" * 24  # ... never in a payload
        a.free(p)
        a.check()
        assert a.read(r, 24) == b"r" * 24


@pytest.mark.parametrize("name", ["best-ao", "first-lifo", "next-fifo", "worst-ao"])
def test_the_last_block_of_a_full_arena_reaches_eight_bytes_past_it(name):
    with ma.create(name, arena_size=8192, growth=4096, trim=True) as a:
        p = a.malloc(8192 - 8)     # the whole arena in one block
        assert p == 16 and a.stats().heap_size == 8192 and a.usable_size(p) == 8192 - 8
        a.write(p, b"\xff" * (8192 - 8))   # the payload's last word is past the arena's end
        a.check()
        assert a.read(p, 8, offset=8192 - 16) == b"\xff" * 8  # bytes [8192, 8200)
        a.free(p)                  # trims to nothing
        assert a.stats().heap_size == 0
        q = a.malloc(8192 - 8)
        assert q == 16
        a.write(q, b"\x01" * (8192 - 8))
        a.realloc(q, 100)          # shrinks in place: the tail is freed, then trimmed
        assert a.read(q, 100) == b"\x01" * 100
        a.check()


def test_trimming_keeps_the_payload_end_of_the_block_below_the_new_top():
    # p's block ends at 4096, a page boundary; its payload's last word is the
    # first word of the block above.  Trimming that block away must not give
    # the page holding that word back to the system (it would read as zero).
    with ma.FreeList(arena_size=1 << 16, growth=4096, trim=True) as a:
        p = a.malloc(4096 - 8)
        q = a.malloc(4000)
        assert (p, q) == (16, 4096 + 16) and a.stats().heap_size == 8192
        a.write(p, b"\xab" * (4096 - 8))
        a.free(q)
        assert a.stats().heap_size == 4096
        assert a.read(p, 4096 - 8) == b"\xab" * (4096 - 8)
        a.check()
