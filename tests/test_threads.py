"""Instances are thread-safe: cffi releases the GIL during C calls."""
import random
import threading
import time

import pytest

import memalloc_py as ma
from memalloc_py.testing import pattern

THREADS = 4
OPS_PER_THREAD = 50_000


@pytest.mark.parametrize("name", ma.ARENA_ALLOCATORS)
def test_four_threads_hammering_one_allocator(name):
    a = ma.create(name, arena_size=1 << 22)
    errors = []
    survivors = {}

    def worker(seed):
        rng = random.Random(seed)
        mine = {}  # address -> expected contents
        try:
            for i in range(OPS_PER_THREAD):
                r = rng.random()
                if mine and (r < 0.45 or len(mine) > 200):
                    p = rng.choice(list(mine))
                    data = mine.pop(p)
                    if a.read(p, len(data)) != data:
                        errors.append(f"thread {seed}: block {p:#x} was overwritten")
                    a.free(p)
                elif mine and r < 0.55:
                    p = rng.choice(list(mine))
                    data = mine.pop(p)
                    q = a.realloc(p, rng.randint(1, 600))
                    if q is None:
                        mine[p] = data
                        continue
                    keep = min(len(data), a.usable_size(q))
                    if a.read(q, keep) != data[:keep]:
                        errors.append(f"thread {seed}: realloc lost data")
                    data = pattern(seed * 1_000_003 + i, a.usable_size(q) if rng.random() < 0.5 else keep)
                    a.write(q, data)
                    mine[q] = data
                else:
                    n = rng.choice((rng.randint(0, 64), rng.randint(0, 2048)))
                    p = a.malloc(n)
                    if p is None:
                        continue
                    data = pattern(seed * 1_000_003 + i, n)
                    a.write(p, data)
                    mine[p] = data
        except Exception as e:  # surfaced in the main thread
            errors.append(f"thread {seed}: {e!r}")
        survivors[seed] = mine

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    a.check()
    live = {p: d for mine in survivors.values() for p, d in mine.items()}
    assert len(live) == sum(len(m) for m in survivors.values()), "two threads own one address"
    for p, d in live.items():
        assert a.read(p, len(d)) == d
    s = a.stats()
    assert s.live_blocks == len(live)
    assert s.mallocs + s.reallocs >= THREADS * OPS_PER_THREAD // 2
    a.close()


def test_close_while_other_threads_call_in_is_safe():
    """Closing under concurrent use must raise ValueError in the others, never crash."""
    spinners = 3
    for _ in range(20):
        a = ma.Buddy(arena_size=1 << 20)
        outcomes = []
        running = threading.Barrier(spinners + 1)

        def spin():
            # Call in until the allocator is closed: every spinner must end
            # with exactly one "closed" ValueError (anything else is recorded).
            deadline = time.monotonic() + 30
            calls = 0
            try:
                while time.monotonic() < deadline:
                    p = a.malloc(64)
                    if p is not None:
                        a.free(p)
                    calls += 1
                    if calls == 1:
                        running.wait(timeout=30)  # close only once all are calling in
                outcomes.append("still open after 30 s")
            except ValueError as e:
                outcomes.append(str(e))
            except Exception as e:  # a wrong exception type is a failure too
                outcomes.append(f"unexpected {e!r}")

        ts = [threading.Thread(target=spin) for _ in range(spinners)]
        for t in ts:
            t.start()
        running.wait(timeout=30)
        a.close()
        for t in ts:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in ts)
        assert len(outcomes) == spinners
        assert all("closed" in o for o in outcomes), outcomes
