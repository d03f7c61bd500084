"""The a1_knn SOURCE notebooks run top to bottom with the source solutions and reach their targets.

Each notebook is executed by nbclient in a fresh ``python3`` kernel (the one of the interpreter
running pytest: run pytest with the project's .venv) with the notebook's folder as working
directory; the executed copy is written under ``tmp_path`` (the source is never touched), so a
failure can be inspected there. The knn notebook uses the default dataset (Fashion-MNIST offline)
and must print a "Target reached" line for each of its accuracy targets.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from notebook_helpers import errors, execute, stdout

pytestmark = pytest.mark.usefixtures("headless_kernel")  # every notebook kernel runs headless, one thread
ASSIGNMENT_DIR = Path(__file__).resolve().parent.parent / "assignments" / "a1_knn"
BUDGET_S = 300  # each notebook, on a 2-core CPU machine with Fashion-MNIST


def test_source_notebooks_have_no_outputs():
    for name in ("pytorch101.ipynb", "knn.ipynb"):
        nb = nbformat.read(ASSIGNMENT_DIR / name, as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            assert "nbgrader" in cell.metadata, (name, cell.source[:60])
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, (name, cell.source[:60])
        ids = [cell.metadata["nbgrader"]["grade_id"] for cell in nb.cells]
        assert len(ids) == len(set(ids)), name


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
def test_pytorch101_notebook_runs(tmp_path):
    nb, seconds = execute(ASSIGNMENT_DIR, "pytorch101.ipynb", tmp_path / "pytorch101.ipynb")
    assert errors(nb) == [], f"executed copy: {tmp_path / 'pytorch101.ipynb'}"
    text = stdout(nb)
    assert "Hello from pytorch101.py!" in text
    assert "FAIL:" not in text
    assert "pytorch101: all" in text and "visible checks passed" in text
    assert seconds < BUDGET_S, f"pytorch101.ipynb took {seconds:.0f} s"


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
def test_knn_notebook_runs_and_reaches_its_targets(tmp_path):
    nb, seconds = execute(ASSIGNMENT_DIR, "knn.ipynb", tmp_path / "knn.ipynb")
    assert errors(nb) == [], f"executed copy: {tmp_path / 'knn.ipynb'}"
    text = stdout(nb)
    assert "Hello from knn.py!" in text and "Using dataset:" in text
    for target in ("k1_val", "cv_best_k", "test_full"):
        assert f", {target}): " in text and "Target reached (" in text, f"target {target} was not reported"
    assert text.count("Target reached (") == 3
    if "Using dataset: fashion_mnist" in text:  # the budget is set for Fashion-MNIST on a 2-core CPU
        assert seconds < BUDGET_S, f"knn.ipynb took {seconds:.0f} s"
