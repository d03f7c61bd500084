"""``eecs498 new <id>``: a working skeleton of an assignment's two folders.

``assignments/<id>/`` gets a student module with one function and its solution region, a notebook
(nbgrader format) that imports and checks it and asks one written question, and
``assignment.toml``; the staff folder ``autograder/suites/<id>/`` gets one hidden test and a sample
class. ``release``, ``references``, ``grade`` and ``demo`` work on it at once; the README section
"Writing an assignment" says how to grow it.
"""
from __future__ import annotations

import keyword
import re
import textwrap
from pathlib import Path

import nbformat

from autograder.suite import SAMPLE_CLASS_FILE, suite_dir
from eecs498.assignment import METADATA_FILE, SOLUTION_MARKERS

ASSIGNMENTS_DIR = Path(__file__).resolve().parent.parent / "assignments"
ASSIGNMENT_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
BEGIN, END = SOLUTION_MARKERS


class SkeletonError(Exception):
    """The skeleton cannot be written (a bad id, or the folders exist); the message says why."""


def setup_cell_source(assignment_id: str, module: str, hello: str = "hello") -> str:
    """The first code cell of every notebook: finds the assignment folder (on Colab, in Google
    Drive at ``MyDrive/eecs498/<id>``, with the data cached once per Drive), makes its modules
    importable and checks that ``module`` imports by calling its ``hello`` function (the course
    names them ``hello_<module>`` from A2 on)."""
    return textwrap.dedent(f"""\
        %load_ext autoreload
        %autoreload 2

        import os
        import sys

        ASSIGNMENT = '{assignment_id}'
        if 'google.colab' in sys.modules:  # on Colab: the course folder lives in your Google Drive
            from google.colab import drive

            COLAB_DRIVE = '/content/drive'
            drive.mount(COLAB_DRIVE)
            # Upload the assignment folder to MyDrive/eecs498/ (change COURSE if you put it elsewhere).
            COURSE = os.path.join(COLAB_DRIVE, 'MyDrive', 'eecs498')
            os.chdir(os.path.join(COURSE, ASSIGNMENT))
            os.environ.setdefault('EECS498_DATA', os.path.join(COURSE, 'datasets'))  # one data cache per Drive

        # Python looks for {module}.py (and, in the student version, eecs498/) in the notebook's folder.
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())

        import eecs498
        from {module} import {hello}

        {hello}()""")


def _module_text(title: str, module: str) -> str:
    return textwrap.dedent(f'''\
        """{title}: the functions you write. Each one raises NotImplementedError until you do."""
        from __future__ import annotations

        import torch


        def hello():
            """The notebook's first cell calls this to check that {module}.py imports."""
            print("Hello from {module}.py!")


        def scale_and_shift(x: torch.Tensor, scale: float, shift: float = 0.0) -> torch.Tensor:
            """Every entry of ``x`` times ``scale``, plus ``shift``, without a Python loop.

            Args:
                x: (N, D) tensor, any floating dtype and device.
                scale: a Python number.
                shift: a Python number.

            Returns:
                out: (N, D) tensor with the dtype and device of ``x``.
            """
            {BEGIN}
            out = scale * x + shift
            {END}
            return out
        ''')


def _notebook(assignment_id: str, title: str, module: str, prefix: str) -> nbformat.NotebookNode:
    def meta(grade_id: str, locked: bool = True, answer: bool = False) -> dict:
        return {"nbgrader": {"grade": answer, "grade_id": f"{prefix}-{grade_id}", "locked": locked,
                             "schema_version": 3, "solution": answer, "task": False,
                             **({"points": 2} if answer else {})}}

    cells = [
        nbformat.v4.new_markdown_cell(f"# {title}\n\nYou write code in `{module}.py` where it says "
                                      "`# YOUR CODE HERE`; this notebook runs visible checks, hidden tests grade "
                                      "the functions, and written questions are graded by hand.",
                                      metadata=meta("intro")),
        nbformat.v4.new_markdown_cell(f"## Setup\nRun this cell first. It should print `Hello from {module}.py!`.",
                                      metadata=meta("setup-md")),
        nbformat.v4.new_code_cell(setup_cell_source(assignment_id, module), metadata=meta("setup", locked=False)),
        nbformat.v4.new_markdown_cell("## Scale and shift\nImplement `scale_and_shift`, then run the check.",
                                      metadata=meta("scale-md")),
        nbformat.v4.new_code_cell(textwrap.dedent(f"""\
            import torch

            from {module} import scale_and_shift

            x = torch.tensor([[1.0, -2.0], [0.5, 4.0]], dtype=torch.float64)
            out = scale_and_shift(x, 2.0, shift=1.0)
            assert torch.equal(out, torch.tensor([[3.0, -3.0], [2.0, 9.0]], dtype=torch.float64)), out
            assert out.dtype == x.dtype and out.device == x.device
            print('scale_and_shift: visible check passed')"""), metadata=meta("scale-check")),
        nbformat.v4.new_markdown_cell("**Question.** Why does `scale_and_shift` need no loop?",
                                      metadata=meta("answer-md")),
        nbformat.v4.new_markdown_cell("YOUR ANSWER HERE", metadata=meta("answer-1", locked=False, answer=True)),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
                   "language_info": {"name": "python", "pygments_lexer": "ipython3"}}
    return nb


def _metadata_text(assignment_id: str, title: str, module: str) -> str:
    return textwrap.dedent(f'''\
        id = "{assignment_id}"
        title = "{title}"
        modules = ["{module}.py"]                # files students edit
        notebooks = ["{module}.ipynb"]
        submit = ["{module}.py", "{module}.ipynb"]
        datasets = []

        # Hidden-test groups: a group's points are shared by its tests (autograder/suites/{assignment_id}/).
        [groups.scale_and_shift]
        module = "{module}.py"
        points = 10
        description = "scale_and_shift: values, dtypes, devices"
        ''')


def _hidden_test_text(module: str) -> str:
    return textwrap.dedent(f'''\
        """Hidden tests of {module}.py: they run in the grader and call the student's code in the sandbox.

        ``student.call("module.function", *args)`` runs the student's function and returns plain data;
        ``expect`` compares it with the references recorded from the source solutions (``eecs498
        references``). A failure's message is what the student reads: say what to fix, never the inputs.
        """
        import pytest
        import torch

        from autograder.suite_helpers import call, randn

        pytestmark = pytest.mark.group("scale_and_shift")


        @pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
        def test_scale_and_shift(student, expect, dtype):
            """scale_and_shift: scale * x + shift keeps the dtype of x"""
            for case, (scale, shift) in enumerate([(2.5, -1.0), (-0.5, 3.0), (1.0, 0.0)]):
                x = randn(100 + case, 4, 3, dtype=dtype)
                out = call(student, "{module}.scale_and_shift", x, scale, shift=shift,
                           context=f"with scale={{scale}}, shift={{shift}} on a {{dtype}} input")
                expect.tensor(f"case{{case}}", out, what=f"scale_and_shift(x, {{scale}}, shift={{shift}})", tol=1e-6)
        ''')


def _sample_class_text(module: str) -> str:
    return textwrap.dedent(f'''\
        """The sample class `make demo` grades: the standard students (complete, untouched, null; see
        autograder.samples) and one with a bug."""
        FORGETS_THE_SHIFT = {{
            "scale_and_shift": \'\'\'
        def scale_and_shift(x, scale, shift=0.0):
            """Forgets the shift (the bug)."""
            return scale * x
        \'\'\',
        }}


        def students(kit) -> None:
            from autograder.samples import replace_functions

            kit.add("cat_forgets_the_shift",
                    {{"{module}.py": replace_functions(kit.source("{module}.py"), FORGETS_THE_SHIFT)}})


        def expected_scores(full: float) -> dict:
            """Every test has cases with a non-zero shift, so the bug loses them all."""
            return {{"cat_forgets_the_shift": 0.0}}
        ''')


def new_assignment(assignment_id: str, title: str | None = None, module: str | None = None) -> tuple[Path, Path]:
    """Write the two folders of a new assignment; return ``(assignment folder, staff folder)``."""
    if not ASSIGNMENT_ID.match(assignment_id):
        raise SkeletonError(f"invalid assignment id {assignment_id!r}: use lower-case letters, digits and _, "
                            "starting with a letter (e.g. a9_attention)")
    module = module or (assignment_id.split("_", 1)[1] if re.match(r"^a\d+_[a-z]", assignment_id) else assignment_id)
    if not module.isidentifier() or keyword.iskeyword(module) or module in ("torch", "eecs498", "autograder"):
        raise SkeletonError(f"invalid module name {module!r}: it must be a Python identifier of its own")
    title = title or f"{assignment_id}: a new assignment"
    if '"' in title or "\n" in title:
        raise SkeletonError("the title may not contain double quotes or line breaks")
    folder = ASSIGNMENTS_DIR / assignment_id
    staff = suite_dir(assignment_id)
    for existing in (folder, staff):
        if existing.exists():
            raise SkeletonError(f"{existing} exists already: choose another id, or remove it")
    folder.mkdir(parents=True)
    staff.mkdir(parents=True)
    (folder / f"{module}.py").write_text(_module_text(title, module))
    prefix = re.sub(r"[^a-z0-9]+", "-", module)
    nbformat.write(_notebook(assignment_id, title, module, prefix), folder / f"{module}.ipynb")
    (folder / METADATA_FILE).write_text(_metadata_text(assignment_id, title, module))
    (staff / f"test_{module}.py").write_text(_hidden_test_text(module))
    (staff / SAMPLE_CLASS_FILE).write_text(_sample_class_text(module))
    return folder, staff
