"""Pictures of heaps and of fragmentation measurements (``memalloc_py.plot``).

The plotting helpers that the notebooks in ``notebooks/`` share, all drawn
with matplotlib (imported with this module, which ``import memalloc_py``
does not do until ``ma.plot`` is first used):

- :func:`heap_map`: one heap at one moment, address along the axis, each
  block a rectangle, allocated blocks coloured by size class (or by age),
  free blocks light grey and hatched, wrapped into rows;
- :func:`heap_map_over_time`: a short trace replayed event by event, each
  block drawn from the event that allocated it to the event that freed it,
  at its addresses;
- :func:`timeline`: a :class:`~memalloc_py.ReplayResult`'s heap size and live
  bytes over time, with its fragmentation below;
- :func:`compare`: a measure of :func:`memalloc_py.compare`'s table as
  grouped bars, one group per trace and one bar per allocator.

Two helpers replay a trace through the Python API, one call per event, for
the pictures that need each block's history: :func:`replay_python` (the
allocator after the first events, and when each live block was allocated)
and :func:`lifetimes` (every block's addresses and lifetime).

Sizes are drawn in bytes: axes that show addresses or byte counts carry
binary units (KiB = 1024 bytes, MiB, GiB) in their tick labels or their
axis label.  A block's *size class* is ``k`` for a block of more than
``2**(k-1)`` and at most ``2**k`` bytes, labelled "<= 2**k" in the legend.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Sequence, Union, cast

import matplotlib
import matplotlib.colors as mcolors
import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, Locator, MaxNLocator

from ._core import Allocator, Blocks
from .allocators import create
from .trace import CALLOC, FREE, MEMALIGN, REALLOC, Trace

__all__ = [
    "heap_map",
    "heap_map_over_time",
    "timeline",
    "compare",
    "lifetimes",
    "replay_python",
    "allocator_style",
    "format_bytes",
    "size_class",
    "FREE_COLOR",
    "ALLOCATED_COLOR",
    "DEFAULT_MAX_EVENTS",
]

#: Face colour of free blocks (they are also hatched where blocks are drawn one by one).
FREE_COLOR = "#dcdcdc"
#: The mark heap_map draws where each zone of a zones allocator starts.
ZONE_COLOR = "#222222"
#: Hatch colour of free blocks.
FREE_HATCH_COLOR = "#9a9a9a"
#: Colour of allocated blocks in ``color_by="state"``.
ALLOCATED_COLOR = "#0072B2"
#: The colour map of size classes (ordered: small sizes dark, large light).
SIZE_CMAP = "viridis"
#: The colour map of ages (old dark, young light).
AGE_CMAP = "plasma"
#: The most events :func:`heap_map_over_time` replays unless told otherwise.
DEFAULT_MAX_EVENTS = 5000

_UNITS = (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10))
# The share of each colour map used: the lightest end of viridis (yellow)
# and of plasma stays clear of the white background.
_CMAP_SPAN = (0.0, 0.92)


# --------------------------------------------------------------------- units


def _short(value: float) -> str:
    """``value`` with three significant digits, no exponent, no trailing zeros."""
    if value == 0:
        return "0"
    decimals = max(0, 2 - int(math.floor(math.log10(abs(value)))))
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def format_bytes(n: float) -> str:
    """A byte count with a binary unit: ``1536 -> "1.5 KiB"``, ``100 -> "100 B"``."""
    n = float(n)
    for unit, k in _UNITS:
        if abs(n) >= 1 << k:
            return f"{_short(n / (1 << k))} {unit}"
    return f"{_short(n)} B"


def _count_label(v: float) -> str:
    """An event count in a few characters: 950, 25k, 1.5M."""
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.3g}{suffix}"
    return f"{v:.0f}"


def _event_axis(axis: Any) -> None:
    """Event-count ticks that cannot run into each other on a narrow axes:
    as many as the axis length has room for when it is drawn (matplotlib's
    "auto" count, which allows three font sizes per label), labelled in a few
    characters (25k, 1.5M)."""
    axis.set_major_locator(MaxNLocator(nbins="auto", integer=True, min_n_ticks=2))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: _count_label(v)))


def _byte_unit(top: float) -> tuple[str, int]:
    """The unit for an axis whose values reach ``top`` bytes, and its size."""
    for unit, k in _UNITS:
        if top >= 2 << k:
            return unit, 1 << k
    return "bytes", 1


class _BinaryLocator(Locator):
    """Ticks at multiples of a power of two bytes (0, 256 KiB, 512 KiB, ...)."""

    def __init__(self, nbins: int = 6):
        self.nbins = nbins

    def __call__(self) -> Any:
        assert self.axis is not None
        lo, hi = self.axis.get_view_interval()
        return self.tick_values(lo, hi)

    def tick_values(self, vmin: float, vmax: float) -> Any:
        lo, hi = sorted((float(vmin), float(vmax)))
        span = hi - lo
        if span <= 0:
            return np.array([lo])
        step = 2.0 ** math.floor(math.log2(span / self.nbins)) if span > self.nbins else 1.0
        while span / step > self.nbins:
            step *= 2
        first = math.ceil(lo / step) * step
        return np.arange(first, hi + step * 1e-9, step)


def _byte_axis(axis: Any) -> None:
    axis.set_major_locator(_BinaryLocator())
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: format_bytes(v) if v else "0"))


# --------------------------------------------------------------- size classes


def size_class(size: Any) -> Any:
    """The power-of-two class of each size: ``k`` with ``2**(k-1) < size <= 2**k``
    (0 for sizes 0 and 1).  Works on ints and numpy arrays."""
    arr = np.asarray(size, dtype=np.float64)
    k = np.frexp(np.maximum(arr - 1, 0))[1].astype(np.int64)
    return int(k) if k.ndim == 0 else k


def _class_label(k: int) -> str:
    return f"<= {format_bytes(1 << k)}"


class _Palette:
    """Colours for size classes ``lo..hi`` (inclusive) from :data:`SIZE_CMAP`."""

    def __init__(self, lo: int, hi: int):
        self.lo, self.hi = lo, max(lo, hi)
        self.cmap = matplotlib.colormaps[SIZE_CMAP]

    def position(self, k: Any) -> Any:
        a, b = _CMAP_SPAN
        if self.hi == self.lo:
            return np.full(np.shape(k), (a + b) / 2) if np.ndim(k) else (a + b) / 2
        return a + (b - a) * (np.asarray(k, dtype=float) - self.lo) / (self.hi - self.lo)

    def rgba(self, k: Any) -> Any:
        return self.cmap(self.position(np.clip(k, self.lo, self.hi)))


def _class_handles(palette: _Palette, classes: np.ndarray,
                   size_range: Optional[tuple[int, int]]) -> list[Any]:
    """Legend entries: every class of a fixed ``size_range``, else the classes drawn."""
    shown = range(palette.lo, palette.hi + 1) if size_range is not None else np.unique(classes).tolist()
    return [Patch(facecolor=palette.rgba(k), label=_class_label(k)) for k in shown]


def _palette_for(classes: np.ndarray, size_range: Optional[tuple[int, int]]) -> _Palette:
    if size_range is not None:
        lo, hi = size_range
        if not 1 <= lo <= hi:
            raise ValueError(f"size_range must be (low, high) with 1 <= low <= high, got {size_range!r}")
        return _Palette(size_class(lo), size_class(hi))
    if classes.size == 0:
        return _Palette(4, 4)
    return _Palette(int(classes.min()), int(classes.max()))


# ---------------------------------------------------------------- allocator style

_FAMILY_COLOURS = {"buddy": "#000000", "best": "#0072B2", "first": "#009E73",
                   "next": "#E69F00", "worst": "#CC79A7", "system": "#999999"}
_ORDER_HATCH = {"ao": "", "lifo": "///", "fifo": "..."}
_ORDER_LINE = {"ao": "-", "lifo": "--", "fifo": ":"}
_SPARE = ("#56B4E9", "#D55E00", "#F0E442", "#882255", "#44AA99", "#332288")


def allocator_style(names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """A distinct look for each allocator name: ``color`` by placement policy
    (buddy black, best blue, first green, next orange, worst pink, system
    grey), and by free-list order a ``hatch`` for bars (address order solid,
    LIFO ``///``, FIFO ``...``) and a ``linestyle`` for lines; bars of LIFO
    and FIFO lists are filled with a light tint of the colour.  Other names
    get spare colours in turn."""
    out: dict[str, dict[str, Any]] = {}
    spare = iter(_SPARE * (1 + len(names) // len(_SPARE)))
    for name in names:
        fit, _, order = str(name).partition("-")
        order = order or "ao"
        if fit in _FAMILY_COLOURS and order in _ORDER_HATCH:
            colour = _FAMILY_COLOURS[fit]
        else:
            colour, order = next(spare), "ao"
        rgb = np.array(mcolors.to_rgb(colour))
        face = colour if order == "ao" else mcolors.to_hex(tuple(0.3 * rgb + 0.7))
        out[name] = {"color": colour, "facecolor": face, "hatch": _ORDER_HATCH[order],
                     "linestyle": _ORDER_LINE[order]}
    return out


# ------------------------------------------------------------------ heap map


def _blocks_of(source: Any) -> tuple[np.ndarray, str, Optional[int]]:
    """The block array, a name, and the heap size (None if unknown)."""
    if isinstance(source, Allocator):
        blocks = source.blocks()  # System raises NotImplementedError here
        return blocks.array, source.name, int(source.stats().heap_size)
    if isinstance(source, Blocks):
        return source.array, "heap", None
    raise TypeError(f"heap_map draws an Allocator or a Blocks, not {type(source).__name__}")


def _whole(value: Any, name: str, low: int) -> int:
    """An integer argument from ``low`` up: TypeError, or ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be at least {low}, got {value}")
    return int(value)


def _auto_row_bytes(limit: int) -> int:
    """A power of two that wraps ``limit`` bytes into 1 to 16 rows, more rows
    for larger heaps (1 KiB: one row; 64 KiB: 8; 256 KiB and up: 16)."""
    rows = int(min(16, max(1, round(math.sqrt(limit / 1024)))))
    return 1 << max(4, math.ceil(math.log2(max(1, limit) / rows)))


def _segments(start: np.ndarray, end: np.ndarray, row_bytes: int) -> tuple[np.ndarray, ...]:
    """Cut blocks [start, end) at every multiple of ``row_bytes``: for each
    piece its block index, row, and start and end offsets within the row."""
    first = start // row_bytes
    last = (end - 1) // row_bytes
    count = last - first + 1
    block = np.repeat(np.arange(len(start)), count)
    within = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    row = first[block] + within
    lo = np.maximum(start[block], row * row_bytes) - row * row_bytes
    hi = np.minimum(end[block], (row + 1) * row_bytes) - row * row_bytes
    return block, row, lo, hi


def heap_map(
    source: Union[Allocator, Blocks],
    *,
    ax: Any = None,
    color_by: str = "size",
    row_bytes: Optional[int] = None,
    title: Optional[str] = None,
    ages: Optional[Mapping[int, float]] = None,
    limit: Optional[int] = None,
    size_range: Optional[tuple[int, int]] = None,
    age_range: Optional[tuple[float, float]] = None,
    max_rects: int = 20_000,
    legend: bool = True,
) -> Any:
    """Draw a heap: every block of ``source`` (an Allocator, whose ``blocks()``
    are read, or a :class:`~memalloc_py.Blocks`) at its offset, wrapped into
    rows of ``row_bytes`` bytes that read like lines of text, the first row
    at the top.  Returns the matplotlib Axes.

    ``color_by``: ``"size"`` colours allocated blocks by size class (powers of
    two, see :func:`size_class`; ``size_range=(low, high)`` fixes the classes
    the colours span and the legend lists, so that several maps share one
    scale); ``"state"`` draws every allocated block in one colour; ``"age"``
    colours each
    allocated block by ``ages[address]``, when it was allocated (an event
    index, as :func:`replay_python` returns, or any number that grows with
    time; darker is older; ``age_range=(first, last)`` fixes the scale, e.g.
    for a series of maps of one run, else it spans the ages drawn).  Free
    blocks are light grey in every mode, and hatched when the blocks are
    drawn one by one.

    ``limit``: draw the bytes from 0 to ``limit``; by default the heap size
    (the allocator's ``stats().heap_size``; for a Blocks, or an empty heap,
    the end of the last block).  A buddy arena's free blocks above its heap
    size are therefore left out unless asked for.  ``row_bytes``: by default a
    power of two that makes 1 to 16 rows.

    Up to ``max_rects`` rectangles (blocks cut at row ends) are drawn as a
    :class:`~matplotlib.collections.PolyCollection` per state (gids
    ``"allocated"`` and ``"free"``); a larger heap is drawn as an image with
    one pixel per ``row_bytes / width`` bytes whose colour is the average of
    the colours of the bytes under it (gid ``"heap-image"``), so a pixel
    half allocated and half free shows as half-way between the two.

    For a zones allocator (:class:`~memalloc_py.Zones`), a dark vertical
    mark (gid ``"zone-starts"``) shows where each zone, LARGE region and run
    of the free page pool starts.
    """
    if color_by not in ("size", "state", "age"):
        raise ValueError(f"color_by must be 'size', 'state' or 'age', not {color_by!r}")
    if color_by == "age" and ages is None:
        raise ValueError(
            "color_by='age' needs ages={address: allocation time}; replay_python() "
            "returns them for a trace replayed through the Python API"
        )
    array, name, heap_size = _blocks_of(source)
    offset = array["offset"].astype(np.int64)
    end_all = offset + array["size"].astype(np.int64)
    if limit is None:
        limit = heap_size if heap_size else int(end_all.max(initial=0))
    limit = _whole(limit, "limit", 0)
    row_bytes = _auto_row_bytes(limit) if row_bytes is None else _whole(row_bytes, "row_bytes", 1)
    n_rows = max(1, -(-limit // row_bytes))
    if n_rows > 4096:
        raise ValueError(f"row_bytes={row_bytes} cuts {format_bytes(limit)} into {n_rows} rows; "
                         f"at most 4096 can be drawn")

    shown = offset < limit
    array = array[shown]
    start = offset[shown]
    end = np.minimum(end_all[shown], limit)
    allocated = array["allocated"].astype(bool)

    # One colour per block.
    colours = np.empty((len(array), 4))
    colours[:] = mcolors.to_rgba(FREE_COLOR)
    handles: list[Any] = []
    mappable = None
    if color_by == "size":
        classes = size_class(array["size"][allocated])
        palette = _palette_for(classes, size_range)
        colours[allocated] = palette.rgba(classes)
        handles += _class_handles(palette, classes, size_range)
        legend_title = "block size"
    elif color_by == "state":
        colours[allocated] = mcolors.to_rgba(ALLOCATED_COLOR)
        handles.append(Patch(facecolor=ALLOCATED_COLOR, label="allocated"))
        legend_title = None
    else:
        assert ages is not None
        addresses = array["address"][allocated].tolist()
        missing = [a for a in addresses if a not in ages]
        if missing:
            raise ValueError(f"ages has no entry for {len(missing)} allocated block(s), "
                             f"the first at address {missing[0]:#x}")
        age = np.array([float(ages[a]) for a in addresses])
        if age_range is not None:
            oldest, youngest = (float(v) for v in age_range)
        else:
            oldest = float(age.min()) if age.size else 0.0
            youngest = float(age.max()) if age.size else 1.0
        norm = mcolors.Normalize(oldest, youngest if youngest > oldest else oldest + 1)
        cmap = matplotlib.colormaps[AGE_CMAP]
        a, b = _CMAP_SPAN
        colours[allocated] = cmap(a + (b - a) * np.clip(norm(age), 0.0, 1.0))
        truncated = mcolors.LinearSegmentedColormap.from_list(
            "age", cmap(np.linspace(a, b, 256)))
        mappable = ScalarMappable(norm=norm, cmap=truncated)
        legend_title = None
    handles.append(Patch(facecolor=FREE_COLOR, edgecolor=FREE_HATCH_COLOR, hatch="////",
                         linewidth=0, label="free"))

    if ax is None:
        import matplotlib.pyplot as plt

        _fig, ax = plt.subplots(figsize=(11, 1.3 + 0.36 * n_rows), layout="constrained")

    block, row, lo, hi = _segments(start, end, row_bytes)
    if len(block) <= max_rects:
        # Thin white seams between blocks, only on pieces wide enough (1/300 of
        # a row) that a seam leaves most of their colour showing.
        seams = np.where(hi - lo >= row_bytes / 300, 0.6, 0.0)
        for gid, mask in (("allocated", allocated[block]), ("free", ~allocated[block])):
            verts = np.empty((int(mask.sum()), 4, 2))
            x0, x1, y = lo[mask], hi[mask], row[mask].astype(float)
            verts[:, 0] = np.c_[x0, y - 0.4]
            verts[:, 1] = np.c_[x1, y - 0.4]
            verts[:, 2] = np.c_[x1, y + 0.4]
            verts[:, 3] = np.c_[x0, y + 0.4]
            coll = PolyCollection(cast(Any, verts), facecolors=colours[block[mask]],
                                  edgecolors="white", linewidths=seams[mask])
            if gid == "free":
                if len(block) <= 5000:  # hatching many tiny pieces only greys them
                    coll.set_hatch("////")
                coll.set_edgecolor(FREE_HATCH_COLOR)
                coll.set_linewidth(0.0)
            coll.set_gid(gid)
            ax.add_collection(coll)
    else:
        image = _heap_image(start, end, colours, row_bytes, n_rows, limit)
        im = ax.imshow(image, extent=(0, row_bytes, n_rows - 0.5, -0.5), aspect="auto",
                       interpolation="nearest")
        im.set_gid("heap-image")

    zones = getattr(source, "zones", None)
    if callable(zones):  # a zones allocator: a dark mark where each zone starts
        starts = zones()["offset"].astype(np.int64)
        starts = starts[starts < limit]
        x, y = starts % row_bytes, (starts // row_bytes).astype(float)
        marks = LineCollection(np.stack([np.c_[x, y - 0.48], np.c_[x, y + 0.48]], axis=1),
                               colors=ZONE_COLOR, linewidths=1.2)
        marks.set_gid("zone-starts")
        ax.add_collection(marks)
        handles.append(Line2D([], [], color=ZONE_COLOR, linewidth=1.2, label="zone start"))

    ax.set_xlim(0, row_bytes)
    ax.set_ylim(n_rows - 0.5, -0.5)
    _byte_axis(ax.xaxis)
    every = max(1, math.ceil(n_rows / 12))
    ax.set_yticks(range(0, n_rows, every))
    ax.set_yticklabels([format_bytes(r * row_bytes) if r else "0" for r in range(0, n_rows, every)])
    ax.tick_params(axis="y", length=0)
    if n_rows > 1:
        ax.set_xlabel(f"offset within the row (rows of {format_bytes(row_bytes)})")
        ax.set_ylabel("row start (offset)")
    else:
        ax.set_xlabel("offset")
        ax.set_yticks([])
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if title is None:
        n_alloc = int(allocated.sum())
        alloc_bytes = int((end - start)[allocated].sum())
        free_bytes = int((end - start)[~allocated].sum())
        title = (f"{name}: {format_bytes(limit)} shown, {n_alloc:,} allocated blocks "
                 f"({format_bytes(alloc_bytes)}), {int((~allocated).sum()):,} free "
                 f"({format_bytes(free_bytes)})")
    if title:
        ax.set_title(title, loc="left", fontsize=10)
    if legend:
        if mappable is not None:
            # The colour bar takes the lower part of the right margin, the
            # legend (free blocks) sits above it.
            bar = ax.figure.colorbar(mappable, ax=ax, pad=0.01, fraction=0.03, shrink=0.6,
                                     anchor=(0.0, 0.0))
            bar.set_label("allocated at event")
        ncol = max(1, math.ceil(len(handles) / 12))
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  borderaxespad=0.0, title=legend_title, fontsize=8, title_fontsize=8,
                  ncol=ncol, frameon=False)
    return ax


def _heap_image(start: np.ndarray, end: np.ndarray, colours: np.ndarray, row_bytes: int,
                n_rows: int, limit: int, width: int = 2000) -> np.ndarray:
    """An RGBA image of the heap: each pixel the byte-weighted mean colour of
    the bytes it covers (transparent past ``limit``), 8 of every 10 pixel
    rows per heap row, so rows stay apart."""
    width = int(min(width, row_bytes))
    # Colour as a step function of the address; its integral is piecewise
    # linear between block boundaries, so interpolating it is exact.
    bounds = np.concatenate([start, [limit, n_rows * row_bytes]]).astype(np.float64)
    colour = np.vstack([colours, [[1.0, 1.0, 1.0, 0.0]]])
    lengths = np.diff(bounds)
    integral = np.vstack([np.zeros(4), np.cumsum(colour * lengths[:, None], axis=0)])
    edges = (np.arange(n_rows)[:, None] * row_bytes
             + np.linspace(0, row_bytes, width + 1)[None, :]).ravel()
    at = np.column_stack([np.interp(edges, bounds, integral[:, c]) for c in range(4)])
    at = at.reshape(n_rows, width + 1, 4)
    pixel_bytes = row_bytes / width
    rgba = np.clip((at[:, 1:] - at[:, :-1]) / pixel_bytes, 0.0, 1.0)
    image = np.zeros((n_rows * 10, width, 4))
    for sub in range(1, 9):
        image[sub::10] = rgba
    return image


# ------------------------------------------------------- replay through Python


def _fresh(allocator: Any, options: Mapping[str, Any]) -> Allocator:
    """A new, empty allocator from a name (with options) or a factory."""
    if isinstance(allocator, Allocator):
        raise TypeError("pass an allocator name or a factory (e.g. lambda: ma.Buddy(...)), "
                        "not an instance: the replay starts from an empty heap")
    if isinstance(allocator, str):
        return create(allocator, **options)
    if callable(allocator):
        if options:
            raise TypeError("allocator options go with a name, not with a factory")
        made = allocator()
        if not isinstance(made, Allocator):
            raise TypeError(f"the factory returned {type(made).__name__}, not an Allocator")
        if made.stats().live_blocks:
            raise ValueError("the factory returned an allocator with live blocks; "
                             "the replay starts from an empty heap")
        return made
    raise TypeError(f"allocator must be a name or a factory, not {type(allocator).__name__}")


class _PyReplay:
    """The events of a trace, one Python API call each, recording for every
    block the addresses it took and the events that allocated and freed it."""

    def __init__(self, trace: Trace, alloc: Allocator, record: bool):
        self.trace, self.alloc, self.record = trace, alloc, record
        self.address: dict[int, int] = {}      # id -> live address
        self.opened: dict[int, int] = {}       # id -> row in self.rows
        self.ages: dict[int, int] = {}         # live address -> event of its allocation
        self.rows: list[list[int]] = []        # id, address, offset, size, requested, start, end
        self.heap: list[int] = []
        self.failures = 0

    def _open(self, ident: int, address: int, requested: int, event: int) -> None:
        self.address[ident] = address
        self.ages[address] = event
        if self.record:
            array = self.alloc.blocks().array
            i = int(np.searchsorted(array["offset"], address, side="right")) - 1
            self.opened[ident] = len(self.rows)
            self.rows.append([ident, address, int(array["offset"][i]), int(array["size"][i]),
                              requested, event, -1])

    def _close(self, ident: int, event: int) -> None:
        address = self.address.pop(ident)
        del self.ages[address]
        if self.record:
            self.rows[self.opened.pop(ident)][6] = event

    def run(self, stop: int) -> None:
        a, t = self.alloc, self.trace
        op, ids, size, arg = t.op, t.id, t.size, t.arg
        failed: set[int] = set()  # ids whose allocation failed, as the C engine keeps them
        for e in range(stop):
            o, ident, n = int(op[e]), int(ids[e]), int(size[e])
            if o == FREE or (o == REALLOC and n == 0 and ident in failed):
                failed.discard(ident)  # the end of a failed allocation: nothing to free
                if ident in self.address:
                    a.free(self.address[ident])
                    self._close(ident, e)
            elif o == REALLOC and ident in self.address:
                old = self.address[ident]
                new = a.realloc(old, n)
                if n == 0:
                    self._close(ident, e)
                elif new is None:
                    self.failures += 1
                else:
                    self._close(ident, e)
                    self._open(ident, new, n, e)
            else:
                if o == CALLOC:
                    p, requested = a.calloc(int(arg[e]), n), int(arg[e]) * n
                elif o == MEMALIGN:
                    p, requested = a.memalign(int(arg[e]), n), n
                else:  # malloc, or realloc of an id not live: realloc(NULL, n)
                    p, requested = a.malloc(n), n
                failed.discard(ident)
                if p is None:
                    self.failures += 1
                    failed.add(ident)
                else:
                    self._open(ident, p, requested, e)
            if self.record:
                self.heap.append(a.stats().heap_size)


def replay_python(trace: Trace, allocator: Any, *, stop: Optional[int] = None,
                  **options: Any) -> tuple[Allocator, dict[int, int]]:
    """Replay the events ``[0, stop)`` of ``trace`` (all by default) through a
    fresh allocator, one Python API call per event, and return the allocator
    (open: close it, or use it in a ``with`` block) and ``ages``: for each
    live block's address, the index of the event that allocated it (a
    realloc that succeeds counts as a new allocation).

    ``allocator``: a name for :func:`memalloc_py.create` with ``options``,
    or a factory that returns a new allocator.  Events mean what they mean
    to the C replay engine (:func:`memalloc_py.replay`): an allocation that
    fails leaves its id holding nothing until its free or realloc to 0 ends
    it, and a realloc of it to a size above 0 is realloc(NULL, n).
    """
    if not isinstance(trace, Trace):
        raise TypeError(f"trace must be a Trace, not {type(trace).__name__}")
    stop = len(trace) if stop is None else _whole(stop, "stop", 0)
    if stop > len(trace):
        raise ValueError(f"stop must be from 0 to {len(trace)}, got {stop}")
    alloc = _fresh(allocator, options)
    run = _PyReplay(trace, alloc, record=False)
    try:
        run.run(stop)
    except BaseException:
        alloc.close()
        raise
    return alloc, dict(run.ages)


def _limit_events(trace: Trace, max_events: Optional[int], truncate: bool) -> int:
    limit = DEFAULT_MAX_EVENTS if max_events is None else _whole(max_events, "max_events", 1)
    if len(trace) <= limit:
        return len(trace)
    if truncate:
        return limit
    raise ValueError(
        f"the trace has {len(trace):,} events, more than max_events={limit:,}: this picture "
        f"replays one Python call per event and draws every block; pass truncate=True for "
        f"the first {limit:,} events, a larger max_events, or a shorter trace (trace[:n])"
    )


def lifetimes(trace: Trace, allocator: Any, *, max_events: Optional[int] = None,
              truncate: bool = False, **options: Any) -> Any:
    """Replay ``trace`` through a fresh allocator (a name with ``options``, or
    a factory) one Python API call per event, and return a pandas DataFrame
    with one row per block that was allocated: ``id``, ``address``,
    ``offset`` and ``size`` (the block, as ``blocks()`` reports it),
    ``requested``, ``start`` (the event that allocated it) and ``end`` (the
    event that freed it, or the number of events replayed if it is still
    live).  ``df.attrs`` holds ``heap_size`` (after each event, a numpy
    array), ``events``, ``total_events``, ``failures`` and ``allocator``.

    At most ``max_events`` (default :data:`DEFAULT_MAX_EVENTS`) events: a
    longer trace raises ValueError, or with ``truncate=True`` is cut there.
    """
    import pandas as pd

    if not isinstance(trace, Trace):
        raise TypeError(f"trace must be a Trace, not {type(trace).__name__}")
    n = _limit_events(trace, max_events, truncate)
    with _fresh(allocator, options) as alloc:
        run = _PyReplay(trace, alloc, record=True)
        run.run(n)
        name = alloc.name
    df = pd.DataFrame(run.rows, columns=["id", "address", "offset", "size", "requested",
                                         "start", "end"], dtype="int64")
    df.loc[df["end"] < 0, "end"] = n
    df.attrs.update(heap_size=np.array(run.heap, dtype=np.int64), events=n,
                    total_events=len(trace), failures=run.failures, allocator=name)
    return df


def heap_map_over_time(trace: Trace, allocator: Any, *, ax: Any = None,
                       max_events: Optional[int] = None, truncate: bool = False,
                       color_by: str = "size", size_range: Optional[tuple[int, int]] = None,
                       title: Optional[str] = None, legend: bool = True,
                       **options: Any) -> Any:
    """Address against time for a short run: replay ``trace`` through a fresh
    allocator (a name with ``options``, or a factory) one event at a time,
    and draw each block as a rectangle from the event that allocated it to
    the event that freed it (x), over the addresses it covered (y), coloured
    by size class (``color_by="size"``, as in :func:`heap_map`) or in one
    colour (``"state"``).  A grey step line is the heap size after each
    event.  Blocks still live at the end reach the right edge.

    At most ``max_events`` events (default :data:`DEFAULT_MAX_EVENTS`): a
    longer trace raises ValueError unless ``truncate=True``, which draws the
    first ``max_events`` and says so in the title.  Returns the Axes; the
    blocks are a :class:`~matplotlib.collections.PolyCollection` with gid
    ``"lifetimes"``, the heap line has gid ``"heap-size"``.
    """
    if color_by not in ("size", "state"):
        raise ValueError(f"color_by must be 'size' or 'state', not {color_by!r}")
    df = lifetimes(trace, allocator, max_events=max_events, truncate=truncate, **options)
    n = int(df.attrs["events"])
    heap = df.attrs["heap_size"]
    if ax is None:
        import matplotlib.pyplot as plt

        _fig, ax = plt.subplots(figsize=(11, 5), layout="constrained")
    x0 = df["start"].to_numpy(dtype=float)
    x1 = df["end"].to_numpy(dtype=float)
    y0 = df["offset"].to_numpy(dtype=float)
    y1 = y0 + df["size"].to_numpy(dtype=float)
    verts = np.stack([np.c_[x0, y0], np.c_[x1, y0], np.c_[x1, y1], np.c_[x0, y1]], axis=1)
    handles: list[Any] = []
    if color_by == "size":
        classes = size_class(df["size"].to_numpy())
        palette = _palette_for(classes, size_range)
        colours = palette.rgba(classes) if len(df) else np.empty((0, 4))
        handles += _class_handles(palette, classes, size_range)
    else:
        colours = np.tile(mcolors.to_rgba(ALLOCATED_COLOR), (len(df), 1))
        handles.append(Patch(facecolor=ALLOCATED_COLOR, label="allocated"))
    top = max(float(heap.max(initial=0)), float(y1.max(initial=0)), 16.0)
    # White seams only on blocks tall enough (1/150 of the axis) to keep their colour.
    coll = PolyCollection(cast(Any, verts), facecolors=colours, edgecolors="white",
                          linewidths=np.where(y1 - y0 >= top / 150, 0.4, 0.0))
    coll.set_gid("lifetimes")
    ax.add_collection(coll)
    steps = np.arange(n + 1, dtype=float)
    heap_line = np.concatenate([[0], heap]) if n else np.zeros(1)
    (line,) = ax.step(steps, heap_line, where="pre", color="#555555", linewidth=1.0,
                      label="heap size")
    line.set_gid("heap-size")
    handles.append(line)
    ax.set_xlim(0, max(n, 1))
    ax.set_ylim(0, top * 1.03)
    _byte_axis(ax.yaxis)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))
    ax.set_xlabel("event (allocations and frees, in trace order)")
    ax.set_ylabel("address (offset in the arena)")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if title is None:
        name = trace.meta.get("name") or "trace"
        title = f"{df.attrs['allocator']}: {name}"
        if n < len(trace):
            title += f" (first {n:,} of {len(trace):,} events)"
        if df.attrs["failures"]:
            title += f", {df.attrs['failures']} failed allocations"
    if title:
        ax.set_title(title, loc="left", fontsize=10)
    if legend:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
                  title="block size" if color_by == "size" else None, fontsize=8,
                  title_fontsize=8, ncol=max(1, math.ceil(len(handles) / 14)), frameon=False)
    return ax


# ------------------------------------------------------------------ timeline


def timeline(result: Any, *, axes: Any = None) -> Any:
    """A replay over time (``result``: a :class:`~memalloc_py.ReplayResult`):
    above, heap size, allocated bytes and live (requested) bytes, in one
    binary unit; below, internal fragmentation (1 - requested/allocated) and
    external fragmentation (1 - largest free block / free bytes) in percent.
    The heap size line is left out for ``system``, whose heap cannot be seen.
    ``axes``: two Axes to draw in.  Returns the Figure.
    """
    df = result.timeline
    if axes is None:
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(2, 1, sharex=True, figsize=(10, 6.5), layout="constrained",
                                 height_ratios=[3, 2])
    else:
        fig = axes[0].figure
    top_ax, frag_ax = axes
    observable = bool(result.raw.get("heap_observable", True))
    columns = ["live_bytes", "allocated_bytes"] + (["heap_size"] if observable else [])
    peak = max([int(df[c].to_numpy().max(initial=0)) for c in columns] + [1])
    unit, scale = _byte_unit(peak)
    event = df["event"].to_numpy()
    if observable:
        top_ax.plot(event, df["heap_size"] / scale, color="#000000", linewidth=1.6,
                    label="heap size", gid="heap_size")
    top_ax.plot(event, df["allocated_bytes"] / scale, color="#0072B2", linewidth=1.3,
                linestyle="--", label="allocated bytes", gid="allocated_bytes")
    top_ax.fill_between(event, df["live_bytes"] / scale, color="#cfe3f2", linewidth=0)
    top_ax.plot(event, df["live_bytes"] / scale, color="#56B4E9", linewidth=1.3,
                label="live bytes (requested)", gid="live_bytes")
    top_ax.set_ylabel(f"bytes ({unit})")
    top_ax.set_ylim(bottom=0)
    title = result.allocator + (f" on {result.trace_name}" if result.trace_name else "")
    if not observable:
        title += " (heap size not observable)"
    top_ax.set_title(title, loc="left", fontsize=11)
    frag_ax.plot(event, 100 * df["internal_fragmentation"], color="#D55E00", linewidth=1.3,
                 label="internal: 1 - requested / allocated", gid="internal_fragmentation")
    frag_ax.plot(event, 100 * df["external_fragmentation"], color="#009E73", linewidth=1.3,
                 linestyle="--", label="external: 1 - largest free / free bytes",
                 gid="external_fragmentation")
    frag_ax.set_ylabel("fragmentation (%)")
    frag_ax.set_ylim(0, 100)
    every = result.options.get("sample_every", 0)
    frag_ax.set_xlabel("event" + (f" (sampled every {every:,})" if every else ""))
    _event_axis(frag_ax.xaxis)
    for a in (top_ax, frag_ax):
        a.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=9,
                 frameon=False)
        for side in ("top", "right"):
            a.spines[side].set_visible(False)
    return fig


# ------------------------------------------------------------------- compare

#: Measures of :func:`memalloc_py.compare`'s table that are fractions, and their labels.
_MEASURES = {
    "jw1": "JW #1: mean of heap / live, - 1",
    "jw2": "JW #2: heap / live at peak live, - 1",
    "jw3": "JW #3: heap / live at peak heap, - 1",
    "jw4": "JW #4: peak heap / peak live - 1",
    "internal_fragmentation": "internal fragmentation",
    "external_fragmentation": "external fragmentation",
}
_OTHER_LABELS = {"ns_per_event": "ns per event", "peak_heap": "peak heap (bytes)",
                 "peak_live": "peak live (bytes)", "failures": "failed allocations"}


def _is_fraction(measure: str) -> bool:
    return measure in _MEASURES or measure.endswith("fragmentation")


def compare(frame: Any, measure: str, *, ax: Any = None, by: Optional[str] = "trace",
            allocator_col: str = "allocator", order: Optional[Sequence[str]] = None,
            percent: Optional[bool] = None, groups: Optional[Sequence[Any]] = None,
            label: Optional[str] = None, title: Optional[str] = None,
            annotate: bool = False) -> Any:
    """Grouped bars of one ``measure`` (a column of ``frame``): one group per
    value of the ``by`` column (``"trace"``; a frame without that column, like
    one :func:`memalloc_py.compare` table, is one group), one bar per
    allocator (``allocator_col``, a column or the index, as
    :func:`memalloc_py.compare` leaves it), styled by :func:`allocator_style`.

    ``order``: the allocators and their order (default: as they first
    appear); ``groups``: the groups' order.  ``percent``: show the values
    times 100 with a "%" axis (default: for the fraction measures ``jw1`` to
    ``jw4`` and ``*fragmentation``).  A NaN value (e.g. ``system``'s JW
    measures) draws no bar.  ``annotate`` writes each bar's value above it.
    The legend sits outside the axes, to the right.  Returns the Axes; each
    bar is a Rectangle in ``ax.patches`` whose gid is ``"allocator|group"``.
    """
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, not {type(frame).__name__}")
    df = frame
    if allocator_col not in df.columns:
        if allocator_col in (df.index.names or []):
            df = df.reset_index()
        else:
            raise ValueError(f"frame has no column or index named {allocator_col!r}")
    if measure not in df.columns:
        raise ValueError(f"frame has no column {measure!r}; it has {', '.join(map(str, df.columns))}")
    grouped = by is not None and by in df.columns
    if by is not None and not grouped and by != "trace":
        raise ValueError(f"frame has no column {by!r} to group by")
    group_of = df[by] if grouped else pd.Series([""] * len(df), index=df.index)
    names = list(dict.fromkeys(df[allocator_col].tolist())) if order is None else list(order)
    unknown = [n for n in names if n not in set(df[allocator_col])]
    if unknown:
        raise ValueError(f"order names allocators not in the frame: {', '.join(map(str, unknown))}")
    group_names = list(dict.fromkeys(group_of.tolist())) if groups is None else list(groups)
    if percent is None:
        percent = _is_fraction(measure)
    factor = 100.0 if percent else 1.0

    if ax is None:
        import matplotlib.pyplot as plt

        width = min(16.0, 3.0 + 0.28 * len(names) * len(group_names) + 0.5 * len(group_names))
        _fig, ax = plt.subplots(figsize=(max(7.0, width), 4.8), layout="constrained")
    styles = allocator_style(names)
    bar_width = 0.8 / max(1, len(names))
    heights: list[float] = []
    upright = len(names) * len(group_names) > 8  # value labels turned, when bars are narrow
    for j, name in enumerate(names):
        st = styles[name]
        first = True
        for g, group in enumerate(group_names):
            rows = df[(df[allocator_col] == name) & (group_of == group)]
            if rows.empty:
                continue
            if len(rows) > 1:
                raise ValueError(f"{len(rows)} rows for allocator {name!r} in group {group!r}")
            value = float(rows[measure].iloc[0])
            if math.isnan(value):
                continue
            x = g - 0.4 + bar_width * (j + 0.5)
            (bar,) = ax.bar(x, value * factor, width=bar_width * 0.92, color=st["facecolor"],
                            edgecolor=st["color"], hatch=st["hatch"], linewidth=0.8,
                            label=str(name) if first else "_nolegend_")
            bar.set_gid(f"{name}|{group}")
            first = False
            heights.append(value * factor)
            if annotate:
                ax.annotate(_short(value * factor) + ("%" if percent else ""),
                            (x, value * factor), xytext=(0, 2), textcoords="offset points",
                            ha="center", va="bottom", fontsize=7 if upright else 9,
                            rotation=90 if upright else 0)
    ax.set_xticks(range(len(group_names)))
    ax.set_xticklabels([str(g) for g in group_names])
    if not grouped:
        ax.set_xticks([])
    ax.set_xlim(-0.5, len(group_names) - 0.5)
    if heights and min(heights) >= 0:
        ax.set_ylim(0, max(heights) * (1.18 if annotate else 1.05) or 1)
    text = label or _MEASURES.get(measure) or _OTHER_LABELS.get(measure) or measure
    ax.set_ylabel(f"{text} (%)" if percent else text)
    if grouped:
        ax.set_xlabel(str(by))
    if title:
        ax.set_title(title, loc="left", fontsize=11)
    ax.axhline(0, color="#444444", linewidth=0.8)
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=9,
              frameon=False, title="allocator")
    return ax
