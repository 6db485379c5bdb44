"""The C libraries for C users: libmemalloc.so with memalloc.h and the preload
shim, as pip installs them into the package and as `make` in csrc/ builds
them, and examples/main.c (the lecture notes' dlopen main) built and run."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import memalloc_py as ma

ROOT = Path(__file__).resolve().parent.parent
WARN = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-Wpedantic", "-Wshadow", "-Wconversion",
        "-Wstrict-prototypes", "-Wmissing-prototypes"]
FAMILY = {"malloc", "free", "calloc", "realloc", "reallocarray", "posix_memalign", "aligned_alloc",
          "memalign", "valloc", "pvalloc", "malloc_usable_size"}

BUDDY_OUTPUT = """\
buddy (arena_size=64K) from {lib}
malloc( 100) p  at      0  "one hundred"
malloc( 200) q  at    256  "two hundred"
malloc(  50) r  at    128  "fifty"
malloc(1000) s  at   1024  "one thousand"
free  q     at    256  (held "two hundred")
malloc( 150) t  at    256  "reuses the hole"
free  p     at      0  (held "one hundred")
free  t     at    256  (held "reuses the hole")
free  r     at    128  (held "fifty")
live 1 block(s), 1000 bytes requested, 1024 allocated; heap 2048, 1024 free in 1 block(s), largest 1024
check: the heap is consistent
free  s     at   1024  (held "one thousand")
"""


def defined_symbols(library: Path) -> set[str]:
    out = subprocess.run(["nm", "-D", "--defined-only", str(library)], capture_output=True, text=True,
                         check=True).stdout
    return {line.split()[-1] for line in out.splitlines() if re.match(r"\S+ [TW] ", line)}


def test_paths_name_the_installed_files():
    p = ma.paths()
    assert p.library.name == "libmemalloc.so" and p.preload.name == "libmemalloc_preload.so"
    assert p.header.read_bytes() == (ROOT / "csrc" / "memalloc.h").read_bytes()
    assert p.include_dir == p.header.parent and p.library.parent == p.preload.parent
    assert p.library.parent.parent == Path(ma.__file__).resolve().parent


def test_memalloc_paths_prints_them():
    p = ma.paths()
    done = subprocess.run([sys.executable, "-m", "memalloc_py", "paths"], capture_output=True, text=True,
                          cwd="/")
    assert done.returncode == 0
    assert done.stdout == f"library  {p.library}\nheader   {p.header}\npreload  {p.preload}\n"
    for which, path in (("preload", p.preload), ("include", p.include_dir), ("header", p.header)):
        one = subprocess.run([sys.executable, "-m", "memalloc_py", "paths", which], capture_output=True,
                             text=True, cwd="/")
        assert one.stdout == f"{path}\n"


def test_the_libraries_export_the_api_and_only_the_malloc_family():
    p = ma.paths()
    header = p.header.read_text()
    api = set(re.findall(r"^[a-z][\w ]*?\**\b(ma_\w+)\(", header, re.M))
    assert {"ma_create", "ma_malloc", "ma_free", "ma_replay", "ma_thread_error"} <= api
    assert api <= defined_symbols(p.library)
    assert defined_symbols(p.preload) == FAMILY  # the library inside it stays private


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_the_dlopen_example_runs_the_lecture_notes_main(cc, tmp_path):
    p = ma.paths()
    exe = tmp_path / "main"
    subprocess.run([cc, *WARN, "-O2", f"-I{p.include_dir}", str(ROOT / "examples" / "main.c"), "-o", str(exe),
                    "-ldl"], check=True)
    done = subprocess.run([str(exe), str(p.library), "buddy"], capture_output=True, text=True)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == BUDDY_OUTPUT.format(lib=p.library)

    done = subprocess.run([str(exe), str(p.library), "best", "arena_size=1M"], capture_output=True, text=True)
    lines = done.stdout.splitlines()
    assert done.returncode == 0 and lines[0] == f"best-ao (arena_size=1M) from {p.library}"
    at = {m.group(1): int(m.group(2)) for m in re.finditer(r"^malloc\(\s*\d+\) (\w)\s+at\s+(\d+)", done.stdout, re.M)}
    assert at["t"] == at["q"]  # best fit puts t in the hole q left
    assert all(a % 16 == 0 for a in at.values()) and len(set(at.values())) == 4
    assert "live 1 block(s), 1000 bytes requested," in done.stdout
    assert "check: the heap is consistent" in lines

    done = subprocess.run([str(exe), str(p.library), "nope"], capture_output=True, text=True)
    assert done.returncode == 1 and done.stderr.startswith("main: ma_create: unknown allocator 'nope'")
    done = subprocess.run([str(exe), str(tmp_path / "missing.so"), "buddy"], capture_output=True, text=True)
    assert done.returncode == 1 and "missing.so" in done.stderr


def test_make_in_csrc_builds_both_libraries_for_c_users(tmp_path):
    """A plain `make` in a copy of csrc/, then the example and the shim from it."""
    src = tmp_path / "csrc"
    shutil.copytree(ROOT / "csrc", src, ignore=shutil.ignore_patterns("*.so", "*.o"))
    subprocess.run(["make", "-s", "-C", str(src), "CFLAGS=-O1"], check=True, capture_output=True)
    lib, shim = src / "libmemalloc.so", src / "preload" / "libmemalloc_preload.so"
    assert defined_symbols(shim) == FAMILY and "ma_create" in defined_symbols(lib)
    examples = tmp_path / "examples"
    shutil.copytree(ROOT / "examples", examples)
    done = subprocess.run(["make", "-s", "-C", str(examples), "run", "CSRC=../csrc"], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == BUDDY_OUTPUT.format(lib="../csrc/libmemalloc.so")
    env = {"PATH": "/usr/bin:/bin", "LD_PRELOAD": str(shim), "MEMALLOC_ALLOCATOR": "buddy",
           "MEMALLOC_STATS": "1", "MEMALLOC_CHECK_AT_EXIT": "1"}
    done = subprocess.run([sys.executable, "-c", "print(sorted({i % 7 for i in range(1000)}))"],
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == "[0, 1, 2, 3, 4, 5, 6]\n"
    assert re.match(r"memalloc\[\d+\]: buddy \(arena_size=4G\), ", done.stderr)
    assert done.stderr.rstrip().endswith("check at exit: the heap is consistent")


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_the_shim_and_probe_compile_without_warnings(cc, tmp_path):
    if shutil.which(cc) is None:
        pytest.fail(f"{cc} is not installed (apt-get install {cc})")
    shim = sorted(str(p) for p in (ROOT / "csrc" / "preload").glob("*.c"))
    subprocess.run([cc, *WARN, "-O2", "-D_GNU_SOURCE", "-fPIC", "-fvisibility=hidden",
                    "-ftls-model=initial-exec", f"-I{ROOT / 'csrc'}", "-c", *shim], cwd=tmp_path, check=True)
    subprocess.run([cc, *WARN, "-O2", "-c", str(ROOT / "tests" / "c" / "shim_probe.c")], cwd=tmp_path,
                   check=True)
