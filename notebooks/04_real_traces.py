# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Is fragmentation solved on real programs? Johnstone and Wilson's Tables 3 and 4 on two Android traces and three programs recorded here
#
# **Question.** Johnstone and Wilson ("The Memory Fragmentation Problem: Solved?",
# ISMM 1998; see `docs/references.md`) replayed the allocations of eight real C and
# C++ programs through a dozen allocator policies and found that the good ones waste
# almost nothing. Does that hold for other real programs, replayed the same way
# through `memalloc_py`'s allocators?
#
# **What was published.** Their Tables 3 and 4 give two of their four measures of
# fragmentation, as a percentage of overhead, averaged over the eight programs:
# measure #3 is the heap at its largest against the live bytes at that moment, and
# measure #4 the largest heap against the largest live bytes (`docs/measures.md`
# defines all four). Best fit (with any free-list order) and address-ordered first
# fit came out at about 2%, first fit with a FIFO list at 3%, next fit with
# address-ordered and FIFO lists at 8% and 18%, first and next fit with LIFO lists
# at 36% and 38%, and the binary buddy system at 53%.
# Program by program, best fit ranged from 0.16% (Hyper) to 9.98% (Perl).
#
# **Method.** Theirs, as far as `memalloc_py` can follow it:
#
# - every request size multiplied by 16 (`size_scale=16`), which makes alignment
#   and headers small beside the objects (the paper then divided heap sizes by 16,
#   which leaves the percentages unchanged);
# - the free-list heap grown at its top in steps of 4 KiB (`growth=4096`), and again
#   in steps of 8 KiB (the paper's "8K" rows), never given back;
# - the twelve free-list policies (best, first, next and worst fit, each with an
#   address-ordered, LIFO or FIFO free list; the paper did not run worst fit) and
#   the binary buddy system;
# - measures #3 and #4 as the replay engine computes them, exactly, from the heap
#   size H(t) and the live bytes L(t) after every event.
#
# The programs are the two real Android traces bundled with the package
# (`surfaceflinger`, the display compositor, and `systemui`), and three programs
# recorded on the spot with `memalloc record`: a perl script, a python script and
# gcc compiling one of the package's C files. The bundled traces are the same on
# every machine, so the averages and the findings are checked on them; the
# recorded programs depend on the versions of perl, python and gcc installed, so
# they stand beside the bundled traces in every table, with checks of their own
# that allow for that.
#
# **What is counted.** The paper counted no header overhead ("actual
# fragmentation"). Our free-list blocks carry a header, so we report both measures
# twice: with the headers of the live blocks counted, as the heap holds them, and
# with them subtracted, which counts what the paper counts (see below for how the
# subtraction is made exact). The buddy system's blocks have no header; its two
# versions are the same.
#
# Nothing here is random: the traces are recorded, with perl's and python's hash
# seeds fixed, and every replay is deterministic. `SMOKE=1` in the environment
# replays only the first events of each trace (CI); `FIGURES=1` writes the headline
# figure to `docs/img/04_real_traces.png`.

# %%
import os
import shutil
import shutil
import sys
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import memalloc_py as ma
from memalloc_py import recording
from memalloc_py.trace import FREE

SMOKE = os.environ.get("SMOKE") == "1"     # a short run on the first events of each trace (CI)
FIGURES = os.environ.get("FIGURES") == "1"  # write the headline figure to docs/img/

TRACES = ("surfaceflinger", "systemui")   # bundled: the averages and findings are theirs
RECORDED = ("perl", "python", "gcc")      # recorded below, on this machine
ALL_TRACES = TRACES + RECORDED
# SMOKE replays the first events only. surfaceflinger's heap peaks within its first
# 40,000 events (at scale 16, and at every scale of the sweep below), so its slice
# gives the whole trace's peaks; systemui's peaks late, so its slice shows a smaller
# heap than the whole trace. The recorded programs are recorded whole either way.
SMOKE_EVENTS = {"surfaceflinger": 100_000, "systemui": 150_000,
                "perl": 15_000, "python": 15_000, "gcc": 15_000}
SCALE = 16                 # request sizes times 16, as in the paper
GROWTHS = (4096, 8192)     # the free-list heap's growth step: the paper's 4K and 8K rows
ARENA = 1 << 32            # address space each allocator reserves (4 GiB; only what is used is touched)
SAMPLE_EVERY = 256         # statistics sampled every 256 events, to locate the peak (below)
SWEEP_SCALES = range(8, 25)

FREE_LIST = [n for n in ma.ALLOCATORS if n.count("-") == 1]   # the twelve policies
ALLOCATORS = FREE_LIST + ["buddy"]
GOOD = ["best-ao", "best-lifo", "best-fifo", "first-ao"]       # the paper's good policies
POOR = ["first-lifo", "next-ao", "next-lifo", "next-fifo"]     # the paper's poor ones
ROWS = GOOD + ["first-lifo", "first-fifo", "next-ao", "next-lifo", "next-fifo", "buddy",
               "worst-ao", "worst-lifo", "worst-fifo"]         # the paper's order, then worst fit

# The free-list header, measured rather than assumed: what an allocated block costs
# beyond its usable bytes (8, as in glibc: the size word before the payload).
with ma.create("best-ao") as probe:
    p = probe.malloc(64)
    HEADER = int(probe.blocks().array["size"][0] - probe.usable_size(p))

started = time.perf_counter()
print(f"SMOKE={SMOKE}, FIGURES={FIGURES}; free-list header: {HEADER} bytes")

# %% [markdown]
# The published figures, from `docs/references.md` (percent; measure #3 is the paper's
# Table 3, measure #4 its Table 4). The paper's policies without a counterpart here
# (Lea's allocator, double buddy, simple segregated storage) are left out.

# %%
PAPER = pd.DataFrame(
    [("best-ao", 3.73, 2.28, 0.98, 0.83), ("best-lifo", 3.76, 2.30, None, None),
     ("best-fifo", 3.93, 2.23, None, None), ("first-ao", 6.63, 2.30, 0.91, 0.78),
     ("first-lifo", 50.7, 36.3, None, None), ("first-fifo", 4.97, 3.14, None, None),
     ("next-ao", 13.7, 8.04, None, None), ("next-lifo", 52.9, 38.4, None, None),
     ("next-fifo", 20.9, 18.4, None, None), ("buddy", 59.8, 53.4, None, None)],
    columns=["allocator", "jw3", "jw4", "jw3_8k", "jw4_8k"]).set_index("allocator")
# Measure #4 program by program, for best fit (address-ordered) and binary buddy.
PAPER_PROGRAMS = pd.DataFrame(
    {"best-ao": [0.26, 0.33, 3.40, 2.03, 0.16, 9.98, 1.78, 0.26],
     "buddy": [45.8, 34.1, 38.4, 36.9, 99.9, 39.0, 55.0, 77.7]},
    index=["Espresso", "GCC", "Ghostscript", "Grobner", "Hyper", "Perl", "P2C", "LRUsim"])
PAPER

# %% [markdown]
# ## The traces
#
# The two Android traces come with the package. The other three are recorded here,
# each in about a second, by `memalloc_py.recording.record` (what `memalloc record
# -o DIR -- COMMAND` runs): the recorder library, preloaded into the program, logs
# every call of the malloc family, and `ma.read_trace` turns the log into a trace.
#
# - **perl** runs a script that builds words, counts them in a hash, and keeps a
#   list of lines that it sorts and cuts back every 3,000 lines;
# - **python** (this notebook's interpreter) serialises 15,000 random records to
#   JSON, keeping the 4,000 longest texts at most and an index of them by length.
#   Python serves objects of up to 512 bytes from its own pools, which it maps
#   directly from the system, so malloc sees only the larger objects: mostly the
#   JSON texts and the lists being built, grown by `realloc`;
# - **gcc** compiles `csrc/core.c` with `-O2`. `gcc` is a driver that starts the
#   compiler proper, `cc1`, and then the assembler; each process gets its own log,
#   and we replay `cc1`'s (`recording.processes` lists them).
#
# Perl's and python's hash seeds are fixed, so that in the same environment they
# make the same calls on every run; gcc's calls vary by a few events from run to
# run. Every program's calls change a little with its environment (the size of the
# environment variables, the paths) and more with its version.

# %%
def repository_root(start: Path) -> Path:
    for folder in (start, *start.parents):
        if (folder / "notebooks" / "04_real_traces.py").is_file() and (folder / "pyproject.toml").is_file():
            return folder
    raise FileNotFoundError(f"no memalloc_py repository above {start}")


ROOT = repository_root(Path.cwd().resolve())
RECORD_DIR = Path(tempfile.mkdtemp(prefix="memalloc_04_"))
PERL_SCRIPT = r"""
my (%count, @lines);
for my $i (1 .. 60000) {
    my $word = join "", map { chr(97 + ($i * $_ * 7919 + $_ * $_) % 26) } 1 .. (2 + $i % 7);
    $count{$word}++;
    push @lines, "$i:$word " x (1 + $i % 9);
    if (@lines > 3000) { @lines = sort @lines; splice @lines, 0, 2000 }
}
my @top = (sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count)[0 .. 2];
print scalar(keys %count), " words; the most frequent: @top\n";
"""
PYTHON_SCRIPT = """
import json, random
random.seed(1)
kept, index = [], {}
for i in range(15_000):
    record = {"id": i, "name": "x" * random.randint(1, 600),
              "values": [random.random() for _ in range(random.randint(0, 80))]}
    text = json.dumps(record)
    kept.append(text)
    index.setdefault(len(text) // 100, []).append(i)
    if len(kept) > 4_000:
        kept = sorted(kept, key=len)[2_000:]
print(len(kept), "texts kept,", len(index), "lengths indexed")
"""
COMMANDS = {
    "perl": ["perl", "-e", PERL_SCRIPT],
    "python": [sys.executable, "-c", PYTHON_SCRIPT],
    "gcc": ["gcc", "-O2", "-c", str(ROOT / "csrc" / "core.c"), "-o", str(RECORD_DIR / "core.o")],
}
env = dict(os.environ, PERL_HASH_SEED="0", PERL_PERTURB_KEYS="0", PYTHONHASHSEED="0")
recorded = {}
recording_rows = []
for name, command in COMMANDS.items():
    folder = RECORD_DIR / name
    clock = time.perf_counter()
    status = recording.record(command, folder, env=env)
    seconds = time.perf_counter() - clock
    assert status == 0, f"{name} exited with status {status}"
    processes = recording.processes(folder)
    chosen = next(p for p in processes if p.program == "cc1") if name == "gcc" else None
    trace = ma.read_trace(folder, pid=chosen.pid) if chosen else ma.read_trace(folder)
    recorded[name] = ma.Trace(trace.op, trace.id, trace.size, trace.arg, n_ids=trace.n_ids,
                              meta={**trace.meta, "name": name})
    recording_rows.append({"trace": name, "processes": ", ".join(p.program for p in processes),
                           "replayed": (chosen or next(p for p in processes if p.main)).program,
                           "recorded in (s)": round(seconds, 2),
                           "dropped": trace.meta.get("dropped", {})})
shutil.rmtree(RECORD_DIR)   # the traces are in memory; the logs take tens of megabytes
pd.DataFrame(recording_rows).set_index("trace")


# %%
def prefix(trace: ma.Trace, events: int) -> ma.Trace:
    """The first ``events`` events of ``trace``.  A prefix keeps its ids (every
    allocation it frees, it made), so unlike ``trace[:events]`` nothing needs
    renumbering."""
    return ma.Trace(trace.op[:events], trace.id[:events], trace.size[:events],
                    trace.arg[:events], n_ids=trace.n_ids,
                    meta={**trace.meta, "name": f"{trace.meta['name']}[:{events}]"})


whole = {**{name: ma.importers.bundled_trace(name) for name in TRACES}, **recorded}
traces = {name: prefix(trace, SMOKE_EVENTS[name]) if SMOKE else trace for name, trace in whole.items()}
pd.DataFrame([{"trace": t.meta["name"], "source": "recorded here" if name in RECORDED else "bundled",
               "events": len(t), "max live (program bytes)": t.summary()["max_live_bytes"],
               "max live blocks": t.summary()["max_live_blocks"],
               "mean request (bytes)": round(float(t.request_sizes()[t.op != FREE].mean()), 1)}
              for name, t in traces.items()]).set_index("trace")


# %% [markdown]
# ## Subtracting the headers exactly
#
# At every moment the heap of size H(t) splits exactly into four parts: the live
# bytes L(t), the headers of the B(t) live blocks (`HEADER` bytes each), the rest
# of the live blocks (rounding: to 16 bytes and the minimum block in the free
# list, which the factor 16 makes almost nothing; to a power of two in the buddy
# system), and the free blocks inside the heap. `stats()` gives all four
# (`requested_bytes`, `live_blocks`, `allocated_bytes`, `free_bytes`).
#
# The heap is a high-water mark. It reaches its maximum at one event, t*, holding
# the B(t*) blocks live then; their headers are the part of the maximum that the
# paper would not have counted. So, with headers subtracted,
#
# - #3' = (max H - HEADER·B(t*)) / L(t*) - 1,
# - #4' = (max H - HEADER·B(t*)) / max L - 1.
#
# Subtracting the headers of the blocks live at some other moment (at the peak of
# the live bytes, say) would take away bytes that were not in the heap when it
# peaked.
#
# The engine reports max H and L(t*) exactly, but not t*. To find it, the replay
# also samples the statistics every 256 events; the first sample whose
# `peak_heap_size` equals max H brackets t* within 256 events. Inside that window
# t* is an allocation after which the live bytes equal L(t*); the live bytes after
# every event follow from the trace alone (`Trace.live_deltas`). For each such
# candidate (there is one in every run below) we replay the events up to it into an
# allocator instance we keep, check that the heap was below max H one event earlier
# and equals it now, and read `stats()` there. If no candidate passes, a bisection
# over the window, replaying prefixes, finds t* instead.

# %%
def options_for(name: str, growth: int) -> dict:
    return {"arena_size": ARENA} if name == "buddy" else {"arena_size": ARENA, "growth": growth}


def state_after(trace: ma.Trace, name: str, options: dict, event: int, scale: int):
    """Replay events 0..event into a new instance; return the instance's stats()
    after ``event`` and its peak heap size after ``event - 1``."""
    with ma.create(name, **options) as heap:
        res = ma.replay(prefix(trace, event + 1), heap, size_scale=scale,
                        sample_every=max(event, 1))
        before = int(res.samples["peak_heap_size"][0]) if event else 0
        return heap.stats(), before


def measure(trace: ma.Trace, live: np.ndarray, name: str, growth: int, scale: int = SCALE) -> dict:
    """Measures #3 and #4 with and without headers, and the heap's parts at its peak."""
    options = options_for(name, growth)
    res = ma.replay(trace, name, size_scale=scale, sample_every=SAMPLE_EVERY, **options)
    raw, samples = res.raw, res.samples
    max_heap, max_live = raw["max_heap"], raw["max_live"]
    k = int(np.argmax(samples["peak_heap_size"] == max_heap))
    lo, hi = (int(samples["event"][k - 1]) + 1 if k else 0), int(samples["event"][k])
    window = np.arange(lo, hi + 1)
    candidates = window[(live[window] * scale == raw["live_at_max_heap"]) & (trace.op[window] != FREE)]
    peak = None
    for t in candidates.tolist():
        stats, before = state_after(trace, name, options, t, scale)
        if stats.heap_size == max_heap and before < max_heap:
            peak = t
            break
    if peak is None:                                   # bisection over the window
        while lo < hi:
            mid = (lo + hi) // 2
            grown = ma.replay(prefix(trace, mid + 1), name, size_scale=scale, sample_every=0,
                              **options).raw["max_heap"]
            lo, hi = (lo, mid) if grown == max_heap else (mid + 1, hi)
        peak = lo
        stats, before = state_after(trace, name, options, peak, scale)
    assert stats.heap_size == max_heap and before < max_heap
    assert stats.requested_bytes == raw["live_at_max_heap"]
    headers = 0 if name == "buddy" else HEADER * stats.live_blocks
    rounding = stats.allocated_bytes - stats.requested_bytes - headers
    assert stats.requested_bytes + headers + rounding + stats.free_bytes == max_heap
    summary = res.summary
    row = {"trace": trace.meta["name"].split("[")[0], "growth": growth, "allocator": name,
           "peak_heap": max_heap, "peak_live": max_live, "peak_event": peak,
           "live_at_peak": stats.requested_bytes, "blocks_at_peak": stats.live_blocks,
           "headers": headers, "rounding": rounding, "free": stats.free_bytes,
           "jw3": max_heap / stats.requested_bytes - 1, "jw4": max_heap / max_live - 1,
           "jw3_nohdr": (max_heap - headers) / stats.requested_bytes - 1,
           "jw4_nohdr": (max_heap - headers) / max_live - 1, "failures": int(summary["failures"])}
    assert np.isclose(row["jw3"], summary["jw3"]) and np.isclose(row["jw4"], summary["jw4"])
    return row


# %% [markdown]
# ## The experiment
#
# Every trace through every allocator, with 4 KiB and 8 KiB growth steps (the buddy
# system has no growth step: it runs once per trace and stands in both tables).

# %%
rows = []
for name, trace in traces.items():
    live = np.cumsum(trace.live_deltas()[0])       # L(t) in program bytes, every event
    for growth in GROWTHS:
        for allocator in ALLOCATORS:
            if allocator == "buddy" and growth != GROWTHS[0]:
                rows.append({**next(r for r in rows if r["trace"] == name and r["allocator"] == "buddy"),
                             "growth": growth})
                continue
            rows.append(measure(trace, live, allocator, growth))
results = pd.DataFrame(rows)
print(f"{len(results)} measurements in {time.perf_counter() - started:.0f} s since the start")


# %% [markdown]
# ## The result: Tables 3 and 4 again
#
# Percent overhead, 4 KiB growth steps. For each trace: with the live blocks'
# headers counted ("hdr") and subtracted ("no hdr"); then the average of the two
# Android traces with headers subtracted, as the paper averaged its programs,
# beside the paper's average. (The recorded programs stay out of the average: their
# numbers depend on the versions installed, the Android traces' do not.)

# %%
def percent_table(measure: str, growth: int) -> pd.DataFrame:
    sub = results[results["growth"] == growth].set_index(["allocator", "trace"])
    table = pd.DataFrame(index=ROWS)
    for name in ALL_TRACES:
        table[(name, "hdr")] = [100 * sub.loc[(a, name), measure] for a in ROWS]
        table[(name, "no hdr")] = [100 * sub.loc[(a, name), measure + "_nohdr"] for a in ROWS]
    table[("Android average", "no hdr")] = table[[(n, "no hdr") for n in TRACES]].mean(axis=1)
    paper_col = measure if growth == 4096 else measure + "_8k"
    table[("J&W 1998", "8 programs")] = PAPER[paper_col].reindex(ROWS)
    table.columns = pd.MultiIndex.from_tuples(table.columns)
    table.index.name = "allocator"
    return table.round(2)


table3 = percent_table("jw3", 4096)
table4 = percent_table("jw4", 4096)
print("Measure #3 (heap at its peak / live bytes then - 1), %, 4 KiB steps")
display(table3)
print("Measure #4 (peak heap / peak live bytes - 1), %, 4 KiB steps")
display(table4)

# %% [markdown]
# With 8 KiB steps (the paper ran only best fit and first fit, address-ordered, this
# way):

# %%
table3_8k = percent_table("jw3", 8192)
table4_8k = percent_table("jw4", 8192)
print("Measure #3, %, 8 KiB steps")
display(table3_8k)
print("Measure #4, %, 8 KiB steps")
display(table4_8k)

# %% [markdown]
# What the heap held at its peak (4 KiB steps), as a percentage of the live bytes at
# that moment: the headers of the live blocks, the rest of the live blocks
# (rounding), and the free blocks inside the heap. The three add up to measure #3
# with headers; without the first, to #3 without headers.

# %%
parts = results[results["growth"] == 4096].set_index(["allocator", "trace"])
breakdown = pd.DataFrame(index=ROWS)
for name in ALL_TRACES:
    for part in ("headers", "rounding", "free"):
        breakdown[(name, part)] = [100 * parts.loc[(a, name), part] / parts.loc[(a, name), "live_at_peak"]
                                   for a in ROWS]
breakdown.columns = pd.MultiIndex.from_tuples(breakdown.columns)
breakdown.index.name = "allocator"
breakdown.round(2)

# %% [markdown]
# Program by program, measure #4 for best fit (address-ordered) and the buddy system:
# the paper's eight programs (no headers counted) and our five (headers subtracted,
# 4 KiB steps). Two of the paper's programs were Perl and GCC too, in their 1990s
# versions, running other inputs.

# %%
ours = (results[(results["growth"] == 4096)].pivot(index="trace", columns="allocator", values="jw4_nohdr")
        .reindex(list(ALL_TRACES)))
programs_table = pd.concat([PAPER_PROGRAMS.assign(source="J&W 1998"),
                            (100 * ours[["best-ao", "buddy"]]).assign(source="memalloc_py")])
programs_table.index.name = "program"
programs_table.round(2)

# %% [markdown]
# The same measure #4 as a picture: our five programs, the two Android traces'
# average and the paper's average, one bar per allocator, on a logarithmic axis (the
# values span three orders of magnitude).

# %%
OUR_AVERAGE = "average of the\n2 Android traces"
PAPER_AVERAGE = "J&W 1998, average\nof 8 programs"
LABELS = {**{name: f"{name}\n(Android)" for name in TRACES},
          **{name: f"{name}\n(recorded here)" for name in RECORDED}}


def headline_frame(growth: int) -> pd.DataFrame:
    ours = results[results["growth"] == growth][["trace", "allocator", "jw4_nohdr"]]
    mean = (ours[ours["trace"].isin(TRACES)].groupby("allocator", as_index=False)["jw4_nohdr"].mean()
            .assign(trace=OUR_AVERAGE))
    ours = ours.assign(trace=ours["trace"].map(LABELS))
    paper = pd.DataFrame({"trace": PAPER_AVERAGE, "allocator": PAPER.index,
                          "jw4_nohdr": PAPER["jw4"].to_numpy() / 100})
    return pd.concat([ours, mean, paper], ignore_index=True)


GROUPS = [*(LABELS[name] for name in ALL_TRACES), OUR_AVERAGE, PAPER_AVERAGE]
fig, ax = plt.subplots(figsize=(17, 5.8), layout="constrained")
ma.plot.compare(headline_frame(4096), "jw4_nohdr", ax=ax, order=ROWS, groups=GROUPS, percent=True,
                title="Measure #4 (peak heap / peak live bytes - 1), headers not counted: "
                      "two Android traces and three programs recorded here, at size scale 16 "
                      "and 4 KiB growth steps, beside Johnstone and Wilson's average")
ax.set_yscale("log")
ax.set_ylim(0.1, 1000)
ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}%"))
ax.set_ylabel("measure #4, headers not counted (%, log scale)")
ax.set_xlabel("")
bar = 0.8 / len(ROWS)
ax.text(GROUPS.index(PAPER_AVERAGE) - 0.4 + bar * (ROWS.index("worst-lifo") + 0.5), 0.15,
        "worst fit:\nnot run", ha="center", va="bottom", fontsize=8, color="#555555")
if FIGURES:
    figure_dir = Path(os.environ.get("FIGURE_DIR") or ROOT / "docs" / "img")
    figure_dir.mkdir(parents=True, exist_ok=True)
    fig.savefig(figure_dir / "04_real_traces.png", dpi=110)
    print(f"wrote {figure_dir / '04_real_traces.png'}")
plt.show()

# %% [markdown]
# ## The findings, checked
#
# The paper's conclusions, each turned into a check on our numbers (measure #4,
# headers subtracted). "Clearly worse" means at least twice the overhead and at
# least 2 percentage points more, so that 0.2% against 0.1% does not count. On each
# Android trace at both growth steps, unless an average is named (the recorded
# programs have checks of their own, below).

# %%
def clearly_worse(x: float, y: float) -> bool:
    return x >= 2 * y and x - y >= 0.02


android = results[results["trace"].isin(TRACES)]
jw4 = android.pivot_table(index=["trace", "growth"], columns="allocator", values="jw4_nohdr")
average = jw4.groupby(level="growth").mean()            # the two traces' average, per growth step
checks = []

# 1. Best fit and address-ordered first fit waste least, and almost nothing: on the
#    two traces' average the lowest allocator is one of them, and on each trace the
#    best of them wastes under 2%.
for growth, row in average.iterrows():
    lowest = row.idxmin()
    checks.append(("lowest on average is a good policy", ("average", growth), lowest, row[lowest],
                   lowest in GOOD))
for key, row in jw4.iterrows():
    best = row[GOOD].idxmin()
    checks.append(("the best good policy wastes under 2%", key, best, row[best], row[best] < 0.02))

# 2. LIFO first fit and next fit are clearly worse: on the two traces' average, every
#    poor policy is clearly worse than the good policies' median, and the LIFO ones
#    than every good policy.
for growth, row in average.iterrows():
    median_good = row[GOOD].median()
    for bad in POOR:
        checks.append((f"{bad} clearly worse than the good median", ("average", growth), bad,
                       row[bad], clearly_worse(row[bad], median_good)))
    for bad in ("first-lifo", "next-lifo"):
        checks.append((f"{bad} clearly worse than every good policy", ("average", growth), bad,
                       row[bad], all(clearly_worse(row[bad], row[g]) for g in GOOD)))

# 3. The binary buddy system wastes tens of percent: between 20% and 100% on each
#    trace, and at least 20 points more than every good policy.
for key, row in jw4.iterrows():
    checks.append(("buddy: tens of percent above the good policies", key, "buddy", row["buddy"],
                   0.20 <= row["buddy"] <= 1.0 and all(row["buddy"] - row[g] >= 0.20 for g in GOOD)))

check_table = pd.DataFrame(checks, columns=["finding", "where", "allocator", "#4 no hdr", "holds"])
check_table["#4 no hdr"] = (100 * check_table["#4 no hdr"]).round(2)
display(check_table)
assert check_table["holds"].all(), check_table[~check_table["holds"]]

# %% [markdown]
# Two of the paper's findings do not carry over, and the checks below pin down how:
#
# - **Buddy is not the worst.** In the paper the binary buddy system (53%) wasted more
#   than every policy it is set against here. On surfaceflinger, LIFO next fit wastes
#   more than the buddy system, and so does the two traces' average.
# - **Next fit is not always clearly worse than best fit.** With 4 KiB steps,
#   address-ordered next fit is not clearly worse than address-ordered best fit on
#   the two traces' average, because best-ao loses about 12% on surfaceflinger. The
#   next section shows that this 12% is a coin flip of the size scale.

# %%
for growth in GROWTHS:
    assert jw4.loc[("surfaceflinger", growth), "next-lifo"] > jw4.loc[("surfaceflinger", growth), "buddy"]
    assert average.loc[growth, "next-lifo"] > average.loc[growth, "buddy"]
assert not clearly_worse(average.loc[4096, "next-ao"], average.loc[4096, "best-ao"])
assert clearly_worse(average.loc[8192, "next-ao"], average.loc[8192, "best-ao"])
print("buddy below LIFO next fit on surfaceflinger and on average; "
      "next-ao vs best-ao, average, 4 KiB: "
      f"{100 * average.loc[4096, 'next-ao']:.2f}% vs {100 * average.loc[4096, 'best-ao']:.2f}%")

# %% [markdown]
# ## The programs recorded here
#
# The three programs recorded on the spot tell the same broad story as the Android
# traces, and one thing more. On the machine that drew the figure in `docs/img/`
# (perl 5.36, CPython 3.11, gcc 12), with 4 KiB steps and headers subtracted:
#
# - **The good policies waste least on every program**: under 1% on perl (about
#   0.45%, the four good policies alike) and on gcc for best fit (0.5% to 0.8%; 4.8%
#   for address-ordered first fit), 2.5% to 4.0% on python, whose malloc sees only
#   the objects above Python's 512-byte pools, from a heap where a few large lists
#   and texts come and go.
# - **LIFO first and next fit and worst fit waste about 5 to 250 times more**: 20%, 20%
#   and 37% on perl, 14%, 13% and 26% on python, 84%, about 125% and 92-107% on gcc.
#   Johnstone and Wilson's poor policies are poor on these programs too.
# - **Where the buddy system stands depends on the sizes.** It wastes 24% on perl
#   and 32% on python, against 34% and 39% on the paper's GCC and Perl, but only
#   7.5% on gcc: most of cc1's live bytes at buddy's peak are requests of exactly a
#   power of two (many of 64 KiB; the cell below counts them), which the buddy
#   system does not round at all. On gcc the buddy system beats every policy but the
#   four good ones. Rounding is most of what buddy wastes on every recorded program
#   (the breakdown above).
# - **FIFO first fit and next fit in every order** are close to the good policies
#   on perl (3% to 4%), a few times worse on python (5% to 10%) and far worse on
#   gcc (18% to 42%), as on surfaceflinger: how much a policy between the two groups
#   wastes depends on the program.
#
# Best fit's figures agree with the paper's GCC (0.33%) and not with its Perl
# (9.98%), which ran another script under a perl of the 1990s. These numbers move
# when perl, python or gcc change, so the checks below ask for what should survive
# that, with margins: the best good policy under 5% on each program; the LIFO and
# worst-fit policies at least 3 times worse than it and 5 points more (python's
# margin is the narrowest, about 5 times); rounding more than half of buddy's
# overhead at its peak; more than half of gcc's live bytes there in requests of a
# power of two; and no request refused by any allocator. In a smoke run (the first
# 15,000 events of each program) the start of a program is too short to tell the
# policies apart, so only the best good policy, buddy's rounding and the refusals
# are checked.

# %%
mine = results[results["trace"].isin(RECORDED)]
rec4 = mine.pivot_table(index=["trace", "growth"], columns="allocator", values="jw4_nohdr")
rec_checks = []
for key, row in rec4.iterrows():
    best = row[GOOD].idxmin()
    rec_checks.append(("the best good policy wastes under 5%", key, best, row[best], row[best] < 0.05, True))
    for bad in ("first-lifo", "next-lifo", "worst-ao", "worst-lifo", "worst-fifo"):
        rec_checks.append((f"{bad}: 3 times the best good policy and 5 points more", key, bad, row[bad],
                           row[bad] >= 3 * row[best] and row[bad] - row[best] >= 0.05, not SMOKE))
for name in RECORDED:
    buddy = parts.loc[("buddy", name)]
    share = buddy["rounding"] / (buddy["rounding"] + buddy["free"])
    rec_checks.append(("buddy: rounding is most of #3", (name, 4096), "buddy", share, share > 0.5, True))
for name in RECORDED:   # the live bytes at buddy's peak that are requests of a power of two
    with ma.create("buddy", arena_size=ARENA) as heap:
        event = int(parts.loc[("buddy", name), "peak_event"])
        ma.replay(prefix(traces[name], event + 1), heap, size_scale=SCALE, sample_every=0)
        live = heap.blocks().array
        live = live[live["address"] >= 0]["requested"].astype(np.int64)
    share = live[(live & (live - 1)) == 0].sum() / live.sum()
    rec_checks.append(("requests of a power of two: share of the live bytes at buddy's peak", (name, 4096),
                       "buddy", share, share > 0.5 if name == "gcc" else True, name == "gcc" and not SMOKE))
rec_table = pd.DataFrame(rec_checks, columns=["finding", "where", "allocator", "value (%)", "holds", "checked"])
rec_table["value (%)"] = (100 * rec_table["value (%)"]).round(2)
display(rec_table)
print("requests an allocator could not serve:", int(mine["failures"].sum()))
assert (mine["failures"] == 0).all(), mine[mine["failures"] > 0]
checked = rec_table[rec_table["checked"]]
assert checked["holds"].all(), checked[~checked["holds"]]

# %% [markdown]
# ## How fragile is one trace's ranking?
#
# On surfaceflinger the four good policies sit within a few percent of each other,
# in an order that looks meaningful. Replay the same trace with the request sizes
# multiplied by 8, 9, ..., 24 instead of 16 (4 KiB steps, headers counted: this is
# about the heap the allocator actually reaches) and compare their peak heaps.
#
# `ma.sweep` runs these 68 replays as one grid (allocators × size scales) and
# returns a row per replay with every summary measure. It runs them here one after
# the other (`executor="serial"`: at smoke size a process pool's start-up costs more
# than it saves), where `executor=None` would spread them over every core and
# `executor=` a Dask client over a cluster, for grids far larger than this one
# (`docs/sweep.md`).

# %%
SWEEP = GOOD
SWEEP_EXECUTOR = "serial"
sweep_trace = traces["surfaceflinger"]
scale_runs = ma.sweep({"surfaceflinger": sweep_trace}, SWEEP, executor=SWEEP_EXECUTOR, progress=False,
                      grid={"arena_size": ARENA, "growth": 4096, "size_scale": list(SWEEP_SCALES)})
assert (scale_runs["error"] == "").all(), scale_runs[scale_runs["error"] != ""]
sweep = (scale_runs.rename(columns={"size_scale": "scale"})[["scale", "allocator", "peak_heap", "jw4"]]
         .astype({"scale": "int64", "peak_heap": "int64"})
         .sort_values("scale", kind="stable", ignore_index=True))   # scale by scale, SWEEP's order within


def ranking(group: pd.DataFrame) -> str:
    """The allocators from the smallest peak heap up; equal heaps joined by '='."""
    group = group.sort_values(["peak_heap", "allocator"])
    text = group["allocator"].iloc[0]
    for prev, (_, row) in zip(group["peak_heap"], group.iloc[1:].iterrows()):
        text += (" = " if row["peak_heap"] == prev else " < ") + row["allocator"]
    return text


orders = sweep.groupby("scale")[["allocator", "peak_heap"]].apply(ranking)
sweep_table = sweep.pivot(index="scale", columns="allocator", values="jw4")[SWEEP].mul(100).round(2)
sweep_table["order of peak heap"] = orders
sweep_table

# %%
fig, ax = plt.subplots(figsize=(11, 4.8), layout="constrained")
# One colour and marker each (three of the four are best fit, which ma.plot's
# family colours would draw alike), side by side at each scale so equal values stay visible.
looks = {"best-ao": ("#0072B2", "o"), "best-lifo": ("#D55E00", "s"),
         "best-fifo": ("#CC79A7", "D"), "first-ao": ("#009E73", "^")}
for i, name in enumerate(SWEEP):
    part = sweep[sweep["allocator"] == name]
    colour, marker = looks[name]
    ax.plot(part["scale"] + 0.16 * (i - 1.5), 100 * part["jw4"], linestyle="none", marker=marker,
            color=colour, markersize=7, label=name)
ax.axvspan(SCALE - 0.5, SCALE + 0.5, color="#eeeeee", zorder=0)
ax.text(SCALE, 14.6, "the paper's scale", ha="center", va="bottom", fontsize=9, color="#555555")
ax.set_xticks(list(SWEEP_SCALES))
ax.set_xlim(min(SWEEP_SCALES) - 0.6, max(SWEEP_SCALES) + 0.6)
ax.set_ylim(0, 16)
ax.set_xlabel("size scale (every request size multiplied by)")
ax.set_ylabel("measure #4, headers counted (%)")
ax.set_title("surfaceflinger: the good policies' overhead at each size scale (4 KiB steps)",
             loc="left", fontsize=11)
ax.grid(axis="y", color="#e5e5e5", linewidth=0.8)
for side in ("top", "right"):
    ax.spines[side].set_visible(False)
ax.legend(title="allocator", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
plt.show()

# %%
distinct_orders = orders.nunique()
lowest = sweep.loc[sweep.groupby("scale")["peak_heap"].idxmin(), "allocator"]
print(f"{distinct_orders} different orders over {len(orders)} scales; "
      f"lowest at some scale: {sorted(set(lowest))}")
assert distinct_orders > 1, "the order of the four policies is the same at every scale"
assert set(lowest) >= {"best-ao", "first-ao"}, "one policy is lowest at every scale"
# Bimodal: every value is either below 4% or between 11% and 14%.
assert (sweep["jw4"].lt(0.04) | sweep["jw4"].between(0.11, 0.14)).all()

# %% [markdown]
# ## Why: a few buffers of megabytes and a margin of kilobytes
#
# Look at the two heaps at the moment best-ao's heap reaches its peak (size scale 16,
# 4 KiB steps), against best-fifo's at the same event.

# %%
sf = results[(results["trace"] == "surfaceflinger") & (results["growth"] == 4096)].set_index("allocator")
t_peak = int(sf.loc["best-ao", "peak_event"])
requests = sweep_trace.request_sizes() * SCALE
pair = (t_peak - 1, t_peak)
print("events", pair, "allocate", [f"{requests[e] / 2**20:.2f} MiB" for e in pair])
assert all(requests[e] >= 2**20 and sweep_trace.op[e] != FREE for e in pair)


def heap_at(name: str, events: int) -> ma.Allocator:
    """An instance holding what the first ``events`` events left live (the caller closes it)."""
    heap = ma.create(name, **options_for(name, 4096))
    ma.replay(prefix(sweep_trace, events), heap, size_scale=SCALE, sample_every=0)
    return heap


MAP_POLICIES = ("best-ao", "best-fifo")
before = {n: heap_at(n, pair[0]) for n in MAP_POLICIES}    # just before the two allocations
after = {n: heap_at(n, pair[1] + 1) for n in MAP_POLICIES}  # just after them

# What each of the two requests takes as a block, and every free block of 1 MiB or more
# just before them.
blocks_after = after["best-fifo"].blocks().array
need = {e: int(blocks_after["size"][blocks_after["requested"] == requests[e]][0]) for e in pair}
holes = []
for name, heap in before.items():
    b = heap.blocks().array
    for offset, size in b[(b["address"] < 0) & (b["size"] >= 2**20)][["offset", "size"]].tolist():
        holes.append({"allocator": name, "hole at (MiB)": round(offset / 2**20, 2), "hole (bytes)": size,
                      **{f"hole - block of {requests[e] / 2**20:.2f} MiB (bytes)": size - need[e] for e in pair}})
holes = pd.DataFrame(holes)
spare = {e: f"hole - block of {requests[e] / 2**20:.2f} MiB (bytes)" for e in pair}
fifo_holes, ao_holes = holes[holes["allocator"] == "best-fifo"], holes[holes["allocator"] == "best-ao"]
# best-fifo: a hole for each buffer, with less than 4 KiB to spare.
assert all(fifo_holes[spare[e]].between(0, 4095).any() for e in pair)
# best-ao: one hole holds the first buffer, and it is the only one that could hold the second.
assert (ao_holes[spare[pair[0]]] >= 0).sum() == 1 and (ao_holes[spare[pair[1]]] >= 0).sum() == 1
assert (ao_holes[spare[pair[0]]] >= 0).idxmax() == (ao_holes[spare[pair[1]]] >= 0).idxmax()
# So best-ao's heap grows at the second event and best-fifo's does not.
assert after["best-ao"].stats().heap_size > before["best-ao"].stats().heap_size
assert after["best-fifo"].stats().heap_size == before["best-fifo"].stats().heap_size
holes

# %%
from matplotlib.patches import Rectangle

ROW = 2**21   # 2 MiB per row of the maps


def outline(ax, offset: int, size: int, label: str, colour: str = "#D00000",
            style: str = "-") -> None:
    """Frame a block on a heap map (rows of ROW bytes) and label it."""
    pieces = []
    for r in range(offset // ROW, (offset + size - 1) // ROW + 1):
        lo, hi = max(offset, r * ROW) - r * ROW, min(offset + size, (r + 1) * ROW) - r * ROW
        ax.add_patch(Rectangle((lo, r - 0.45), hi - lo, 0.9, fill=False, edgecolor=colour,
                               linewidth=1.8, linestyle=style, zorder=5))
        pieces.append((hi - lo, lo, r))
    width, lo, r = max(pieces)
    ax.text(lo + width / 2, r, label, ha="center", va="center", fontsize=8, zorder=6,
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": colour})


def large_blocks(heap: ma.Allocator, least: int = 2**18) -> set:
    """(offset, size) of the allocated blocks of at least ``least`` bytes."""
    b = heap.blocks().array
    b = b[(b["address"] >= 0) & (b["size"] >= least)]
    return set(zip(b["offset"].tolist(), b["size"].tolist()))


limit = max(h.stats().heap_size for h in after.values())
fig, axes = plt.subplots(len(MAP_POLICIES), 1, figsize=(12, 10), layout="constrained")
for ax, name in zip(axes, MAP_POLICIES):
    h = after[name]
    grown = h.stats().heap_size - before[name].stats().heap_size
    ma.plot.heap_map(h, ax=ax, limit=limit, row_bytes=ROW, size_range=(32, 8 << 20),
                     title=f"{name} after event {pair[1]:,}: heap {h.stats().heap_size / 2**20:.2f} MiB"
                           + (f", grown by {grown / 2**20:.2f} MiB at this event" if grown else
                              ", not grown at this event"),
                     legend=(name == MAP_POLICIES[0]))
    b = h.blocks().array
    buffers = set()
    for e in pair:
        mine = b[(b["address"] >= 0) & (b["requested"] == requests[e])]
        assert len(mine) == 1
        buffers.add((int(mine["offset"][0]), int(mine["size"][0])))
        outline(ax, int(mine["offset"][0]), int(mine["size"][0]),
                f"event {e:,}: {requests[e] / 2**20:.2f} MiB")
    # The other large blocks (256 KiB and more) that lie where the other heap has none.
    others = [n for n in MAP_POLICIES if n != name]
    elsewhere = large_blocks(h) - buffers - set.union(*(large_blocks(after[n]) for n in others))
    for offset, size in sorted(elsewhere):
        outline(ax, offset, size, f"{size / 2**20:.2f} MiB", colour="#E69F00", style="--")
axes[-1].legend(handles=[Rectangle((0, 0), 1, 1, fill=False, edgecolor="#D00000", linewidth=1.8,
                                   label="the two buffers of\nevents %s and %s" % (f"{pair[0]:,}", f"{pair[1]:,}")),
                         Rectangle((0, 0), 1, 1, fill=False, edgecolor="#E69F00", linewidth=1.8,
                                   linestyle="--", label="blocks of 256 KiB or more\nwhere the other heap\nhas none")],
                loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
plt.show()
for heap in (*before.values(), *after.values()):
    heap.close()

# %% [markdown]
# The trace allocates the same two buffers again and again (3.34 MiB and 4.25 MiB at
# scale 16; 214 KB and 272 KB in the program), frees them, and allocates them
# again, while smaller blocks around them come and go. Best fit puts each buffer in
# the smallest hole that holds it. Just before the pair above, best-fifo's heap (the
# table) has a hole that holds the 4.25 MiB block to the byte, and another that holds
# the 3.34 MiB block with 2,720 bytes to spare: both fit and the heap does not grow.
# The two heaps differ in where two blocks of half a megabyte lie (dashed in the
# maps): best-fifo keeps both just after the first hole, at 20 MiB; best-ao has one
# at 12.5 MiB and the other at 26.7 MiB, inside the region that is best-fifo's second
# hole. So best-ao's first hole is about half a megabyte larger and its second half
# a megabyte too small. The 3.34 MiB buffer takes the only hole that holds it, the
# one the 4.25 MiB buffer needed, and the 4.25 MiB buffer goes on top of the heap:
# a heap 4.25 MiB larger, about 12% of the peak live bytes.
#
# Another size scale changes every block's size, and with it where the smaller
# blocks go and which holes are left: at scale 15 the buffers fit in all four good
# heaps (0.23% to 0.31%); at 17 best-ao loses 13% again, and best-lifo and best-fifo
# with it, while first-ao keeps to 1.7%; at 18 best-ao wastes 0.19% and best-lifo
# and best-fifo are the ones that lose 13%. Measure #4 of each good policy on surfaceflinger is bimodal (below 4% or
# between 11% and 14% at every scale), and which mode a policy lands in at one scale
# says little about the policy.
#
# Removing the header is such a perturbation too. Replay every request `HEADER` bytes
# smaller, so that each block is exactly 16 times the program's request, as an
# allocator without headers would have it (requests of 0 and 1 bytes keep the
# 32-byte minimum block): the heap is then header-free by construction, but the
# blocks land elsewhere. One sweep replays both Android traces, so changed, through
# the twelve free-list policies.

# %%
def without_headers(trace: ma.Trace) -> ma.Trace:
    """The trace at size scale 16 with every request HEADER bytes smaller, calloc as
    malloc: each block is then exactly 16 times the program's request."""
    from memalloc_py.trace import CALLOC, MALLOC
    request = trace.request_sizes()
    size = np.where(request >= 2, request * SCALE - HEADER, request)
    size[trace.op == FREE] = 0
    op = np.where(trace.op == CALLOC, MALLOC, trace.op).astype(np.uint8)
    arg = np.where(trace.op == CALLOC, 0, trace.arg).astype(np.uint64)
    return ma.Trace(op, trace.id, size, arg, n_ids=trace.n_ids, meta=trace.meta)


free_runs = ma.sweep({name: without_headers(traces[name]) for name in TRACES}, FREE_LIST,
                     grid={"arena_size": ARENA, "growth": 4096}, executor=SWEEP_EXECUTOR, progress=False)
assert (free_runs["error"] == "").all(), free_runs[free_runs["error"] != ""]
true_max_live = {name: SCALE * traces[name].summary()["max_live_bytes"] for name in TRACES}
free_runs["header-free replay"] = free_runs["peak_heap"].astype("int64") / free_runs["trace"].map(true_max_live) - 1
headerless = free_runs.pivot(index="allocator", columns="trace", values="header-free replay")
compare_headers = pd.concat({"headers subtracted": table4.xs("no hdr", axis=1, level=1)[list(TRACES)].loc[FREE_LIST],
                             "header-free replay": 100 * headerless.loc[FREE_LIST]}, axis=1).round(2)
compare_headers

# %%
gap = (compare_headers["header-free replay"] - compare_headers["headers subtracted"]).abs()
print(f"largest difference between the two: {gap.max().max():.1f} points "
      f"({gap.stack().idxmax()})")
assert gap.max().max() > 10, "the header-free replay changed no allocator's #4 by more than 10 points"

# %% [markdown]
# ## What it means
#
# **Where we agree with the paper.** On the two Android traces the good policies
# (best fit with any free-list order, address-ordered first fit) waste the least: on
# the traces' average the lowest allocator is one of them (best-fifo; at full size it
# is also the lowest on each trace), and the best of them stays under 2% on each
# trace, as the paper's stay near 2% on average. First fit and next fit with LIFO
# lists waste far more (25% to 165%), next fit in every order is clearly worse than
# the good policies' median, and the binary buddy system loses tens of percent (52%
# and 44%), much of it to rounding every request up to a power of two: in the
# breakdown at the peak, rounding is about half of buddy's overhead on
# surfaceflinger and nearly all of it on systemui.
#
# **Which numbers compare with the paper's.** The ones with headers subtracted
# ("no hdr"): like the paper's, they count the rounding and the free memory in the
# heap, not the headers. At scale 16 the headers matter little: subtracting them
# lowers the free-list policies' measure #4 by 0.06-0.07 points on surfaceflinger
# and 0.26-0.29 on systemui, whose objects are smaller, and by 0.02 to 0.34 on the
# recorded programs (printed below; checked: under one point everywhere). Both sets
# are exact for our heaps; neither is the heap that an allocator without headers
# would reach, which places its blocks differently: the header-free replay moves
# some allocators' measure #4 by tens of points.
#
# **Where we disagree.**
#
# - *Best fit, address-ordered, on surfaceflinger:* 11.8% with 4 KiB steps where
#   the paper's average is 2.28%. The sweep shows this is one side of a coin flip
#   (0.23% and 0.19% at scales 15 and 18). The same flip shows on systemui, where
#   best-ao loses 3.1% with 4 KiB steps and best-lifo 3.2% with 8 KiB steps, against
#   0.5-0.8% for the other good policies. The paper's own per-program spread for best fit (0.16% for
#   Hyper to 9.98% for Perl) is as wide as ours.
# - *FIFO first fit* (3.14% in the paper) loses 42% on surfaceflinger, far from the
#   good policies there, though close to them on systemui (1.3%).
# - *Next fit, address-ordered,* is not clearly worse than best-ao on the average
#   with 4 KiB steps (8.3% against 7.5%), only because of best-ao's flip; it is with
#   8 KiB steps.
# - *The buddy system is not the worst:* LIFO next fit loses more on surfaceflinger
#   (165%) and on the average, and worst fit, which the paper did not run, loses
#   more than anything else (83% to 387%).
# - *8 KiB steps* lower best-ao's average (its surfaceflinger outcome flips) but not
#   first-ao's; the paper found both lower. With two traces and bimodal outcomes, the
#   growth step decides which side of a margin a few buffers land on rather than
#   how good a policy is.
#
# **The programs recorded here** (perl, python, gcc) agree with the broad grouping:
# the good policies waste least on each (under 1% on perl and, for best fit, on gcc;
# 2.5% to 4% on python), LIFO first and next fit and worst fit about 5 to 250 times more.
# They add one disagreement: on gcc the buddy system wastes only 7.5%, since most of
# cc1's live bytes are requests of exactly a power of two; the paper's buddy lost
# 34% on its GCC. How much the buddy system wastes is a property of a program's
# sizes, not of the buddy system.
#
# Five programs are not eight, the two Android traces' average of two bimodal
# numbers is coarse, and the recorded programs change with the versions installed.
# What holds is the paper's broad grouping: the good policies near zero, LIFO first
# fit and next fit far worse, the buddy system tens of percent unless a program's
# sizes are powers of two. Rankings within the good group, or between best-ao and
# next-ao on one trace, do not hold: they change with the size scale.

# %%
header_share = (results["jw4"] - results["jw4_nohdr"])
shares = (100 * header_share[results["allocator"] != "buddy"]).groupby(results["trace"]).agg(["min", "max"])
print("headers' share of measure #4 (points), free-list policies:")
print(shares.reindex(list(ALL_TRACES)).round(3).to_string())
assert (header_share < 0.01).all() and (header_share[results["allocator"] != "buddy"] > 0).all()

# %%
print(f"ran in {time.perf_counter() - started:.0f} s (SMOKE={SMOKE})")
