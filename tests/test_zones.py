"""The zones allocator (segregated TINY/SMALL zones, LARGE page regions, the
42 malloc): its class tables, where each request lands, zone creation and
release, LARGE regions, the show_alloc_mem() dump, and bad input."""
import mmap

import pytest

import memalloc_py as ma
from memalloc_py._native import ffi, lib
from memalloc_py.testing import expected_zones_block

PS = mmap.PAGESIZE
MIB = 1 << 20
FINE = (16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640, 768, 896,
        1024, 1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096)


@pytest.fixture
def z():
    with ma.create("zones", arena_size=4 * MIB) as a:
        yield a


def zone_pages(size):
    """Pages of a zone of `size`-byte blocks: the fewest that hold 100."""
    return -(-100 * size // PS)


def test_page_size_is_the_one_these_layouts_assume():
    assert PS == 4096


def test_class_tables():
    with ma.Zones(arena_size=MIB) as a:
        assert a.classes() == FINE
        assert a.options == {"arena_size": MIB, "tiny_max": 128, "small_max": 4096, "classes": "fine"}
    with ma.create("zones", arena_size=MIB, classes="pow2") as a:
        assert a.classes() == (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
        assert a.options["classes"] == "pow2" and type(a) is ma.Zones
    with ma.Zones(arena_size=MIB, tiny_max=48, small_max=400) as a:
        # 16-byte steps to tiny_max, then four per doubling; small_max is the last.
        assert a.classes() == (16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 400)
    with ma.Zones(arena_size=MIB, tiny_max=64, small_max=256, classes="pow2") as a:
        assert a.classes() == (16, 32, 64, 128, 256)


@pytest.mark.parametrize("size, block, kind", [
    (0, 16, "TINY"), (1, 16, "TINY"), (16, 16, "TINY"), (17, 32, "TINY"), (100, 112, "TINY"),
    (128, 128, "TINY"), (129, 160, "SMALL"), (161, 192, "SMALL"), (257, 320, "SMALL"),
    (1000, 1024, "SMALL"), (1025, 1280, "SMALL"), (4095, 4096, "SMALL"), (4096, 4096, "SMALL"),
])
def test_which_zone_and_class_a_request_lands_in(z, size, block, kind):
    p = z.malloc(size)
    assert p == 0  # the first zone starts the arena; its first block is at its start
    assert z.usable_size(p) == block
    (zone,) = z.zones()
    assert (zone["kind"], int(zone["block_size"]), int(zone["offset"])) == (kind, block, 0)
    assert int(zone["size"]) == zone_pages(block) * PS
    assert int(zone["blocks"]) == zone_pages(block) * PS // block >= 100
    assert int(zone["live"]) == 1
    s = z.stats()
    assert (s.heap_size, s.allocated_bytes) == (zone_pages(block) * PS, block)
    (blk,) = [b for b in z.blocks() if b.allocated]
    assert (blk.offset, blk.size, blk.address, blk.requested) == (0, block, 0, size)


def test_blocks_of_a_class_are_handed_out_in_address_order_and_reused_lifo(z):
    ps = [z.malloc(24) for _ in range(4)]
    assert ps == [0, 32, 64, 96]
    z.free(32)
    z.free(96)
    assert [z.malloc(30), z.malloc(17), z.malloc(32)] == [96, 32, 128]
    z.check()


def test_each_class_has_its_zones(z):
    a, b, c, d = z.malloc(8), z.malloc(200), z.malloc(20), z.malloc(130)
    # Zones in the order they were made: 16 (1 page), 224 (6 pages), 32 (1 page), 160 (4 pages).
    assert (a, b, c, d) == (0, PS, 7 * PS, 8 * PS)
    zones = z.zones()
    assert [(str(k), int(s), int(o)) for k, s, o in zip(zones["kind"], zones["block_size"], zones["offset"])] == [
        ("TINY", 16, 0), ("SMALL", 224, PS), ("TINY", 32, 7 * PS), ("SMALL", 160, 8 * PS)]
    assert z.stats().heap_size == 12 * PS


def test_a_full_zone_makes_a_new_one_and_the_walk_lists_every_block(z):
    per_zone = PS // 16  # 256 blocks of 16 bytes in a one-page zone
    ps = [z.malloc(16) for _ in range(per_zone + 1)]
    assert ps == list(range(0, (per_zone + 1) * 16, 16))
    zones = z.zones()
    assert zones["offset"].tolist() == [0, PS] and zones["live"].tolist() == [per_zone, 1]
    blocks = z.blocks()
    assert len(blocks) == 2 * per_zone  # every block of both zones, free ones too
    assert int(blocks.array["allocated"].sum()) == per_zone + 1
    s = z.stats()
    assert (s.free_blocks, s.free_bytes, s.largest_free) == (per_zone - 1, (per_zone - 1) * 16, 16)


def test_zone_slack_is_one_free_block(z):
    z.malloc(100)  # 112-byte class: 3 pages hold 109 blocks and 80 bytes of slack
    assert zone_pages(112) == 3 and 3 * PS - 109 * 112 == 80
    last = z.blocks().array[-1]
    assert (int(last["offset"]), int(last["size"]), bool(last["allocated"])) == (109 * 112, 80, False)
    assert z.stats().free_blocks == 108 + 1


def test_empty_zones_keep_one_per_class_and_release_the_rest(z):
    per_zone = PS // 16
    first = [z.malloc(16) for _ in range(per_zone)]
    second = [z.malloc(16) for _ in range(per_zone)]
    third = [z.malloc(16) for _ in range(per_zone)]
    assert z.stats().heap_size == 3 * PS
    for p in second:  # the first zone to empty is kept
        z.free(p)
    assert z.zones()["live"].tolist() == [per_zone, 0, per_zone]
    for p in first:  # the second empty zone of the class goes to the pool
        z.free(p)
    zones = z.zones()
    assert [(str(k), int(o), int(n)) for k, o, n in zip(zones["kind"], zones["offset"], zones["live"])] == [
        ("pool", 0, 0), ("TINY", PS, 0), ("TINY", 2 * PS, per_zone)]
    s = z.stats()
    assert (s.heap_size, s.largest_free) == (3 * PS, PS)
    # The kept zone is used last: a new block goes to the non-empty zone.
    z.free(third[5])
    assert z.malloc(16) == third[5]
    for p in third:
        z.free(p)
    # The third zone's pages reach the top: the top falls to the kept zone's end.
    assert z.stats().heap_size == 2 * PS
    assert z.zones()["kind"].tolist() == ["pool", "TINY"]
    # Released pages are reused best-fit: a new zone of another class takes them.
    assert z.malloc(20) == 0
    z.check()


def test_large_regions_are_page_rounded_and_released(z):
    p = z.malloc(4097)
    q = z.malloc(3 * PS)
    r = z.malloc(5000)
    assert (p, q, r) == (0, 2 * PS, 5 * PS)
    assert [z.usable_size(x) for x in (p, q, r)] == [2 * PS, 3 * PS, 2 * PS]
    zones = z.zones()
    assert zones["kind"].tolist() == ["LARGE"] * 3 and zones["size"].tolist() == [2 * PS, 3 * PS, 2 * PS]
    z.free(q)
    assert z.zones()["kind"].tolist() == ["LARGE", "pool", "LARGE"]
    assert z.malloc(8000) == 2 * PS  # best fit in the pool: the low end of the 3-page run
    assert z.zones()["size"].tolist() == [2 * PS, 2 * PS, PS, 2 * PS]
    z.free(r)  # the top falls past the free page below it
    assert z.stats().heap_size == 4 * PS and z.zones()["kind"].tolist() == ["LARGE", "LARGE"]
    z.check()


def test_large_realloc_in_place_and_aligned_regions(z):
    p = z.malloc(5000)
    z.write(p, b"x" * 5000)
    assert z.realloc(p, 3 * PS) == p and z.usable_size(p) == 3 * PS  # grows at the top
    assert z.realloc(p, 5000) == p and z.stats().heap_size == 2 * PS  # shrinks: the tail goes back
    assert z.read(p, 5000) == b"x" * 5000
    q = z.memalign(4 * PS, 100)  # alignment above a page: a LARGE region aligned to it
    assert q == 4 * PS and z.usable_size(q) == PS
    assert z.zones()["kind"].tolist() == ["LARGE", "pool", "LARGE"]
    s = z.realloc(p, 100)  # to a class: moved into a zone
    assert z.read(s, 100) == b"x" * 100 and z.usable_size(s) == 112
    z.check()


@pytest.mark.parametrize("alignment, size, block", [
    (32, 20, 32), (64, 20, 64), (64, 70, 128), (128, 130, 256), (256, 24, 256), (512, 600, 1024),
    (1024, 24, 1024), (2048, 24, 2048), (4096, 24, 4096), (8192, 24, PS),
])
def test_memalign_takes_a_class_that_is_a_multiple_of_the_alignment(z, alignment, size, block):
    z.malloc(16)  # so that the aligned block is not at 0 by chance
    p = z.memalign(alignment, size)
    assert p % alignment == 0 and z.usable_size(p) == block
    assert block == expected_zones_block(size, alignment, z.classes(), 4096, PS)


def test_dump_is_show_alloc_mem(z):
    a = z.malloc(42)     # 48-byte class: a TINY zone of 2 pages
    b = z.malloc(84)     # 96-byte class: 3 pages
    c = z.malloc(3725)   # 4096-byte class: a SMALL zone of 100 pages
    d = z.malloc(48847)  # LARGE: 12 pages
    e = z.malloc(40)     # beside a
    z.free(z.malloc(1000))  # its SMALL zone stays, empty: the class keeps it
    assert (a, b, c, d, e) == (0, 0x2000, 0x5000, 0x69000, 0x30)
    assert z.dump() == "\n".join([
        "TINY : 0x0 - 0x2000",
        "0x0 - 0x2A : 42 bytes",
        "0x30 - 0x58 : 40 bytes",
        "TINY : 0x2000 - 0x5000",
        "0x2000 - 0x2054 : 84 bytes",
        "SMALL : 0x5000 - 0x69000",
        "0x5000 - 0x5E8D : 3725 bytes",
        "LARGE : 0x69000 - 0x75000",
        "0x69000 - 0x74ECF : 48847 bytes",
        "SMALL : 0x75000 - 0x8E000",
        "Total : 52738 bytes",
    ])


def test_dump_of_an_empty_heap_and_without_pool_runs(z):
    assert z.dump() == "Total : 0 bytes"
    p = z.malloc(5000)
    q = z.malloc(5000)
    z.free(p)
    assert z.dump() == "LARGE : 0x2000 - 0x4000\n0x2000 - 0x3388 : 5000 bytes\nTotal : 5000 bytes"
    assert q == 2 * PS


def test_pow2_classes_are_simple_segregated_storage():
    with ma.create("zones", arena_size=4 * MIB, classes="pow2") as a:
        sizes = [1, 17, 33, 65, 129, 257, 513, 1025, 2049]
        got = [a.usable_size(a.malloc(n)) for n in sizes]
        assert got == [16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
        assert [str(k) for k in a.zones()["kind"]] == ["TINY"] * 4 + ["SMALL"] * 5
        a.check()


def test_reset_and_stats(z):
    for n in (10, 200, 3000, 9000):
        z.malloc(n)
    s = z.stats()
    assert s.allocated_bytes == 16 + 224 + 3072 + 3 * PS
    assert s.free_bytes == s.heap_size - s.allocated_bytes and s.metadata_bytes > 0
    z.reset()
    assert z.zones().size == 0 and z.stats().heap_size == 0 and z.dump() == "Total : 0 bytes"
    assert z.malloc(10) == 0


@pytest.mark.parametrize("where", ["interior", "free block", "never handed out", "pool run", "above the top",
                                   "inside a large region"])
def test_bad_addresses_raise_and_change_nothing(z, where):
    p = z.malloc(64)
    q = z.malloc(64)
    z.free(q)
    big = z.malloc(3 * PS)
    r = z.malloc(5000)
    z.malloc(5000)
    z.free(r)  # a pool run between big and the last region
    assert z.zones()["kind"].tolist() == ["TINY", "LARGE", "pool", "LARGE"]
    assert (p, q, big, int(z.zones()["offset"][2])) == (0, 64, 2 * PS, 5 * PS)
    bad = {"interior": p + 16, "free block": q, "never handed out": p + 64 * 5, "pool run": 5 * PS,
           "above the top": 1 << 21, "inside a large region": big + PS}[where]
    before = (z.stats(), [tuple(b) for b in z.blocks()], z.zones().tolist())
    for call in (z.free, z.usable_size, lambda x: z.realloc(x, 10), lambda x: z.read(x, 1)):
        with pytest.raises(ma.InvalidAddress, match="not the start of a live block"):
            call(bad)
    assert (z.stats(), [tuple(b) for b in z.blocks()], z.zones().tolist()) == before
    z.check()


@pytest.mark.parametrize("kwargs, param", [
    ({"arena_size": 1 << 19}, "arena_size"),
    ({"arena_size": MIB + 16}, "arena_size"),
    ({"arena_size": 1 << 37}, "arena_size"),
    ({"arena_size": 2 * MIB, "small_max": 1 << 16}, "arena_size"),
    ({"tiny_max": 0}, "tiny_max"),
    ({"tiny_max": 40}, "tiny_max"),
    ({"tiny_max": 2048}, "tiny_max"),
    ({"small_max": 128}, "small_max"),
    ({"small_max": 1000}, "small_max"),
    ({"small_max": 1 << 17}, "small_max"),
    ({"tiny_max": 48, "classes": "pow2"}, "tiny_max and small_max"),
    ({"small_max": 3072, "classes": "pow2"}, "tiny_max and small_max"),
])
def test_bad_constructor_arguments_name_the_parameter(kwargs, param):
    for make in (lambda: ma.Zones(**kwargs), lambda: ma.create("zones", **kwargs)):
        with pytest.raises(ValueError, match=f"^(with classes=pow2, )?{param} must be"):
            make()


def test_bad_classes_word():
    with pytest.raises(ValueError, match=r"^option classes=Pow2 is not one of: fine, pow2$"):
        ma.create("zones", classes="Pow2")
    with pytest.raises(ValueError, match=r"^classes must be one of \('fine', 'pow2'\), got 'exact'$"):
        ma.Zones(classes="exact")
    with pytest.raises(TypeError, match="classes must be a str"):
        ma.Zones(classes=1)


def test_zone_listing_refuses_a_closed_instance():
    a = ma.Zones(arena_size=MIB)
    a.close()
    for call in (a.zones, a.classes, a.dump):
        with pytest.raises(ValueError, match="closed"):
            call()


def test_heap_map_draws_the_blocks_and_marks_each_zone_start(z):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from memalloc_py import plot as mp

    z.malloc(16)
    z.malloc(200)
    z.malloc(5000)
    heap = z.stats().heap_size
    assert z.zones()["offset"].tolist() == [0, PS, 7 * PS]
    ax = mp.heap_map(z, row_bytes=heap)
    (marks,) = [c for c in ax.collections if c.get_gid() == "zone-starts"]
    assert [float(seg[0][0]) for seg in marks.get_segments()] == [0.0, PS, 7 * PS]
    (alloc,) = [c for c in ax.collections if c.get_gid() == "allocated"]
    assert len(alloc.get_paths()) == 3  # every allocated block, each zone's free ones grey
    (free,) = [c for c in ax.collections if c.get_gid() == "free"]
    assert len(free.get_paths()) == len(z.blocks()) - 3
    plt.close(ax.figure)


@pytest.mark.parametrize("first", [1024, 3 * PS])  # a SMALL block, a LARGE region
def test_a_shrinking_realloc_with_no_room_to_move_stays_in_place(first):
    """A realloc to fewer bytes never fails: when the smaller class has no
    zone and the arena no page for one, the block keeps its place (and its
    usable size), as a shrink in place would."""
    with ma.create("zones", arena_size=MIB, small_max=1024) as a:  # a page is a LARGE region
        p = a.malloc(first)
        a.write(p, bytes(range(256)) * 4)
        for size in (PS, first):  # every page of the arena taken, every slot of p's zone
            while a.malloc(size) is not None:
                pass
        assert a.malloc(16) is None  # no zone of 16-byte blocks, and no page for one
        usable = a.usable_size(p)
        before = a.stats()
        assert a.malloc(32) is None  # the thread's last message names 32 bytes, not 16
        message = ffi.string(lib.ma_thread_error())
        assert a.realloc(p, 16) == p
        assert ffi.string(lib.ma_thread_error()) == message  # no failure's message after a success
        assert a.usable_size(p) == usable and a.read(p, 1024) == bytes(range(256)) * 4
        after = a.stats()
        assert (after.heap_size, after.live_blocks) == (before.heap_size, before.live_blocks)
        assert after.requested_bytes == before.requested_bytes - first + 16
        a.check()
        assert a.realloc(p, 2 * first) is None  # growing still needs room, and keeps the block
        assert a.read(p, 16) == bytes(range(16)) and a.usable_size(p) == usable
        a.check()


def test_a_shrink_to_another_class_moves_when_there_is_room(z):
    p = z.malloc(1024)
    z.write(p, b"x" * 16)
    q = z.realloc(p, 16)
    assert q != p and z.usable_size(q) == 16 and z.read(q, 16) == b"x" * 16
    z.check()
