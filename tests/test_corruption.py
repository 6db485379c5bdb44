"""check() must notice a broken heap and describe the first violation.

The Python API cannot corrupt a heap (every access is bounds-checked), so
these tests scribble on the arena directly through its base address, the way
a buggy C program would."""
import ctypes

import pytest

import memalloc_py as ma


def poke(a, offset, value):
    ctypes.c_uint64.from_address(a.arena_base + offset).value = value


def test_buddy_free_list_scribble_is_reported():
    with ma.Buddy(arena_size=1024) as a:
        assert a.malloc(16) == 0
        a.check()
        poke(a, 16, 0x1234)  # the free 16-byte block at 16: its next link
        with pytest.raises(ma.HeapCorruption, match="free list"):
            a.check()


def test_buddy_back_link_scribble_is_reported():
    with ma.Buddy(arena_size=1024) as a:
        a.malloc(16)
        poke(a, 16 + 8, 0x40)  # prev link of the free block at 16
        with pytest.raises(ma.HeapCorruption, match="back link"):
            a.check()


def test_heap_corruption_is_an_allocator_error():
    assert issubclass(ma.HeapCorruption, ma.AllocatorError)
    assert issubclass(ma.InvalidAddress, ma.AllocatorError)
    assert issubclass(ma.InvalidAddress, ValueError)
