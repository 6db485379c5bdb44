"""The memalloc command: output, files it writes, and one-line errors."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import memalloc_py as ma
from memalloc_py import cli, workloads
from memalloc_py.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_compare_prints_a_table(capsys):
    code, out, err = run(capsys, "compare", "--events", "20000", "--allocators", "buddy,best-ao,first-lifo",
                         "--no-progress")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("trace: steady-state")
    assert lines[1].split()[:3] == ["allocator", "ns/event", "failures"]
    assert [ln.split()[0] for ln in lines[3:6]] == ["buddy", "best-ao", "first-lifo"]
    assert "JW #4" in lines[1]


def test_compare_csv_json_and_plot(capsys, tmp_path):
    png, csv = tmp_path / "out.png", tmp_path / "out.csv"
    code, out, _ = run(capsys, "compare", "--events", "5000", "--allocators", "buddy,worst-fifo",
                       "--workload", "peaks", "--plot", str(png), "--csv", str(csv), "--no-progress")
    assert code == 0 and png.read_bytes()[:4] == b"\x89PNG"
    assert csv.read_text().splitlines()[0].startswith("allocator,events,failures")
    code, out, _ = run(capsys, "compare", "--events", "5000", "--allocators", "buddy", "--json", "-")
    rows = json.loads(out)
    assert rows[0]["allocator"] == "buddy" and rows[0]["failures"] == 0


def test_compare_a_trace_file(capsys, tmp_path):
    path = tmp_path / "w.npz"
    workloads.ramp(2000, seed=1).save(path)
    code, out, _ = run(capsys, "compare", "--trace", str(path), "--allocators", "best-ao",
                       "--size-scale", "16")
    assert code == 0 and "4,000 events" in out and "sizes x16" in out


def test_trace_info_and_convert(capsys, tmp_path):
    rep = tmp_path / "t.rep"
    rep.write_text("100\n2\n3\n1\na 0 10\na 1 20\nf 0\n")
    code, out, _ = run(capsys, "trace", "info", str(rep))
    assert code == 0 and "3 events, 2 allocations" in out
    code, out, _ = run(capsys, "trace", "info", str(rep), "--json")
    assert json.loads(out)["max_live_bytes"] == 30
    code, out, _ = run(capsys, "trace", "convert", str(rep), str(tmp_path / "t.npz"))
    assert code == 0 and (tmp_path / "t.npz").exists()


@pytest.mark.parametrize("argv, message", [
    (["compare", "--allocators", "buddy,nope"], "unknown allocator 'nope'"),
    (["compare", "--trace", "/nonexistent/trace.txt"], "no such file"),
    (["compare", "--workload", "bursty"], "unknown workload 'bursty'"),
    (["compare", "--events", "0"], "--events must be at least 1"),
    (["trace", "info", "BAD"], "BAD: no such file"),
    (["trace", "convert", "BAD.rep", "out.csv"], "no such file"),
])
def test_errors_are_one_line_and_exit_2(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_malformed_trace_file_names_the_line(capsys, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("1: malloc 0x10 5\n1: free\n")
    code, _, err = run(capsys, "trace", "info", str(bad))
    assert code == 2 and "line 2" in err and "Traceback" not in err


def test_python_dash_m_and_the_console_script(tmp_path):
    # From elsewhere than the checkout, so that the installed package is used.
    proc = subprocess.run([sys.executable, "-m", "memalloc_py", "list"], capture_output=True,
                          text=True, cwd=tmp_path)
    assert proc.returncode == 0 and "best-ao" in proc.stdout and "best  (= best-ao)" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "memalloc_py", "compare", "--events", "0"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith("memalloc: ")
    script = Path(sys.executable).with_name("memalloc")
    assert script.exists(), "the memalloc console script is not installed"
    proc = subprocess.run([str(script), "compare", "--events", "2000", "--allocators", "buddy"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.startswith("trace: ")


# ----------------------------------------------------------------- the table


def table_rows(out):
    """The table's rows by allocator name, each split into its cells."""
    lines = out.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("allocator")) + 2
    rows = {}
    for ln in lines[start:]:
        if ln.startswith(("JW #", "internal:", "plot saved")):
            break
        cells = ln.split()
        rows[cells[0]] = cells[1:]
    return rows


def test_empty_trace_shows_dashes_not_nan(capsys, tmp_path):
    path = tmp_path / "empty.npz"
    ma.Trace.from_events([]).save(path)
    code, out, err = run(capsys, "compare", "--trace", str(path), "--allocators", "buddy,best-ao,system")
    assert code == 0 and err == "" and "nan" not in out.lower()
    rows = table_rows(out)
    #                  ns/event failures peak heap peak live JW #1-#4 internal
    assert rows["buddy"] == ["—", "0", "0", "0", "—", "—", "—", "—", "—"]
    assert rows["best-ao"] == ["—", "0", "0", "0", "—", "—", "—", "—", "—"]
    assert rows["system"] == ["—", "0", "—", "0", "—", "—", "—", "—", "—"]


def test_system_peak_heap_is_a_dash_not_zero(capsys):
    code, out, err = run(capsys, "compare", "--events", "2000", "--allocators", "buddy,system", "--no-progress")
    assert code == 0 and err == ""
    rows = table_rows(out)
    assert rows["system"][2] == "—" and rows["system"][3] == rows["buddy"][3] != "0"
    assert rows["buddy"][2] != "—"
    code, out, err = run(capsys, "compare", "--events", "2000", "--allocators", "buddy,system", "--json", "-")
    data = {r["allocator"]: r for r in json.loads(out)}
    assert data["system"]["peak_heap"] is None and data["buddy"]["peak_heap"] > 0
    assert data["system"]["peak_live"] == data["buddy"]["peak_live"] > 0
    code, out, err = run(capsys, "compare", "--events", "2000", "--allocators", "buddy,system", "--csv", "-")
    header, *lines = out.splitlines()
    column = header.split(",").index("peak_heap")
    assert [ln.split(",")[column] for ln in lines] == [str(data["buddy"]["peak_heap"]), ""]


def test_the_footnotes_define_the_columns(capsys):
    code, out, err = run(capsys, "compare", "--events", "2000", "--allocators", "buddy", "--no-progress")
    assert out.splitlines()[-2:] == [
        "JW #1-#4: Johnstone-Wilson fragmentation (heap / live - 1): #1 mean over time, "
        "#2 at peak live, #3 at peak heap, #4 peak heap / peak live.",
        "internal: 1 - requested/allocated at the moment of peak live bytes.",
    ]


# ------------------------------------------------------------------ the plot


@pytest.fixture
def drawn(monkeypatch):
    """Every figure the command saves, for a look at what it drew."""
    from matplotlib.figure import Figure

    figures = []
    save = Figure.savefig

    def capture(self, *args, **kwargs):
        figures.append(self)
        return save(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", capture)
    return figures


def visible_texts(fig, renderer):
    """(text, window extent) of every piece of text drawn on the figure."""
    from matplotlib.text import Text

    out = []
    ticks = set()
    for ax in fig.axes:
        for axis, (lo, hi) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                ticks.update((id(tick.label1), id(tick.label2)))
                loc = tick.get_loc()
                if loc is not None and min(lo, hi) <= loc <= max(lo, hi):
                    out += [(t.get_text(), t.get_window_extent(renderer)) for t in (tick.label1, tick.label2)
                            if t.get_visible() and t.get_text()]
    for t in fig.findobj(Text):
        if id(t) not in ticks and t.get_visible() and t.get_text().strip():
            out.append((t.get_text(), t.get_window_extent(renderer)))
    return out


def check_plot(fig, allocators):
    """What a reader of the figure needs: every allocator told apart, nothing
    unmeasurable drawn, the legend off the data, units, no text on text."""
    import itertools

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import to_hex

    FigureCanvasAgg(fig).draw()   # the command closed the figure once it was saved
    renderer = fig.canvas.get_renderer()
    axes = [ax for ax in fig.axes if ax.has_data()]
    heap_ax = next(ax for ax in axes if ax.get_ylabel().startswith("heap size"))
    frag_ax = next(ax for ax in axes if "heap / live - 1" in ax.get_ylabel())
    assert re.fullmatch(r"heap size \((bytes|KiB|MiB|GiB|TiB)\)", heap_ax.get_ylabel())
    assert frag_ax.get_ylabel().endswith("(%)")
    assert frag_ax.get_xlabel().startswith("events replayed (sampled every ")

    measurable = [a for a in allocators if a != "system"]
    styles = {}
    for ax in (heap_ax, frag_ax):
        labelled = [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]
        by_name = {ln.get_label(): ln for ln in labelled if ln.get_label() in allocators}
        assert sorted(by_name) == sorted(measurable)          # system left out
        assert len(by_name) == len([ln for ln in labelled if ln.get_label() in allocators])
        for name, ln in by_name.items():
            style = (to_hex(ln.get_color()), ln.get_linestyle())
            assert styles.setdefault(name, style) == style    # the same in both panels
        labels = [ln.get_label() for ln in ax.get_lines()] + [c.get_label() for c in ax.collections]
        assert "system" not in labels
    assert len(set(styles.values())) == len(measurable)      # every line told apart
    assert any(ln.get_label() == "live bytes" for ln in heap_ax.get_lines())

    legends = [leg for leg in fig.legends] + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    assert len(legends) == 1
    legend = legends[0]
    entries = [t.get_text() for t in legend.get_texts()]
    assert set(measurable) <= set(entries) and "live bytes" in entries
    box = legend.get_window_extent(renderer)
    for ax in axes:
        assert not box.overlaps(ax.get_window_extent(renderer))
    if "system" in allocators:
        notes = [" ".join(t.split()) for t, _ in visible_texts(fig, renderer) if "system" in t]
        assert notes and all("system: not drawn" in t and "heap size cannot be observed" in t for t in notes)

    texts = visible_texts(fig, renderer)
    page = fig.bbox
    for text, bb in texts:
        assert page.x0 <= bb.x0 and bb.x1 <= page.x1 and page.y0 <= bb.y0 and bb.y1 <= page.y1, text
    for (t1, b1), (t2, b2) in itertools.combinations(texts, 2):
        assert not b1.overlaps(b2), (t1, t2)


def test_plot_of_thirteen_allocators_and_system(capsys, tmp_path, drawn):
    png = tmp_path / "all.png"
    names = list(ma.ARENA_ALLOCATORS) + ["system"]
    code, out, err = run(capsys, "compare", "--events", "20000", "--allocators", ",".join(names),
                         "--no-progress", "--plot", str(png))
    assert code == 0 and err == "" and png.read_bytes()[:4] == b"\x89PNG"
    assert out.splitlines()[-1] == f"plot saved to {png}"
    (fig,) = drawn
    check_plot(fig, names)


def test_plot_of_a_few_allocators_on_a_trace(capsys, tmp_path, drawn):
    path, png = tmp_path / "t.npz", tmp_path / "few.png"
    workloads.peaks(5, 2000, seed=3).save(path)
    names = ["buddy", "best-ao", "first-lifo", "system"]
    code, out, err = run(capsys, "compare", "--trace", str(path), "--allocators", ",".join(names),
                         "--sample-every", "100", "--plot", str(png))
    assert code == 0 and err == ""
    (fig,) = drawn
    check_plot(fig, names)


def test_plot_needs_events(capsys, tmp_path):
    path = tmp_path / "empty.npz"
    ma.Trace.from_events([]).save(path)
    code, out, err = run(capsys, "compare", "--trace", str(path), "--plot", str(tmp_path / "x.png"))
    assert code == 2 and out == "" and err.startswith("memalloc: ") and "the trace has 0 events" in err
    assert not (tmp_path / "x.png").exists()
