"""The memalloc command: output, files it writes, and one-line errors."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from memalloc_py import workloads
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
