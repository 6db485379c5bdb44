"""Parameter sweeps: a grid of replays on one core, all cores, or a Dask cluster
(exported as ``memalloc_py.sweep`` and ``memalloc_py.Workload``).

:func:`sweep` expands traces x seeds x allocators x options into independent
replay tasks, runs them on an executor and returns one tidy pandas DataFrame,
one row per replay: its parameters, every measure of
:attr:`~memalloc_py.ReplayResult.summary`, its timing, and the error that
stopped it, if any.  docs/sweep.md is the full description, with the TOML
file that ``memalloc sweep`` reads (:func:`read_config`).  The results file
(CSV or Parquet, written as rows finish and resumed) is ``_sweep_results``.

How a trace reaches the workers: a recorded trace (a :class:`Trace`, a file, a
bundled ``aosp:NAME``) is read once in the calling process; a thread pool
shares that object, a process pool (or any other executor) gets one pickle
file per trace that each worker loads once and keeps, and a Dask cluster gets
it scattered to every worker once.  A :class:`Workload` is generated from
its seed on the worker that replays it, once per worker (generation is
deterministic: every worker builds the same trace).  Workers keep the last
few traces they used (``_CACHE_SIZE``); the tasks run trace by trace.
"""
from __future__ import annotations

import concurrent.futures as cf
import itertools
import json
import math
import os
import pickle
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Sequence, Union

from . import allocators as A
from . import workloads as W
from ._native import ffi, lib
from ._sweep_results import RESULT_FORMATS, _describe, _format, _frame, _latest, _read_results, _Writer
from .replaying import _check_counts, replay
from .trace import Trace

__all__ = ["sweep", "Workload", "read_config", "run_file", "RESULT_FORMATS"]

# Traces a worker keeps in memory (least recently used dropped first).
_CACHE_SIZE = 4
# Seconds memalloc sweep --scheduler waits for the scheduler to answer.
_DASK_TIMEOUT = 30
# The parameter a grid may sweep besides the allocators' options.
_REPLAY_PARAMETERS = ("size_scale",)


class Workload:
    """A synthetic workload in a sweep: a trace made from each seed.

    ``Workload("steady", events=200_000, live=5_000)`` names a workload of
    :func:`memalloc_py.workloads.generate` (``steady``, ``exponential``,
    ``uniform-lifetimes``, ``ramp``, ``peaks``, ``plateau``) with its size
    and options; ``Workload(ma.workloads.ramp, n_objects=1000)`` any function
    taking ``seed=`` and returning a :class:`Trace` (importable by name when
    the sweep runs in other processes).  ``label`` names it in the results.
    A named workload is generated once here at a small size, so that an
    unknown option or a bad value is an error now, not in every task."""

    __slots__ = ("generator", "events", "options", "label")

    def __init__(self, generator: Union[str, Callable[..., Trace]], events: Optional[int] = None, *,
                 label: Optional[str] = None, **options: Any):
        if isinstance(generator, str):
            if generator not in W.WORKLOADS:
                raise ValueError(f"unknown workload {generator!r}; choose one of: {', '.join(W.WORKLOADS)}")
            events = 1_000_000 if events is None else events
            if isinstance(events, bool) or not isinstance(events, int) or events < 1:
                raise ValueError(f"events must be an integer >= 1, got {events!r}")
            try:
                W.generate(generator, min(events, 64), seed=0, **options)
            except (TypeError, ValueError) as e:
                raise ValueError(f"workload {generator!r} refuses its options {options}: {e}") from None
        elif callable(generator):
            if events is not None:
                raise TypeError("events is for named workloads: give your generator's own "
                                "arguments as keywords")
        else:
            raise TypeError(f"a workload is a name or a function, not {type(generator).__name__}")
        if label is not None and (not isinstance(label, str) or not label):
            raise ValueError(f"a workload's label must be a non-empty string, got {label!r}")
        self.generator = generator
        self.events = events
        self.options = dict(options)
        self.label = label or self._default_label()

    def _default_label(self) -> str:
        args = [f"{k}={v!r}" for k, v in self.options.items()]
        if isinstance(self.generator, str):
            return " ".join([self.generator, f"events={self.events}", *args])
        return f"{getattr(self.generator, '__name__', 'workload')}({', '.join(args)})"

    def trace(self, seed: int) -> Trace:
        """The trace of one seed."""
        if isinstance(self.generator, str):
            return W.generate(self.generator, self.events, seed=seed, **self.options)
        t = self.generator(seed=seed, **self.options)
        if not isinstance(t, Trace):
            raise TypeError(f"the workload {self.label!r} returned a {type(t).__name__}, not a Trace")
        return t

    def _key(self) -> tuple[Any, ...]:
        g = self.generator
        name = g if isinstance(g, str) else f"{getattr(g, '__module__', '')}.{getattr(g, '__qualname__', g)}"
        return (name, self.events, tuple(sorted((k, repr(v)) for k, v in self.options.items())))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Workload) and self._key() == other._key() and self.label == other.label

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Workload({self.label!r})"

    def __getstate__(self) -> tuple[Any, ...]:
        return (self.generator, self.events, self.options, self.label)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.generator, self.events, self.options, self.label = state


TraceSpec = Union[Trace, str, "os.PathLike[str]", Workload]


# ---------------------------------------------------------------- the tasks

@dataclass(frozen=True)
class _Task:
    """One replay: what a worker needs besides the trace, and the row's parameters."""

    key: str                       # the row's identity in a results file (JSON)
    trace: str                     # the trace's label
    seed: Optional[int]            # None for a recorded trace
    allocator: str                 # registry name
    options: tuple[tuple[str, Any], ...]
    size_scale: int

    def parameters(self) -> dict[str, Any]:
        return {"trace": self.trace, "seed": self.seed, "allocator": self.allocator,
                **dict(self.options), "size_scale": self.size_scale}


@dataclass(frozen=True)
class _TraceFile:
    """A recorded trace that a worker loads from a shared pickle file, once."""

    path: str
    token: str  # unique per sweep, so a reused path is never a stale cache hit


class _Cache:
    """The traces this process holds, the least recently used dropped first.
    Thread-safe: threads wanting the same trace wait for one to make it."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict[Any, Trace] = OrderedDict()
        self._lock = threading.Lock()
        self._making: dict[Any, threading.Lock] = {}

    def get(self, key: Any, make: Callable[[], Trace]) -> tuple[Trace, bool]:
        """The trace for ``key``, and whether this call made it."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key], False
            making = self._making.setdefault(key, threading.Lock())
        with making:
            with self._lock:
                if key in self._items:
                    return self._items[key], False
            try:
                trace = make()
                with self._lock:
                    self._items[key] = trace
                    while len(self._items) > self.size:
                        self._items.popitem(last=False)
            finally:
                with self._lock:
                    self._making.pop(key, None)
            return trace, True


_CACHE = _Cache(_CACHE_SIZE)


def _load(path: str) -> Trace:
    with open(path, "rb") as f:
        trace = pickle.load(f)
    if not isinstance(trace, Trace):
        raise TypeError(f"{path} holds a {type(trace).__name__}, not a Trace")
    return trace


def _obtain(source: Any, seed: Optional[int]) -> tuple[Trace, bool]:
    if isinstance(source, Trace):
        return source, False
    if isinstance(source, _TraceFile):
        return _CACHE.get(("file", source.token), lambda: _load(source.path))
    if isinstance(source, Workload):
        assert seed is not None
        return _CACHE.get(("workload", source._key(), seed), lambda: source.trace(seed))
    raise TypeError(f"not a trace source: {type(source).__name__}")


def _worker() -> str:
    name = f"{socket.gethostname()}:{os.getpid()}"
    thread = threading.current_thread()
    return name if thread is threading.main_thread() else f"{name}:{thread.name}"


def _run_task(task: _Task, source: Any) -> dict[str, Any]:
    """Run one replay on a worker; an exception becomes the row's error."""
    start = time.perf_counter()
    row: dict[str, Any] = task.parameters()
    loaded = False
    try:
        trace, loaded = _obtain(source, task.seed)
        summary = replay(trace, task.allocator, sample_every=0, size_scale=task.size_scale,
                         progress=False, **dict(task.options)).summary
        row.update({k: summary[k] for k in _measures()})
        row["error"] = ""
    except Exception as e:  # the sweep goes on; the row says what happened
        row["error"] = _describe(e)
    row.update(task_seconds=time.perf_counter() - start, trace_loaded=loaded, worker=_worker(),
               task=task.key)
    return row


def _failed(task: _Task, e: BaseException) -> dict[str, Any]:
    """The row of a task whose worker could not return one (a dead process,
    an executor that refused the task)."""
    return {**task.parameters(), "error": _describe(e), "trace_loaded": False, "worker": "",
            "task_seconds": math.nan, "task": task.key}


_MEASURE_KINDS: Optional[dict[str, str]] = None


def _measures() -> dict[str, str]:
    """Every measure of a replay's summary, with its kind ("int", "float" or
    "bool"), read off a replay of the empty trace: the columns follow the
    summary as it grows.  ``allocator`` is a parameter; ``stopped`` is never
    true in a sweep, which gives the replay no progress function.  Built
    whole, then published: a thread never sees it half made."""
    global _MEASURE_KINDS
    if _MEASURE_KINDS is None:
        summary = replay(Trace([], [], []), "buddy", sample_every=0, progress=False).summary
        _MEASURE_KINDS = {k: ("bool" if isinstance(v, bool) else "int" if isinstance(v, int) else "float")
                          for k, v in summary.items() if k not in ("allocator", "stopped")}
    return _MEASURE_KINDS


# ------------------------------------------------------------------ the plan

@dataclass
class _Plan:
    tasks: list[_Task]
    sources: dict[str, Union[Trace, Workload]]
    columns: dict[str, str]  # name -> kind: "str", "int", "float", "bool"


def _sources(traces: Any) -> dict[str, Union[Trace, Workload]]:
    """Label -> Trace (recorded traces read now, once) or Workload."""
    from .importers import read_trace

    if isinstance(traces, (Trace, Workload, str, os.PathLike)):
        traces = [traces]
    if isinstance(traces, Mapping):
        items = list(traces.items())
        for label, _ in items:
            if not isinstance(label, str) or not label:
                raise ValueError(f"trace labels must be non-empty strings, got {label!r}")
    elif isinstance(traces, Iterable):
        items = [(None, spec) for spec in traces]
    else:
        raise TypeError(f"traces must be a Trace, a file name, a Workload, or a list or dict of them, "
                        f"not {type(traces).__name__}")
    if not items:
        raise ValueError("no traces to replay")
    found: dict[str, Union[Trace, Workload]] = {}
    for i, (label, spec) in enumerate(items):
        if isinstance(spec, Workload):
            source: Union[Trace, Workload] = spec
            name = spec.label
        elif isinstance(spec, Trace):
            source, name = spec, str(spec.meta.get("name") or f"trace {i}")
        elif isinstance(spec, (str, os.PathLike)):
            source, name = read_trace(spec), os.fspath(spec)
        else:
            raise TypeError(f"a trace is a Trace, a file name or a Workload, not {type(spec).__name__}")
        label = label or name
        if label in found:
            raise ValueError(f"two traces are labelled {label!r}: give them labels of their own "
                             "(a dict of label: trace, or Workload(..., label=...))")
        found[label] = source
    return found


def _seeds(seeds: Any) -> list[int]:
    if isinstance(seeds, (int, str)) or not isinstance(seeds, Iterable):
        raise TypeError(f"seeds must be a sequence of integers, such as range(5), not {seeds!r}")
    out = list(seeds)
    if not out:
        raise ValueError("seeds is empty: give at least one")
    for s in out:
        if isinstance(s, bool) or not hasattr(s, "__index__") or s.__index__() < 0:
            raise ValueError(f"seeds must be integers >= 0, got {s!r}")
    out = [s.__index__() for s in out]
    if len(set(out)) != len(out):
        raise ValueError(f"seeds repeats a seed: {out}")
    return out


def _allocator_names(allocators: Any) -> list[str]:
    if isinstance(allocators, str):
        allocators = [allocators]
    names: list[str] = []
    for n in allocators:
        name = A.info(n).name  # ValueError for an unknown name, listing the known ones
        if name in names:
            raise ValueError(f"allocators names {name} twice" + (f" ({n} is {name})" if n != name else ""))
        names.append(name)
    if not names:
        raise ValueError("no allocators to sweep")
    return names


def _canonical(allocator: str, key: str, value: Any) -> Any:
    """A grid value as the registry parses it for ``allocator`` (``"64K"``
    becomes 65536, 1 a boolean's True): a value C cannot parse is an error
    now; one out of the allocator's range is the task's error."""
    entry = A.info(allocator)
    opt = entry.option(key)
    text = f"{key}={A._option_text(key, value)}".encode()
    values = ffi.new("uint64_t[]", max(1, len(entry.options)))
    if lib.ma_registry_parse(allocator.encode(), text, ffi.NULL, values, len(entry.options)) != lib.MA_OK:
        raise ValueError(f"grid {key}={value!r}: {ffi.string(lib.ma_thread_error()).decode()}")
    if opt.type == "choice":
        return value
    j = entry.options.index(opt)
    return opt.value(int(values[j]))


def _grid(grid: Any, names: list[str]) -> list[tuple[str, list[Any]]]:
    if grid is None:
        return []
    if not isinstance(grid, Mapping):
        raise TypeError(f"grid must be a dict of option: values, not {type(grid).__name__}")
    out = []
    for key, values in grid.items():
        if not isinstance(key, str):
            raise TypeError(f"grid keys are option names, not {key!r}")
        if isinstance(values, (str, bytes, bool, int)) or not isinstance(values, Iterable):
            values = [values]
        values = list(values)
        if not values:
            raise ValueError(f"grid {key} has no values")
        if key in _REPLAY_PARAMETERS:
            for v in values:
                _check_counts(0, v, names=("", f"grid {key}"))
        elif not any(key in A.accepted_options(n) for n in names):
            known = sorted({o for n in names for o in A.accepted_options(n)})
            raise ValueError(f"grid {key!r} is an option of none of {', '.join(names)}; their options: "
                             f"{', '.join(known) or 'none'}, and {', '.join(_REPLAY_PARAMETERS)} "
                             "(the replay's)")
        out.append((key, values))
    return out


def _kind_of_option(key: str, names: list[str]) -> str:
    if key in _REPLAY_PARAMETERS:
        return "int"
    types = {A.info(n).option(key).type for n in names if key in A.accepted_options(n)}
    if types <= {"size", "integer"}:
        return "int"
    return "bool" if types == {"boolean"} else "str"


def _task_key(label: str, seed: Optional[int], allocator: str, options: dict[str, Any],
              size_scale: int) -> str:
    return json.dumps({"trace": label, "seed": seed, "allocator": allocator, "options": options,
                       "size_scale": size_scale}, sort_keys=True, separators=(",", ":"))


def _plan(traces: Any, allocators: Any, grid: Any, seeds: Any) -> _Plan:
    """Every task of a sweep, in order: trace by trace, seed by seed, then
    allocator by allocator over the grid of the options each one takes."""
    sources = _sources(traces)
    names = _allocator_names(allocators)
    axes = _grid(grid, names)
    seed_list = _seeds(seeds)
    keys = [k for k, _ in axes]
    if "size_scale" not in keys:
        axes.append(("size_scale", [1]))
        keys.append("size_scale")
    canonical = {(n, k, i): (v if k in _REPLAY_PARAMETERS else _canonical(n, k, v))
                 for n in names for k, values in axes for i, v in enumerate(values)
                 if k in _REPLAY_PARAMETERS or k in A.accepted_options(n)}
    tasks = []
    for label, source in sources.items():
        for seed in (seed_list if isinstance(source, Workload) else [None]):
            for name in names:
                mine = [(k, list(enumerate(vs))) for k, vs in axes if (name, k, 0) in canonical]
                for combo in itertools.product(*(vs for _, vs in mine)):
                    given = {k: canonical[(name, k, i)] for (k, _), (i, _) in zip(mine, combo)}
                    scale = int(given.pop("size_scale"))
                    tasks.append(_Task(_task_key(label, seed, name, given, scale), label, seed, name,
                                       tuple(given.items()), scale))
    seen: set[str] = set()
    for t in tasks:
        if t.key in seen:
            raise ValueError(f"the grid repeats a replay ({t.allocator} on {t.trace} with "
                             f"{dict(t.options)}): a value is listed twice")
        seen.add(t.key)
    columns = {"trace": "str", "seed": "int", "allocator": "str"}
    columns.update({k: _kind_of_option(k, names) for k in keys})
    columns.update(_measures())
    columns.update(task_seconds="float", trace_loaded="bool", worker="str", error="str", task="str")
    return _Plan(tasks, sources, columns)


# ------------------------------------------------------------ the executors

def _is_dask_client(executor: Any) -> bool:
    distributed = sys.modules.get("distributed")
    return distributed is not None and isinstance(executor, distributed.Client)


def _executed(todo: list[_Task], plan: _Plan, executor: Any,
              shared_dir: Optional[str]) -> Iterator[dict[str, Any]]:
    """The rows of ``todo``, as they finish."""
    if executor == "serial":
        for task in todo:
            yield _run_task(task, plan.sources[task.trace])
        return
    if _is_dask_client(executor):
        yield from _on_dask(todo, plan, executor)
        return
    owned = executor is None
    if owned:
        executor = cf.ProcessPoolExecutor(max_workers=_cores())
    elif not isinstance(executor, cf.Executor):
        raise TypeError(f"executor must be None, 'serial', a concurrent.futures.Executor or a "
                        f"dask.distributed Client, not {type(executor).__name__}")
    folder = None
    finished = False
    try:
        sources: dict[str, Any] = dict(plan.sources)
        if not isinstance(executor, cf.ThreadPoolExecutor):
            folder = tempfile.mkdtemp(prefix="memalloc-sweep-", dir=shared_dir)
            token = uuid.uuid4().hex
            for i, label in enumerate(sorted({t.trace for t in todo})):
                if isinstance(sources[label], Trace):
                    path = os.path.join(folder, f"{i}.trace.pickle")
                    with open(path, "wb") as f:
                        pickle.dump(sources[label], f, protocol=pickle.HIGHEST_PROTOCOL)
                    sources[label] = _TraceFile(path, f"{token}:{i}")
        futures = {executor.submit(_run_task, t, sources[t.trace]): t for t in todo}
        try:
            for fut in cf.as_completed(futures):
                try:
                    yield fut.result()
                except Exception as e:  # the worker died, or the executor refused the task
                    yield _failed(futures[fut], e)
        finally:
            for fut in futures:
                fut.cancel()
        finished = True
    finally:
        if owned:  # stopped early (Ctrl-C): the replays under way are not waited for
            executor.shutdown(wait=finished, cancel_futures=True)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def _on_dask(todo: list[_Task], plan: _Plan, client: Any) -> Iterator[dict[str, Any]]:
    import distributed

    sources: dict[str, Any] = dict(plan.sources)
    for label in sorted({t.trace for t in todo}):
        if isinstance(sources[label], Trace):
            sources[label] = client.scatter(sources[label], broadcast=True, hash=False)
    futures = {client.submit(_run_task, t, sources[t.trace], pure=False): t for t in todo}
    try:
        for fut in distributed.as_completed(list(futures)):
            try:
                yield fut.result()
            except Exception as e:  # a worker lost, a task the scheduler gave up on
                yield _failed(futures[fut], e)
    finally:
        client.cancel([f for f in futures if not f.done()])
        del futures, sources


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _progress_bar(total: int, enabled: Optional[bool]) -> Any:
    if enabled is False or (enabled is None and not sys.stderr.isatty()):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="replay", desc="sweep", file=sys.stderr)


# ----------------------------------------------------------------- the API

def sweep(
    traces: Any,
    allocators: Union[str, Sequence[str]],
    grid: Optional[Mapping[str, Any]] = None,
    seeds: Iterable[int] = (0,),
    *,
    executor: Any = None,
    results: Union[None, str, "os.PathLike[str]"] = None,
    progress: Optional[bool] = None,
    retry_errors: bool = False,
    shared_dir: Optional[str] = None,
) -> Any:
    """Replay every trace through every allocator over a grid of options,
    each replay an independent task; return one pandas DataFrame, one row
    per replay (docs/sweep.md describes every column).

    ``traces``: a :class:`Trace`, a trace file's name (``aosp:NAME`` for a
    bundled trace), a :class:`Workload`, or a list of them, or a dict of
    label: any of them (the ``trace`` column; by default a Trace's
    ``meta["name"]``, a file's name, a Workload's label).  ``allocators``:
    registry names (``memalloc list``).  ``grid``: option name -> one value
    or a list of values; each allocator runs over the options it takes (an
    option it lacks is NA in its rows), and ``size_scale`` (the replay's,
    default 1) applies to all.  ``seeds``: the seeds each Workload is
    generated with; a recorded trace runs once (its ``seed`` is NA).

    ``executor``: None for a process pool over this machine's cores,
    ``"serial"`` for this process one replay at a time, any
    :class:`concurrent.futures.Executor`, or a ``dask.distributed.Client``.
    ``results``: a ``.csv`` or ``.parquet`` file that receives the rows as
    they finish; when it exists, its finished rows are not run again (with
    ``retry_errors``, rows with an error are).  A task that raises records
    the error in its row (``error``; empty when the replay ran) and the
    others go on.  ``progress``: a progress bar over the tasks on stderr
    (None: when stderr is a terminal).  ``shared_dir``: where a process
    pool's workers read the recorded traces from (default: a temporary
    folder; name one that every worker sees when they run on other hosts).

    ``df.attrs["ran"]`` counts the replays this call ran, ``df.attrs["resumed"]``
    those it found finished in ``results``.

    Errors in the arguments (an unknown allocator, an option no allocator
    takes, a value C cannot parse, a missing trace file, bad seeds, a
    results file of another sweep) raise before any replay runs.
    """
    plan = _plan(traces, allocators, grid, seeds)
    path = Path(os.fspath(results)) if results is not None else None
    fmt = _format(path) if path is not None else ""
    if path is not None and not path.parent.is_dir():
        raise ValueError(f"{path}: the folder {path.parent} does not exist")
    if executor is not None and executor != "serial" and not isinstance(executor, cf.Executor) \
            and not _is_dask_client(executor):
        raise TypeError(f"executor must be None, 'serial', a concurrent.futures.Executor or a "
                        f"dask.distributed Client, not {type(executor).__name__}")
    previous = _read_results(path, fmt, plan.columns) if path is not None else []
    done = {r["task"]: r for r in _latest(previous)}
    if retry_errors:
        done = {k: r for k, r in done.items() if not r.get("error")}
    todo = [t for t in plan.tasks if t.key not in done]
    writer = _Writer(path, fmt, plan.columns, list(previous))
    bar = _progress_bar(len(todo), progress)
    failed = 0
    try:
        if todo:
            for row in _executed(todo, plan, executor, shared_dir):
                writer.add(row)
                if bar is not None:
                    failed += bool(row.get("error"))
                    bar.update(1)
                    if failed:
                        bar.set_postfix(failed=failed, refresh=False)
    finally:
        if bar is not None:
            bar.close()
        writer.flush()
    latest = {r["task"]: r for r in _latest(writer.rows)}
    df = _frame([latest[t.key] for t in plan.tasks], plan.columns)
    df.attrs.update(resumed=len(plan.tasks) - len(todo), ran=len(todo))
    return df


# ------------------------------------------------------- the sweep file

_CONFIG_KEYS = ("allocators", "seeds", "grid", "traces", "workloads")


def read_config(path: Union[str, "os.PathLike[str]"]) -> dict[str, Any]:
    """The arguments of :func:`sweep` from a TOML sweep file (docs/sweep.md):
    ``sweep(**read_config("sweep.toml"), results=...)``.  Trace files are
    read here, relative to the file's folder.  Every problem is a
    ValueError naming the file and the key (a TraceError for a trace file)."""
    from .importers import FORMATS, read_trace
    from .trace import TraceError

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - the test machines run 3.11+
        import tomli as tomllib
    where = Path(os.fspath(path))
    try:
        with open(where, "rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError:
        raise ValueError(f"{where}: no such file") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{where}: not valid TOML: {e}") from None

    def bad(message: str) -> ValueError:
        return ValueError(f"{where}: {message}")

    unknown = [k for k in doc if k not in _CONFIG_KEYS]
    if unknown:
        raise bad(f"unknown key {unknown[0]!r}; a sweep file has: {', '.join(_CONFIG_KEYS)}")
    allocators = doc.get("allocators")
    if allocators is None:
        raise bad("no 'allocators': list the allocators to sweep (memalloc list names them)")
    if not isinstance(allocators, list) or not all(isinstance(a, str) for a in allocators):
        raise bad(f"'allocators' must be a list of names, not {allocators!r}")
    grid = doc.get("grid", {})
    if not isinstance(grid, dict):
        raise bad("'grid' must be a table of option = value or [values]")
    for key, values in grid.items():
        for v in values if isinstance(values, list) else [values]:
            if not isinstance(v, (int, str, bool)):
                raise bad(f"grid.{key}: values are integers, sizes as text (\"64K\") or booleans, "
                          f"not {v!r}")
    seeds = doc.get("seeds", [0])
    if not isinstance(seeds, list):
        raise bad(f"'seeds' must be a list of integers, not {seeds!r}")
    traces: dict[str, Union[Trace, Workload]] = {}
    table = doc.get("traces", {})
    if not isinstance(table, dict):
        raise bad("'traces' must be a table of label = \"file\" or label = {path = ..., format = ...}")
    for label, spec in table.items():
        file, fmt = spec, None
        if isinstance(spec, dict):
            extra = [k for k in spec if k not in ("path", "format")]
            if extra or "path" not in spec:
                raise bad(f"traces.{label}: a trace table has path and format"
                          + (f", not {extra[0]!r}" if extra else ", and path is missing"))
            file, fmt = spec["path"], spec.get("format")
            if fmt is not None and fmt not in FORMATS:
                raise bad(f"traces.{label}: unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
        if not isinstance(file, str) or not file:
            raise bad(f"traces.{label}: a trace is a file name or aosp:NAME, not {file!r}")
        if not file.startswith("aosp:") and not os.path.isabs(file):
            file = str(where.parent / file)
        try:
            traces[label] = read_trace(file, fmt)
        except TraceError as e:
            raise TraceError(f"{where}: traces.{label}: {e}") from None
    table = doc.get("workloads", {})
    if not isinstance(table, dict):
        raise bad("'workloads' must hold one table per workload: [workloads.LABEL]")
    for label, spec in table.items():
        if not isinstance(spec, dict):
            raise bad(f"workloads.{label} must be a table (workload = ..., events = ..., options)")
        spec = dict(spec)
        name = spec.pop("workload", label)
        if name not in W.WORKLOADS:
            raise bad(f"workloads.{label}: unknown workload {name!r}; choose one of "
                      f"{', '.join(W.WORKLOADS)} (as `workload = ...`, or as the table's name)")
        if label in traces:
            raise bad(f"workloads.{label}: the label is a trace's too")
        try:
            traces[label] = Workload(name, spec.pop("events", None), label=label, **spec)
        except (TypeError, ValueError) as e:
            raise bad(f"workloads.{label}: {e}") from None
    if not traces:
        raise bad("nothing to replay: add a [traces] or a [workloads.LABEL] table")
    args = {"traces": traces, "allocators": allocators, "grid": grid, "seeds": seeds}
    try:
        _plan(**args)
    except (TypeError, ValueError) as e:
        raise bad(str(e)) from None
    return args


def run_file(config: Union[str, "os.PathLike[str]"], results: Union[None, str, "os.PathLike[str]"] = None, *,
             scheduler: Optional[str] = None, jobs: Optional[int] = None, retry_errors: bool = False,
             progress: Optional[bool] = None) -> tuple[Any, str]:
    """What ``memalloc sweep`` does: the sweep of a TOML file, on the Dask
    cluster whose scheduler is at ``scheduler``, or on ``jobs`` processes
    here (default: one per core; 1: in this process).  ``results``
    defaults to the file's name with ``.csv``.  Returns the DataFrame and
    the results file's name."""
    output = os.fspath(results) if results is not None else os.path.splitext(os.fspath(config))[0] + ".csv"
    _format(Path(output))  # a bad extension, or no pyarrow: before any work
    spec = read_config(config)
    if scheduler is not None:
        try:
            from distributed import Client
        except ImportError:
            raise ImportError("a Dask scheduler needs dask.distributed: "
                              "pip install 'memalloc_py[dask]'") from None
        try:
            client = Client(scheduler, timeout=_DASK_TIMEOUT)
        except OSError as e:
            raise ValueError(f"cannot reach the Dask scheduler at {scheduler} ({e})") from None
        with client:
            return sweep(**spec, executor=client, results=output, progress=progress,
                         retry_errors=retry_errors), output
    if jobs is None:
        return sweep(**spec, results=output, progress=progress, retry_errors=retry_errors), output
    if jobs > 1:
        with cf.ProcessPoolExecutor(jobs) as pool:
            return sweep(**spec, executor=pool, results=output, progress=progress,
                         retry_errors=retry_errors), output
    return sweep(**spec, executor="serial", results=output, progress=progress,
                 retry_errors=retry_errors), output
