"""What the notebook tests of every assignment share: running a notebook as "Run All" does, and
reading its errors and printed text.

Notebooks run in a fresh ``python3`` kernel of the interpreter running pytest (run pytest with the
project's .venv); use them with the ``headless_kernel`` fixture of conftest.py.
"""
from __future__ import annotations

import re
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

# A hang guard, not a speed check: a loaded CI machine may be 10x slower than a quiet one. The
# notebooks' time budgets are measured by `make bench-notebooks`.
CELL_TIMEOUT_S = 1800
STUB_ERROR = re.compile(r"^(?P<module>\w+)\.(?P<function>[\w.]+): not implemented yet")
TARGET_REACHED = re.compile(r"Target reached \((?P<dataset>\w+), (?P<name>\w+)\): ")


def execute(folder: Path, name: str, out: Path, stop_on_error: bool = False) -> tuple[nbformat.NotebookNode, float]:
    """Run ``folder/name`` with ``folder`` as working directory; write the executed copy to ``out``
    (for inspection) and return it with its wall time in seconds.

    With ``stop_on_error`` execution stops at the first cell that raises, as "Run All" does;
    otherwise every cell runs and errors stay in the outputs.
    """
    nb = nbformat.read(folder / name, as_version=4)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", allow_errors=not stop_on_error,
                            resources={"metadata": {"path": str(folder)}})
    start = time.monotonic()
    try:
        client.execute()
    except CellExecutionError:
        if not stop_on_error:
            raise
    finally:
        nbformat.write(nb, out)
    return nb, time.monotonic() - start


def errors(nb: nbformat.NotebookNode) -> list[tuple[int, str, str]]:
    """(cell index, exception name, message) of every error output."""
    return [(index, output.ename, output.evalue) for index, cell in enumerate(nb.cells)
            for output in cell.get("outputs", []) if output.output_type == "error"]


def stdout(nb: nbformat.NotebookNode) -> str:
    """Everything the notebook printed to stdout, in cell order."""
    return "".join(output.get("text", "") for cell in nb.cells for output in cell.get("outputs", [])
                   if output.output_type == "stream" and output.name == "stdout")


def check_clean_nbgrader(path: Path) -> int:
    """Assert that the source notebook at ``path`` is a clean nbgrader notebook and return how many
    written answers it has: valid, every grade_id unique and sharing the prefix of its ``<prefix>-setup``
    cell, code cells without outputs and never graded, every cell locked except the setup cell and
    the answers (unlocked markdown cells with points)."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    ids = [cell.metadata["nbgrader"]["grade_id"] for cell in nb.cells]
    assert len(ids) == len(set(ids)), "two cells share a grade_id"
    setup = [grade_id for grade_id in ids if grade_id.endswith("-setup")]
    assert len(setup) == 1, f"{path.name} needs exactly one <prefix>-setup cell, has {setup}"
    prefix = setup[0].removesuffix("setup")
    answers = 0
    for cell in nb.cells:
        meta = cell.metadata["nbgrader"]
        assert meta["grade_id"].startswith(prefix), meta["grade_id"]
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
            assert not meta["solution"] and not meta["grade"]
        if meta["solution"]:
            assert cell.cell_type == "markdown" and meta["grade"] and meta["points"] > 0 and not meta["locked"]
            answers += 1
        elif meta["grade_id"] != setup[0]:
            assert meta["locked"], meta["grade_id"]
    return answers


def targets_reached(nb: nbformat.NotebookNode) -> set[tuple[str, str]]:
    """(dataset, target) of every "Target reached (dataset, target): ..." line the notebook printed."""
    return {(m["dataset"], m["name"]) for m in TARGET_REACHED.finditer(stdout(nb))}


def check_stopped_at_first_stub(nb: nbformat.NotebookNode, modules: tuple[str, ...]) -> str:
    """Assert that a release notebook run with ``stop_on_error`` stopped at its first stub and return
    it (``"module.function"``): one error, the ``NotImplementedError`` of a stub of one of
    ``modules`` (``"knn.py"``...), after every code cell before it ran (the setup printed a hello)
    and before any target was reported."""
    found = errors(nb)
    assert len(found) == 1, found  # it stopped at the first error, and that one is a stub's
    index, name, message = found[0]
    assert name == "NotImplementedError", found[0]
    stub = STUB_ERROR.match(message)
    assert stub and f"{stub['module']}.py" in modules, found[0]
    text = stdout(nb)
    assert any(f"Hello from {module}!" in text for module in modules) and "Target reached" not in text
    ran = [cell for cell in nb.cells[:index] if cell.cell_type == "code"]
    assert ran and all(cell.execution_count is not None for cell in ran)
    return f"{stub['module']}.{stub['function']}"
