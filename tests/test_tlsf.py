"""TLSF (csrc/tlsf.c): its mapping of sizes to classes, the good-fit rule,
exact layouts, coalescing, growth and trimming, and bad input.

Block sizes: a request of n bytes takes max(32, round_up(n + 8, 16)) bytes;
the address is the block's offset + 16 and usable_size the size - 8."""
import ctypes

import pytest
from hypothesis import given
from hypothesis import strategies as st

import memalloc_py as ma


def block_for(n):
    return max(32, -(-(n + 8) // 16) * 16)


# ---- the mapping, restated from the top of csrc/tlsf.c -------------------------

def ref_class(size, k):
    u = size // 16
    if u < 1 << k:
        return 0, u
    f = u.bit_length() - 1
    return f - k + 1, (u >> (f - k)) - (1 << k)


def class_range(fl, sl, k):
    """[lo, hi) in bytes: the sizes of class (fl, sl)."""
    if fl == 0:
        return 16 * sl, 16 * (sl + 1)
    lo = ((1 << k) + sl) << (fl - 1)
    return 16 * lo, 16 * (lo + (1 << (fl - 1)))


BOUNDARIES_K5 = [  # (size, class it is listed in, class a search for it starts at)
    (32, (0, 2), (0, 2)),
    (496, (0, 31), (0, 31)),
    (512, (1, 0), (1, 0)),
    (528, (1, 1), (1, 1)),
    (1008, (1, 31), (1, 31)),
    (1024, (2, 0), (2, 0)),
    (1040, (2, 0), (2, 1)),    # classes are 32 bytes wide from 1024: rounded up
    (1056, (2, 1), (2, 1)),
    (2032, (2, 31), (3, 0)),   # rounding up crosses into the next power of two
    (2048, (3, 0), (3, 0)),
    (2064, (3, 0), (3, 1)),
    ((1 << 35) - 16, (26, 31), (27, 0)),
    (1 << 35, (27, 0), (27, 0)),
]


@pytest.mark.parametrize("size, listed, search", BOUNDARIES_K5)
def test_mapping_at_the_boundaries_with_five_bits(size, listed, search):
    assert ma.TLSF.mapping(size) == listed
    assert ma.TLSF.mapping(size, 5, search=False) == listed
    assert ma.TLSF.mapping(size, search=True) == search


@pytest.mark.parametrize("k, size, listed, search", [
    (1, 32, (1, 0), (1, 0)), (1, 48, (1, 1), (1, 1)), (1, 64, (2, 0), (2, 0)),
    (1, 80, (2, 0), (2, 1)), (1, 112, (2, 1), (3, 0)), (1, 1 << 35, (31, 0), (31, 0)),
    (6, 1008, (0, 63), (0, 63)), (6, 1024, (1, 0), (1, 0)), (6, 2048, (2, 0), (2, 0)),
    (6, 2064, (2, 0), (2, 1)), (6, 1 << 35, (26, 0), (26, 0)),
])
def test_mapping_at_the_boundaries_of_other_widths(k, size, listed, search):
    assert ma.TLSF.mapping(size, k) == listed
    assert ma.TLSF.mapping(size, k, search=True) == search


@pytest.mark.parametrize("k", range(1, 7))
def test_every_size_lies_in_its_class_and_a_search_starts_at_the_first_class_that_fits(k):
    sizes = list(range(32, 1 << 16, 16)) + [(1 << e) + d for e in range(16, 36) for d in (-16, 0, 16)
                                            if (1 << e) + d <= 1 << 35]
    prev = (0, 0)
    for size in sizes:
        listed = ma.TLSF.mapping(size, k)
        assert listed == ref_class(size, k)
        lo, hi = class_range(*listed, k)
        assert lo <= size < hi, (size, listed)
        assert listed >= prev  # classes follow sizes
        prev = listed
        # A search starts at the class that begins at the size rounded up to
        # a multiple of its class's width: the lowest class whose every
        # block fits (the listed one when the size begins it).
        search = ma.TLSF.mapping(size, k, search=True)
        r = -(-size // (hi - lo)) * (hi - lo)
        assert search == ref_class(r, k) and class_range(*search, k)[0] == r >= size
        assert (search == listed) == (lo == size)


@pytest.mark.parametrize("args, message", [
    ((16,), "size must be a block size: a multiple of 16 from 32 to 34359738368, got 16"),
    ((40,), "got 40"),
    (((1 << 35) + 16,), "got 34359738384"),
    ((32, 0), "sl_bits must be from 1 to 6, got 0"),
    ((32, 7), "sl_bits must be from 1 to 6, got 7"),
    ((32, 1 << 40), "sl_bits must be from 1 to 6, got 1099511627776"),
])
def test_mapping_refuses_what_is_not_a_block_size_or_width(args, message):
    with pytest.raises(ValueError, match=message):
        ma.TLSF.mapping(*args)


def test_mapping_refuses_non_integers():
    with pytest.raises(TypeError):
        ma.TLSF.mapping(32.0)
    with pytest.raises(TypeError):
        ma.TLSF.mapping(32, search=1)


# ---- exact layouts -----------------------------------------------------------------

def layout(a):
    return [(b.offset, b.size, b.allocated) for b in a.blocks()]


def test_addresses_and_sizes_of_a_simple_sequence():
    with ma.create("tlsf", arena_size=1 << 16) as a:
        assert [a.malloc(n) for n in (0, 24, 25, 1000)] == [16, 48, 80, 128]
        assert [a.usable_size(p) for p in (16, 48, 80, 128)] == [24, 24, 40, 1000]
        assert layout(a) == [(0, 32, True), (32, 32, True), (64, 48, True), (112, 1008, True),
                             (1120, 2976, False)]
        s = a.stats()
        assert (s.heap_size, s.allocated_bytes, s.free_bytes, s.free_blocks, s.largest_free) == (
            4096, 1120, 2976, 1, 2976)
        assert s.metadata_bytes > 0
        a.free(48)
        a.free(16)   # merges with the block above
        a.free(80)   # merges with the block below
        assert layout(a) == [(0, 112, False), (112, 1008, True), (1120, 2976, False)]
        a.check()


def test_coalescing_on_both_sides_at_once():
    with ma.TLSF(arena_size=1 << 16) as a:
        p1, p2, p3, p4 = (a.malloc(24) for _ in range(4))
        assert (p1, p2, p3, p4) == (16, 48, 80, 112)
        a.free(p1)
        a.free(p3)
        assert layout(a) == [(0, 32, False), (32, 32, True), (64, 32, False), (96, 32, True),
                             (128, 3968, False)]
        a.free(p2)
        assert layout(a) == [(0, 96, False), (96, 32, True), (128, 3968, False)]
        a.free(p4)
        assert layout(a) == [(0, 4096, False)]
        s = a.stats()
        assert (s.free_blocks, s.free_bytes, s.largest_free, s.allocated_bytes) == (1, 4096, 4096, 0)
        a.check()


def test_the_last_block_reaches_eight_bytes_past_the_heap_and_the_arena():
    with ma.TLSF(arena_size=4096, growth=4096) as a:
        assert a.malloc(4089) is None  # a block of 4112
        p = a.malloc(4088)             # a block of 4096: the whole arena
        assert p == 16 and a.usable_size(p) == 4088 and a.stats().heap_size == 4096
        data = bytes(range(256)) * 15 + bytes(248)
        a.write(p, data)
        assert a.read(p, 4088) == data
        a.check()
        a.free(p)
        assert layout(a) == [(0, 4096, False)]


def test_memalign_frees_the_leading_fragment():
    with ma.TLSF(arena_size=1 << 16) as a:
        assert a.memalign(256, 10) == 256
        assert layout(a) == [(0, 240, False), (240, 32, True), (272, 3824, False)]
        assert a.memalign(1 << 15, 1) == 1 << 15
        assert a.memalign(1 << 16, 1) is None  # the arena itself: no address is a multiple
        a.check()


def test_realloc_grows_into_the_next_free_block_shrinks_in_place_and_else_moves():
    with ma.TLSF(arena_size=1 << 16) as a:
        p = a.malloc(24)
        q = a.malloc(24)
        a.write(p, b"x" * 24)
        a.free(q)
        assert a.realloc(p, 100) == p  # absorbs the free block above
        assert layout(a) == [(0, 112, True), (112, 3984, False)]
        assert a.realloc(p, 24) == p   # the tail goes back, merged with the block above
        assert layout(a) == [(0, 32, True), (32, 4064, False)]
        assert a.realloc(p, 40) == p and layout(a)[0] == (0, 48, True)
        r = a.malloc(24)
        assert r == 64
        moved = a.realloc(p, 100)      # the next block is allocated: it moves
        assert moved == 96 and a.read(moved, 24) == b"x" * 24
        assert layout(a) == [(0, 48, False), (48, 32, True), (80, 112, True), (192, 3904, False)]
        a.check()


# ---- growth and trimming ---------------------------------------------------------------

def test_the_heap_grows_in_growth_steps_extending_a_free_top():
    with ma.TLSF(arena_size=1 << 16, growth=4096) as a:
        assert a.malloc(5000) == 16  # a block of 5008: two steps
        assert a.stats().heap_size == 8192 and layout(a)[-1] == (5008, 3184, False)
        assert a.malloc(4000) == 5024  # 4016 > the free top's 3184: one more step
        assert a.stats().heap_size == 12288
        assert layout(a) == [(0, 5008, True), (5008, 4016, True), (9024, 3264, False)]
    with ma.TLSF(arena_size=1 << 16, growth=1600) as a:  # not a power of two
        a.malloc(2000)
        assert a.stats().heap_size == 3200


def test_a_free_top_that_holds_the_block_is_used_though_its_class_is_below_the_search():
    with ma.TLSF(arena_size=1 << 16, growth=4096) as a:
        a.malloc(72)  # 80 bytes: the free top is 4016 bytes, class (3, 30)
        assert ma.TLSF.mapping(4016) == (3, 30) and ma.TLSF.mapping(4016, search=True) == (3, 31)
        assert a.malloc(4008) == 96  # a block of 4016: the top, without growing
        assert a.stats().heap_size == 4096 and layout(a) == [(0, 80, True), (80, 4016, True)]


def test_trim_gives_the_free_top_back_to_a_growth_step_never_leaving_a_sliver():
    with ma.TLSF(arena_size=1 << 16, growth=4096, trim=True) as a:
        p = a.malloc(8000)           # [0, 8016)
        q = a.malloc(8000)           # [8016, 16032): the heap grows to 16384
        a.free(p)                    # not the top: nothing to trim
        assert a.stats().heap_size == 16384
        assert a.malloc(4072) == 16  # 4080 bytes from the free block at 0
        a.free(q)                    # the free top starts at 4080: 4096 would leave 16 bytes
        assert a.stats().heap_size == 8192 and layout(a) == [(0, 4080, True), (4080, 4112, False)]
        a.free(16)
        assert a.stats().heap_size == 0 and layout(a) == [] and a.stats().peak_heap_size == 16384
        a.check()


def test_trim_keeps_prealloc_and_without_trim_the_heap_stays():
    with ma.TLSF(arena_size=1 << 16, prealloc=8192, trim=True) as a:
        assert layout(a) == [(0, 8192, False)]
        p = a.malloc(20000)
        assert a.stats().heap_size == 20480
        a.free(p)
        assert layout(a) == [(0, 8192, False)]
    with ma.TLSF(arena_size=1 << 16) as a:
        a.free(a.malloc(20000))
        assert layout(a) == [(0, 20480, False)]


# ---- the good-fit rule -----------------------------------------------------------------------

def heap_with_free(sizes, order=None, sl_bits=5):
    """Free blocks of the given sizes, in that address order, each followed
    by a live 32-byte guard (the heap grows in 16-byte steps, so there is no
    free top), freed in `order` (indices; default: address order).  Returns
    the allocator and the blocks' offsets."""
    a = ma.TLSF(arena_size=1 << 20, growth=16, sl_bits=sl_bits)
    addrs = []
    for s in sizes:
        addrs.append(a.malloc(s - 8))
        a.malloc(24)
    assert layout(a)[-1][2] and a.stats().free_blocks == 0
    for i in (order if order is not None else range(len(sizes))):
        a.free(addrs[i])
    return a, [p - 16 for p in addrs]


def test_good_fit_takes_the_class_whose_every_block_fits_not_the_best_fit():
    a, (b1040, b1056) = heap_with_free([1040, 1056])
    # 1040 bytes: its own class (2, 0) holds 1024..1055, where a block may
    # not fit, so the search starts at (2, 1): the 1056 block, not the exact one.
    assert a.malloc(1032) == b1056 + 16
    assert layout(a)[2] == (b1056, 1056, True)  # a 16-byte rest stays in the block
    # 1024 bytes start the class (2, 0): the exact-fitting 1040 block is taken.
    assert a.malloc(1016) == b1040 + 16
    a.check()


def test_good_fit_takes_the_first_non_empty_class_above_and_splits():
    a, (b8192, b2048, b1056) = heap_with_free([8192, 2048, 1056])
    want = block_for(1500)  # 1520: search class (2, 16); (2, 1) is below it
    assert want == 1520 and ma.TLSF.mapping(want, search=True) == (2, 16)
    assert a.malloc(1500) == b2048 + 16  # class (3, 0), the first non-empty above
    assert [blk for blk in layout(a) if blk[0] in (b2048, b2048 + 1520)] == [
        (b2048, 1520, True), (b2048 + 1520, 528, False)]
    assert a.malloc(5000) == b8192 + 16  # class (5, 0): the only one left above (4, 0)
    a.check()


def test_within_a_class_the_most_recently_freed_block_comes_first():
    a, (x, y, z) = heap_with_free([1056, 1072, 1056], order=[0, 2, 1])
    assert {ma.TLSF.mapping(s) for s in (1056, 1072)} == {(2, 1)}
    assert [a.malloc(1040) for _ in range(3)] == [y + 16, z + 16, x + 16]


def test_when_no_class_fits_the_heap_grows_by_what_is_missing():
    a, _ = heap_with_free([1056])
    heap = a.stats().heap_size
    assert a.malloc(2000) == heap + 16  # the 1056 block's class is below the search
    assert a.stats().heap_size == heap + 2016


@given(ops=st.lists(st.tuples(st.booleans(), st.integers(0, 3000), st.integers(0, 63)),
                    min_size=1, max_size=60),
       k=st.integers(1, 6), growth=st.sampled_from([16, 4096]))
def test_every_malloc_takes_the_first_non_empty_class_at_or_above_its_search_class(ops, k, growth):
    with ma.TLSF(arena_size=1 << 20, growth=growth, sl_bits=k) as a:
        live = []
        for is_malloc, n, pick in ops:
            if not is_malloc and live:
                a.free(live.pop(pick % len(live)))
                continue
            blocks = layout(a)
            heap = a.stats().heap_size
            free = [(ma.TLSF.mapping(s, k), off) for off, s, alloc in blocks if not alloc]
            search = ma.TLSF.mapping(block_for(n), k, search=True)
            fitting = [c for c in free if c[0] >= search]
            p = a.malloc(n)
            assert p is not None
            if fitting:
                first = min(c for c, _ in fitting)
                assert p - 16 in {off for c, off in fitting if c == first}
            else:  # the free top, grown when it must be, or a new top
                top_free = bool(blocks) and not blocks[-1][2]
                assert p - 16 == (blocks[-1][0] if top_free else heap)
            live.append(p)
        a.check()


# ---- text, errors and corruption ---------------------------------------------------------

def test_dump_of_a_tlsf_heap():
    with ma.TLSF(arena_size=1 << 16) as a:
        p = a.malloc(100)
        q = a.malloc(16)
        a.malloc(40)
        a.free(q)
        assert a.dump().splitlines() == [
            "tlsf: arena 65536 B; heap 4096 B (the top of the heap, moved in growth steps "
            "like the program break), peak 4096 B",
            "live: 2 blocks, 140 B requested in 160 B allocated",
            "free: 2 blocks, 3936 B, all inside the heap",
            "  0x0000 - 0x0070 :        112 B  allocated  at 0x0010  (100 requested, 104 usable)",
            "  0x0070 - 0x0090 :         32 B  free",
            "  0x0090 - 0x00c0 :         48 B  allocated  at 0x00a0  (40 requested, 40 usable)",
            "  0x00c0 - 0x1000 :       3904 B  free",
        ]
        a.free(p)


@pytest.mark.parametrize("kwargs, message", [
    ({"arena_size": 1000}, "arena_size must be a multiple of 16 from 4096 to 34359738368, got 1000"),
    ({"arena_size": 1 << 36}, "arena_size must be a multiple of 16 from 4096 to 34359738368"),
    ({"growth": 8}, r"growth must be a multiple of 16 from 16 to arena_size \(1073741824\), got 8"),
    ({"growth": 2 << 30}, "growth must be a multiple of 16"),
    ({"prealloc": 16}, r"prealloc must be 0 or a multiple of 16 from 32 to arena_size \(1073741824\), got 16"),
    ({"prealloc": 40}, "prealloc must be 0 or a multiple of 16"),
    ({"sl_bits": 0}, "sl_bits must be from 1 to 6, got 0"),
    ({"sl_bits": 7}, "sl_bits must be from 1 to 6, got 7"),
])
def test_bad_options_are_the_c_messages(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ma.TLSF(**kwargs)
    with pytest.raises(ValueError, match=message):
        ma.create("tlsf", **kwargs)


def test_bad_option_names_and_types():
    with pytest.raises(ValueError, match=r"unknown option 'min_block' for allocator 'tlsf' \(its "
                                         r"options: arena_size, growth, prealloc, trim, sl_bits, scribble, "
                                         r"check_every, canary, asan, valgrind\)"):
        ma.create("tlsf", min_block=32)
    with pytest.raises(TypeError, match="trim must be True or False"):
        ma.TLSF(trim=1)
    with pytest.raises(TypeError):
        ma.TLSF(sl_bits=5.0)
    with ma.create("tlsf", sl_bits=3, trim=True) as a:
        assert (a.sl_bits, a.options["sl_bits"], a.options["trim"]) == (3, 3, True)
    defaults = {"arena_size": 1 << 30, "growth": 4096, "prealloc": 0, "trim": False, "sl_bits": 5}
    assert ma.TLSF().options == defaults  # the class's defaults are C's and the registry's
    assert {o.name: o.default for o in ma.REGISTRY["tlsf"].options} == defaults


def test_bad_frees_raise_and_change_nothing():
    with ma.TLSF(arena_size=1 << 16) as a:
        p = a.malloc(100)
        q = a.malloc(100)
        before = (a.stats(), layout(a))
        for bad in (0, 8, p - 16, p + 16, p + 8, q + 112, 1 << 20):
            with pytest.raises(ma.InvalidAddress):
                a.free(bad)
            with pytest.raises(ma.InvalidAddress):
                a.realloc(bad, 10)
        assert (a.stats(), layout(a)) == before
        a.free(p)
        with pytest.raises(ma.InvalidAddress):
            a.free(p)
        with pytest.raises(IndexError):
            a.write(q, b"x" * 105)  # usable_size is 104
        a.check()


def poke(a, offset, value):
    ctypes.c_uint64.from_address(a.arena_base + offset).value = value


@pytest.mark.parametrize("offset, value, words", [
    (112, 48, "footer 48 differs from its size 112"),
    (16, 0xFFFFFFFF00000005, "names 0x50, which is not a free block"),
    (16, 0x00000005FFFFFFFF, "back link is wrong"),
    (120, 112 | 3, "previous-allocated bit is wrong"),
    (4096 + 8, 3, "the epilogue at 0x1008 says the last block is allocated; it is free"),
    (232, 0, "does not fit the heap"),
])
def test_check_names_a_scribble(offset, value, words):
    with ma.TLSF(arena_size=1 << 16) as a:
        p = a.malloc(100)
        a.malloc(100)
        a.free(p)
        a.check()
        poke(a, offset, value)
        with pytest.raises(ma.HeapCorruption, match=words):
            a.check()


def test_a_block_whose_size_word_is_wrong_cannot_be_freed():
    with ma.TLSF(arena_size=1 << 16) as a:
        p = a.malloc(100)
        poke(a, p - 8, 112 | 2)  # its allocated bit gone
        with pytest.raises(ma.HeapCorruption, match="no allocated block there"):
            a.free(p)
