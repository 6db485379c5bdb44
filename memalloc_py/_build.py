"""cffi build script: compiles csrc/*.c into ``memalloc_py._native`` (API mode).

The cdef is derived from ``csrc/memalloc.h`` itself, so the header stays the
single source of truth for the C API.

Environment switches (read at build time):

``MEMALLOC_SANITIZE=1``
    build with ``-fsanitize=address,undefined`` (run Python with libasan
    preloaded; see ``.ci/run``).
``MEMALLOC_CFLAGS``
    extra compiler flags, space separated.
"""
from __future__ import annotations

import os
import platform
import re
import subprocess
import sysconfig
import tempfile
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
CSRC = HERE.parent / "csrc"
# setuptools wants source paths relative to the project root.
SOURCES = sorted(f"csrc/{p.name}" for p in CSRC.glob("*.c"))


def _cdef_from_header(text: str) -> str:
    """The declarations of memalloc.h in the subset of C that cffi parses."""
    text = re.sub(r"#ifdef __cplusplus.*?#endif", "", text, flags=re.S)
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#define MA_"):
            name = stripped.split()[1]
            out.append(f"#define {name} ...")
        elif stripped.startswith("#"):
            continue
        else:
            out.append(line)
    return "\n".join(out)


# Branches kept from crossing or ending on a 32-byte boundary, where
# Skylake-family processors with the JCC-erratum microcode decode them
# slowly.  The development machine is one: with the allocators' code 250
# lines shorter, the replay engine's measuring loop moved and buddy's
# engine overhead in bench_replay.py went from 2-8% to 20-22%; with this
# flag it is 6-10% again.  gcc passes it to the assembler, clang takes it
# itself; applied only where the compiler accepts one of the two.
_JCC_FLAGS = ("-Wa,-mbranches-within-32B-boundaries", "-mbranches-within-32B-boundaries")


def _compiler_accepts(flag: str) -> bool:
    """Whether the C compiler (and its assembler) take `flag`: x86 only."""
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return False
    cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "probe.c"
        src.write_text("int probe(int x) { return x ? 1 : 2; }\n")
        try:
            done = subprocess.run([*cc, flag, "-c", str(src), "-o", str(Path(tmp) / "probe.o")],
                                  capture_output=True, timeout=120)
        except (OSError, subprocess.SubprocessError):
            return False
        return done.returncode == 0


def _compile_args() -> tuple[list[str], list[str]]:
    # -O3: on bench_freelist's workload, in one process, first, next and
    # worst fit ran 4-7% faster than at -O2 (cachegrind: 2-17% fewer
    # instructions per event); best fit the same within noise.
    cflags = ["-std=c11", "-O3", "-Wall", "-Wextra"]
    cflags += next(([f] for f in _JCC_FLAGS if _compiler_accepts(f)), [])
    ldflags: list[str] = []
    if os.environ.get("MEMALLOC_SANITIZE"):
        san = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
               "-fno-omit-frame-pointer", "-g"]
        cflags = [f for f in cflags if f != "-O3"] + ["-O1"] + san
        ldflags += san
    cflags += os.environ.get("MEMALLOC_CFLAGS", "").split()
    return cflags, ldflags


ffibuilder = FFI()
ffibuilder.cdef(_cdef_from_header((CSRC / "memalloc.h").read_text()))
_cflags, _ldflags = _compile_args()
ffibuilder.set_source(
    "memalloc_py._native",
    '#include "memalloc.h"\n',
    sources=SOURCES,
    include_dirs=["csrc"],
    # The headers, and the parts freelist.c includes (csrc/freelist/*.h).
    depends=[f"csrc/{p.relative_to(CSRC).as_posix()}" for p in sorted(CSRC.rglob("*.h"))],
    extra_compile_args=_cflags,
    extra_link_args=_ldflags,
    libraries=["pthread"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
