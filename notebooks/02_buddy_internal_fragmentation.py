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
# # How much does a binary buddy allocator lose to rounding?
#
# **Question.** A binary buddy allocator hands out blocks whose sizes are powers of
# two, so every request is rounded up to the next power of two. How many bytes does
# it allocate per byte requested?
#
# **What was published.** The answer depends only on the distribution of request
# sizes, and for three distributions it is known exactly, by integration (see
# `docs/references.md`):
#
# | request sizes | allocated / requested | share of allocated bytes wasted |
# |---|---|---|
# | uniform within one power-of-two range | 4/3 = 1.333 | 25% |
# | log-uniform over whole powers of two | 2 ln 2 = 1.386 | 27.9% |
# | exponential, any mean | 1/ln 2 = 1.4427 | 30.7% |
#
# These are values for sizes measured in real numbers, with no smallest block. Real
# requests are whole bytes and a real buddy allocator has a minimum block (16 bytes
# here by default); we measure the same ratios with `memalloc_py`'s buddy allocator,
# with a minimum block of 16 and of 64 bytes, and find where the minimum block
# changes the answer.
#
# **Method.** For each distribution we draw request sizes with
# `ma.workloads.ramp` (seeded: every run draws the same sizes), replay the
# allocations through `ma.Buddy` at C speed with `ma.replay`, keep every block live,
# and read the allocator's own statistics at the end: `allocated_bytes /
# requested_bytes` over all the blocks. Beside each measurement we compute the exact
# expectation for *these* integer sizes and this minimum block, from the size
# distribution's probabilities: that is what the measurement must match within its
# sampling error, and it tells apart what the published values leave out
# (whole-byte sizes, the minimum block).
#
# `SMOKE=1` in the environment runs a small version (50,000 requests instead of
# 500,000) with a looser tolerance; `FIGURES=1` writes the figure to `docs/img/`.

# %%
import math
import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter

import memalloc_py as ma
from memalloc_py.plot import format_bytes, size_class

SMOKE = os.environ.get("SMOKE", "0") == "1"     # a small, quick run (CI)
FIGURES = os.environ.get("FIGURES", "0") == "1"  # write the headline figure to docs/img/
FIGURE_DIR = Path(os.environ.get("FIGURE_DIR", "../docs/img"))

N_HEADLINE = 50_000 if SMOKE else 500_000  # requests per headline measurement
N_SWEEP = 10_000 if SMOKE else 100_000     # requests per point of the minimum-block sweep
TOLERANCE = 0.02 if SMOKE else 0.01        # measured against published, relative
SWEEP_TOLERANCE = 0.03 if SMOKE else 0.01  # measured against exact, relative
SEED = 20_240_601
started = time.perf_counter()

# %% [markdown]
# ## The experiment
#
# `sizes_pmf` restates how `ma.workloads.sizes` draws each distribution (see its
# docstring) as exact probabilities of each integer size; `exact_ratio` is the
# expectation of the buddy block, `max(min_block, 2**ceil(log2 size))`, over the
# expectation of the size. `measure` runs the allocator.

# %%
def sizes_pmf(distribution, low, high, mean=None):
    """Every integer size ma.workloads.sizes can draw, and its probability."""
    if distribution == "uniform":  # every integer in [low, high]
        s = np.arange(low, high + 1, dtype=np.float64)
        return s, np.full(len(s), 1 / len(s))
    if distribution == "log-uniform":  # floor(exp(U)), U uniform in [ln low, ln(high + 1))
        s = np.arange(low, high + 1, dtype=np.float64)
        return s, (np.log(s + 1) - np.log(s)) / (np.log(high + 1) - np.log(low))
    if distribution == "exponential":  # low + floor(E), E exponential with mean (mean - low)
        theta = mean - low if mean > low else mean
        j = np.arange(0, int(theta * 60) + 2, dtype=np.float64)  # the tail beyond: < e**-60
        return np.minimum(low + j, high), np.exp(-j / theta) * -np.expm1(-1 / theta)
    raise ValueError(distribution)


def exact_ratio(distribution, low, high, mean=None, *, min_block):
    s, p = sizes_pmf(distribution, low, high, mean)
    block = np.maximum(min_block, np.exp2(size_class(s)))
    return float((p * block).sum() / (p * s).sum())


def measure(distribution, low, high, mean=None, *, n, min_block, seed=SEED):
    """allocated / requested bytes of n blocks, all live, in a buddy allocator."""
    options = {"mean": mean} if mean is not None else {}
    trace = ma.workloads.ramp(n, distribution=distribution, low=low, high=high,
                              free_all=False, seed=seed, **options)
    requested = int(trace.size.sum())
    # Address space only: at least four times what the blocks can take.
    arena = 1 << max(10, (8 * requested + 2 * n * min_block).bit_length())
    with ma.Buddy(arena_size=arena, min_block=min_block) as buddy:
        ma.replay(trace, buddy, sample_every=0)
        st = buddy.stats()
    assert st.failures == 0 and st.live_blocks == n and st.requested_bytes == requested
    return st.allocated_bytes / st.requested_bytes


# %% [markdown]
# ## 1. The three published ratios
#
# Sizes well above the minimum block: uniform over 1025–2048 bytes (one power of
# two), log-uniform over 16 bytes to 4 KiB (eight whole powers of two), and
# exponential with mean 2 KiB (from 1 byte up, practically unbounded).

# %%
HEADLINE = [
    # name, sizes, distribution, low, high, mean, published value
    ("uniform within one power of two", "1025–2048 B", "uniform", 1025, 2048, None, 4 / 3),
    ("log-uniform", "16 B–4 KiB", "log-uniform", 16, 4095, None, 2 * math.log(2)),
    ("exponential", "mean 2 KiB", "exponential", 1, 1 << 40, 2048, 1 / math.log(2)),
]
rows = []
for name, sizes, dist, low, high, mean, published in HEADLINE:
    row = {"distribution": name, "sizes": sizes, "published": published}
    for mb in (16, 64):
        row[f"exact, min {mb}"] = exact_ratio(dist, low, high, mean, min_block=mb)
        row[f"measured, min {mb}"] = measure(dist, low, high, mean, n=N_HEADLINE, min_block=mb)
    row["measured − published (min 16)"] = row["measured, min 16"] / published - 1
    rows.append(row)
headline = pd.DataFrame(rows).set_index("distribution")
print(f"allocated / requested bytes, {N_HEADLINE:,} requests each")
headline.style.format(
    {c: "{:.4f}" for c in headline.columns if c not in ("sizes", "measured − published (min 16)")}
    | {"measured − published (min 16)": "{:+.2%}"})

# %% [markdown]
# ## 2. Where the minimum block changes the answer
#
# The same measurement across scales, with a minimum block of 16 and of 64 bytes:
# uniform within each power of two from (1, 2] to (2 KiB, 4 KiB]; log-uniform over
# four powers of two starting at 1 byte up to 512 bytes; exponential with means
# from 2 bytes to 4 KiB. The x axis is the mean request.

# %%
SWEEPS = {
    "uniform within one power of two": [("uniform", (1 << k) + 1, 2 << k, None) for k in range(0, 12)],
    "log-uniform over four powers of two": [("log-uniform", 1 << a, (16 << a) - 1, None) for a in range(0, 10)],
    "exponential": [("exponential", 1, 1 << 40, float(1 << k)) for k in range(1, 13)],
}
PUBLISHED = dict(zip(SWEEPS, [4 / 3, 2 * math.log(2), 1 / math.log(2)]))
PUBLISHED_TEXT = dict(zip(SWEEPS, ["4/3 = 1.3333", "2 ln 2 = 1.3863", "1/ln 2 = 1.4427"]))

points = []
for panel, configs in SWEEPS.items():
    for i, (dist, low, high, mean) in enumerate(configs):
        s, p = sizes_pmf(dist, low, high, mean)
        for mb in (16, 64):
            points.append({
                "panel": panel, "min_block": mb, "mean_request": float((s * p).sum()),
                "sizes": f"{low}–{high} B" if mean is None else f"mean {format_bytes(mean)}",
                "exact": exact_ratio(dist, low, high, mean, min_block=mb),
                "measured": measure(dist, low, high, mean, n=N_SWEEP, min_block=mb, seed=SEED + i),
            })
sweep = pd.DataFrame(points)
sweep["measured / exact - 1"] = sweep["measured"] / sweep["exact"] - 1
print(f"{len(sweep)} measurements of {N_SWEEP:,} requests; "
      f"largest gap to the exact value {sweep['measured / exact - 1'].abs().max():.3%}")

# %% [markdown]
# The picture: above, a close view around the published value (dashed, with a ±1%
# band); below, the whole range on a logarithmic scale. Markers are measurements,
# lines the exact expectation for the same integer sizes and minimum block.

# %%
COLOURS = {16: "#0072B2", 64: "#D55E00"}
MARKERS = {16: "o", 64: "s"}
fig, axes = plt.subplots(2, 3, figsize=(15, 8.5), sharex="col", layout="constrained",
                         height_ratios=[1, 1.2])
for col, panel in enumerate(SWEEPS):
    published = PUBLISHED[panel]
    for row, ax in enumerate(axes[:, col]):
        ax.axhline(published, color="black", linestyle="--", linewidth=1,
                   label=f"published: {published:.4f}")
        if row == 0:
            ax.axhspan(published * 0.99, published * 1.01, color="#e8e8e8", zorder=0,
                       label="published ± 1%")
        for mb in (16, 64):
            d = sweep[(sweep["panel"] == panel) & (sweep["min_block"] == mb)]
            ax.plot(d["mean_request"], d["exact"], color=COLOURS[mb], linewidth=1.2,
                    label=f"exact, min block {mb} B")
            ax.plot(d["mean_request"], d["measured"], MARKERS[mb], color=COLOURS[mb],
                    markerfacecolor="none" if mb == 64 else COLOURS[mb], markersize=6,
                    label=f"measured, min block {mb} B")
            ax.axvline(mb, color=COLOURS[mb], linestyle=":", linewidth=1)
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: format_bytes(v)))
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    top, bottom = axes[:, col]
    top.set_title(panel, loc="left", fontsize=11)
    top.annotate(f"published: {PUBLISHED_TEXT[panel]}", (0.98, 0.05), xycoords="axes fraction",
                 ha="right", va="bottom", fontsize=10)
    top.set_ylim(published - 0.12, published + 0.12)
    bottom.set_yscale("log", base=2)
    bottom.set_ylim(1, 64)
    bottom.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
    bottom.set_xlabel("mean request (bytes, log scale)")
axes[0, 0].set_ylabel("allocated / requested\n(close view, linear)")
axes[1, 0].set_ylabel("allocated / requested\n(whole range, log scale)")
handles, labels = axes[0, 0].get_legend_handles_labels()
keep = [i for i, lab in enumerate(labels) if not lab.startswith("published:")]
fig.legend([handles[i] for i in keep] + [plt.Line2D([], [], color="black", linestyle="--"),
                                          plt.Line2D([], [], color="grey", linestyle=":")],
           [labels[i] for i in keep] + ["published value", "the minimum block (16 B, 64 B)"],
           loc="outside lower center", ncol=7, frameon=False, fontsize=9)
fig.suptitle("Binary buddy: bytes allocated per byte requested, against the published exact values",
             x=0.01, ha="left", fontsize=13)
if FIGURES:
    FIGURE_DIR.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE_DIR / "02_buddy_internal_fragmentation.png", dpi=110)
plt.show()

# %% [markdown]
# Where does each minimum block stop mattering? For each distribution, the smallest
# mean request from which on the measured ratio stays within 1% of the published
# value:

# %%
def settles(d, published):
    """The smallest mean request from which on every point is within 1% of published."""
    ok = (d["measured"] / published - 1).abs() <= 0.01
    bad = np.flatnonzero(~ok.to_numpy())
    first = 0 if bad.size == 0 else bad[-1] + 1
    return d["mean_request"].iloc[first] if first < len(d) else math.nan


where = pd.DataFrame(
    {f"min block {mb} B": [settles(sweep[(sweep.panel == p) & (sweep.min_block == mb)]
                                   .sort_values("mean_request"), PUBLISHED[p]) for p in SWEEPS]
     for mb in (16, 64)}, index=list(SWEEPS))
where.index.name = "within 1% of the published value from a mean request of"
where.style.format(lambda v: "never" if math.isnan(v) else format_bytes(v))

# %% [markdown]
# ## What it means
#
# **Agreement.** With sizes well above the minimum block the buddy allocator
# allocates 4/3, 2 ln 2 and 1/ln 2 bytes per byte requested, as published: the
# headline table's measurements lie within a fraction of a percent of those values
# (the figure's markers sit in the ±1% band on the right of each panel). A quarter
# to almost a third of the memory a buddy system hands out is rounding waste, and
# an exponential size distribution, with its many small requests spread over many
# powers of two, is the worst of the three.
#
# **Where it differs, and why.** Every measurement matches the *exact* value for
# its own integer sizes and minimum block within sampling error; the published
# values are the limit of those for large sizes. Two things move the answer away
# from the published value at small sizes:
#
# - *The minimum block.* A request below it takes a whole minimum block, so when the
#   mean request nears the minimum block the ratio climbs towards `min_block / mean`:
#   32 for two-byte requests with 64-byte blocks. With 64-byte blocks even the
#   log-uniform case of the headline (16 bytes to 4 KiB) is 0.4% above 2 ln 2, since
#   its smallest requests (16–63 bytes) all take 64.
# - *Whole bytes.* Integer sizes in (2^k, 2^(k+1)] average 1.5·2^k + 0.5, slightly
#   more than the continuous 1.5·2^k, so the uniform case sits just *below* 4/3 for
#   small powers of two (1.306 for 17–32 bytes) even where the minimum block plays
#   no part.
#
# The table above says from which mean request on each answer holds within 1%. For
# log-uniform and exponential sizes a 64-byte minimum block needs means four to eight
# times larger than a 16-byte one. For sizes uniform within one power of two, whole
# bytes, not the minimum block, set the limit: with either minimum block the ratio is
# within 1% of 4/3 from the range 65–128 bytes on. An allocator that wants a large
# minimum block (for headers, or for alignment) pays for it on small requests, which
# the averages of the literature do not show.

# %% [markdown]
# ## Checks
#
# The notebook's claims, asserted: the three published ratios within 1% (2% in a
# smoke run); every sweep point within its tolerance of the exact value; the minimum
# block making no difference for large sizes, and the predicted difference for small
# ones.

# %%
for name, *_, published in HEADLINE:
    measured = headline.loc[name, "measured, min 16"]
    assert abs(measured / published - 1) <= TOLERANCE, (name, measured, published)
    # the measurement agrees with the exact value for its own integer sizes, too
    assert abs(measured / headline.loc[name, "exact, min 16"] - 1) <= TOLERANCE, name

assert (sweep["measured / exact - 1"].abs() <= SWEEP_TOLERANCE).all(), \
    sweep.loc[sweep["measured / exact - 1"].abs().idxmax()]

pairs = sweep.pivot_table(index=["panel", "mean_request"], columns="min_block", values="measured")
for panel in SWEEPS:
    d = pairs.loc[panel]
    # The largest sizes: the minimum block makes (almost) no difference.
    assert abs(d[64].iloc[-1] / d[16].iloc[-1] - 1) <= 0.002, panel
    # The smallest sizes: requests of one or two bytes take whole minimum blocks,
    # so the 64-byte minimum allocates about four times what the 16-byte one does.
    assert 3.5 <= d[64].iloc[0] / d[16].iloc[0] <= 4.0, panel

# Uniform within one power of two: the minimum block is the only difference, and
# it stops mattering once the sizes reach it (the power of two above 64 bytes).
uniform = pairs.loc["uniform within one power of two"]
assert (uniform[64][uniform.index > 64] == uniform[16][uniform.index > 64]).all()
assert (uniform[64][uniform.index < 32] > uniform[16][uniform.index < 32]).all()
# Where the 1% answer starts: the same for both minimum blocks with uniform sizes
# (65-128 bytes, mean 96.5), several times later with 64-byte blocks for the others.
first = where.loc["uniform within one power of two"]
assert first.iloc[0] == first.iloc[1] == 96.5, first
for panel in ("log-uniform over four powers of two", "exponential"):
    later = where.loc[panel].iloc[1] / where.loc[panel].iloc[0]
    assert (2 if SMOKE else 3) <= later <= (16 if SMOKE else 10), (panel, later)

elapsed = time.perf_counter() - started
print(f"all checks passed ({'smoke' if SMOKE else 'full'} size, {elapsed:.1f} s)")
