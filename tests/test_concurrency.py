"""Concurrency contracts beyond plain thread safety (test_threads.py):
error messages under concurrent failures, calls from inside an instance's
own callbacks, exceptions raised by progress callbacks, closed instances,
and fork."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

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


# ------------------------------------------- calls from inside own callbacks

ISOLATED_TIMEOUT = 60  # seconds: a hang (the bug these tests guard against) fails


def run_isolated(code: str, timeout: float = ISOLATED_TIMEOUT) -> dict:
    """Run `code` in a fresh interpreter that must finish in time; it prints
    one JSON object as its last line of output, which is returned."""
    # From tests/: `-c` puts the working directory first on sys.path, and the
    # repository root would shadow the installed package.
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, cwd=Path(__file__).parent)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


REENTRANT_CALLS = {
    "stats": "a.stats()",
    "malloc": "a.malloc(16)",
    "free": "a.free(0)",
    "check": "a.check()",
    "blocks": "a.blocks()",
    "reset": "a.reset()",
    "close": "a.close()",
    "replay": "ma.replay(t[:10], a)",
}


@pytest.mark.parametrize("call", sorted(REENTRANT_CALLS))
def test_call_from_own_progress_callback_raises_instead_of_hanging(call):
    out = run_isolated(f"""
        import json
        import memalloc_py as ma
        t = ma.workloads.steady_state(20_000, 500, seed=3)
        a = ma.create("best-ao", arena_size=1 << 24)
        seen = []
        def progress(done, total):
            seen.append(done)
            {REENTRANT_CALLS[call]}
        try:
            ma.replay(t, a, progress=progress, progress_every=1000)
            raised = None
        except Exception as e:
            raised = [type(e).__name__, str(e)]
        a.check()
        with ma.create("best-ao", arena_size=1 << 24) as fresh:
            ma.replay(t[:1000], fresh)
            same = a.stats() == fresh.stats()
        print(json.dumps(dict(raised=raised, seen=seen, same=same, closed=a.closed)))
    """)
    assert out["seen"] == [1000]
    kind, message = out["raised"]
    assert kind == "AllocatorError"
    assert "inside" in message and "own replay-progress or walk callback" in message
    assert "best-ao" in message
    # Refused and nothing changed: the first 1000 events applied, as if the
    # replay had been stopped there, and the instance still open.
    assert out["same"] and not out["closed"]


def test_other_threads_wait_for_a_replay_with_a_callback():
    t = ma.workloads.steady_state(20_000, 500, seed=3)
    a = ma.create("best-ao", arena_size=1 << 24)
    got: list = []
    others: list[threading.Thread] = []

    def other() -> None:
        try:
            got.append(a.malloc(16))
        except Exception as e:  # surfaced below
            got.append(e)

    def progress(done: int, total: int) -> None:
        if not others:
            others.append(threading.Thread(target=other))
            others[0].start()
            others[0].join(0.5)
            assert others[0].is_alive(), "another thread's call did not wait for the replay"

    res = ma.replay(t, a, progress=progress, progress_every=1000)
    others[0].join(ISOLATED_TIMEOUT)
    assert res.summary["events"] == len(t)
    assert len(got) == 1 and isinstance(got[0], int)
    a.check()
    assert a.stats().live_blocks == res.samples["live_blocks"][-1] + 1
    a.close()


# ----------------------------------- exceptions raised by progress callbacks


class Boom(Exception):
    pass


@pytest.mark.parametrize("name", ["buddy", "best-ao", "system"])
def test_progress_callback_exception_propagates_and_state_is_the_prefix(name):
    t = ma.workloads.steady_state(20_000, 500, seed=5)
    opts = {} if name == "system" else {"arena_size": 1 << 24}
    a = ma.create(name, **opts)

    def progress(done: int, total: int) -> None:
        if done == 6000:
            raise Boom(f"boom at {done} of {total}")

    with pytest.raises(Boom, match=f"^boom at 6000 of {len(t)}$") as info:
        ma.replay(t, a, progress=progress, progress_every=2000)
    # The original traceback: it reaches into the callback's own frame.
    assert info.traceback[-1].name == "progress"
    a.check()
    with ma.create(name, **opts) as fresh:
        ma.replay(t[:6000], fresh)
        expected = fresh.stats()
    got = a.stats()
    if name == "system":  # libc's usable sizes vary with its placement
        fields = ("live_blocks", "requested_bytes", "peak_requested_bytes", "mallocs", "frees",
                  "reallocs", "failures")
        got, expected = ([getattr(s, f) for f in fields] for s in (got, expected))
    assert got == expected
    # The instance stays usable.
    p = a.malloc(100)
    a.free(p)
    a.close()


def test_keyboard_interrupt_in_progress_callback_still_raises():
    t = ma.workloads.steady_state(20_000, 500, seed=5)
    with ma.create("buddy", arena_size=1 << 24) as a:
        def progress(done: int, total: int) -> None:
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            ma.replay(t, a, progress=progress, progress_every=3000)
        a.check()
        assert a.stats().mallocs + a.stats().frees == 3000


# --------------------------------------------------------- closed instances

CLOSED_CALLS = {
    "malloc": lambda a: a.malloc(16),
    "free": lambda a: a.free(0),
    "free(None)": lambda a: a.free(None),
    "calloc": lambda a: a.calloc(2, 8),
    "realloc": lambda a: a.realloc(0, 32),
    "realloc(None)": lambda a: a.realloc(None, 32),
    "memalign": lambda a: a.memalign(64, 16),
    "usable_size": lambda a: a.usable_size(0),
    "read": lambda a: a.read(0, 4),
    "write": lambda a: a.write(0, b"abcd"),
    "stats": lambda a: a.stats(),
    "blocks": lambda a: a.blocks(),
    "check": lambda a: a.check(),
    "dump": lambda a: a.dump(),
    "reset": lambda a: a.reset(),
    "replay": lambda a: ma.replay(ma.Trace.from_events([("malloc", "x", 8)]), a),
    "replay_bare": lambda a: ma.replay_bare(ma.Trace.from_events([("malloc", "x", 8)]), a),
}


@pytest.mark.parametrize("name", ["buddy", "first-lifo", "system"])
@pytest.mark.parametrize("call", sorted(CLOSED_CALLS))
def test_every_call_on_a_closed_allocator_says_so(name, call):
    a = ma.create(name)
    p = a.malloc(16)
    a.close()
    with pytest.raises(ValueError) as info:
        CLOSED_CALLS[call](a)
    assert str(info.value) == f"operation on a closed {a.name} allocator"
    assert type(info.value) is ValueError
    a.close()  # closing twice is fine
    del p


# --------------------------------------------------------------------- fork

# Shared by the fork scripts: fork, run `child` there (its return value is
# the exit status), and wait for it with a deadline, killing a child that
# hangs (a deadlocked child is the bug): its status, or None when killed.
FORK_HELPERS = """
import json, os, signal, sys, threading, time, traceback
import memalloc_py as ma

def wait_child(pid, seconds=20.0):
    deadline = time.monotonic() + seconds
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        time.sleep(0.001)

def fork_and_run(child):
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            code = child()
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    return wait_child(pid)

def uses(a):
    p = a.malloc(100)
    a.write(p, b"x" * 100)
    assert a.read(p, 100) == b"x" * 100
    q = a.realloc(p, 3000)
    assert a.read(q, 100) == b"x" * 100
    a.free(q)
    a.check()
    return 0
"""


@pytest.mark.parametrize("name", ["buddy", "best-ao", "next-fifo"])
def test_fork_while_another_thread_allocates(name):
    out = run_isolated(FORK_HELPERS + f"""
a = ma.create({name!r}, arena_size=1 << 24)
idle = ma.create("buddy", arena_size=1 << 16)
stop = threading.Event()
ops = [0]
def hammer():
    live = []
    while not stop.is_set():
        r = len(live) and ops[0] % 7
        if r == 0 and len(live) < 50:
            # some large: a calloc zeroes them with the instance's lock held
            p = a.calloc(1, 1 << 18) if ops[0] % 3 == 0 else a.malloc(ops[0] % 3000)
            live.append(p)
        elif r in (1, 2):
            live.append(a.realloc(live.pop(0), (ops[0] * 37) % 5000 + 1))
        else:
            a.free(live.pop())
        ops[0] += 1
t = threading.Thread(target=hammer)
t.start()
codes = []
for _ in range(12):
    time.sleep(0.01)
    codes.append(fork_and_run(lambda: uses(a) or uses(idle)))
    if codes[-1] is None:
        break
stop.set()
t.join()
a.check()
print(json.dumps(dict(codes=codes, ops=ops[0])))
""", timeout=120)
    assert out["codes"] == [0] * 12, "children: exit statuses (None: deadlocked, killed)"
    assert out["ops"] > 0


def test_fork_during_a_replay_with_a_progress_callback():
    """The fork neither waits for another thread's replay whose progress
    callback runs Python (which may wait for the forking thread: here it
    does) nor leaves the child deadlocked: in the child that instance raises
    AllocatorError, and every other instance works."""
    out = run_isolated(FORK_HELPERS + """
t = ma.workloads.steady_state(200_000, 2000, seed=9)
a = ma.create("best-ao", arena_size=1 << 26)
idle = ma.create("first-lifo", arena_size=1 << 20)
inside, forked, stop = threading.Event(), threading.Event(), threading.Event()
calls = [0]
def progress(done, total):
    calls[0] += 1
    inside.set()
    if calls[0] == 1:
        forked.wait()  # the first fork happens while this callback runs
    else:
        time.sleep(0.002)  # the replay lasts (>= 8 s) until told to stop
    return stop.is_set()
result = []
th = threading.Thread(target=lambda: result.append(ma.replay(t, a, progress=progress,
                                                             progress_every=100)))
th.start()
inside.wait()

def child():
    try:
        a.malloc(16)
    except ma.AllocatorError as e:
        message = str(e)
    else:
        return 3
    if "busy in another thread when the process forked" not in message or "best-ao" not in message:
        return 4
    for call in (a.stats, a.check, lambda: a.free(0), lambda: ma.replay(t[:10], a)):
        try:
            call()
        except ma.AllocatorError as e:
            if str(e) != message:
                return 5
        else:
            return 6
    a.close()  # must not hang on the lock held for ever here
    return uses(idle)

codes = [fork_and_run(child)]
forked.set()
for _ in range(5):  # and while the replay runs on
    time.sleep(0.02)
    codes.append(fork_and_run(child))
running = th.is_alive()
stop.set()
th.join()
a.check()
print(json.dumps(dict(codes=codes, running=running, stopped=result[0].summary["stopped"])))
""", timeout=120)
    assert out["codes"] == [0] * 6, "children: exit statuses (None: deadlocked, killed)"
    # The forks did not wait for the replay to finish.
    assert out["running"] and out["stopped"]


def test_fork_inside_own_progress_callback():
    """fork() from inside the instance's own progress callback: the replay
    finishes in both processes and each has a working instance."""
    out = run_isolated(FORK_HELPERS + """
t = ma.workloads.steady_state(5000, 200, seed=4)
a = ma.create("buddy", arena_size=1 << 24)
pids = []
def progress(done, total):
    if done == 4000:
        pids.append(os.fork())
res = ma.replay(t, a, progress=progress, progress_every=1000)
if pids[0] == 0:
    code = 7
    try:
        code = 0 if res.summary["events"] == len(t) else 8
        a.check()
        code = code or uses(a)
    finally:
        os._exit(code)
code = wait_child(pids[0])
a.check()
print(json.dumps(dict(code=code, events=res.summary["events"], n=len(t), ok=uses(a))))
""")
    assert out == dict(code=0, events=out["n"], n=out["n"], ok=0)


def test_closing_under_concurrent_calls_gives_the_one_message():
    """A call that reaches C just after another thread closed the instance
    gets C's MA_ECLOSED: its message is the same as Python's own."""
    messages: set[str] = set()
    for _ in range(200):
        a = ma.Buddy(arena_size=1 << 16)
        go = threading.Barrier(4)

        def spin() -> None:
            go.wait()
            while True:
                try:
                    a.free(a.malloc(16))
                except ValueError as e:
                    messages.add(str(e))
                    return

        threads = [threading.Thread(target=spin) for _ in range(3)]
        for t in threads:
            t.start()
        go.wait()
        a.close()
        for t in threads:
            t.join()
    assert messages == {"operation on a closed buddy allocator"}
