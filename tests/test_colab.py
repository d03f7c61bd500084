"""The first cell of every notebook works on Colab as shipped: it detects Colab, mounts Google
Drive, changes into MyDrive/eecs498/<assignment>, keeps the data once per Drive, and imports the
module. Colab is simulated: a ``google.colab`` module whose ``drive.mount`` makes the Drive folder
(here a temporary one), and an IPython shell that runs the cell as Colab's would."""
from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import nbformat
import pytest

from autograder.skeleton import setup_cell_source
from eecs498.assignment import find_assignment

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = [(a.parent.name, n) for a in sorted((ROOT / "assignments").glob("*/assignment.toml"))
             for n in find_assignment(a.parent.name).notebooks]


def setup_cell(assignment_id: str, notebook: str) -> str:
    nb = nbformat.read(ROOT / "assignments" / assignment_id / notebook, as_version=4)
    return next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id", "").endswith("-setup"))


@pytest.mark.parametrize("assignment_id, notebook", NOTEBOOKS)
def test_every_notebook_starts_with_the_shared_setup_cell(assignment_id, notebook):
    module = Path(notebook).stem
    source = (ROOT / "assignments" / assignment_id / f"{module}.py").read_text()
    hello = f"hello_{module}" if f"def hello_{module}(" in source else "hello"
    assert setup_cell(assignment_id, notebook) == setup_cell_source(assignment_id, module, hello)


def test_the_setup_cell_works_on_a_simulated_colab(tmp_path, monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    drive = tmp_path / "content" / "drive"
    folder = drive / "MyDrive" / "eecs498" / "a1_knn"
    mounted = []

    def mount(path, **kwargs):
        mounted.append(path)
        (Path(path) / "MyDrive").mkdir(parents=True, exist_ok=True)

    colab = types.ModuleType("google.colab")
    colab.drive = types.SimpleNamespace(mount=mount)
    google = types.ModuleType("google")
    google.colab = colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.delenv("EECS498_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    folder.mkdir(parents=True)  # the student uploaded the release there
    (folder / "knn.py").write_text("def hello():\n    print('Hello from knn.py!')\n")
    source = setup_cell_source("a1_knn", "knn").replace("'/content/drive'", repr(str(drive)))
    shell = InteractiveShell.instance()
    try:
        result = shell.run_cell(source)
    finally:
        sys.modules.pop("knn", None)
    assert result.success, result.error_in_exec
    assert mounted == [str(drive)]
    assert Path(os.getcwd()) == folder and str(folder) in sys.path
    assert os.environ["EECS498_DATA"] == str(drive / "MyDrive" / "eecs498" / "datasets")
