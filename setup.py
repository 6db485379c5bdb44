"""Build glue: cffi compiles csrc/ into memalloc_py._native (see memalloc_py/_build.py)."""
import os
import subprocess
import sysconfig
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

# The trace recorder behind `memalloc record`: an LD_PRELOAD library, not a
# Python module, so build_ext compiles it with the C compiler directly.
RECORDER = ("libmemalloc_record.so", ["csrc/record/recorder.c", "csrc/record/image_end.c"])


class BuildExt(build_ext):
    """The cffi extension, then the preload libraries into memalloc_py/lib/."""

    def run(self):
        super().run()
        self._preload_library(*RECORDER)

    def _lib_dir(self):
        return Path("memalloc_py/lib") if self.inplace else Path(self.build_lib, "memalloc_py", "lib")

    def _preload_library(self, name, sources):
        out = self._lib_dir()
        out.mkdir(parents=True, exist_ok=True)
        cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()
        cmd = [*cc, "-std=c11", "-O2", "-fPIC", "-shared", "-fvisibility=hidden", "-pthread",
               *sources, "-o", str(out / name), "-ldl"]
        self.announce(" ".join(cmd), level=2)
        subprocess.run(cmd, check=True)

    def get_outputs(self):
        return [*super().get_outputs(), str(self._lib_dir() / RECORDER[0])]


setup(cffi_modules=["memalloc_py/_build.py:ffibuilder"], cmdclass={"build_ext": BuildExt})
