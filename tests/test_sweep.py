"""ma.sweep and memalloc sweep: rows equal to single replays on every kind of
executor, traces loaded once per worker, errors kept in their rows,
resumption from CSV and Parquet, and one clear error for each bad input."""
import math
import os
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

import memalloc_py as ma
from memalloc_py import sweeping
from memalloc_py.cli import main

ROOT = Path(__file__).resolve().parent.parent
MEASURES = ["events", "failures", "peak_heap", "peak_live", "jw1", "jw2", "jw3", "jw4",
            "internal_fragmentation"]
ALLOCATORS = ["buddy", "best-ao", "first-lifo", "system"]
GRID = {"arena_size": "16M", "growth": [4096, 8192], "size_scale": [1, 16]}
SEEDS = [3, 4]


@pytest.fixture(autouse=True)
def empty_cache():
    """Each test starts with no trace in this process's worker cache."""
    sweeping._CACHE._items.clear()
    yield
    sweeping._CACHE._items.clear()


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """A Trace object, a trace file and a seeded workload, all tiny."""
    path = tmp_path_factory.mktemp("traces") / "ramp.npz"
    ma.workloads.ramp(1500, seed=9).save(path)
    return {"peaks": ma.workloads.peaks(4, 300, seed=2),
            "file": str(path),
            "steady": ma.Workload("steady", events=3000, live=150)}


def expected_rows(sources):
    """Every (trace, seed, allocator, growth, size_scale) the grid means, with
    the summary of the same replay run alone through ma.replay."""
    rows = []
    traces = {"peaks": [(None, sources["peaks"])], "file": [(None, ma.read_trace(sources["file"]))],
              "steady": [(s, sources["steady"].trace(s)) for s in SEEDS]}
    for label, versions in traces.items():
        for seed, trace in versions:
            for name in ALLOCATORS:
                arenas = {"arena_size": 16 << 20} if name != "system" else {}
                for growth in ([4096, 8192] if name not in ("buddy", "system") else [None]):
                    for scale in (1, 16):
                        opts = dict(arenas, **({"growth": growth} if growth else {}))
                        summary = ma.replay(trace, name, sample_every=0, size_scale=scale, **opts).summary
                        rows.append({"trace": label, "seed": seed, "allocator": name, "growth": growth,
                                     "size_scale": scale, **{m: summary[m] for m in MEASURES}})
    return rows


def na(x):
    """Missing, as pandas hands it out (None, NA or NaN, by version and dtype)."""
    return x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x))


def same(a, b):
    return na(b) if na(a) else a == b


def check_against_replays(df, sources):
    want = expected_rows(sources)
    assert len(df) == len(want) == 4 * 12  # (peaks, file, 2 seeds) x (buddy 2, best-ao 4, first-lifo 4, system 2)
    assert (df["error"] == "").all()
    got = {}
    for r in df.to_dict("records"):
        key = (r["trace"], None if na(r["seed"]) else r["seed"], r["allocator"],
               None if na(r["growth"]) else r["growth"], r["size_scale"])
        got[key] = r
    assert len(got) == len(df)
    for w in want:
        r = got[(w["trace"], w["seed"], w["allocator"], w["growth"], w["size_scale"])]
        for m in MEASURES:
            # libc's usable sizes depend on its process's history (its mmap
            # threshold moves): system's internal fragmentation is libc's
            if not (w["allocator"] == "system" and m == "internal_fragmentation"):
                assert same(r[m], w[m]), (w, m, r[m])
        assert na(r["arena_size"]) if w["allocator"] == "system" else r["arena_size"] == 16 << 20
    # system's heap cannot be seen: NA, not 0; failures happen (16x sizes in 16M)
    assert df.loc[df["allocator"] == "system", "peak_heap"].isna().all()
    assert df["seconds"].gt(0).all() and df["task_seconds"].ge(df["seconds"]).all()


def loads_per_worker(df):
    """How often each worker read or generated each trace (by label and seed)."""
    return df.groupby(["worker", "trace", df["seed"].fillna(-1)])["trace_loaded"].sum()


def test_default_process_pool_rows_equal_single_replays(sources):
    df = ma.sweep(sources, ALLOCATORS, grid=GRID, seeds=SEEDS)
    check_against_replays(df, sources)
    # every worker loaded each recorded trace from its shared file and generated
    # each workload once, then kept it
    assert (loads_per_worker(df) == 1).all()


def test_process_pool_with_two_workers_loads_each_trace_once_per_worker(sources):
    with ProcessPoolExecutor(2) as pool:
        df = ma.sweep(sources, ALLOCATORS, grid=GRID, seeds=SEEDS, executor=pool)
    check_against_replays(df, sources)
    loads = loads_per_worker(df)
    # recorded traces come from the shared file, workloads from their seed: once per worker each
    assert (loads == 1).all() and len(loads) <= 2 * 4


def test_thread_pool_shares_the_traces(sources):
    with ThreadPoolExecutor(3) as pool:
        df = ma.sweep(sources, ALLOCATORS, grid=GRID, seeds=SEEDS, executor=pool)
    check_against_replays(df, sources)
    # one process: the Trace objects are used as they are, each workload made once
    loaded = df[df["trace_loaded"]]
    assert sorted(zip(loaded["trace"], loaded["seed"])) == [("steady", 3), ("steady", 4)]


@pytest.fixture(scope="module")
def dask_cluster():
    import distributed  # in the [test] extra: a missing dask fails here, never skips
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster:
        yield cluster


def test_dask_cluster_rows_equal_single_replays(sources, dask_cluster):
    from distributed import Client

    with Client(dask_cluster) as client:
        df = ma.sweep(sources, ALLOCATORS, grid=GRID, seeds=SEEDS, executor=client)
    check_against_replays(df, sources)
    # two worker processes; the recorded traces arrive scattered, each workload made once per worker
    assert df["worker"].nunique() == 2
    assert not df.loc[df["seed"].isna(), "trace_loaded"].any()
    assert (loads_per_worker(df[df["seed"].notna()]) == 1).all()


def test_cli_on_an_existing_dask_scheduler(tmp_path, capsys, dask_cluster):
    config = tmp_path / "s.toml"
    config.write_text('allocators = ["buddy", "best-ao"]\nseeds = [1, 2]\n'
                      '[workloads.steady]\nevents = 2000\nlive = 100\n')
    code = main(["sweep", str(config), "--scheduler", dask_cluster.scheduler_address, "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("4 replays (0 already in the results file), 0 failed")
    df = pd.read_csv(tmp_path / "s.csv", keep_default_na=False)
    assert len(df) == 4 and (df["error"] == "").all()
    assert (df["worker"].str.split(":").str[1].astype(int) != os.getpid()).all()  # on the cluster's workers


class CountingPool(ThreadPoolExecutor):
    """A thread pool that counts the tasks it was given and can stop the sweep
    (KeyboardInterrupt, as Ctrl-C would) in task number ``stop_at``."""

    def __init__(self, stop_at=None):
        super().__init__(max_workers=1)
        self.submitted = 0
        self.stop_at = stop_at
        self.lock = threading.Lock()

    def submit(self, fn, *args, **kwargs):
        with self.lock:
            self.submitted += 1
            number = self.submitted

        def run():
            if number == self.stop_at:
                raise KeyboardInterrupt
            return fn(*args, **kwargs)

        return super().submit(run)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_sweep_resumes_from_its_results_file(tmp_path, suffix, sources):
    results = tmp_path / f"r{suffix}"
    args = dict(traces={"peaks": sources["peaks"], "steady": sources["steady"]},
                allocators=["buddy", "best-ao"], grid={"min_block": [16, 32, 64]}, seeds=SEEDS)
    total = 3 * 3 * 2  # (peaks, seed 3, seed 4) x (3 buddy + 3 best-ao)
    with CountingPool(stop_at=8) as pool, pytest.raises(KeyboardInterrupt):
        ma.sweep(**args, executor=pool, results=results)
    finished = len(pd.read_csv(results) if suffix == ".csv" else pd.read_parquet(results))
    assert finished == 7  # the rows before the interruption, kept
    with CountingPool() as pool:
        df = ma.sweep(**args, executor=pool, results=results)
    assert pool.submitted == total - 7 and df.attrs == {"resumed": 7, "ran": total - 7}
    assert len(df) == total and df["task"].is_unique
    # a finished sweep runs nothing again and returns the same table
    with CountingPool() as pool:
        again = ma.sweep(**args, executor=pool, results=results)
    assert pool.submitted == 0
    pd.testing.assert_frame_equal(again.drop(columns=["task_seconds"]), df.drop(columns=["task_seconds"]))
    # min_block=16 is below the free list's minimum: those rows failed, and only they run again
    failed = df["error"].str.startswith("ValueError: min_block must be a multiple of 16 from 32")
    assert failed.sum() == 3 and set(df.loc[failed, "allocator"]) == {"best-ao"}
    with CountingPool() as pool:
        retried = ma.sweep(**args, executor=pool, results=results, retry_errors=True)
    assert pool.submitted == 3 and len(retried) == total
    stored = pd.read_csv(results) if suffix == ".csv" else pd.read_parquet(results)
    assert len(stored) == total + (3 if suffix == ".csv" else 0)  # CSV appends, the last row counts


def test_a_row_cut_short_by_a_crash_is_run_again(tmp_path, sources):
    results = tmp_path / "r.csv"
    args = dict(traces={"peaks": sources["peaks"]}, allocators=["buddy", "best-ao"])
    ma.sweep(**args, executor="serial", results=results)
    text = results.read_text()
    results.write_text(text[: text.rindex("\n", 0, len(text) - 1) + 1] + "peaks,,best-a")
    with CountingPool() as pool:
        df = ma.sweep(**args, executor=pool, results=results)
    assert pool.submitted == 1 and len(df) == 2 and (df["error"] == "").all()
    lines = results.read_text().splitlines()
    assert len(lines) == 3 and lines[:2] == text.splitlines()[:2] and lines[2].startswith("peaks,,best-ao,")


def broken_generator(seed):
    raise RuntimeError(f"no trace for seed {seed}")


def test_failing_tasks_are_reported_in_their_rows_and_the_rest_complete(sources):
    traces = {"peaks": sources["peaks"], "broken": ma.Workload(broken_generator)}
    with ThreadPoolExecutor(2) as pool:
        df = ma.sweep(traces, ["buddy", "best-ao"], grid={"min_block": [16, 32]}, seeds=[5], executor=pool)
    errors = dict(zip(zip(df["trace"], df["allocator"], df["min_block"]), df["error"]))
    assert errors[("peaks", "buddy", 16)] == errors[("peaks", "buddy", 32)] == ""
    assert errors[("peaks", "best-ao", 32)] == ""
    assert errors[("peaks", "best-ao", 16)] == ("ValueError: min_block must be a multiple of 16 from 32 "
                                                 "to arena_size (1073741824), got 16")
    broken = df[df["trace"] == "broken"]
    assert len(broken) == 4 and (broken["error"] == "RuntimeError: no trace for seed 5").all()
    assert broken["events"].isna().all() and df.loc[df["error"] == "", "events"].notna().all()


@pytest.mark.parametrize("call, error, words", [
    (dict(allocators=["bestao"]), ValueError, "unknown allocator 'bestao'"),
    (dict(allocators=["buddy", "best"]), None, None),
    (dict(allocators=["best-ao", "best"]), ValueError, "names best-ao twice (best is best-ao)"),
    (dict(grid={"gowth": [4096]}), ValueError, "grid 'gowth' is an option of none of buddy, best-ao"),
    (dict(grid={"growth": "4Q"}), ValueError, "grid growth='4Q'"),
    (dict(grid={"growth": 4.5}), TypeError, "option growth must be an int"),
    (dict(grid={"growth": []}), ValueError, "grid growth has no values"),
    (dict(grid={"size_scale": [0]}), ValueError, "grid size_scale must be from 1"),
    (dict(grid={"growth": [4096, "4K"]}), ValueError, "the grid repeats a replay"),
    (dict(seeds=3), TypeError, "seeds must be a sequence of integers, such as range(5)"),
    (dict(seeds=[-1]), ValueError, "seeds must be integers >= 0"),
    (dict(seeds=[]), ValueError, "seeds is empty"),
    (dict(traces=[ma.Workload("steady", events=100), ma.Workload("steady", events=100)]), ValueError,
     "two traces are labelled 'steady events=100'"),
    (dict(traces=["/no/such/file.npz"]), ma.TraceError, "/no/such/file.npz: no such file"),
    (dict(traces=[]), ValueError, "no traces to replay"),
    (dict(executor="threads"), TypeError, "executor must be None, 'serial', a concurrent.futures.Executor"),
    (dict(results="out.txt"), ValueError, "a results file is .csv or .parquet"),
    (dict(results="/no/such/folder/r.csv"), ValueError, "the folder /no/such/folder does not exist"),
])
def test_bad_arguments_raise_before_any_replay(call, error, words):
    args = dict(traces=[ma.Workload("steady", events=100)], allocators=["buddy", "best-ao"], executor="serial")
    args.update(call)
    if error is None:
        assert len(ma.sweep(**args)) == 2
        return
    with pytest.raises(error) as info:
        ma.sweep(**args)
    assert words in str(info.value)


def test_workload_arguments_are_checked_when_made():
    with pytest.raises(ValueError, match="unknown workload 'stedy'; choose one of: steady"):
        ma.Workload("stedy")
    with pytest.raises(ValueError, match=r"workload 'steady' refuses its options \{'liv': 5\}"):
        ma.Workload("steady", events=100, liv=5)
    with pytest.raises(ValueError, match="events must be an integer >= 1, got 0"):
        ma.Workload("ramp", events=0)
    with pytest.raises(TypeError, match="events is for named workloads"):
        ma.Workload(ma.workloads.ramp, events=10)
    w = ma.Workload(ma.workloads.ramp, n_objects=50)
    assert w.label == "ramp(n_objects=50)" and w.trace(1) == ma.workloads.ramp(50, seed=1)


def test_a_results_file_of_another_sweep_is_refused(tmp_path):
    results = tmp_path / "r.csv"
    w = [ma.Workload("steady", events=100)]
    ma.sweep(w, ["buddy"], grid={"min_block": 32}, executor="serial", results=results)
    with open(results, "a") as f:
        f.write("a row cut short")  # kept too: the file is not this sweep's to mend
    before = results.read_text()
    with pytest.raises(ValueError, match=r"not the results of this sweep \(its columns differ: it lacks growth"):
        ma.sweep(w, ["best-ao"], grid={"growth": 4096, "min_block": 32}, executor="serial", results=results)
    assert results.read_text() == before


# ---------------------------------------------------------------- the command

CONFIG = """
allocators = ["buddy", "best-ao"]
seeds = [1, 2]

[grid]
arena_size = "4M"
min_block = [32, 64]

[traces]
ramp = "ramp.npz"

[workloads.steady]
events = 2000
live = 100
"""


def test_memalloc_sweep_runs_and_resumes_a_config(tmp_path, capsys):
    ma.workloads.ramp(500, seed=1).save(tmp_path / "ramp.npz")
    config = tmp_path / "study.toml"
    config.write_text(CONFIG)
    code = main(["sweep", str(config), "--jobs", "1", "--no-progress"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert out == f"12 replays (0 already in the results file), 0 failed: results in {tmp_path / 'study.csv'}\n"
    df = pd.read_csv(tmp_path / "study.csv", keep_default_na=False)
    assert len(df) == 12 and set(df["trace"]) == {"ramp", "steady"} and set(df["min_block"]) == {32, 64}
    code = main(["sweep", str(config), "-o", str(tmp_path / "study.csv"), "--no-progress"])
    assert code == 0 and capsys.readouterr().out.startswith("12 replays (12 already in the results file)")
    assert len(pd.read_csv(tmp_path / "study.csv")) == 12


def test_memalloc_sweep_exits_1_when_a_replay_failed(tmp_path, capsys):
    config = tmp_path / "s.toml"
    config.write_text('allocators = ["best-ao"]\n[grid]\nmin_block = [16, 32]\n'
                      '[workloads.ramp]\nevents = 200\n')
    code = main(["sweep", str(config), "--jobs", "2", "--no-progress", "-o", str(tmp_path / "r.parquet")])
    out = capsys.readouterr().out.splitlines()
    assert code == 1 and out[0].endswith(f"1 failed: results in {tmp_path / 'r.parquet'}")
    assert out[1] == "  1 x ValueError: min_block must be a multiple of 16 from 32 to arena_size (1073741824), got 16"


@pytest.mark.parametrize("text, words", [
    ("allocators = [", "not valid TOML"),
    ('alocators = ["buddy"]', "unknown key 'alocators'; a sweep file has: allocators, seeds, grid"),
    ('[workloads.ramp]\nevents = 10', "no 'allocators': list the allocators to sweep"),
    ('allocators = "buddy"\n[workloads.ramp]', "'allocators' must be a list of names"),
    ('allocators = ["bestfit"]\n[workloads.ramp]', "unknown allocator 'bestfit'"),
    ('allocators = ["buddy"]', "nothing to replay: add a [traces] or a [workloads.LABEL] table"),
    ('allocators = ["buddy"]\n[workloads.rampp]', "workloads.rampp: unknown workload 'rampp'"),
    ('allocators = ["buddy"]\n[workloads.x]\nworkload = "peaks"\nn_peak = 3',
     "workloads.x: workload 'peaks' refuses its options"),
    ('allocators = ["buddy"]\n[workloads.ramp]\nevents = -5', "workloads.ramp: events must be an integer >= 1"),
    ('allocators = ["buddy"]\nworkloads = 3', "'workloads' must hold one table per workload"),
    ('allocators = ["buddy"]\n[traces]\nt = "missing.npz"', "traces.t: "),
    ('allocators = ["buddy"]\n[traces]\nt = {file = "x"}', "traces.t: a trace table has path and format, not 'file'"),
    ('allocators = ["buddy"]\n[traces]\nt = {path = "x", format = "csv"}', "traces.t: unknown format 'csv'"),
    ('allocators = ["buddy"]\n[traces]\nt = 5', "traces.t: a trace is a file name or aosp:NAME, not 5"),
    ('allocators = ["buddy"]\n[traces]\nt = "aosp:nothing"', "no bundled trace 'nothing'"),
    ('allocators = ["buddy"]\ngrid = [1]\n[workloads.ramp]', "'grid' must be a table"),
    ('allocators = ["buddy"]\n[grid]\nmin_block = 1.5\n[workloads.ramp]', "grid.min_block: values are integers"),
    ('allocators = ["buddy"]\n[grid]\ngrowth = 4096\n[workloads.ramp]',
     "grid 'growth' is an option of none of buddy"),
    ('allocators = ["buddy"]\n[grid]\nmin_block = "1X"\n[workloads.ramp]', "grid min_block='1X'"),
    ('allocators = ["buddy"]\nseeds = 4\n[workloads.ramp]', "'seeds' must be a list of integers"),
    ('allocators = ["buddy"]\nseeds = [1, 1]\n[workloads.ramp]', "seeds repeats a seed"),
    ('allocators = ["buddy"]\n[traces]\nramp = "aosp:surfaceflinger"\n[workloads.ramp]',
     "workloads.ramp: the label is a trace's too"),
])
def test_bad_config_files_are_one_clear_error(tmp_path, capsys, text, words):
    config = tmp_path / "bad.toml"
    config.write_text(text.replace("aosp:surfaceflinger", "t.npz"))
    ma.workloads.ramp(10).save(tmp_path / "t.npz")
    code = main(["sweep", str(config), "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.startswith(f"memalloc: {config}: ")
    assert words in err and len(err.splitlines()) == 1
    assert not (tmp_path / "bad.csv").exists()


@pytest.mark.parametrize("argv, words", [
    (["-o", "r.json"], "a results file is .csv or .parquet"),
    (["--jobs", "0"], "--jobs must be at least 1, got 0"),
    (["--jobs", "2", "--scheduler", "tcp://127.0.0.1:1"], "not allowed with argument"),
    (["--scheduler", "tcp://127.0.0.1:1"], "cannot reach the Dask scheduler at tcp://127.0.0.1:1"),
])
def test_bad_sweep_command_lines(tmp_path, capsys, argv, words, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "s.toml"
    config.write_text('allocators = ["buddy"]\n[workloads.ramp]\nevents = 10\n')
    if "--scheduler" in argv and "--jobs" not in argv:
        monkeypatch.setattr(sweeping, "_DASK_TIMEOUT", 1)
    code = main(["sweep", str(config), *argv])
    err = capsys.readouterr().err
    assert code == 2 and words in err and len(err.splitlines()) == 1


def test_the_example_sweep_file_is_valid():
    spec = sweeping.read_config(ROOT / "examples" / "sweep.toml")
    plan = sweeping._plan(**spec)
    assert len(plan.tasks) == 126
    assert {t.allocator for t in plan.tasks} == {"buddy", "best-ao", "first-ao", "first-lifo", "next-ao"}
