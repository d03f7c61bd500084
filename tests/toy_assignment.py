"""A tiny assignment in the real format, built in a temporary folder by release and submit tests."""
from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat

MODULE = '''\
"""A toy module."""
import torch


def hello():
    print("Hello from toy.py!")


def double(x: torch.Tensor) -> torch.Tensor:
    """Return 2 * x.  Shape: (N,) -> (N,)."""
    # Hint: one line is enough.
    ### BEGIN SOLUTION
    y = x.mul(2)  # secret
    ### END SOLUTION
    return y


class Squarer:
    """Squares things."""

    def __call__(self, x):
        """x ** 2, elementwise."""
        ### BEGIN SOLUTION
        return x.pow(2)  # very secret
        ### END SOLUTION
'''


def make_toy_assignment(root: Path) -> Path:
    folder = root / "toy"
    folder.mkdir()
    (folder / "toy.py").write_text(MODULE)
    (folder / "assignment.toml").write_text(textwrap.dedent('''\
        id = "toy"
        title = "Toy"
        modules = ["toy.py"]
        notebooks = ["toy.ipynb"]
        submit = ["toy.py", "toy.ipynb"]
        [groups.all]
        module = "toy.py"
        points = 4
        '''))
    nb = nbformat.v4.new_notebook()
    intro = nbformat.v4.new_markdown_cell("# Toy\nRun the cells.")
    intro.metadata["nbgrader"] = {"grade": False, "solution": False, "locked": True, "grade_id": "intro",
                                  "schema_version": 3, "task": False}
    code = nbformat.v4.new_code_cell("from toy import double\nimport torch\nprint(double(torch.ones(2)))")
    code.metadata["nbgrader"] = {"grade": False, "solution": False, "locked": True, "grade_id": "run",
                                 "schema_version": 3, "task": False}
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="tensor([2., 2.])\n")]
    code.execution_count = 1
    answer = nbformat.v4.new_markdown_cell("Doubling is linear, so its gradient is two.")
    answer.metadata["nbgrader"] = {"grade": True, "solution": True, "locked": False, "points": 1,
                                   "grade_id": "q1", "schema_version": 3, "task": False}
    nb.cells = [intro, code, answer]
    nbformat.write(nb, folder / "toy.ipynb")
    return folder
