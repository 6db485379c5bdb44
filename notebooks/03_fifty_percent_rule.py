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
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 — Knuth's fifty-percent rule
#
# **The question.** Knuth (*The Art of Computer Programming*, vol. 1, section
# 2.5; see `docs/references.md`) showed that when first fit or best fit runs
# in equilibrium with N blocks allocated on average, every allocated block
# equally likely to be the next one freed, and a fraction p of the
# allocations *split* a free block (leave a remainder) rather than take it
# whole, the number of free blocks tends to about **p·N/2**. With p close to
# 1 that is half as many free blocks as allocated ones: the "fifty percent"
# of the name. Do memalloc_py's first-fit and best-fit heaps obey it, across
# request size distributions, when p is *measured* rather than assumed? And
# what happens when blocks are not freed at random?
#
# **The answer, in short.** Yes, closely: over 25 combinations of policy and
# size distribution, with p ranging from about 0.07 to 0.99, the measured free
# blocks are within 3% of p·N/2 at full size. Once blocks are no longer freed
# at random, the count misses p·N/2 by up to about 20%, in either direction,
# depending on the policy and on how lifetimes are drawn.

# %%
import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import memalloc_py as ma
from memalloc_py.trace import MALLOC

SMOKE = os.environ.get("SMOKE") == "1"      # CI: a small run in seconds
FIGURES = os.environ.get("FIGURES") == "1"  # save the headline picture to docs/img/
FIGURE_DIR = os.environ.get("FIGURE_DIR")   # where to save it instead (notebooks/make_figures.py)

N_LIVE = 300 if SMOKE else 4000             # N: blocks allocated in equilibrium
WARMUP = 20                                 # allocations discarded as warm-up, in units of N
WINDOW = 20 if SMOKE else 30                # allocations measured, in units of N
SEEDS = (1, 2, 3)                           # every case runs once per seed
MIN_BLOCK, GROWTH = 32, 4096                # the free-list defaults
ARENA = 1 << 32

POLICIES = ("first-ao", "first-lifo", "first-fifo", "best-ao", "best-lifo")
started = time.perf_counter()
print(f"N = {N_LIVE}, warm-up {WARMUP}N allocations, measured {WINDOW}N, seeds {SEEDS}"
      f"{' (SMOKE)' if SMOKE else ''}")

# %% [markdown]
# ## Why the rule should hold
#
# Knuth's argument is bookkeeping. Coalescing is immediate, so no two free
# blocks touch: every free block lies between allocated blocks (or the heap's
# ends). Sort the N allocated blocks by their neighbours: **A** have a free
# block on both sides, **B** on one side, **C** on neither, so N = A + B + C.
# Counting the sides of the M free blocks that face an allocated block gives
#
# $$2M = 2A + B + \delta = N + A - C + \delta,$$
#
# where δ (0, 1 or 2) counts free blocks at the ends of the heap, which face
# only one allocated block. Now watch M move:
#
# - a **free** of a C block makes a new free block (+1), of a B block merges
#   into its free neighbour (0), of an A block joins its two free neighbours
#   into one (−1). If the freed block is a random one of the N, the expected
#   change is (C − A)/N;
# - an **allocation** that splits a free block leaves the remainder free (0);
#   one that takes a block whole removes it (−1): on average −(1 − p).
#
# In equilibrium the two balance, so C − A = (1 − p)N on average, and the
# identity above turns into **M = pN/2 + δ/2**. The one assumption doing the
# work is that the freed block is a random one, independent of its
# neighbours: nothing here depends on *where* the allocator places blocks, so
# the rule should hold for every placement policy, not only first and best
# fit, and for any size distribution, as long as p is the p the allocator
# actually achieved.
#
# What the argument leaves out, and what this heap has: the heap **grows**
# when no free block fits (an allocation served that way can add a free
# block at the top), and δ. In equilibrium the heap stops growing, and δ/2 is
# at most one block out of thousands; both are measured below.

# %% [markdown]
# ## Method
#
# **Workload.** `ma.workloads.steady_state(n_mallocs, live=N)` allocates N
# blocks, then repeatedly frees a uniformly random live block and allocates a
# new one: exactly Knuth's equilibrium, with N fixed. Sizes come from five
# distributions of `ma.workloads`: uniform 8–4096 bytes; exponential (mean
# 1026, clipped at 4096); log-uniform 8–4096; a random power of two from 8
# to 4096 (few distinct sizes, so many exact fits); and a bimodal mix, 90%
# uniform 16–64 bytes and 10% uniform 2048–4096 (`ma.workloads.mixture`).
#
# **Allocators.** First fit and best fit, the two policies of the rule, in
# address order (`first-ao`, `best-ao`), and the LIFO and FIFO free-list
# variants of first fit and LIFO best fit, all with the defaults
# `min_block=32` and `growth=4096`. A request of n bytes takes a block of
# max(32, ⌈(n + 8)/16⌉·16) bytes; `min_block` decides which remainders are
# too small to be split off: a remainder of 16 bytes cannot be a block, so
# such a block is taken whole, which lowers p.
#
# **Measurement.** Each trace is driven through the allocator from Python,
# event by event. The first N + 20N allocations are warm-up and are not
# measured; the heap's free-block count settles well within them (figure 1).
# From there on, `stats()` is read after every event, and every allocation is
# classified by what it did to the heap:
#
# - served from an existing free block (the heap did not grow): **split** if
#   `free_blocks` is unchanged (the remainder stays free), **whole** if it
#   fell by one. A whole allocation is an *exact fit* when the block was just
#   the size needed, otherwise its remainder was below `min_block`;
# - served by **heap growth** (no free block was large enough): the top of
#   the heap is extended, a free top block grown or a new one made, and the
#   allocation is placed in it like any other: a split if a free remainder is
#   left above the new block (its end lies below `heap_size`), whole if not.
#
# **p** is the fraction of measured allocations that split; **N** and **M**
# (`live_blocks`, `free_blocks`) are averaged over every event of the
# measured phase, and the ratio M / (pN/2) is Knuth's rule as a number: 1 when
# it holds. Each case runs with three seeds (three different traces); the
# standard error of a ratio comes from ten consecutive batches of its
# measured phase.

# %%
def bimodal_sizes(n, seed):
    """90% small (16-64 bytes), 10% large (2048-4096 bytes)."""
    return ma.workloads.mixture(n, [(0.9, {"distribution": "uniform", "low": 16, "high": 64}),
                                    (0.1, {"distribution": "uniform", "low": 2048, "high": 4096})],
                                seed=seed)


def with_sizes(trace, size_of):
    """The same events with the allocation of id i asking for size_of[i] bytes."""
    size = np.where(trace.op == MALLOC, size_of[trace.id], 0).astype("u8")
    return ma.Trace(trace.op, trace.id, size, n_ids=trace.n_ids, meta=dict(trace.meta))


DISTRIBUTIONS = ("uniform", "exponential", "log-uniform", "power-of-two", "bimodal")


def steady_trace(distribution, seed, live=N_LIVE):
    """Knuth's equilibrium: N live, then free a random block and allocate, WARMUP + WINDOW times N."""
    n_mallocs = live + (WARMUP + WINDOW) * live
    if distribution == "bimodal":
        t = ma.workloads.steady_state(n_mallocs, live, distribution="uniform", seed=seed,
                                      free_all=False)
        return with_sizes(t, bimodal_sizes(n_mallocs, seed + 1000))
    return ma.workloads.steady_state(n_mallocs, live, distribution=distribution, seed=seed,
                                     free_all=False)


# Outcomes of an allocation.
SPLIT, EXACT, SLACK, GROW_SPLIT, GROW_WHOLE = range(5)


def neighbour_census(heap):
    """A, B, C (allocated blocks with 2, 1, 0 free neighbours), M and delta, from blocks()."""
    free = ~heap.blocks().array["allocated"]
    left = np.r_[False, free[:-1]]
    right = np.r_[free[1:], False]
    sides = (left.astype(int) + right)[~free]
    A, B, C = (int((sides == k).sum()) for k in (2, 1, 0))
    return A, B, C, int(free.sum()), int(free[0]) + int(free[-1])


def drive(trace, policy, warmup_events, *, census_every=0, min_block=MIN_BLOCK, growth=GROWTH):
    """Run `trace` through a fresh heap event by event; measure after `warmup_events`.

    Returns the free blocks M and live blocks N after every measured event,
    the outcome of every measured allocation and its event index, the change
    in M of every measured free, and (every `census_every` events) the
    shares A/N and C/N of the allocated blocks."""
    heap = ma.create(policy, arena_size=ARENA, min_block=min_block, growth=growth)
    op, ids, size = trace.op.tolist(), trace.id.tolist(), trace.size.tolist()
    address = {}
    for i in range(warmup_events):
        if op[i] == MALLOC:
            address[ids[i]] = heap.malloc(size[i])
        else:
            heap.free(address.pop(ids[i]))
    n = len(op) - warmup_events
    M = np.empty(n, dtype=np.int64)
    N = np.empty(n, dtype=np.int64)
    outcome, alloc_at, free_change, census = [], [], [], []
    st = heap.stats()
    m_before, heap_before = st.free_blocks, st.heap_size
    for j in range(n):
        i = warmup_events + j
        if op[i] == MALLOC:
            a = heap.malloc(size[i])
            assert a is not None, "out of memory: the arena is too small"
            address[ids[i]] = a
            st = heap.stats()
            block = heap.usable_size(a) + 16      # the block it took, header included
            if st.heap_size == heap_before:       # served from an existing free block
                change = st.free_blocks - m_before
                assert change in (0, -1), change  # a split keeps M, a whole block lowers it
                needed = max(min_block, -(-(size[i] + 16) // 16) * 16)
                outcome.append(SPLIT if change == 0 else EXACT if block == needed else SLACK)
            else:                                 # the heap grew to serve it
                outcome.append(GROW_SPLIT if a - 16 + block < st.heap_size else GROW_WHOLE)
            alloc_at.append(j)
        else:
            heap.free(address.pop(ids[i]))
            st = heap.stats()
            free_change.append(st.free_blocks - m_before)   # +1 a C block, 0 B, -1 A
        M[j], N[j] = st.free_blocks, st.live_blocks
        m_before, heap_before = st.free_blocks, st.heap_size
        if census_every and j % census_every == 0:
            A, B, C, _, _ = neighbour_census(heap)
            census.append((A / (A + B + C), C / (A + B + C)))
    heap.check()
    heap.close()
    return M, N, np.array(outcome), np.array(alloc_at), np.array(free_change), np.array(census)


def measure(trace, policy, warmup_events, batches=10, census_every=0, **options):
    """One case: N, p, M, the prediction pN/2, their ratio, its standard error, and more."""
    M, N, outcome, alloc_at, free_change, census = drive(
        trace, policy, warmup_events, census_every=census_every, **options)
    split = (outcome == SPLIT) | (outcome == GROW_SPLIT)
    p = split.mean()
    edges = np.linspace(0, len(M), batches + 1).astype(int)
    per_batch = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        s = split[(alloc_at >= lo) & (alloc_at < hi)]
        per_batch.append(M[lo:hi].mean() / (s.mean() * N[lo:hi].mean() / 2))
    out = {"N": N.mean(), "p": p, "M": M.mean(), "predicted": p * N.mean() / 2,
           "ratio": M.mean() / (p * N.mean() / 2),
           "se": np.std(per_batch, ddof=1) / np.sqrt(batches),
           "exact": (outcome == EXACT).mean(), "slack": (outcome == SLACK).mean(),
           "growth": (outcome >= GROW_SPLIT).mean(), "allocations": len(outcome),
           "freed_A": (free_change == -1).mean(), "freed_C": (free_change == 1).mean()}
    if len(census):
        out["heap_A"], out["heap_C"] = census.mean(axis=0)
    return out


# %% [markdown]
# ### Knuth's bookkeeping on a real heap
#
# First the identity the argument rests on, 2M = N + A − C + δ, on a small
# heap that can be drawn: 40 blocks of 256–1024 bytes in `first-ao` after
# 2,000 random frees and allocations, each allocated block labelled with
# its class (`ma.plot.heap_map`). Then the same count on a full-size heap:
# the uniform-size trace of the experiment through `first-ao`, stopped
# after its warm-up.

# %%
def run_events(heap, trace, stop=None):
    """Replay the first `stop` events of `trace` into `heap`; return {id: address}."""
    address = {}
    for o, i, s in list(zip(trace.op.tolist(), trace.id.tolist(), trace.size.tolist()))[:stop]:
        if o == MALLOC:
            address[i] = heap.malloc(s)
        else:
            heap.free(address.pop(i))
    return address


small = ma.create("first-ao", arena_size=1 << 20)
run_events(small, ma.workloads.steady_state(2040, 40, distribution="uniform", low=256, high=1024,
                                            seed=SEEDS[0], free_all=False))
A, B, C, M, delta = neighbour_census(small)
ax = ma.plot.heap_map(small, color_by="state", row_bytes=8192,
                      title=f"first-ao after 2,000 random frees and allocations: N = {A + B + C} "
                            f"= A {A} + B {B} + C {C};  M = {M} free blocks, δ = {delta};  "
                            f"2M = {2 * M} = N + A − C + δ")
blocks = small.blocks().array
free = ~blocks["allocated"]
sides = np.r_[False, free[:-1]].astype(int) + np.r_[free[1:], False]
for b, k in zip(blocks[~free], sides[~free]):
    start, end = int(b["offset"]), int(b["offset"] + b["size"])
    row_end = (start // 8192 + 1) * 8192                   # a block may wrap to the next row:
    lo, hi = (start, min(end, row_end)) if row_end - start >= end - row_end else (row_end, end)
    ax.text((lo + hi) / 2 - lo // 8192 * 8192, lo // 8192, "CBA"[k],   # label its larger part
            ha="center", va="center", color="white", fontsize=9, fontweight="bold")
assert 2 * M == (A + B + C) + A - C + delta
small.close()
plt.show()

# %%
heap = ma.create("first-ao", arena_size=ARENA)
run_events(heap, steady_trace("uniform", SEEDS[0]), stop=N_LIVE * (1 + 2 * WARMUP))
A, B, C, M, delta = neighbour_census(heap)
N = heap.stats().live_blocks
print(f"N = {N} = A + B + C = {A} + {B} + {C};  M = {M} free blocks, delta = {delta}")
print(f"2M = {2 * M};  N + A - C + delta = {N + A - C + delta}")
assert A + B + C == N and 2 * M == N + A - C + delta
heap.close()

# %% [markdown]
# ### Figure 1: the warm-up
#
# The free-block count starts near zero (the first N allocations fill a
# fresh heap without gaps) and settles within a few N allocations. The
# slowest case, `first-ao` with powers of two, creeps down for about ten N
# as small free blocks collect at the low end of the heap. The first 20N
# allocations after the initial N are discarded.

# %%
fig1, ax = plt.subplots(figsize=(11, 4.5))
for dist, policy, color in [("uniform", "first-ao", "C0"), ("uniform", "best-ao", "C1"),
                            ("power-of-two", "first-ao", "C2"), ("power-of-two", "best-ao", "C3")]:
    t = steady_trace(dist, SEEDS[0])
    M = drive(t, policy, 0)[0]
    allocations = np.cumsum(t.op == MALLOC)
    step = max(1, len(M) // 2000)
    ax.plot(allocations[::step] / N_LIVE, M[::step] / (N_LIVE / 2), color=color, lw=1,
            label=f"{policy}, {dist} sizes")
ax.axvspan(0, 1 + WARMUP, color="0.9", zorder=0)
ax.text((1 + WARMUP) / 2, 1.1, "warm-up (discarded)", ha="center", va="center")
ax.text(1 + WARMUP + WINDOW / 2, 1.1, "measured", ha="center", va="center")
ax.set_xlim(0, 1 + WARMUP + WINDOW)
ax.set_ylim(0, 1.2)
ax.set_xlabel("allocations so far (multiples of N)")
ax.set_ylabel("free blocks M / (N/2)")
ax.set_title(f"Figure 1. The free-block count settles (N = {N_LIVE}, seed {SEEDS[0]})")
ax.legend(loc="center left", fontsize=9, bbox_to_anchor=(1.01, 0.5))
fig1.tight_layout()
plt.show()

# %% [markdown]
# ## The experiment
#
# Five policies, five size distributions, three seeds: 75 runs. Every N/2
# events a census of the heap (`blocks()`) also records the shares A/N and
# C/N, for the check of the rule's assumption further down.

# %%
CENSUS = N_LIVE // 2
warmup_events = N_LIVE + 2 * WARMUP * N_LIVE   # N allocations, then WARMUP*N free/allocate pairs
rows = []
for dist in DISTRIBUTIONS:
    for seed in SEEDS:
        t = steady_trace(dist, seed)
        for policy in POLICIES:
            rows.append({"policy": policy, "sizes": dist, "seed": seed,
                         **measure(t, policy, warmup_events, census_every=CENSUS)})
runs = pd.DataFrame(rows)
print(f"{len(runs)} runs, {runs.allocations.sum():,} allocations measured, "
      f"{time.perf_counter() - started:.0f} s so far")

# %% [markdown]
# ### When blocks are not freed at random
#
# The rule's one assumption is that the block freed next is a random one.
# To see what it is worth, three of the policies run on uniform sizes
# (8–4096 bytes) under four lifetime models: one allocation per tick, each
# block freed when its lifetime is over, about N blocks live on average.
#
# - **exponential lifetimes**, mean N (`ma.workloads.random_lifetimes`): the
#   exponential forgets age, so every live block is equally likely to be the
#   next one freed: the *control*, which should obey the rule although N
#   now fluctuates;
# - **uniform lifetimes**, 0 to 2N (`random_lifetimes(lifetime="uniform")`):
#   the older a block, the likelier it is to die next;
# - **most die young**: 75% of the blocks live an exponential time of mean
#   0.2N, 25% of mean 3.4N (a hyperexponential, the shape real programs'
#   lifetimes tend to have): the youngest blocks are the likeliest to die;
# - **large blocks die young**: the mean lifetime falls linearly with the
#   size, from 1.9N for 8 bytes to 0.1N for 4096 bytes.
#
# The first 21N allocations are again the warm-up, the rest is measured.

# %%
CONTRAST_POLICIES = ("first-ao", "best-ao", "first-lifo")
LIFETIMES = ("exponential lifetimes", "uniform lifetimes", "most die young",
             "large blocks die young")


def lifetime_trace(size_of, life):
    """Object k is allocated at tick k and freed at tick k + life[k] (if within the run)."""
    n = len(size_of)
    born = np.arange(n, dtype=float)
    dies = born + np.maximum(life, 0.5)
    freed = dies < n
    when = np.concatenate([born, dies[freed]])
    is_malloc = np.concatenate([np.ones(n, dtype=bool), np.zeros(int(freed.sum()), dtype=bool)])
    who = np.concatenate([np.arange(n), np.flatnonzero(freed)])
    order = np.lexsort((who, is_malloc, when))          # at equal times, frees first
    op = np.where(is_malloc[order], MALLOC, ma.trace.FREE).astype("u1")
    ids = who[order].astype("u4")
    return ma.Trace(op, ids, np.where(op == MALLOC, size_of[ids], 0).astype("u8"), n_ids=n)


def contrast_trace(model, seed, live=N_LIVE):
    n = (1 + WARMUP + WINDOW) * live
    if model in ("exponential lifetimes", "uniform lifetimes"):
        return ma.workloads.random_lifetimes(n, lifetime=model.split()[0], mean_lifetime=live,
                                             distribution="uniform", free_all=False, seed=seed)
    rng = np.random.default_rng(seed)
    size_of = ma.workloads.sizes(n, "uniform", seed=rng)
    if model == "most die young":
        short = rng.random(n) < 0.75
        life = rng.exponential(np.where(short, 0.2 * live, 3.4 * live))
    else:  # large blocks die young
        u = (size_of - 8.0) / (4096 - 8)
        life = rng.exponential(live * (0.1 + 1.8 * (1 - u)))
    return lifetime_trace(size_of, life)


rows = []
for model in LIFETIMES:
    for seed in SEEDS:
        t = contrast_trace(model, seed)
        warm = int(np.flatnonzero(t.op == MALLOC)[(1 + WARMUP) * N_LIVE])
        for policy in CONTRAST_POLICIES:
            rows.append({"policy": policy, "lifetimes": model, "seed": seed,
                         **measure(t, policy, warm, census_every=CENSUS)})
contrast = pd.DataFrame(rows)
print(f"{len(contrast)} runs, {time.perf_counter() - started:.0f} s so far")

# %% [markdown]
# ## Result
#
# Each point is one policy on one workload: its ratio is the mean over the
# three seeds, and a bar shows the seeds' range where it is wider than the
# marker. Top: free blocks against p, Knuth's rule the line y = p. Bottom:
# the same points as measured / predicted, with the band the assertions
# below allow.

# %%
TOL = 0.15 if SMOKE else 0.05      # |measured / predicted - 1| allowed; justified below
MARKERS = dict(zip(POLICIES, ("o", "s", "D", "^", "v")))
DIST_COLORS = dict(zip(DISTRIBUTIONS, ("C0", "C1", "C2", "C3", "C4")))
LIFE_COLORS = dict(zip(LIFETIMES, ("C7", "C9", "C6", "C8")))


def by_case(frame, key):
    """Mean over the seeds, and the seeds' range of the ratio."""
    g = frame.groupby(["policy", key], sort=False)
    out = g.mean(numeric_only=True).drop(columns="seed")
    out["ratio_min"], out["ratio_max"] = g.ratio.min(), g.ratio.max()
    return out.reset_index()


main = by_case(runs, "sizes")
other = by_case(contrast, "lifetimes")
dot = dict(ls="none", ms=8, mec="k", mew=0.5)

fig, axes = plt.subplots(2, 2, figsize=(13, 9.5), sharex=True,
                         gridspec_kw={"height_ratios": [3, 2]})
for col, (frame, key, colors, shown, title) in enumerate([
        (main, "sizes", DIST_COLORS, POLICIES,
         "Blocks freed at random (Knuth's assumption): 5 size distributions"),
        (other, "lifetimes", LIFE_COLORS, CONTRAST_POLICIES,
         "Blocks not freed at random: 4 lifetime models, uniform sizes")]):
    top, bottom = axes[0, col], axes[1, col]
    rule, = top.plot([0, 1.05], [0, 1.05], color="k", lw=1, zorder=1)
    bottom.axhspan(1 - TOL, 1 + TOL, color="0.88", zorder=0)
    bottom.axhline(1, color="k", lw=1, zorder=1)
    for _, r in frame.iterrows():
        style = dict(marker=MARKERS[r.policy], color=colors[r[key]], zorder=3, **dot)
        lo, hi = r.ratio - r.ratio_min, r.ratio_max - r.ratio
        top.errorbar(r.p, r.ratio * r.p, yerr=[[lo * r.p], [hi * r.p]], elinewidth=1, **style)
        bottom.errorbar(r.p, r.ratio, yerr=[[lo], [hi]], elinewidth=1, **style)
    top.set_title(title, fontsize=11)
    top.set_xlim(0, 1.05)
    top.set_ylim(0, 1.3)
    top.set_ylabel("measured free blocks  M / (N/2)")
    bottom.set_xlabel("measured split probability p  (splits per allocation)")
    bottom.set_ylabel("measured / predicted  M / (pN/2)")
    spread = max(2 * TOL, 1.2 * (frame.ratio_max - 1).abs().max(),
                 1.2 * (frame.ratio_min - 1).abs().max())
    bottom.set_ylim(1 - spread, 1 + spread)
    bottom.text(0.01, 1 + TOL, f"±{TOL:.0%}", va="bottom", fontsize=9)
    top.add_artist(top.legend([plt.Line2D([], [], marker="o", color=c, **dot)
                               for c in colors.values()], list(colors), title=key,
                              loc="upper left", fontsize=9))
    top.legend([rule] + [plt.Line2D([], [], marker=MARKERS[q], color="0.6", **dot) for q in shown],
               ["Knuth: M = pN/2"] + list(shown), title="policy", loc="lower right", fontsize=9)
fig.suptitle(f"Knuth's fifty-percent rule on memalloc_py's free-list heaps "
             f"(N = {N_LIVE} blocks, min_block {MIN_BLOCK}, growth {GROWTH}, "
             f"{len(SEEDS)} seeds)", fontsize=13)
fig.tight_layout()
plt.show()

# %% [markdown]
# ### Table 1: blocks freed at random
#
# Per policy and size distribution, the mean over the three seeds: N, the
# measured p, the free blocks M measured and predicted (Knuth: pN/2), their
# ratio, the seeds' range of the ratio and its standard error (from ten
# batches of one run, averaged). The last three columns say why p is what it
# is: the share of allocations that took a block whole because it was the
# exact size, because the remainder was too small for a block (below
# `min_block`), and that grew the heap.

# %%
def table(frame, key):
    pct = lambda x: f"{100 * x:.1f}%"
    return pd.DataFrame({
        "policy": frame.policy, key: frame[key],
        "N": frame.N.round().astype(int), "p": frame.p.round(3),
        "M measured": frame.M.round(1), "pN/2 (Knuth)": frame.predicted.round(1),
        "ratio": frame.ratio.round(3),
        "seeds' range": [f"{a:.3f}–{b:.3f}" for a, b in zip(frame.ratio_min, frame.ratio_max)],
        "std. error": frame.se.round(3),
        "exact fit": frame.exact.map(pct), "remainder < min_block": frame.slack.map(pct),
        "heap growth": frame.growth.map(lambda x: f"{100 * x:.2f}%")})


table(main, "sizes").sort_values(["sizes", "policy"], key=lambda c: c.map(
    {**{d: i for i, d in enumerate(DISTRIBUTIONS)}, **{q: i for i, q in enumerate(POLICIES)}}))

# %%
worst = runs.loc[(runs.ratio - 1).abs().idxmax()]
print(f"p ranges from {runs.p.min():.3f} to {runs.p.max():.3f}; N = {runs.N.mean():.1f}")
print(f"largest |measured/predicted - 1| over {len(runs)} runs: {abs(worst.ratio - 1):.1%} "
      f"({worst.policy}, {worst.sizes} sizes, seed {worst.seed}: ratio {worst.ratio:.3f})")
print(f"mean ratio over all runs {runs.ratio.mean():.4f}; widest seeds' range "
      f"{(main.ratio_max - main.ratio_min).max():.3f}; largest standard error {runs.se.max():.3f}")
print(f"heap growth: at most {runs.growth.max():.3%} of the measured allocations")

# %% [markdown]
# ### Table 2: blocks not freed at random
#
# The same measurements under the four lifetime models, and the test of the
# assumption itself. Each free changes M by +1 (the freed block had no free
# neighbour, a C block), 0 (one, B) or −1 (two, A). If the freed block were
# a random one, the shares of C and A blocks among the *freed* blocks would
# equal their shares among *all* allocated blocks (C/N and A/N, from the
# census). "freed C − A" and "heap (C − A)/N" are the two sides of that
# comparison; the rule holds when they agree.

# %%
def assumption_columns(frame):
    return pd.DataFrame({"freed C − A": (frame.freed_C - frame.freed_A).round(3),
                         "heap (C − A)/N": (frame.heap_C - frame.heap_A).round(3)})


pd.concat([table(other, "lifetimes"), assumption_columns(other)], axis=1)

# %% [markdown]
# The same comparison for the random frees of Table 1: freed blocks and heap
# agree, policy by policy.

# %%
gap = (main.freed_C - main.freed_A) - (main.heap_C - main.heap_A)
print(f"random frees: |freed (C - A) - heap (C - A)/N| at most {gap.abs().max():.3f} "
      f"over {len(main)} cases")
gap_other = (other.freed_C - other.freed_A) - (other.heap_C - other.heap_A)
print("lifetime models: " + ", ".join(
    f"{r.policy} / {r.lifetimes}: {g:+.3f}" for (_, r), g in zip(other.iterrows(), gap_other)))

# %% [markdown]
# ### p is what the allocator makes it: `min_block`
#
# A remainder smaller than `min_block` stays with the allocation, so a
# larger `min_block` turns splits into whole-block allocations and lowers p.
# The rule follows p wherever it goes: `first-ao` and `best-ao`, uniform
# sizes, `min_block` 32 (Table 1's runs), 128 and 512, three seeds each
# (mean, and the seeds' range of the ratio).

# %%
rows = [{**r, "min_block": MIN_BLOCK} for r in runs.to_dict("records")
        if r["sizes"] == "uniform" and r["policy"] in ("first-ao", "best-ao")]
for seed in SEEDS:
    t = steady_trace("uniform", seed)
    for mb in (128, 512):
        for policy in ("first-ao", "best-ao"):
            rows.append({"policy": policy, "min_block": mb, "seed": seed,
                         **measure(t, policy, warmup_events, min_block=mb)})
by_block = pd.DataFrame(rows)
g = by_block.groupby(["policy", "min_block"])
blocks_table = g[["p", "M", "predicted", "ratio", "slack"]].mean()
blocks_table["seeds' range"] = [f"{a:.3f}–{b:.3f}" for a, b in zip(g.ratio.min(), g.ratio.max())]
blocks_table["2/(pN)"] = (2 / (g.p.mean() * g.N.mean())).round(4)
blocks_table.round(3)

# %% [markdown]
# ## What it means
#
# **Where it holds.** With blocks freed at random, Knuth's rule is not an
# approximation that happens to fit: it is bookkeeping, and it holds for
# every policy and every size distribution tried, to within about 3% at
# N = 4000 (the largest deviations belong to the cases with the fewest free
# blocks, whose averages are the noisiest). The mean ratio over all runs is
# 1.00. The size distribution and the policy decide only p, and through p
# the number of free blocks: from about 0.07 (best fit on powers of two,
# where nearly every request finds a free block of exactly its size) to
# 0.99 (LIFO first fit, which takes the most recently freed block that
# fits, hardly ever one of exactly the right size). Only for p near 1 is the
# count the "fifty percent" of the rule's name, M ≈ N/2; best fit keeps far
# fewer free blocks than first fit because it finds exact fits, not because
# the rule treats it differently.
#
# **Where it does not.** The bookkeeping needs the freed block to be a
# random one. Under exponential lifetimes (memoryless: the control) it is,
# and the rule holds as before. Under the other three lifetime models the
# freed blocks' neighbours are no longer a sample of the heap's (Table 2),
# and M departs from pN/2 by up to about 20%, in either direction:
#
# - *most die young*, LIFO first fit: the long-lived survivors end up as
#   islands between free blocks (A blocks), but it is the young that die,
#   and they have free neighbours less often than the heap's average; frees
#   join fewer free blocks than the rule counts on, and M is about 20% above
#   pN/2;
# - *uniform lifetimes*, LIFO first fit: the old die first; the freed
#   blocks are C blocks less often and A blocks more often than the heap's
#   average, so frees make fewer new free blocks and join more, and M is
#   about 10% below;
# - *large blocks die young*: the blocks freed (mostly large ones) have a
#   free neighbour more often than the heap's average block, so frees make
#   fewer new free blocks; M falls about 14% below pN/2 with best fit and
#   about 7% with address-ordered first fit, while LIFO first fit moves the
#   other way by about 2%.
#
# Address-ordered first and best fit stay within about 2% under uniform
# lifetimes and most-die-young: there a block's age tells little about its
# neighbours (Table 2's census agrees). The rule fails where the chance of
# being freed is tied to where a block sits, and real programs give every
# reason for such ties: Wilson, Johnstone, Neely and Boles's survey
# (`docs/references.md`) argues that real programs' allocations are far
# from random, and that random models like the one behind this rule are
# baselines, not predictions.
#
# **Agreement with the published figure.** Knuth's prediction, M ≈ pN/2,
# is confirmed for first fit and best fit in equilibrium with random frees,
# to within a few percent for every size distribution tried, and it extends
# unchanged to the LIFO and FIFO variants. The disagreements are where
# Knuth's assumption fails, not the rule. Two differences from Knuth's
# setting, both measured: this heap grows (at full size at most a few in
# ten thousand of the measured allocations grew it), and a free block at an
# end of the heap has only one allocated neighbour (δ/2 ≤ 1 block against
# hundreds or thousands). The rule counts free blocks; it says nothing
# about their sizes, so it is not a measure of wasted memory (Johnstone and
# Wilson's measures, `docs/measures.md`, are).

# %% [markdown]
# ## The assertions
#
# **Tolerance.** The argument above makes M/(pN/2) equal to 1 up to three
# terms, each estimated from the data (the next cell prints them):
#
# 1. the ends of the heap, δ/(pN) ≤ 2/(pN): at full size at most 0.7%, for
#    the smallest p (about 0.07);
# 2. heap growth, which can add a free block per allocation that grows the
#    heap: at most the growth share over p, about 0.3%;
# 3. the noise of finite averages: the standard error from batches, at
#    most about 1.4% (again the case with the fewest free blocks).
#
# A 5% tolerance covers the first two and three standard errors of the
# noisiest case; it is tight enough that every non-random lifetime model
# trips it for at least one policy, the seeds' ranges far from the edge.
# The three seeds (1, 2, 3) are the first three tried; the largest
# deviation of any single run at full size is 2.8%, and the widest range
# over the three seeds of one case 3.1 points (best fit on powers of two,
# about 150 free blocks). In SMOKE mode (N = 300, 20N measured
# allocations) the standard errors reach 4.2%, so the tolerance is 15%.
#
# **Cases excluded from the headline**: the four lifetime models, because
# three of them break the rule's assumption on purpose. The control among
# them is asserted to obey the rule; the two LIFO first-fit cases (and, at
# full size, address-ordered first and best fit with large blocks dying
# young) are asserted to *violate* it, which shows the measurement can tell.

# %%
DEPART = 0.05
print(f"error budget: ends of the heap 2/(pN) <= {(2 / (runs.p * runs.N)).max():.2%}, "
      f"heap growth / p <= {(runs.growth / runs.p).max():.2%}, "
      f"standard error <= {runs.se.max():.2%}; tolerance {TOL:.0%}")
# Equilibrium: the heap has (nearly) stopped growing, and the ends of the heap are negligible.
assert runs.growth.max() < (0.005 if SMOKE else 0.001), runs.growth.max()
assert (2 / (runs.p * runs.N)).max() < TOL / 3
# The headline: with random frees, M = pN/2 within TOL for every policy, distribution and seed.
bad = runs[(runs.ratio - 1).abs() > TOL]
assert bad.empty, bad[["policy", "sizes", "seed", "p", "ratio"]]
assert runs.p.min() < 0.3 and runs.p.max() > 0.9      # the rule is tested over a wide range of p
# The control (memoryless lifetimes) obeys the rule too.
control = contrast[contrast.lifetimes == "exponential lifetimes"]
assert ((control.ratio - 1).abs() <= TOL).all(), control[["policy", "seed", "ratio"]]
# Non-random frees break it, seed by seed.
fl = contrast[contrast.policy == "first-lifo"]
assert (fl[fl.lifetimes == "uniform lifetimes"].ratio < 1 - DEPART).all()
assert (fl[fl.lifetimes == "most die young"].ratio > 1 + 2 * DEPART).all()
if not SMOKE:
    young = contrast[(contrast.lifetimes == "large blocks die young")
                     & contrast.policy.isin(["first-ao", "best-ao"])]
    assert (young.ratio < 1 - TOL).all(), young[["policy", "seed", "ratio"]]
# A larger min_block lowers p, and the rule still holds (on the seeds' mean) wherever
# the ends of the heap are as negligible as in the headline.
for policy in ("first-ao", "best-ao"):
    mb = blocks_table.loc[policy]
    assert (np.diff(mb.p) < 0).all(), mb
    held = mb[mb["2/(pN)"] < TOL / 3]
    assert len(held) >= 2 and ((held.ratio - 1).abs() <= TOL).all(), mb
print(f"all assertions hold (tolerance {TOL:.0%}); "
      f"{time.perf_counter() - started:.0f} s in all")

# %%
def repository_root():
    """The checkout this notebook lives in (run as a notebook, the working
    directory is the notebook's; as a script, __file__ is set)."""
    here = Path(globals().get("__file__", Path.cwd())).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "notebooks").is_dir():
            return folder
    raise FileNotFoundError(f"no memalloc_py checkout above {here}")


if FIGURES and SMOKE:
    print("FIGURES=1 ignored: the headline picture is saved from a full-size run only")
elif FIGURES:
    folder = Path(FIGURE_DIR) if FIGURE_DIR else repository_root() / "docs" / "img"
    target = folder / "03_fifty_percent_rule.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=150)
    print(f"saved {target}")
