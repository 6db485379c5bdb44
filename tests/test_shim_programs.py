"""Real programs on our allocators: each runs once normally and once under
the preload shim on buddy and on best-ao with --check-at-exit, and must
print the same and exit the same (the check at exit turns a corrupt heap
into exit status 125).  Every process a program starts (git's helpers,
gcc's cc1, as and ld) runs under the shim too.

- CPython's own regression tests with PYTHONMALLOC=malloc, so that every
  object is a malloc (the `test` package of the Python running pytest);
- perl running tests/programs/wordfreq.pl;
- git making a repository, committing, branching, repacking and checking it;
- sqlite3 running tests/programs/queries.sql;
- gcc compiling tests/programs/compile_me.c to assembly and to a program.
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, Optional

import pytest

from memalloc_py import preload

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = ROOT / "tests" / "programs"
ALLOCATORS = ["buddy", "best-ao"]
# As many as fit CI's time (about 11 s for a normal run of these, up to 1.6x
# that under the shim); test_sort's output depends on the seed (--randseed).
REGRESSION_TESTS = ["test_json", "test_re", "test_dict", "test_set", "test_list", "test_unicode",
                    "test_tuple", "test_collections", "test_string", "test_sort", "test_struct"]


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed (.ci/run installs it; see the README's Debian packages)")
    return path


def _regrtest_normalised(out: str) -> str:
    """regrtest's output without what changes between runs: times, load."""
    out = re.sub(r"^\d+:\d+:\d+ (load avg: [\d.]+ )?", "", out, flags=re.M)
    out = re.sub(r"^(Ran \d+ tests?) in [\d.]+s$", r"\1", out, flags=re.M)
    out = re.sub(r"^Total duration: .*$", "", out, flags=re.M)
    out = re.sub(r"^Using random seed.*$", "", out, flags=re.M)
    out = re.sub(r"_worker_\d+", "_worker_PID", out)
    return re.sub(r" \(\d+(\.\d+)? (ms|sec)\)", "", out)


def _python(tmp: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    env = {**env, "PYTHONMALLOC": "malloc", "PYTHONHASHSEED": "0"}
    return subprocess.run([sys.executable, "-m", "test", "-v", "--randseed", "1", *REGRESSION_TESTS], cwd=tmp, env=env,
                          capture_output=True, text=True, timeout=900)


def _perl(tmp: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([need("perl"), str(PROGRAMS / "wordfreq.pl")], cwd=tmp, env=env,
                          capture_output=True, text=True, timeout=300)


def _git(tmp: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """A repository of 60 files, two commits on two branches, a merge, a
    repack and a check; fixed names and dates, so the same object ids."""
    need("git")
    env = {**env, "HOME": str(tmp), "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "A U Thor",
           "GIT_AUTHOR_EMAIL": "author@example.org", "GIT_COMMITTER_NAME": "C O Mitter",
           "GIT_COMMITTER_EMAIL": "committer@example.org", "GIT_AUTHOR_DATE": "2024-01-02T03:04:05Z",
           "GIT_COMMITTER_DATE": "2024-01-02T03:04:05Z", "LC_ALL": "C"}
    script = """
set -e
git init -q -b main repo && cd repo
awk 'BEGIN { for (i = 1; i <= 60; i++) for (j = 1; j <= i * 37; j++) print j > ("file" i ".txt") }'
git add . && git commit -q -m 'sixty files'
git checkout -q -b topic
for i in 3 6 9 12 15 18 21 24 27 30 33 36 39 42 45 48 51 54 57 60; do echo changed >> file$i.txt; done
git rm -q file1.txt && git commit -q -am 'twenty changed, one removed'
git checkout -q main && echo main > main.txt && git add main.txt && git commit -q -m 'on main'
git merge -q --no-edit topic
git repack -adq && git fsck --strict 2>&1
git log --stat --format='%H %s' | head -40
git diff --stat HEAD~2 HEAD | tail -1
git count-objects -v | grep -v size
"""
    return subprocess.run(["sh", "-c", script], cwd=tmp, env=env, capture_output=True, text=True, timeout=300)


def _sqlite(tmp: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([need("sqlite3"), str(tmp / "db.sqlite")], stdin=open(PROGRAMS / "queries.sql"),
                          cwd=tmp, env=env, capture_output=True, text=True, timeout=300)


def _gcc(tmp: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """gcc to assembly (the output compared) and to a program (run normally)."""
    src = str(PROGRAMS / "compile_me.c")
    asm = subprocess.run([need("gcc"), "-O2", "-S", "-o", "-", src], cwd=tmp, env=env, capture_output=True,
                         text=True, timeout=300)
    if asm.returncode != 0:
        return asm
    exe = subprocess.run([need("gcc"), "-O2", "-Wall", "-o", "prog", src], cwd=tmp, env=env,
                         capture_output=True, text=True, timeout=300)
    ran = subprocess.run(["./prog"], cwd=tmp, capture_output=True, text=True)
    return subprocess.CompletedProcess(asm.args, exe.returncode or ran.returncode,
                                       asm.stdout + exe.stdout + ran.stdout, asm.stderr + exe.stderr)


RUNS: dict[str, tuple[Callable[[Path, dict[str, str]], subprocess.CompletedProcess],
                      Optional[Callable[[str], str]]]] = {
    "python-regrtest": (_python, _regrtest_normalised),
    "perl": (_perl, None),
    "git": (_git, None),
    "sqlite3": (_sqlite, None),
    "gcc": (_gcc, None),
}


def _output(done: subprocess.CompletedProcess, normalise: Optional[Callable[[str], str]]) -> str:
    text = done.stdout + "\n--- stderr ---\n" + done.stderr
    return normalise(text) if normalise else text


@functools.lru_cache(maxsize=None)
def normal_run(program: str, tmp: str) -> tuple[int, str]:
    run, normalise = RUNS[program]
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith("MEMALLOC_")}
    done = run(Path(tmp), env)
    return done.returncode, _output(done, normalise)


@pytest.fixture(scope="module")
def normal_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("normal")


@pytest.mark.slow
@pytest.mark.parametrize("allocator", ALLOCATORS)
@pytest.mark.parametrize("program", list(RUNS))
def test_a_real_program_prints_the_same_under_the_shim(program, allocator, normal_dir, tmp_path):
    run, normalise = RUNS[program]
    where = normal_dir / program
    where.mkdir(exist_ok=True)
    status, expected = normal_run(program, str(where))
    assert status == 0, expected[-3000:]
    env = preload.environment(allocator, check_at_exit=True)
    done = run(tmp_path, env)
    got = _output(done, normalise)
    assert done.returncode == 0, got[-3000:]
    assert got == expected
    assert "memalloc" not in done.stderr  # no bad pointer, no exhaustion, no failed check
