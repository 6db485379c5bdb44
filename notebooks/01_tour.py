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
# # A tour: watching a buddy system and best fit lay out the same requests
#
# **Question.** Johnstone and Wilson (1998) measured that the binary buddy system
# wastes tens of percent of the heap on real programs while best fit wastes almost
# nothing (averaged over eight programs, peak heap over peak live bytes minus one:
# 53.4% for binary buddy, 2.28% for address-ordered best fit; `docs/references.md`).
# Where does the buddy system's waste sit in the heap, and what does best fit do
# differently?
#
# **Method.** We drive both allocators from Python, one call at a time, and look at
# their heaps with `ma.plot`: first a handful of requests by hand, then a short random
# run drawn as address against time, then a replay of a long run at C speed with the
# four Johnstone–Wilson measures, beside the published figures.
#
# `SMOKE=1` in the environment makes the last part small (CI); `FIGURES=1` writes
# the address-by-time figure to `docs/img/`.

# %%
import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

import memalloc_py as ma
from memalloc_py import plot as mp

SMOKE = os.environ.get("SMOKE", "0") == "1"     # a small, quick run (CI)
FIGURES = os.environ.get("FIGURES", "0") == "1"  # write the headline figure to docs/img/
FIGURE_DIR = Path(os.environ.get("FIGURE_DIR", "../docs/img"))
SEED = 1
started = time.perf_counter()

# %% [markdown]
# ## 1. A few requests by hand
#
# Both allocators get the same eight steps: five allocations of 100, 16, 300, 50 and
# 700 bytes (named `a` to `e`), then `c` is freed, 200 bytes (`f`) are allocated, and
# `a` is freed. The buddy system (a 4 KiB arena, 16-byte minimum block) rounds each
# request up to a power of two and places it at a multiple of that size; best fit
# with an address-ordered free list (`best-ao`) gives each request an 8-byte header (glibc's layout),
# rounds to 16 bytes, and takes the smallest free block that fits. The maps below
# show the first 4 KiB of each heap after every step, colour by block size class,
# free blocks grey and hatched.

# %%
STEPS = [("malloc", "a", 100), ("malloc", "b", 16), ("malloc", "c", 300), ("malloc", "d", 50),
         ("malloc", "e", 700), ("free", "c"), ("malloc", "f", 200), ("free", "a")]

buddy = ma.Buddy(arena_size=4096, min_block=16)
best = ma.FreeList(arena_size=4096, fit="best", order="address")
addresses = {buddy.name: {}, best.name: {}}  # name -> address, per allocator
history = {buddy.name: [], best.name: []}    # blocks after every step


def apply(alloc, step):
    kind, name, *size = step
    live = addresses[alloc.name]
    if kind == "malloc":
        live[name] = alloc.malloc(size[0])
    else:
        alloc.free(live.pop(name))
    alloc.check()  # every heap invariant still holds


fig, axes = plt.subplots(len(STEPS), 2, figsize=(14, 0.95 * len(STEPS) + 1), sharex=True,
                         layout="constrained")
for i, step in enumerate(STEPS):
    for j, alloc in enumerate((buddy, best)):
        apply(alloc, step)
        history[alloc.name].append(alloc.blocks())
        what = f"{step[0]} {step[1]}" + (f" ({step[2]} B)" if step[0] == "malloc" else "")
        mp.heap_map(alloc, ax=axes[i, j], limit=4096, row_bytes=4096, size_range=(16, 1024),
                    legend=(i == 0 and j == 1), title=f"{alloc.name}, step {i + 1}: {what}")
        if i < len(STEPS) - 1:
            axes[i, j].set_xlabel("")
legend = axes[0, 1].get_legend()  # one legend for all the maps, beside the figure
fig.legend(legend.legend_handles, [t.get_text() for t in legend.get_texts()], title="block size",
           loc="outside right upper", frameon=False, fontsize=9)
legend.remove()
fig.suptitle("The same eight requests in a buddy system (left) and best fit (right)",
             x=0.01, ha="left", fontsize=13)
plt.show()

# %% [markdown]
# `dump()` prints the same heaps as text, one line per block: here the last row of
# the picture, the buddy system first.

# %%
print(buddy.dump(), best.dump(), sep="\n\n")

# %% [markdown]
# What the pictures show:
#
# - **Buddy** gives `c` (300 bytes) a 512-byte block and `e` (700 bytes) a 1 KiB
#   block: every block is a power of two aligned to its size. When `c` is freed its
#   512 bytes cannot merge with anything (its buddy, the block at 0, is split), and
#   `f` (200 bytes) goes into the free 256-byte block at 256 instead, so `c`'s hole
#   stays empty.
# - **Best fit** packs the blocks one after the other, each 8 to 23 bytes bigger than
#   the request (the 8-byte header and the rounding to 16), and puts `f` exactly where `c` was:
#   the smallest hole that fits.
#
# The checks below pin these layouts down.

# %%
def layout(blocks):
    return [(b.offset, b.size, b.allocated) for b in blocks]


# buddy after step 5: a 128 B at 0, b 16 B at 128, d 64 B at 192, c 512 B at 512, e 1 KiB at 1 KiB
assert [(o, s) for o, s, al in layout(history["buddy"][4]) if al] == [
    (0, 128), (128, 16), (192, 64), (512, 512), (1024, 1024)]
assert addresses["buddy"]["f"] == 256                           # not c's old 512
assert addresses["best-ao"]["f"] == 144 + 16                     # c's old block, past its header
for blocks in history["buddy"]:                                 # powers of two, aligned to size
    assert all(s & (s - 1) == 0 and o % s == 0 for o, s, _ in layout(blocks))
final_buddy, final_best = buddy.stats(), best.stats()
assert final_buddy.requested_bytes == final_best.requested_bytes == 16 + 50 + 700 + 200
assert final_buddy.allocated_bytes == 16 + 64 + 1024 + 256       # 1,360 B for 966 requested
assert final_best.allocated_bytes == 32 + 64 + 720 + 208         # 1,024 B
buddy.close()
best.close()

# %% [markdown]
# ## 2. A short random run, address against time
#
# Now 300 objects of random sizes (8 bytes to 2 KiB, most of them small), each
# living an exponentially distributed number of ticks (mean 40), replayed one event
# at a time. `heap_map_over_time` draws each block as a rectangle from the event
# that allocated it (left edge) to the event that freed it (right edge), at the
# addresses it occupied; the grey line is the heap size. Best fit grows its heap 16
# bytes at a time here (`growth=16`), so that its heap size is, like the buddy
# system's, the exact high-water mark of its blocks: with the default 4 KiB steps a
# run this short would compare step counts more than placements.

# %%
trace = ma.workloads.random_lifetimes(300, mean_lifetime=40, distribution="skewed", low=8,
                                      high=2048, seed=SEED)
OPTIONS = {"buddy": {}, "best-ao": {"growth": 16}}
print(trace.describe())

# %%
fig, axes = plt.subplots(2, 1, figsize=(13, 9), sharex=True, layout="constrained")
for ax, name in zip(axes, ("buddy", "best-ao")):
    mp.heap_map_over_time(trace, name, ax=ax, arena_size=1 << 20, size_range=(16, 4096),
                          **OPTIONS[name])
top = max(ax.get_ylim()[1] for ax in axes)
for ax in axes:
    ax.set_ylim(0, top)
axes[0].set_xlabel("")
fig.suptitle(f"{len(trace)} events of a random run: each block from its allocation to its free",
             x=0.01, ha="left", fontsize=13)
if FIGURES:
    FIGURE_DIR.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE_DIR / "01_tour.png", dpi=110)
plt.show()

# %% [markdown]
# The buddy system's blocks come in few heights (powers of two) and sit at aligned
# addresses, with gaps between them that only a block of the right size can fill;
# best fit's blocks tile the heap tightly and its heap stays lower. `lifetimes`
# gives the numbers behind the picture:

# %%
runs = {name: mp.lifetimes(trace, name, arena_size=1 << 20, **OPTIONS[name]) for name in ("buddy", "best-ao")}
short = pd.DataFrame({
    name: {"blocks allocated": len(df), "peak heap size": int(df.attrs["heap_size"].max()),
           "bytes requested": int(df["requested"].sum()), "bytes in blocks": int(df["size"].sum())}
    for name, df in runs.items()}).T
short["blocks / requested"] = short["bytes in blocks"] / short["bytes requested"]
short

# %%
assert (short["blocks allocated"] == 300).all()
assert short.loc["buddy", "peak heap size"] > short.loc["best-ao", "peak heap size"]
assert short.loc["buddy", "blocks / requested"] > 1.25 > short.loc["best-ao", "blocks / requested"]

# %% [markdown]
# ## 3. Step through the run
#
# With `ipywidgets` installed and the notebook open in Jupyter, the slider replays
# the run up to any event and draws
# that moment's heap (the first 32 KiB), colouring each block by its age (the event
# that allocated it, on one scale for the whole run: dark is early). `replay_python`
# returns the allocator and the ages. Without `ipywidgets`, and in the unattended
# runs (`SMOKE=1` or `FIGURES=1`, where the notebook client can wait out its whole
# timeout on widget messages), the cell draws the middle of the run.

# %%
def show(event=len(trace) // 2, allocator="buddy"):
    alloc, ages = mp.replay_python(trace, allocator, stop=event, arena_size=1 << 20)
    with alloc:
        ax = mp.heap_map(alloc, color_by="age", ages=ages, age_range=(0, len(trace)),
                         limit=32 << 10, row_bytes=8 << 10,
                         title=f"{allocator} after {event} of {len(trace)} events")
        plt.show()
        return ax


try:
    import ipywidgets as widgets
except ImportError:
    widgets = None
if widgets is not None and not (SMOKE or FIGURES):
    widgets.interact(show, event=widgets.IntSlider(value=len(trace) // 2, min=0, max=len(trace),
                                                   step=1, continuous_update=False),
                     allocator=["buddy", "best-ao"])
else:
    show()

# %% [markdown]
# ## 4. At scale, at C speed, beside the published figures
#
# The same kind of run, much longer (a million objects of a mean lifetime of 50,000
# ticks, so about 50,000 live at a time; in a smoke run 20,000 and 2,000), replayed
# in C through both allocators by `ma.compare`, which computes Johnstone and
# Wilson's four measures exactly. `timeline` shows the buddy run over time.

# %%
N_OBJECTS, LIFETIME = (20_000, 2_000) if SMOKE else (1_000_000, 50_000)
big = ma.workloads.random_lifetimes(N_OBJECTS, mean_lifetime=LIFETIME, seed=SEED)
every = max(1, len(big) // 2000)
table = ma.compare(big, ["buddy", "best-ao"], arena_size=1 << 32, sample_every=every)
table[["events", "peak_heap", "peak_live", "jw3", "jw4"]]

# %%
result = ma.replay(big, "buddy", arena_size=1 << 32, sample_every=every)
mp.timeline(result)
plt.show()

# %% [markdown]
# Measure #4 (peak heap over peak live bytes, minus one) beside the published
# average over eight real programs:

# %%
published = pd.DataFrame({"source": "Johnstone & Wilson 1998, 8 programs",
                          "allocator": ["buddy", "best-ao"], "jw4": [0.534, 0.0228]})
ours = table.reset_index()[["allocator", "jw4"]].assign(source="this run (random lifetimes)")
both = pd.concat([ours, published], ignore_index=True)
ax = mp.compare(both, "jw4", by="source", annotate=True,
                title="Peak heap over peak live bytes, minus one")
plt.show()
both.pivot(index="allocator", columns="source", values="jw4").style.format("{:.1%}")

# %% [markdown]
# ## What it means
#
# **Agreement.** The order is the published one: the buddy system needs far more
# heap than best fit for the same requests. Most of the buddy system's overhead is
# rounding: the timeline's internal fragmentation stays near 28% for the whole run,
# which is what rounding sizes of this distribution up to powers of two costs (the
# next notebook measures that cost against its exact values), while best fit's
# blocks exceed the requests only by their 8-byte header and 16-byte rounding.
#
# **Disagreement.** Best fit does much worse here than on Johnstone and Wilson's
# real programs (7.6% instead of 2.3%). A random trace has no phases: objects
# allocated together do not die together, so the holes they leave are scattered and
# rarely fit the next request exactly. Real programs tend to free together what they
# allocated together, and the good policies (best fit, address-ordered first fit)
# keep such objects side by side, so their frees leave large holes: that regularity,
# absent here, is the usual explanation for the low figures on real programs. The
# method differs too: they scaled sizes by 16 and counted no headers, while
# `best-ao`'s heap here includes its 8-byte headers. The buddy system's figure is
# lower than their 53.4%: how much rounding costs depends on the mix of sizes, and
# theirs came from eight real programs, ours from a synthetic mix of 8 bytes to
# 4 KiB, mostly small.

# %%
j = table["jw4"]
assert j["buddy"] > 2 * j["best-ao"] > 0, j
assert 0.25 <= j["buddy"] <= 0.60, j  # tens of percent, as published
internal = 1 - result.timeline["live_bytes"] / result.timeline["allocated_bytes"]
steady = internal[len(internal) // 4: 3 * len(internal) // 4]
assert steady.between(0.24, 0.32).all(), steady.describe()
print(f"all checks passed ({'smoke' if SMOKE else 'full'} size, "
      f"{time.perf_counter() - started:.1f} s)")
