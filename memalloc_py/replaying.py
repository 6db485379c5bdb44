"""Replay traces through allocators at C speed, and measure fragmentation
(exported as ``memalloc_py.replay``, ``memalloc_py.compare``, ...).

:func:`replay` runs a whole :class:`~memalloc_py.trace.Trace` inside one C call
(the GIL released), sampling the statistics every ``sample_every`` events and
accumulating, at every event, what Johnstone and Wilson's four fragmentation
measures need, so those are exact rather than sampled.  :func:`compare` runs
one trace through several allocators and tabulates the results.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import sys
from typing import Any, Callable, Iterator, Optional, Sequence, Union

import numpy as np

from ._core import Allocator, _STAT_FIELDS, _status_error
from ._native import ffi, lib
from .allocators import create
from .trace import Trace

__all__ = ["ReplayResult", "replay", "compare", "replay_bare", "replay_libc"]

# numpy view of the C struct ma_sample: event, then the ma_stats fields.
_SAMPLE_DTYPE = np.dtype(
    {
        "names": ["event", *_STAT_FIELDS],
        "formats": ["<u8"] * (1 + len(_STAT_FIELDS)),
        "offsets": [ffi.offsetof("ma_sample", "event")]
        + [ffi.offsetof("ma_sample", "stats") + ffi.offsetof("ma_stats", f) for f in _STAT_FIELDS],
        "itemsize": ffi.sizeof("ma_sample"),
    }
)


class _View:
    """A C ma_trace_view over a trace's arrays (keeps them alive).

    The C boundary: on every call it checks that each column is a
    C-contiguous array of the type C reads (uint8, uint32, uint64, uint64),
    all of one length, and that n_ids is an integer in [0, 2**32] above every
    id, whatever happened to the Trace since it was validated; else
    TraceError.  C then never reads past an array nor indexes its id table
    out of bounds."""

    _TYPES = (("op", "u1"), ("id", "u4"), ("size", "u8"), ("arg", "u8"))

    def __init__(self, trace: Trace):
        from .trace import MAX_IDS, TraceError

        self.trace = trace
        n = -1
        cols = []
        for name, dtype in self._TYPES:
            arr = getattr(trace, name)
            ok = (isinstance(arr, np.ndarray) and arr.dtype == np.dtype(dtype) and arr.ndim == 1
                  and arr.flags.c_contiguous and (n < 0 or len(arr) == n))
            if not ok:
                want = f"a C-contiguous {np.dtype(dtype).name} array" + (f" of {n} entries" if n >= 0 else "")
                got = type(arr).__name__
                if isinstance(arr, np.ndarray):
                    got = f"{arr.dtype} array of shape {arr.shape}"
                    got += "" if arr.flags.c_contiguous else ", not contiguous"
                raise TraceError(f"{name} must be {want}: got a {got}")
            n = len(arr)
            cols.append(arr)
        n_ids = trace.n_ids
        if not isinstance(n_ids, (int, np.integer)) or isinstance(n_ids, bool) or not 0 <= n_ids <= MAX_IDS:
            raise TraceError(f"n_ids {n_ids!r} is not an integer in [0, 2**32]")
        if n and int(cols[1].max()) >= n_ids:
            raise TraceError(f"n_ids {n_ids} is not above the largest id {int(cols[1].max())}: "
                             "the trace changed after it was validated")
        self.columns = cols  # the memory C reads stays alive with the view
        v = ffi.new("ma_trace_view *")
        v.n_events = n
        v.op = ffi.cast("uint8_t *", ffi.from_buffer(cols[0]))
        v.id = ffi.cast("uint32_t *", ffi.from_buffer(cols[1]))
        v.size = ffi.cast("uint64_t *", ffi.from_buffer(cols[2]))
        v.arg = ffi.cast("uint64_t *", ffi.from_buffer(cols[3]))
        v.n_ids = int(n_ids)
        self.c = v


def _result_dict(r: Any) -> dict[str, Any]:
    return {
        "events": int(r.events),
        "failures": int(r.failures),
        "nanoseconds": int(r.nanoseconds),
        "max_heap": int(r.max_heap),
        "max_live": int(r.max_live),
        "heap_at_max_live": int(r.heap_at_max_live),
        "allocated_at_max_live": int(r.allocated_at_max_live),
        "live_at_max_heap": int(r.live_at_max_heap),
        "sum_heap_over_live": float(r.sum_heap_over_live),
        "ratio_points": int(r.ratio_points),
        "stopped": bool(r.stopped),
    }


@contextlib.contextmanager
def _using(allocator: Union[str, Allocator], options: dict[str, Any]) -> Iterator[Allocator]:
    """An allocator instance: a new one for a name (closed afterwards), or the
    caller's own (left open, with whatever the replay left live in it)."""
    if isinstance(allocator, str):
        with create(allocator, **options) as alloc:
            yield alloc
    elif isinstance(allocator, Allocator):
        yield allocator
    else:
        raise TypeError("allocator must be a name or an Allocator")


def _ratio(num: float, den: float) -> float:
    return num / den - 1.0 if den else math.nan


@dataclasses.dataclass
class ReplayResult:
    """What one replay measured.

    ``timeline`` is a pandas DataFrame with one row per sample; ``summary`` a
    dict of totals: events, failures, seconds, ns_per_event, peak_heap (NaN
    for ``system``, whose heap cannot be observed, as are jw1..jw4 there),
    peak_live, jw1..jw4 (Johnstone-Wilson measures as overheads, ``ratio - 1``)
    and ``internal_fragmentation``.  Like the Johnstone-Wilson measures, it
    is exact, taken by the engine at every event, not from the samples: ``1 -
    requested/allocated`` at the moment of peak live (requested) bytes (the
    first event where they peak), where allocated is the bytes the live
    blocks occupy (``Stats.allocated_bytes``: headers, rounding and
    unsplittable remainders included).  It is NaN only when nothing is ever
    live.  For ``system`` the allocated bytes are libc's
    ``malloc_usable_size`` of the live blocks: libc's rounding counts, its
    chunk headers do not (and jw1..jw4 are NaN, libc's heap size being
    unobservable).
    """

    allocator: str
    options: dict[str, Any]
    raw: dict[str, Any]
    samples: np.ndarray
    trace_name: str = ""

    @property
    def summary(self) -> dict[str, Any]:
        r = self.raw
        seconds = r["nanoseconds"] / 1e9
        # system: libc's heap size cannot be seen, so there is no H(t)
        jw = r.get("heap_observable", True)
        return {
            "allocator": self.allocator,
            "events": r["events"],
            "failures": r["failures"],
            "seconds": seconds,
            "ns_per_event": r["nanoseconds"] / r["events"] if r["events"] else math.nan,
            "peak_heap": r["max_heap"] if jw else math.nan,  # system: not observable
            "peak_live": r["max_live"],
            "jw1": (r["sum_heap_over_live"] / r["ratio_points"] - 1.0)
            if r["ratio_points"] and jw else math.nan,
            "jw2": _ratio(r["heap_at_max_live"], r["max_live"]) if jw else math.nan,
            "jw3": _ratio(r["max_heap"], r["live_at_max_heap"]) if jw else math.nan,
            "jw4": _ratio(r["max_heap"], r["max_live"]) if jw else math.nan,
            "internal_fragmentation": 1.0 - r["max_live"] / r["allocated_at_max_live"]
            if r["max_live"] else math.nan,
            "stopped": r["stopped"],
        }

    @property
    def timeline(self) -> Any:
        """One row per sample: event, live bytes, requested/allocated bytes,
        heap size, free bytes and blocks, largest free, internal and external
        fragmentation (and every other statistic)."""
        import pandas as pd

        s = self.samples
        df = pd.DataFrame({name: s[name] for name in s.dtype.names})
        df = df.rename(columns={"requested_bytes": "live_bytes"})
        df["requested_bytes"] = df["live_bytes"]
        alloc = df["allocated_bytes"].to_numpy(dtype=float)
        free = df["free_bytes"].to_numpy(dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            df["internal_fragmentation"] = np.where(alloc > 0, 1 - df["live_bytes"] / np.where(alloc > 0, alloc, 1), 0.0)
            df["external_fragmentation"] = np.where(free > 0, 1 - df["largest_free"] / np.where(free > 0, free, 1), 0.0)
        return df

    def plot(self, axes: Any = None) -> Any:
        """Heap size against live bytes, and fragmentation, over time (matplotlib)."""
        import matplotlib.pyplot as plt

        df = self.timeline
        if axes is None:
            fig, axes = plt.subplots(2, 1, sharex=True, figsize=(8, 6))
        else:
            fig = axes[0].figure
        ax1, ax2 = axes
        ax1.plot(df["event"], df["heap_size"], label="heap size")
        ax1.plot(df["event"], df["live_bytes"], label="live bytes (requested)")
        ax1.plot(df["event"], df["allocated_bytes"], label="allocated bytes", alpha=0.7)
        ax1.set_ylabel("bytes")
        ax1.legend(loc="best")
        title = f"{self.allocator}"
        if self.trace_name:
            title += f" on {self.trace_name}"
        ax1.set_title(title)
        ax2.plot(df["event"], df["internal_fragmentation"], label="internal")
        ax2.plot(df["event"], df["external_fragmentation"], label="external")
        ax2.set_ylabel("fragmentation")
        ax2.set_xlabel("event")
        ax2.set_ylim(0, 1)
        ax2.legend(loc="best")
        return fig


def _progress_bar(total: int, enabled: Any) -> Any:
    if enabled is False or (enabled is None and not sys.stderr.isatty()):
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return None
    return tqdm(total=total, unit="ev", unit_scale=True, leave=False, file=sys.stderr)


def _check_counts(sample_every: Any, size_scale: Any,
                  names: tuple[str, str] = ("sample_every", "size_scale")) -> None:
    """The one rule for sample_every and size_scale, which the command line
    applies too: integers, sample_every from 0 and size_scale from 1, both
    below 2**64 (``names``: what to call them in the message)."""
    for name, value, low in ((names[0], sample_every, 0), (names[1], size_scale, 1)):
        if isinstance(value, bool) or not hasattr(value, "__index__"):
            raise TypeError(f"{name} must be an integer, not {type(value).__name__}")
        if not low <= value.__index__() < 1 << 64:
            raise ValueError(f"{name} must be from {low} to 2**64 - 1, got {value}")


def replay(
    trace: Trace,
    allocator: Union[str, Allocator] = "best-ao",
    *,
    sample_every: int = 1000,
    size_scale: int = 1,
    progress: Union[None, bool, Callable[[int, int], Any]] = None,
    progress_every: int = 0,
    **options: Any,
) -> ReplayResult:
    """Replay ``trace`` through ``allocator`` (a name for :func:`create`, with
    ``options``, or an instance, which keeps the blocks still live at the end).

    ``sample_every``: events between samples of the statistics (the final
    state is always sampled; 0: only the Johnstone-Wilson accumulators).
    ``size_scale``: multiply every request size (as Johnstone and Wilson did
    by 16).  ``progress``: True/False/None for a progress bar on stderr (None:
    when stderr is a terminal), or a function ``f(events_done, total)`` called
    every ``progress_every`` events (default: 1/200 of the trace, at least
    100,000); if it returns True the replay stops there and the result covers
    the events replayed so far (``summary["stopped"]``).  If it raises, the
    replay stops the same way and :func:`replay` raises that exception (Ctrl-C
    raises KeyboardInterrupt); the allocator instance is then as after a
    replay of the events before the stop (the first ``events_done``), its
    live blocks adopted.  The function must not call the allocator being
    replayed: such calls raise :class:`~memalloc_py.AllocatorError` (other
    instances are fine, and other threads' calls wait for the replay).
    """
    if not isinstance(trace, Trace):
        raise TypeError(f"trace must be a Trace, not {type(trace).__name__}")
    _check_counts(sample_every, size_scale)
    if sample_every < 0 or size_scale < 0 or progress_every < 0:
        raise ValueError("sample_every, size_scale and progress_every must be >= 0")
    with _using(allocator, options) as alloc:
        view = _View(trace)
        n = len(trace)
        capacity = (n // sample_every + 2) if sample_every else 0
        samples = np.zeros(capacity, dtype=_SAMPLE_DTYPE)
        cfg = ffi.new("ma_replay_config *")
        cfg.sample_every = sample_every
        cfg.size_scale = size_scale
        hook = progress if callable(progress) else None
        bar = None if hook else _progress_bar(n, progress)
        state: dict[str, Any] = {"done": 0, "error": None}

        def on_error(exc_type: Any, exc: Any, tb: Any) -> None:
            # The callback raised: the replay stops (error=1) and replay()
            # raises this exception, with the callback's traceback.
            if state["error"] is None:
                state["error"] = (exc if exc is not None else exc_type()).with_traceback(tb)

        @ffi.callback("int(uint64_t, void *)", onerror=on_error, error=1)
        def on_progress(events_done: int, _ctx: Any) -> int:
            if bar is not None:
                bar.update(events_done - state["done"])
            state["done"] = events_done
            if hook is not None:
                return 1 if hook(int(events_done), n) is True else 0
            return 0

        if bar is not None or hook is not None:
            cfg.progress_every = progress_every or max(100_000, n // 200)
            cfg.progress = on_progress
        res = ffi.new("ma_replay_result *")
        h = alloc._handle()
        sample_ptr = ffi.cast("ma_sample *", ffi.from_buffer(samples)) if capacity else ffi.NULL
        calls_back = bar is not None or hook is not None
        try:
            with alloc._calling_back() if calls_back else contextlib.nullcontext():
                status = lib.ma_replay(h, view.c, cfg, sample_ptr, capacity, res)
        finally:
            if bar is not None:
                bar.close()
        error, state["error"] = state["error"], None
        if status != lib.MA_OK:
            failure = _status_error(status, h)
            failure.__cause__ = error
            raise failure
        if error is not None:
            raise error
        raw = _result_dict(res)
        raw["heap_observable"] = alloc.arena_size > 0
        opts = dict(alloc.options)
        opts.update(size_scale=size_scale, sample_every=sample_every)
        return ReplayResult(alloc.name, opts, raw, samples[: int(res.samples)].copy(),
                            str(trace.meta.get("name", "")))


def replay_bare(trace: Trace, allocator: Union[str, Allocator], *, size_scale: int = 1,
                **options: Any) -> dict[str, Any]:
    """The same events with no measurement: the allocator's bare cost (for
    benchmarks).  Returns events, failures and nanoseconds."""
    _check_counts(0, size_scale)
    with _using(allocator, options) as alloc:
        view = _View(trace)
        res = ffi.new("ma_replay_result *")
        h = alloc._handle()
        status = lib.ma_replay_bare(h, view.c, size_scale, res)
        if status != lib.MA_OK:
            raise _status_error(status, h)
        return _result_dict(res)


def replay_libc(trace: Trace, *, size_scale: int = 1) -> dict[str, Any]:
    """The same events straight through the C library's malloc/free, with no
    interface in between (the speed floor)."""
    _check_counts(0, size_scale)
    view = _View(trace)
    res = ffi.new("ma_replay_result *")
    status = lib.ma_replay_libc(view.c, size_scale, res)
    if status != lib.MA_OK:
        raise _status_error(status, None)
    return _result_dict(res)


def compare(
    trace: Trace,
    allocators: Sequence[str] = ("buddy",),
    *,
    sample_every: int = 1000,
    size_scale: int = 1,
    progress: Optional[bool] = None,
    options: Optional[dict[str, dict[str, Any]]] = None,
    **common: Any,
) -> Any:
    """Replay ``trace`` through each allocator; one DataFrame row per allocator
    with the :attr:`ReplayResult.summary` columns.  ``options`` maps an
    allocator name to its own options; ``common`` options go to every
    allocator that accepts them."""
    import pandas as pd

    rows = []
    for name in allocators:
        opts = _options_for(name, common, (options or {}).get(name, {}))
        res = replay(trace, name, sample_every=sample_every, size_scale=size_scale,
                     progress=progress, **opts)
        rows.append(res.summary)
    return pd.DataFrame(rows).set_index("allocator")


def _options_for(name: str, common: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    from .allocators import accepted_options

    accepted = accepted_options(name)
    merged = {k: v for k, v in common.items() if k in accepted}
    merged.update(own)
    return merged
