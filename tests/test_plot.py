"""memalloc_py.plot: what each helper draws (the artists' data), on Agg."""
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import memalloc_py as ma  # noqa: E402
from memalloc_py import plot as mp  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _rects(ax, gid):
    """(x0, x1, y_centre) of every rectangle in the collection with this gid,
    and their face colours."""
    (coll,) = [c for c in ax.collections if c.get_gid() == gid]
    boxes = []
    for path in coll.get_paths():
        v = path.vertices[:4]
        boxes.append((v[:, 0].min(), v[:, 0].max(), v[:, 1].min(), v[:, 1].max()))
    return np.array(boxes).reshape(-1, 4), coll.get_facecolors()


def _buddy_heap():
    """A buddy heap with blocks of three classes and free holes between them."""
    a = ma.Buddy(arena_size=1 << 12)
    p = [a.malloc(n) for n in (100, 16, 300, 50, 700, 33)]
    a.free(p[2])
    return a


# ---------------------------------------------------------------- the import


def test_import_memalloc_py_does_not_import_matplotlib(tmp_path):
    code = ("import sys, memalloc_py as ma; assert 'matplotlib' not in sys.modules, 'eager'; "
            "p = ma.plot; assert 'matplotlib' in sys.modules; print(p.__name__, 'plot' in dir(ma))")
    # cwd: outside the checkout, whose source folder would shadow the install
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=tmp_path)
    assert out.stdout.split() == ["memalloc_py.plot", "True"]


def test_format_bytes_and_size_class():
    assert [mp.format_bytes(n) for n in (0, 100, 1024, 1536, 3 << 20, 1 << 30, 1023)] == [
        "0 B", "100 B", "1 KiB", "1.5 KiB", "3 MiB", "1 GiB", "1023 B"]
    assert [mp.size_class(n) for n in (1, 2, 16, 17, 32, 33, 4096, 4097)] == [0, 1, 4, 5, 5, 6, 12, 13]
    assert mp.size_class(np.array([16, 17, 1 << 40])).tolist() == [4, 5, 40]


def test_binary_locator_ticks_are_power_of_two_multiples():
    ticks = mp._BinaryLocator(6).tick_values(0, 3 << 20)
    assert ticks.tolist() == [i * (512 << 10) for i in range(7)]


# ------------------------------------------------------------------ heap map


def test_heap_map_draws_every_block_at_its_offset_and_size():
    with _buddy_heap() as a:
        blocks = a.blocks().array
        heap = a.stats().heap_size
        ax = mp.heap_map(a, row_bytes=heap)
        shown = blocks[blocks["offset"] < heap]
        for gid, state in (("allocated", True), ("free", False)):
            boxes, _ = _rects(ax, gid)
            want = shown[shown["allocated"] == state]
            assert boxes[:, 0].tolist() == want["offset"].tolist()
            assert (boxes[:, 1] - boxes[:, 0]).tolist() == want["size"].tolist()
            assert np.allclose(boxes[:, 2], -0.4) and np.allclose(boxes[:, 3], 0.4)


def test_heap_map_limit_defaults_to_the_heap_size():
    with _buddy_heap() as a:
        heap = a.stats().heap_size
        assert heap < a.arena_size
        ax = mp.heap_map(a)
        widths = [b[1] - b[0] for g in ("allocated", "free") for b in _rects(ax, g)[0]]
        assert sum(widths) == heap
        ax = mp.heap_map(a, limit=a.arena_size, row_bytes=a.arena_size)
        widths = [b[1] - b[0] for g in ("allocated", "free") for b in _rects(ax, g)[0]]
        assert sum(widths) == a.arena_size


def test_heap_map_colours_allocated_blocks_by_size_class_and_free_grey():
    with _buddy_heap() as a:
        heap = a.stats().heap_size
        blocks = a.blocks().array
        shown = blocks[(blocks["offset"] < heap) & blocks["allocated"]]
        ax = mp.heap_map(a, row_bytes=heap)
        _, colours = _rects(ax, "allocated")
        classes = mp.size_class(shown["size"])
        palette = mp._Palette(int(classes.min()), int(classes.max()))
        assert np.allclose(colours, palette.rgba(classes))
        # same class, same colour; different class, different colour
        for i in range(len(classes)):
            for j in range(len(classes)):
                assert np.allclose(colours[i], colours[j]) == (classes[i] == classes[j])
        _, free = _rects(ax, "free")
        assert np.allclose(free, mcolors.to_rgba(mp.FREE_COLOR))
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert labels == [f"<= {mp.format_bytes(1 << k)}" for k in sorted(set(classes.tolist()))] + ["free"]


def test_heap_map_size_range_fixes_the_colour_scale():
    with _buddy_heap() as a:
        ax1 = mp.heap_map(a, size_range=(16, 1 << 20))
        b = ma.Buddy(arena_size=1 << 12)
        b.malloc(100)  # a 128-byte block
        ax2 = mp.heap_map(b, size_range=(16, 1 << 20))
        boxes, colours = _rects(ax1, "allocated")
        first = colours[list(boxes[:, 0]).index(0.0)]  # block 0 is 128 bytes in both
        assert np.allclose(first, _rects(ax2, "allocated")[1][0])
        labels = [t.get_text() for t in ax2.get_legend().get_texts()]
        assert labels == [f"<= {mp.format_bytes(1 << k)}" for k in range(4, 21)] + ["free"]
        b.close()


def test_heap_map_rows_cover_every_byte_exactly_once():
    t = ma.workloads.random_lifetimes(400, mean_lifetime=80, seed=3, high=3000)
    a, _ = mp.replay_python(t, "best-ao", arena_size=1 << 20, stop=500)
    with a:
        blocks = a.blocks().array
        limit = int(a.stats().heap_size)
        for row_bytes in (1000, 4096, 777):
            ax = mp.heap_map(a, row_bytes=row_bytes)
            pieces = []
            for gid in ("allocated", "free"):
                boxes, _ = _rects(ax, gid)
                rows = np.round((boxes[:, 2] + boxes[:, 3]) / 2).astype(int)
                for (x0, x1, _, _), r in zip(boxes, rows):
                    assert 0 <= x0 < x1 <= row_bytes
                    pieces.append((r * row_bytes + x0, r * row_bytes + x1, gid == "allocated"))
            pieces.sort()
            covered = np.array([p[:2] for p in pieces])
            assert covered[0, 0] == 0 and covered[-1, 1] == limit
            assert (covered[1:, 0] == covered[:-1, 1]).all()  # no gap, no overlap
            # each piece lies inside one block of its own state
            starts = blocks["offset"].astype(float)
            for lo, hi, state in pieces:
                i = int(np.searchsorted(starts, lo, side="right")) - 1
                assert hi <= starts[i] + blocks["size"][i] and bool(blocks["allocated"][i]) == state


def test_heap_map_state_and_age_colours():
    t = ma.workloads.random_lifetimes(200, mean_lifetime=50, seed=5, high=1000)
    a, ages = mp.replay_python(t, "best-ao", arena_size=1 << 20, stop=250)
    with a:
        limit = a.stats().heap_size
        ax = mp.heap_map(a, color_by="state", row_bytes=limit)
        assert np.allclose(_rects(ax, "allocated")[1], mcolors.to_rgba(mp.ALLOCATED_COLOR))
        ax = mp.heap_map(a, color_by="age", ages=ages, row_bytes=limit)
        boxes, colours = _rects(ax, "allocated")
        live = a.blocks().allocated.array
        age = np.array([ages[int(x)] for x in live["address"]])
        assert boxes[:, 0].tolist() == live["offset"].tolist()
        # colour position along the map is an increasing function of age
        cmap = matplotlib.colormaps[mp.AGE_CMAP]
        lut = cmap(np.linspace(*mp._CMAP_SPAN, 1001))
        pos = [int(np.argmin(((lut - c) ** 2).sum(axis=1))) for c in colours]
        order = np.argsort(age, kind="stable")
        assert np.all(np.diff(np.array(pos)[order]) >= 0)
        # the oldest at the dark end, the youngest at the light end (256-colour map)
        assert pos[int(np.argmin(age))] <= 4 and pos[int(np.argmax(age))] >= 996
        # a fixed scale: the same age, the same colour, whatever else is drawn
        fixed = mp.heap_map(a, color_by="age", ages=ages, age_range=(0, 1000), row_bytes=limit)
        one = {k: (v if k == live["address"][0] else 1000) for k, v in ages.items()}
        other = mp.heap_map(a, color_by="age", ages=one, age_range=(0, 1000), row_bytes=limit)
        first_colour = cmap(mp._CMAP_SPAN[0] + (mp._CMAP_SPAN[1] - mp._CMAP_SPAN[0]) * age[0] / 1000)
        assert np.allclose(_rects(fixed, "allocated")[1][0], first_colour)
        assert np.allclose(_rects(other, "allocated")[1][0], first_colour)
        with pytest.raises(ValueError, match="ages="):
            mp.heap_map(a, color_by="age")
        with pytest.raises(ValueError, match="no entry for 1 allocated"):
            mp.heap_map(a, color_by="age", ages={k: v for k, v in list(ages.items())[1:]})


def test_heap_map_of_blocks_and_bad_arguments():
    with _buddy_heap() as a:
        blocks = a.blocks()
        ax = mp.heap_map(blocks, row_bytes=a.arena_size)  # a Blocks: up to its last block
        widths = [b[1] - b[0] for g in ("allocated", "free") for b in _rects(ax, g)[0]]
        assert sum(widths) == a.arena_size
        with pytest.raises(ValueError, match="color_by"):
            mp.heap_map(a, color_by="colour")
        with pytest.raises(ValueError, match="row_bytes must be at least 1, got 0"):
            mp.heap_map(a, row_bytes=0)
        with pytest.raises(TypeError, match="limit must be an integer, not float"):
            mp.heap_map(a, limit=1024.0)
        with pytest.raises(ValueError, match="limit must be at least 0"):
            mp.heap_map(a, limit=-1)
        with pytest.raises(ValueError, match="10000 rows; at most 4096"):
            mp.heap_map(a, row_bytes=1, limit=10_000)
        with pytest.raises(TypeError, match="Allocator or a Blocks"):
            mp.heap_map([1, 2])
    with ma.create("system") as s:
        with pytest.raises(NotImplementedError):
            mp.heap_map(s)


def test_heap_map_image_for_large_heaps_averages_colours_by_bytes():
    t = ma.workloads.steady_state(3000, live=1500, seed=2, free_all=False)
    with ma.create("best-ao", arena_size=1 << 24) as a:
        ma.replay(t, a, sample_every=0)
        blocks = a.blocks().array
        limit = int(a.stats().heap_size)
        row_bytes = 1 << 16
        ax = mp.heap_map(a, color_by="state", row_bytes=row_bytes, max_rects=10)
        assert not [c for c in ax.collections if c.get_gid() in ("allocated", "free")]
        (im,) = [i for i in ax.images if i.get_gid() == "heap-image"]
        img = np.asarray(im.get_array())
        n_rows = -(-limit // row_bytes)
        assert img.shape == (n_rows * 10, 2000, 4)
        assert (img[0::10, :, 3] == 0).all() and (img[9::10, :, 3] == 0).all()  # gaps
        rgba = img[1::10]
        assert np.array_equal(rgba, img[8::10])
        # expected: each pixel's allocated share of bytes, from the blocks
        alloc = np.zeros(n_rows * row_bytes + 1)
        for off, size, al in zip(blocks["offset"], blocks["size"], blocks["allocated"]):
            if al and off < limit:
                alloc[off:min(off + size, limit)] = 1
        px = row_bytes / 2000
        edges = np.arange(n_rows)[:, None] * row_bytes + np.linspace(0, row_bytes, 2001)[None, :]
        cum = np.concatenate([[0], np.cumsum(alloc)])
        share = np.diff(np.interp(edges, np.arange(len(cum)), cum), axis=1) / px
        free_rgb, alloc_rgb = mcolors.to_rgb(mp.FREE_COLOR), mcolors.to_rgb(mp.ALLOCATED_COLOR)
        inside = edges[:, 1:] <= limit
        for c in range(3):
            want = share * alloc_rgb[c] + (1 - share) * free_rgb[c]
            assert np.allclose(rgba[..., c][inside], want[inside], atol=1e-9)
        assert np.allclose(rgba[..., 3][inside], 1.0)
        assert (rgba[..., 3][edges[:, :-1] >= limit] == 0).all()  # past the heap: transparent


# ----------------------------------------------------------- over time


def test_heap_map_over_time_draws_each_lifetime_at_its_block():
    t = ma.Trace.from_events([("malloc", "a", 100), ("malloc", "b", 200), ("free", "a"),
                              ("malloc", "c", 50), ("realloc", "b", 300), ("free", "c")],
                             name="hand")
    ax = mp.heap_map_over_time(t, "buddy", arena_size=1 << 12)
    boxes, _ = _rects(ax, "lifetimes")
    # (x0, x1, y0, y1): events from allocation to free, addresses of the block
    assert boxes.tolist() == [[0, 2, 0, 128], [1, 4, 256, 512], [3, 5, 0, 64], [4, 6, 512, 1024]]
    (line,) = [ln for ln in ax.lines if ln.get_gid() == "heap-size"]
    assert line.get_ydata().tolist() == [0, 128, 512, 512, 512, 1024, 1024]
    assert ax.get_title(loc="left") == "buddy: hand"
    assert ax.get_xlabel().startswith("event") and ax.get_ylabel().startswith("address")


def test_heap_map_over_time_refuses_or_truncates_long_traces():
    t = ma.workloads.random_lifetimes(100, mean_lifetime=10, seed=1)
    with pytest.raises(ValueError, match=r"200 events, more than max_events=50.*truncate=True"):
        mp.heap_map_over_time(t, "best-ao", max_events=50, arena_size=1 << 20)
    ax = mp.heap_map_over_time(t, "best-ao", max_events=50, truncate=True, arena_size=1 << 20)
    assert "first 50 of 200 events" in ax.get_title(loc="left")
    boxes, _ = _rects(ax, "lifetimes")
    assert boxes[:, 1].max() <= 50 and ax.get_xlim() == (0, 50)
    with pytest.raises(ValueError, match="max_events must be at least 1"):
        mp.heap_map_over_time(t, "best-ao", max_events=0)
    with pytest.raises(ValueError, match="stop must be from 0 to 200, got 201"):
        mp.replay_python(t, "best-ao", stop=201)
    with pytest.raises(TypeError, match="not an instance"):
        mp.heap_map_over_time(t, ma.Buddy(), max_events=500)


def test_lifetimes_and_replay_python_match_the_c_replay():
    t = ma.workloads.random_lifetimes(600, mean_lifetime=100, seed=4, high=2000)
    for name in ("buddy", "first-lifo"):
        stop = 700
        a, ages = mp.replay_python(t, name, arena_size=1 << 20, stop=stop)
        with a, ma.create(name, arena_size=1 << 20) as ref:
            ma.replay(t[:stop], ref, sample_every=0)
            assert np.array_equal(a.blocks().array, ref.blocks().array)
            live = a.blocks().allocated.array
            assert sorted(ages) == sorted(live["address"].tolist())
        df = mp.lifetimes(t, name, max_events=len(t), arena_size=1 << 20)
        assert len(df) == 600 and df.attrs["failures"] == 0
        assert (df["end"] > df["start"]).all()
        at_stop = df[(df["start"] < stop) & (df["end"] >= stop)]
        assert sorted(at_stop["address"]) == sorted(ages)
        assert all(ages[r.address] == r.start for r in at_stop.itertuples())


def test_replay_python_treats_failures_and_reallocs_as_the_c_engine_does():
    """A failed allocation's realloc to 0 only ends the id (it once made a
    block the engine never made); a realloc of it to n > 0 allocates; a
    realloc of a live block to an impossible size leaves it; realloc(NULL, 0)
    allocates a minimum block."""
    big = 1 << 30
    t = ma.Trace.from_events([
        ("malloc", "a", big), ("realloc", "a", 0), ("malloc", "b", 16),
        ("malloc", "c", big), ("realloc", "c", 40), ("realloc", "b", big),
        ("realloc", "d", 0), ("malloc", "e", big), ("free", "e"), ("malloc", "f", 100),
        ("realloc", "f", 0),
    ])
    for name in ("buddy", "best-ao"):
        for stop in range(len(t) + 1):
            a, ages = mp.replay_python(t, name, arena_size=1 << 20, stop=stop)
            with a, ma.create(name, arena_size=1 << 20) as ref:
                res = ma.replay(t[:stop], ref, sample_every=0)
                assert np.array_equal(a.blocks().array, ref.blocks().array), (name, stop)
                assert a.stats().failures == res.summary["failures"]


def test_lifetimes_with_a_factory_and_failures():
    t = ma.Trace.from_events([("malloc", 1, 600), ("malloc", 2, 600), ("free", 2), ("free", 1)])
    df = mp.lifetimes(t, lambda: ma.Buddy(arena_size=1024))
    assert df.attrs["failures"] == 1 and df[["start", "end", "size"]].values.tolist() == [[0, 3, 1024]]
    with pytest.raises(TypeError, match="options go with a name"):
        mp.lifetimes(t, lambda: ma.Buddy(), arena_size=1024)


# ------------------------------------------------------------------ timeline


def test_timeline_draws_heap_live_and_fragmentation():
    t = ma.workloads.steady_state(20_000, live=2000, seed=1)
    res = ma.replay(t, "buddy", sample_every=500)
    df = res.timeline
    fig = mp.timeline(res)
    top, frag = fig.axes
    lines = {ln.get_gid(): ln for ln in top.lines + frag.lines}
    unit, scale = mp._byte_unit(max(df["heap_size"].max(), df["allocated_bytes"].max()))
    assert top.get_ylabel() == f"bytes ({unit})" and (unit, scale) == ("KiB", 1024)
    assert np.allclose(lines["heap_size"].get_ydata(), df["heap_size"] / scale)
    assert np.allclose(lines["live_bytes"].get_ydata(), df["live_bytes"] / scale)
    assert np.allclose(lines["allocated_bytes"].get_ydata(), df["allocated_bytes"] / scale)
    assert np.allclose(lines["internal_fragmentation"].get_ydata(), 100 * df["internal_fragmentation"])
    assert np.allclose(lines["external_fragmentation"].get_ydata(), 100 * df["external_fragmentation"])
    assert np.array_equal(lines["heap_size"].get_xdata(), df["event"])
    assert frag.get_ylabel() == "fragmentation (%)" and "500" in frag.get_xlabel()
    sys_fig = mp.timeline(ma.replay(t, "system", sample_every=500))
    assert "heap_size" not in {ln.get_gid() for ln in sys_fig.axes[0].lines}
    assert "not observable" in sys_fig.axes[0].get_title(loc="left")


def test_timeline_event_labels_do_not_overlap_on_half_width_axes():
    """Two timelines side by side: the event ticks of each stay apart (they
    once ran together as "100,000200,000")."""
    import matplotlib.pyplot as plt

    t = ma.workloads.steady_state(600_000, live=2000, seed=1)
    res = ma.replay(t, "best-ao", sample_every=5000)
    fig, axes = plt.subplots(2, 2, figsize=(10, 4), sharex="col", layout="constrained")
    for col in range(2):
        mp.timeline(res, axes=axes[:, col])
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in axes[1]:
        lo, hi = ax.get_xlim()
        boxes = [lab.get_window_extent(renderer) for lab, tick in zip(ax.get_xticklabels(), ax.get_xticks())
                 if lab.get_visible() and lab.get_text() and lo <= tick <= hi]
        assert len(boxes) >= 2
        boxes.sort(key=lambda b: b.x0)
        assert all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:])), [lab.get_text() for lab in ax.get_xticklabels()]
    plt.close(fig)


# ------------------------------------------------------------------- compare


def _frame():
    rows = []
    for trace, values in (("small", [0.40, 0.05, np.nan]), ("large", [0.55, 0.10, np.nan])):
        for name, v in zip(("buddy", "best-ao", "system"), values):
            rows.append({"trace": trace, "allocator": name, "jw4": v, "ns_per_event": 10 + 100 * (0 if np.isnan(v) else v)})
    return pd.DataFrame(rows)


def _bars(ax):
    return {p.get_gid(): p for p in ax.patches if p.get_gid()}


def test_compare_bar_heights_are_the_frame_values_in_percent():
    frame = _frame()
    ax = mp.compare(frame, "jw4")
    bars = _bars(ax)
    assert sorted(bars) == sorted(["buddy|small", "best-ao|small", "buddy|large", "best-ao|large"])
    for r in frame.dropna(subset=["jw4"]).itertuples():
        assert bars[f"{r.allocator}|{r.trace}"].get_height() == pytest.approx(100 * r.jw4)
    assert ax.get_ylabel().endswith("(%)")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["small", "large"]
    # bars of one group sit inside that group's slot, in the allocators' order
    xs = {k: b.get_x() + b.get_width() / 2 for k, b in bars.items()}
    assert -0.5 < xs["buddy|small"] < xs["best-ao|small"] < 0.5 < xs["buddy|large"] < 1.5
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["buddy", "best-ao"]


def test_compare_nan_bars_are_absent_and_raw_measures_stay_raw():
    ax = mp.compare(_frame(), "ns_per_event", order=["best-ao", "buddy", "system"])
    bars = _bars(ax)
    assert len(bars) == 6 and bars["system|small"].get_height() == pytest.approx(10)
    assert bars["buddy|large"].get_height() == pytest.approx(65)
    assert not ax.get_ylabel().endswith("(%)")
    ax = mp.compare(_frame(), "jw4", percent=False)
    assert _bars(ax)["buddy|small"].get_height() == pytest.approx(0.40)
    assert "system|small" not in _bars(ax)


def test_compare_legend_is_outside_the_axes():
    ax = mp.compare(_frame(), "jw4")
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legend_box = ax.get_legend().get_window_extent(renderer)
    axes_box = ax.get_window_extent(renderer)
    assert legend_box.x0 >= axes_box.x1
    assert legend_box.x1 <= fig.bbox.x1 + 1  # and inside the figure


def test_compare_takes_ma_compare_tables():
    t = ma.workloads.steady_state(5000, live=500, seed=1)
    table = ma.compare(t, ["buddy", "best-ao", "first-lifo"], arena_size=1 << 24)
    ax = mp.compare(table, "jw3")
    bars = _bars(ax)
    assert sorted(bars) == ["best-ao|", "buddy|", "first-lifo|"]
    for name in table.index:
        assert bars[f"{name}|"].get_height() == pytest.approx(100 * table.loc[name, "jw3"])
    with pytest.raises(ValueError, match="no column 'jw9'"):
        mp.compare(table, "jw9")
    with pytest.raises(ValueError, match="not in the frame: worst"):
        mp.compare(table, "jw3", order=["worst"])


def test_allocator_styles_tell_every_allocator_apart():
    styles = mp.allocator_style(list(ma.ALLOCATORS))
    looks = {(s["facecolor"], s["hatch"]) for n, s in styles.items() if n not in ma.ALIASES}
    assert len(looks) == len(ma.ALLOCATORS) - len(ma.ALIASES)
    assert styles["best"] == styles["best-ao"]
    tint = 0.3 * np.array(mcolors.to_rgb(styles["first-ao"]["color"])) + 0.7
    assert np.allclose(mcolors.to_rgb(styles["first-lifo"]["facecolor"]), tint, atol=1 / 255)
    assert styles["first-lifo"]["color"] == styles["first-ao"]["color"] == styles["first-ao"]["facecolor"]
