"""The C edge programs (tests/c/edges_*.c): each reaches one part of the C
core's error and corruption paths through its public interface and checks
the exact status, message and unchanged state.  Here each runs under
AddressSanitizer + UBSan (gcc), warning-free, and must report that it ran
checks and that none failed; tests/coverage.sh counts them for the gate.
"""
import re
import subprocess
from pathlib import Path

import pytest

from test_c_core import CSRC, ROOT, SAN, WARN, compiler, run, sources

EDGES = sorted((ROOT / "tests" / "c").glob("edges_*.c"))
# The failure injection of tests/c/edges.h (tests/coverage.sh links the same way).
WRAP = ["-Wl," + ",".join(f"--wrap={f}" for f in
                          ("malloc", "calloc", "realloc", "posix_memalign", "mmap"))]


@pytest.fixture(scope="module")
def core_objects(tmp_path_factory):
    """The core compiled once with the sanitizers, for every edge program."""
    out = tmp_path_factory.mktemp("edges_core")
    run([compiler("gcc"), *WARN, *SAN, "-D_GNU_SOURCE", f"-I{CSRC}", "-c", *sources()], cwd=out)
    return sorted(str(p) for p in out.glob("*.o"))


def test_every_edge_program_is_here():
    assert [p.stem for p in EDGES] == [
        "edges_buddy", "edges_core", "edges_freelist_check", "edges_freelist_ops",
        "edges_replay", "edges_system", "edges_tlsf", "edges_zones"]


@pytest.mark.parametrize("src", EDGES, ids=[p.stem for p in EDGES])
def test_edge_program_compiles_without_warnings_under_clang(src, tmp_path):
    run([compiler("clang"), *WARN, "-O2", "-D_GNU_SOURCE", f"-I{CSRC}", "-c", str(src),
         "-o", str(tmp_path / "edge.o")])


@pytest.mark.parametrize("src", EDGES, ids=[p.stem for p in EDGES])
def test_edge_program(src, core_objects, tmp_path):
    exe = tmp_path / src.stem
    run([compiler("gcc"), *WARN, *SAN, "-D_GNU_SOURCE", f"-I{CSRC}", str(src), *core_objects,
         "-o", str(exe), *WRAP, "-lpthread"])
    proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120,
                          env={"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1",
                               "UBSAN_OPTIONS": "print_stacktrace=1"})
    assert proc.returncode == 0, f"{src.name}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    m = re.search(r"^(\d+) passed, (\d+) failed$", proc.stdout, re.M)
    assert m and int(m.group(1)) > 0 and int(m.group(2)) == 0, proc.stdout[-2000:]
