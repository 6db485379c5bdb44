"""The committed notebooks: without outputs, paired with a percent-format .py
that holds the same cells, and reading the SMOKE switch.  Collected by
``pytest --nbmake notebooks/`` (CI) next to the notebooks themselves."""
from pathlib import Path

import jupytext
import nbformat
import pytest

HERE = Path(__file__).resolve().parent
NOTEBOOKS = sorted(HERE.glob("[0-9][0-9]_*.ipynb"))
SCRIPTS = sorted(HERE.glob("[0-9][0-9]_*.py"))


def test_every_notebook_has_its_pair():
    assert [p.stem for p in NOTEBOOKS][:2] == ["01_tour", "02_buddy_internal_fragmentation"]
    assert [p.stem for p in NOTEBOOKS] == [p.stem for p in SCRIPTS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    assert not dirty, (f"{path.name}: cells {dirty} have outputs; clear them with "
                       f"jupyter nbconvert --clear-output --inplace {path.name}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_in_sync_with_its_py(path):
    nb = nbformat.read(path, as_version=4)
    assert "py:percent" in nb.metadata.get("jupytext", {}).get("formats", ""), \
        f"{path.name} is not paired with a percent-format .py"
    text = jupytext.read(path.with_suffix(".py"))
    cells = [(c.cell_type, c.source) for c in nb.cells]
    assert cells == [(c.cell_type, c.source) for c in text.cells], \
        f"{path.name} and {path.stem}.py differ; run jupytext --sync {path.name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_reads_the_smoke_switch(path):
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert 'os.environ.get("SMOKE"' in code and 'os.environ.get("FIGURES"' in code
