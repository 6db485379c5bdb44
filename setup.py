"""Build glue: cffi compiles csrc/ into memalloc_py._native (see memalloc_py/_build.py)."""
from setuptools import setup

setup(cffi_modules=["memalloc_py/_build.py:ffibuilder"])
