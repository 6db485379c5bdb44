"""Concurrency contracts beyond plain thread safety (test_threads.py):
error messages under concurrent failures, calls from inside an instance's
own callbacks, exceptions raised by progress callbacks, closed instances,
and fork."""
from __future__ import annotations

import threading

import pytest

import memalloc_py as ma

# ------------------------------------------------- each failure's own message


@pytest.mark.parametrize("name", ["buddy", "best-ao", "system"])
def test_concurrent_failures_each_carry_their_own_message(name):
    """Threads failing on ONE allocator at once, with different errors: each
    exception names its own thread's address or offset, never another's."""
    a = ma.create(name) if name == "system" else ma.create(name, arena_size=1 << 20)
    block = a.malloc(64)
    usable = a.usable_size(block)
    # Addresses no allocation can have: inside the arena but never handed out
    # (buddy and the free list put the one block at the start), or for the
    # system allocator, odd pointers.
    base = 0x1000 if a.arena_size else block + 0x1001
    iterations = 5_000
    start = threading.Barrier(4)
    wrong: list[str] = []

    def bad_frees(first: int) -> None:
        start.wait()
        for k in range(first, first + iterations):
            addr = base + 16 * k
            try:
                a.free(addr)
            except ma.InvalidAddress as e:
                if f"free({addr:#x})" not in str(e):
                    wrong.append(f"free({addr:#x}) raised {e}")
            else:
                wrong.append(f"free({addr:#x}) did not raise")

    def bad_accesses(op: str) -> None:
        start.wait()
        for k in range(iterations):
            offset = usable + 1 + k
            try:
                if op == "write":
                    a.write(block, b"x", offset)
                else:
                    a.read(block, 1, offset)
            except IndexError as e:
                if f"{op} of 1 bytes at offset {offset} " not in str(e):
                    wrong.append(f"{op} at {offset} raised {e}")
            else:
                wrong.append(f"{op} at {offset} did not raise")

    threads = [
        threading.Thread(target=bad_frees, args=(0,)),
        threading.Thread(target=bad_frees, args=(iterations,)),
        threading.Thread(target=bad_accesses, args=("write",)),
        threading.Thread(target=bad_accesses, args=("read",)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == [], f"{len(wrong)} of {4 * iterations} messages were not their own, e.g. {wrong[:3]}"
    a.check()
    assert a.stats().live_blocks == 1
    a.close()
