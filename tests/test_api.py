"""The Python API contract of docs/api.md, for every registered allocator:
semantics, and every bad input (right exception, heap unchanged)."""
import gc
import weakref
from pathlib import Path

import numpy as np
import pytest

import memalloc_py as ma

ARENA = 1 << 16


def arena_for(name):
    """64 KiB, or the allocator's smallest arena when that is larger (zones:
    1 MiB, which holds its largest zone)."""
    return max(ARENA, ma.REGISTRY[ma.ALIASES.get(name, name)].option("arena_size").min)


@pytest.fixture(params=ma.ARENA_ALLOCATORS)
def a(request):
    with ma.create(request.param, arena_size=arena_for(request.param)) as alloc:
        yield alloc


def snapshot(a):
    """Everything observable about a heap, to assert that it did not change."""
    return a.stats(), [tuple(b) for b in a.blocks()]


def test_allocators_are_listed_and_created_by_name():
    assert "buddy" in ma.ALLOCATORS and "system" in ma.ALLOCATORS
    assert set(ma.ARENA_ALLOCATORS) == set(ma.ALLOCATORS) - {"system"} - set(ma.ALIASES)
    assert len(ma.ARENA_ALLOCATORS) == 15  # buddy, twelve free-list policies, zones, tlsf
    for name in ma.ALLOCATORS:
        if name == "system":
            continue
        with ma.create(name, arena_size=arena_for(name)) as a:
            assert a.name == ma.ALIASES.get(name, name)
    with pytest.raises(ValueError, match="unknown allocator 'nope'"):
        ma.create("nope")


def test_malloc_write_read_free(a):
    p = a.malloc(100)
    assert p is not None and p % 16 == 0
    a.write(p, b"hello")
    assert a.read(p, 5) == b"hello"
    a.write(p, b"XY", offset=3)
    assert a.read(p, 5) == b"helXY"
    assert a.read(p, 2, offset=3) == b"XY"
    a.write(p, np.arange(4, dtype=np.uint8))  # any bytes-like object
    assert a.read(p, 4) == bytes([0, 1, 2, 3])
    a.free(p)
    a.check()
    assert a.stats().live_blocks == 0


def test_malloc_zero_gives_unique_minimum_blocks(a):
    ps = [a.malloc(0) for _ in range(10)]
    assert None not in ps and len(set(ps)) == 10
    one = a.malloc(1)
    minimum = a.usable_size(one)  # the smallest block this allocator hands out
    assert minimum >= 16
    assert [a.usable_size(p) for p in ps] == [minimum] * 10
    held = sorted((b.offset, b.offset + b.size) for b in a.blocks().allocated)
    assert len(held) == 11
    assert all(end <= start for (_, end), (start, _) in zip(held, held[1:]))  # disjoint
    assert a.stats().requested_bytes == 1
    a.check()


def test_calloc_zeroes_and_overflow_is_out_of_memory(a):
    p = a.malloc(256)
    a.write(p, b"\xff" * 256)
    a.free(p)
    q = a.calloc(16, 16)
    assert a.read(q, 256) == bytes(256)
    before = a.stats()
    assert a.calloc(1 << 32, 1 << 32) is None  # count*size overflows 64 bits
    after = a.stats()
    assert after.failures == before.failures + 1
    assert after.mallocs == before.mallocs + 1
    assert (after.live_blocks, after.requested_bytes) == (before.live_blocks, before.requested_bytes)


def test_out_of_memory_returns_none_and_changes_nothing(a):
    p = a.malloc(1000)
    s0, b0 = snapshot(a)
    for size in (a.arena_size + 1, 1 << 40, 1 << 62, (1 << 64) - 1):
        assert a.malloc(size) is None
    s1, b1 = snapshot(a)
    assert b1 == b0
    assert s1.failures == s0.failures + 4
    assert s1.live_blocks == s0.live_blocks
    a.check()
    a.free(p)


def test_realloc_semantics(a):
    p = a.realloc(None, 40)  # malloc
    assert p is not None
    a.write(p, bytes(range(40)))
    q = a.realloc(p, 3000)
    assert a.read(q, 40) == bytes(range(40))
    r = a.realloc(q, 10)
    assert a.read(r, 10) == bytes(range(10))
    assert a.realloc(r, 0) is None  # frees
    assert a.stats().live_blocks == 0
    with pytest.raises(ma.InvalidAddress):
        a.free(r)
    a.check()


def test_failed_realloc_keeps_the_old_block(a):
    p = a.malloc(64)
    a.write(p, b"k" * 64)
    s0, b0 = snapshot(a)
    assert a.realloc(p, a.arena_size * 2) is None
    s1, b1 = snapshot(a)
    assert b1 == b0 and a.read(p, 64) == b"k" * 64
    assert s1.failures == s0.failures + 1 and s1.reallocs == s0.reallocs + 1
    a.check()


def test_memalign_alignments(a):
    for k in range(0, 13):
        p = a.memalign(1 << k, 24)
        assert p is not None and p % max(16, 1 << k) == 0
        a.write(p, b"a" * 24)
    a.check()
    assert a.memalign(a.arena_size * 2, 1) is None


def test_free_none_does_nothing(a):
    s0 = snapshot(a)
    a.free(None)
    assert snapshot(a) == s0


@pytest.mark.parametrize("op", ["free", "usable_size", "read", "write", "realloc"])
def test_invalid_addresses_raise_and_change_nothing(a, op):
    p = a.malloc(64)
    q = a.malloc(64)
    a.free(q)  # q is now a freed address
    calls = {
        "free": lambda x: a.free(x),
        "usable_size": lambda x: a.usable_size(x),
        "read": lambda x: a.read(x, 1),
        "write": lambda x: a.write(x, b"z"),
        "realloc": lambda x: a.realloc(x, 10),
    }
    before = snapshot(a)
    for bad in (q, p + 16, p + 1, a.arena_size * 4, -16, (1 << 64) + 5):
        with pytest.raises(ma.InvalidAddress) as err:
            calls[op](bad)
        assert isinstance(err.value, ValueError) and isinstance(err.value, ma.AllocatorError)
        assert snapshot(a) == before
    a.check()


def test_double_free_raises(a):
    p = a.malloc(10)
    a.free(p)
    before = snapshot(a)
    with pytest.raises(ma.InvalidAddress, match="not the start of a live block"):
        a.free(p)
    assert snapshot(a) == before


def test_read_write_past_usable_size_raise_index_error(a):
    p = a.malloc(20)
    n = a.usable_size(p)
    a.write(p, b"q" * n)
    before = snapshot(a)
    with pytest.raises(IndexError):
        a.read(p, n + 1)
    with pytest.raises(IndexError):
        a.write(p, b"x" * (n + 1))
    with pytest.raises(IndexError):
        a.write(p, b"x", offset=n)
    with pytest.raises(IndexError):
        a.read(p, 1 << 40)
    assert snapshot(a) == before and a.read(p, n) == b"q" * n


@pytest.mark.parametrize(
    "call",
    [
        lambda a: a.malloc(-1),
        lambda a: a.calloc(-1, 4),
        lambda a: a.calloc(4, -1),
        lambda a: a.realloc(None, -5),
        lambda a: a.memalign(16, -1),
        lambda a: a.memalign(0, 16),
        lambda a: a.memalign(24, 16),
        lambda a: a.memalign(-16, 16),
        lambda a: a.malloc(1 << 64),
        lambda a: a.read(0, -1),
    ],
)
def test_bad_values_raise_value_error(a, call):
    keep = a.malloc(32)
    before = snapshot(a)
    with pytest.raises(ValueError):
        call(a)
    assert snapshot(a) == before
    a.free(keep)


@pytest.mark.parametrize(
    "call",
    [
        lambda a: a.malloc(1.5),
        lambda a: a.malloc("10"),
        lambda a: a.malloc(None),
        lambda a: a.malloc(True),
        lambda a: a.calloc(2.0, 3),
        lambda a: a.memalign(16.0, 3),
        lambda a: a.free(1.0),
        lambda a: a.free("0"),
        lambda a: a.realloc(0.0, 3),
    ],
)
def test_non_integers_raise_type_error(a, call):
    before = snapshot(a)
    with pytest.raises(TypeError):
        call(a)
    assert snapshot(a) == before


def test_numpy_integers_are_accepted(a):
    p = a.malloc(np.int64(48))
    assert a.usable_size(np.uint64(p)) >= 48
    a.free(np.int32(p))


def test_closed_allocator_raises_value_error():
    a = ma.create("buddy", arena_size=ARENA)
    p = a.malloc(10)
    a.close()
    a.close()  # twice is fine
    assert a.closed
    for call in (
        lambda: a.malloc(1), lambda: a.free(p), lambda: a.free(None), lambda: a.stats(),
        lambda: a.blocks(), lambda: a.check(), lambda: a.read(p, 1), lambda: a.reset(),
        lambda: a.realloc(p, 4), lambda: a.dump(), lambda: a.usable_size(p),
    ):
        with pytest.raises(ValueError, match="closed"):
            call()
    with pytest.raises(ValueError, match="closed"):
        with a:
            pass


def test_context_manager_closes(a):
    with ma.create(a.name, arena_size=a.arena_size) as b:
        b.malloc(10)
    assert b.closed


def _address_space() -> int:
    """This process's mapped address space in bytes (VmSize)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmSize in /proc/self/status")


def test_garbage_collection_releases_instances():
    # 200 arenas of 1 TiB are more than the 128 TiB of user address space, so
    # a leak would also end in AllocatorError; the mapping is checked directly.
    tib = 1 << 40
    before = _address_space()
    for _ in range(200):
        a = ma.Buddy(arena_size=tib)
        a.malloc(100)
        assert _address_space() >= before + tib  # the arena is reserved ...
        ref = weakref.ref(a)
        del a
        gc.collect()
        assert ref() is None
        assert _address_space() < before + tib  # ... and released with the instance


def test_stats_and_derived_fragmentation(a):
    p = a.malloc(100)
    s = a.stats()
    assert s.live_blocks == 1 and s.requested_bytes == 100
    assert s.allocated_bytes >= 100 and s.peak_requested_bytes == 100
    assert s.internal_fragmentation == pytest.approx(1 - 100 / s.allocated_bytes)
    assert 0 <= s.external_fragmentation <= 1
    assert s.mallocs == 1 and s.arena_size == a.arena_size and s.metadata_bytes > 0
    d = s.as_dict()
    assert d["internal_fragmentation"] == s.internal_fragmentation
    a.free(p)
    s = a.stats()
    assert s.internal_fragmentation == 0.0 and s.peak_requested_bytes == 100


def test_blocks_table(a):
    p = a.malloc(100)
    q = a.malloc(50)
    a.free(p)
    b = a.blocks()
    assert b.array.dtype == ma.BLOCK_DTYPE
    assert len(b) == len(list(b))
    live = [blk for blk in b if blk.allocated]
    assert [blk.address for blk in live] == [q]
    assert live[0].requested == 50
    assert len(b.free) >= 1  # p's block
    assert all(blk.address is None and blk.requested == 0 for blk in b.free)
    assert b["size"].sum() == b.array["size"].sum()
    assert isinstance(b[0], ma.Block)
    df = b.to_pandas()  # pandas is a dependency
    assert list(df.columns) == ["offset", "size", "allocated", "address", "requested"]
    assert len(df) == len(b) and str(df["address"].dtype) == "Int64"
    assert df.loc[df["allocated"], "address"].tolist() == [q]
    assert df.loc[~df["allocated"], "address"].isna().all() and (~df["allocated"]).sum() == len(b.free)


DUMP_HEADER_LINES = 3


def test_dump_lists_every_block(a):
    p = a.malloc(100)
    text = a.dump()
    if a.name == "zones":  # 42's show_alloc_mem(): every allocation, then the total
        assert text.splitlines()[-2:] == [f"0x{p:X} - 0x{p + 100:X} : 100 bytes", "Total : 100 bytes"]
        return
    assert text.startswith(a.name)
    assert "allocated" in text and f"(100 requested, {a.usable_size(p)} usable)" in text
    lines = text.splitlines()
    assert len(lines) == DUMP_HEADER_LINES + len(a.blocks())
    free = a.blocks().free
    n_free = sum(1 for line in lines[DUMP_HEADER_LINES:] if line.endswith(" B  free"))
    assert n_free == len(free)
    a.free(p)


def test_dump_header_of_a_buddy_heap_counts_the_free_blocks_it_lists():
    with ma.Buddy(arena_size=1024) as a:
        first = a.malloc(16)
        a.malloc(16)
        a.malloc(128)  # at 128: the heap ends at 256
        a.free(first)
        assert a.dump().splitlines() == [
            "buddy: arena 1024 B; heap 256 B (the end of the highest live block), peak 256 B",
            "live: 2 blocks, 144 B requested in 144 B allocated",
            "free: 5 blocks, 880 B; inside the heap (what stats() counts): 112 B in 3 blocks",
            "  0x0000 - 0x0010 :         16 B  free",
            "  0x0010 - 0x0020 :         16 B  allocated  at 0x0010  (16 requested, 16 usable)",
            "  0x0020 - 0x0040 :         32 B  free",
            "  0x0040 - 0x0080 :         64 B  free",
            "  0x0080 - 0x0100 :        128 B  allocated  at 0x0080  (128 requested, 128 usable)",
            "  0x0100 - 0x0200 :        256 B  free",
            "  0x0200 - 0x0400 :        512 B  free",
        ]
        s = a.stats()
        assert (s.free_bytes, s.free_blocks) == (112, 3)


def test_dump_header_of_a_buddy_heap_with_nothing_free_inside_it():
    with ma.Buddy(arena_size=1024) as a:
        a.malloc(100)
        a.malloc(16)
        assert a.dump().splitlines()[:3] == [
            "buddy: arena 1024 B; heap 144 B (the end of the highest live block), peak 144 B",
            "live: 2 blocks, 116 B requested in 144 B allocated",
            "free: 5 blocks, 880 B; inside the heap (what stats() counts): 0 B in 0 blocks",
        ]


def test_dump_header_of_a_free_list_heap():
    with ma.FreeList(arena_size=1 << 16, fit="best", order="address") as a:
        assert a.dump() == (
            "best-ao: arena 65536 B; heap 0 B (the top of the heap, moved in growth steps "
            "like the program break), peak 0 B\n"
            "live: 0 blocks, 0 B requested in 0 B allocated\n"
            "free: none"
        )
        p = a.malloc(100)
        q = a.malloc(16)
        a.malloc(40)
        a.free(q)
        assert a.dump().splitlines() == [
            "best-ao: arena 65536 B; heap 4096 B (the top of the heap, moved in growth steps "
            "like the program break), peak 4096 B",
            "live: 2 blocks, 140 B requested in 160 B allocated",
            "free: 2 blocks, 3936 B, all inside the heap",
            "  0x0000 - 0x0070 :        112 B  allocated  at 0x0010  (100 requested, 104 usable)",
            "  0x0070 - 0x0090 :         32 B  free",
            "  0x0090 - 0x00c0 :         48 B  allocated  at 0x00a0  (40 requested, 40 usable)",
            "  0x00c0 - 0x1000 :       3904 B  free",
        ]
        a.free(p)


def test_reset_returns_to_a_fresh_state(a):
    fresh = snapshot(a)
    for n in (10, 200, 3000):
        a.malloc(n)
    a.reset()
    assert snapshot(a) == fresh
    a.check()
    assert a.malloc(10) is not None


def test_two_instances_are_independent():
    with ma.Buddy(arena_size=1024) as x, ma.Buddy(arena_size=1024) as y:
        p = x.malloc(16)
        x.write(p, b"x" * 16)
        q = y.malloc(16)
        y.write(q, b"y" * 16)
        assert p == q == 0
        assert x.read(p, 16) == b"x" * 16 and y.read(q, 16) == b"y" * 16


@pytest.mark.parametrize(
    "kwargs, param",
    [
        ({"arena_size": 1000}, "arena_size"),
        ({"arena_size": 512}, "arena_size"),
        ({"arena_size": 1 << 41}, "arena_size"),
        ({"arena_size": -1024}, "arena_size"),
        ({"min_block": 8}, "min_block"),
        ({"min_block": 48}, "min_block"),
        ({"arena_size": 1024, "min_block": 2048}, "min_block"),
    ],
)
def test_bad_buddy_constructor_arguments_name_the_parameter(kwargs, param):
    with pytest.raises(ValueError, match=param):
        ma.Buddy(**kwargs)


def test_bad_constructor_types():
    with pytest.raises(TypeError):
        ma.Buddy(arena_size=1024.0)
    with pytest.raises(ValueError, match=r"^unknown option 'arena_sise' for allocator 'buddy' "
                                         r"\(its options: arena_size, min_block, scribble, check_every, canary, asan, valgrind\)$"):
        ma.create("buddy", arena_sise=1024)  # misspelt option: the C registry's message
    with pytest.raises(TypeError, match="^option arena_size must be an int, a bool or a str, not float$"):
        ma.create("buddy", arena_size=1024.0)


def test_system_allocator_is_libc_behind_the_interface():
    with ma.create("system") as s:
        p = s.malloc(100)
        assert p is not None and p % 16 == 0
        s.write(p, b"libc")
        assert s.read(p, 4) == b"libc"
        assert s.usable_size(p) >= 100
        q = s.realloc(p, 5000)
        assert s.read(q, 4) == b"libc"
        r = s.memalign(4096, 10)
        assert r % 4096 == 0
        st = s.stats()
        assert st.live_blocks == 2 and st.requested_bytes == 5010 and st.arena_size == 0
        assert st.allocated_bytes >= 5010
        s.check()
        with pytest.raises(ma.InvalidAddress):
            s.free(q + 16)   # never reaches libc
        with pytest.raises(ma.InvalidAddress):
            s.free(12345)
        with pytest.raises(NotImplementedError):
            s.blocks()
        with pytest.raises(NotImplementedError):
            s.dump()
        assert s.malloc(1 << 62) is None
        s.free(q)
        s.free(r)
        assert s.stats().allocated_bytes == 0
        s.malloc(10)
        s.reset()
        assert s.stats().live_blocks == 0
