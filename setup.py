"""Build glue.

cffi compiles csrc/*.c into the extension ``memalloc_py._native`` (see
memalloc_py/_build.py).  The same build step then links two shared
libraries for C programs, into the package beside the extension:

- ``memalloc_py/lib/libmemalloc.so``: csrc/*.c, the C API of
  ``memalloc_py/include/memalloc.h`` (a copy of csrc/memalloc.h);
- ``memalloc_py/lib/libmemalloc_preload.so``: csrc/preload/*.c with csrc/*.c,
  the LD_PRELOAD shim (docs/shim.md), exporting only the malloc family;
- ``memalloc_py/lib/libmemalloc_record.so``: csrc/record/*.c, the trace
  recorder behind ``memalloc record`` (docs/traces.md), an LD_PRELOAD
  interposer over the C library's malloc family.

``memalloc_py.paths()`` and ``memalloc paths`` say where they are; a plain
``make`` in csrc/ builds the same two for C users without Python.  They are
built with the compiler setuptools found for the extension (so in a wheel,
from the sdist and in an editable install alike), never with sanitizers.
"""
import importlib.util
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


def _build_module():
    """memalloc_py/_build.py, for its compiler-flag probe."""
    spec = importlib.util.spec_from_file_location("_memalloc_build", ROOT / "memalloc_py" / "_build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class build_ext_with_libraries(build_ext):
    """build_ext, then the three shared libraries and the header."""

    def run(self) -> None:
        super().run()
        self._build_libraries()

    def _build_libraries(self) -> None:
        probe = _build_module()
        pkg = Path(self.get_ext_fullpath("memalloc_py._native")).parent
        (pkg / "lib").mkdir(parents=True, exist_ok=True)
        (pkg / "include").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / "csrc" / "memalloc.h", pkg / "include" / "memalloc.h")
        # As the extension (-O3 and the branch-alignment flag), without sanitizers.
        cflags = ["-std=c11", "-O3", "-D_GNU_SOURCE", "-Wall", "-Wextra"]
        cflags += next(([f] for f in probe._JCC_FLAGS if probe._compiler_accepts(f)), [])
        library = sorted(f"csrc/{p.name}" for p in (ROOT / "csrc").glob("*.c"))
        shim = sorted(f"csrc/preload/{p.name}" for p in (ROOT / "csrc" / "preload").glob("*.c"))
        recorder = sorted(f"csrc/record/{p.name}" for p in (ROOT / "csrc" / "record").glob("*.c"))
        depends = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "csrc").rglob("*.h"))]
        temp = Path(self.build_temp)

        def build(name: str, sources: list[str], extra: list[str], libraries: list[str]) -> None:
            objects = self.compiler.compile(
                sources, output_dir=str(temp / name), include_dirs=["csrc"],
                extra_postargs=cflags + extra, depends=depends)
            self.compiler.link_shared_object(objects, str(pkg / "lib" / name), libraries=libraries)

        # Side by side (the machine has two cores or more; each is a separate
        # compiler process). The shim: only the malloc family exported;
        # thread-local data in the static block, whose first use allocates
        # nothing.
        with ThreadPoolExecutor(max_workers=2) as pool:
            done = [pool.submit(build, "libmemalloc.so", library, [], ["pthread"]),
                    pool.submit(build, "libmemalloc_preload.so", shim + library,
                                ["-fvisibility=hidden", "-ftls-model=initial-exec"], ["pthread", "m"]),
                    pool.submit(build, "libmemalloc_record.so", recorder,
                                ["-fvisibility=hidden"], ["pthread", "dl"])]
            for future in done:
                future.result()


setup(
    cffi_modules=["memalloc_py/_build.py:ffibuilder"],
    cmdclass={"build_ext": build_ext_with_libraries},
)
