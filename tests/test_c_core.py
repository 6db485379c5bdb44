"""The C core on its own: warning-free under gcc and clang with -Werror,
and tests/c/test_core.c run under AddressSanitizer + UBSan and with NDEBUG.

Both compilers are required (the README's Debian packages): a missing one is
a failure, not a skip, so that CI cannot pass without the check.
"""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CSRC = ROOT / "csrc"
WARN = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-Wpedantic", "-Wshadow",
        "-Wconversion", "-Wstrict-prototypes", "-Wmissing-prototypes"]
SAN = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all",
       "-fno-omit-frame-pointer", "-g", "-O1"]


def sources():
    return sorted(str(p) for p in CSRC.glob("*.c"))


def compiler(name):
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (apt-get install {name}); the C core must build with it")
    return path


def run(cmd, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}"
    return proc


def assert_all_passed(stdout):
    """The suite's closing line says that many checks ran and none failed (a
    suite that ran no check must not pass)."""
    m = re.search(r"^(\d+) passed, (\d+) failed$", stdout, re.M)
    assert m, stdout[-2000:]
    assert int(m.group(1)) > 1000 and int(m.group(2)) == 0, m.group(0)


@pytest.mark.parametrize("cc", ["gcc", "clang"])
@pytest.mark.parametrize("opt", ["-O2", "-O3"])  # -O3: the package's own build
def test_core_compiles_without_warnings(cc, opt, tmp_path):
    # A real compile, not -fsyntax-only: warnings such as -Wmaybe-uninitialized
    # come from the optimiser's passes.
    run([compiler(cc), *WARN, opt, "-D_GNU_SOURCE", "-c", f"-I{CSRC}", *sources()], cwd=tmp_path)


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_c_suite_under_sanitizers(cc, tmp_path):
    exe = tmp_path / "test_core"
    test_c = str(ROOT / "tests" / "c" / "test_core.c")
    run([compiler(cc), *WARN, *SAN, f"-I{CSRC}", *sources(), test_c, "-o", str(exe), "-lpthread"])
    proc = run([str(exe), "20000"], env={"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1",
                                         "UBSAN_OPTIONS": "print_stacktrace=1"})
    assert_all_passed(proc.stdout)


def test_c_suite_with_ndebug(tmp_path):
    """Integrity checks must work with assertions compiled out."""
    exe = tmp_path / "test_core_ndebug"
    test_c = str(ROOT / "tests" / "c" / "test_core.c")
    run([compiler("gcc"), *WARN, "-O3", "-DNDEBUG", f"-I{CSRC}", *sources(), test_c,
         "-o", str(exe), "-lpthread"])
    proc = run([str(exe), "20000"])
    assert_all_passed(proc.stdout)
