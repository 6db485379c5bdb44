"""Run the notebooks at full size and write their figures to docs/img/.

    python notebooks/make_figures.py                 # every notebook
    python notebooks/make_figures.py 02              # the notebooks whose names start so
    python notebooks/make_figures.py --executed out/ # also keep the executed notebooks

Each notebook runs in a fresh kernel from the notebooks/ folder with
``FIGURES=1`` (and without ``SMOKE``), so it runs its full-size experiment,
checks its assertions and saves its headline PNG in docs/img/.  The committed
.ipynb files are read, never written: they stay without outputs.  Needs
``pip install ".[notebooks]"``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIGURE_DIR = HERE.parent / "docs" / "img"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("prefixes", nargs="*", help="run only notebooks whose names start with these")
    parser.add_argument("--executed", type=Path, help="write the executed notebooks to this folder")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell (default 1800)")
    args = parser.parse_args(argv)

    import nbformat
    from nbclient import NotebookClient

    paths = sorted(p for p in HERE.glob("[0-9]*.ipynb")
                   if not args.prefixes or p.name.startswith(tuple(args.prefixes)))
    if not paths:
        print(f"no notebook in {HERE} matches {args.prefixes}", file=sys.stderr)
        return 2
    os.environ["FIGURES"] = "1"
    os.environ["FIGURE_DIR"] = str(FIGURE_DIR)
    os.environ.pop("SMOKE", None)
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        before = {p: p.stat().st_mtime for p in FIGURE_DIR.glob("*.png")} if FIGURE_DIR.exists() else {}
        start = time.perf_counter()
        NotebookClient(nb, timeout=args.timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(HERE)}}).execute()
        written = sorted(p.name for p in FIGURE_DIR.glob("*.png") if before.get(p) != p.stat().st_mtime)
        print(f"{path.name}: {time.perf_counter() - start:.0f} s, wrote {', '.join(written) or 'no figure'}")
        if args.executed:
            args.executed.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, args.executed / path.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
