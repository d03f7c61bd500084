"""Package a student's work into ``<student>_<assignment>.zip`` for upload.

Usable from a notebook (``make_submission(".", "uniqname")``) or the shell
(``eecs498 submit a1_knn --student uniqname``). The files come from the assignment's
``assignment.toml``, so the list is never stale.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

from eecs498.assignment import AssignmentError, load_assignment

STUDENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
IMPORT_TIMEOUT_S = 300


class SubmissionError(Exception):
    """The submission cannot be made; the message says what to fix."""


def make_submission(
    assignment_dir: str | Path = ".",
    student: str | None = None,
    out_dir: str | Path | None = None,
    check_imports: bool = True,
    strict: bool = False,
) -> Path:
    """Check the assignment folder and write ``<out_dir>/<student>_<assignment id>.zip``.

    Args:
        assignment_dir: the released assignment folder (it holds ``assignment.toml``).
        student: your uniqname: letters, digits, ``_ . -``.
        out_dir: where the zip goes; the assignment folder by default.
        check_imports: import each ``.py`` module in a fresh interpreter first.
        strict: refuse when a file is missing, instead of warning and zipping the rest.

    Raises :class:`SubmissionError` when the folder is not an assignment folder, the name is
    invalid, a module does not import, or (with ``strict``) a file is missing. Warns (does not
    fail) for each missing file, with the points it costs, and when a notebook was saved without
    outputs.
    """
    root = Path(assignment_dir).resolve()
    try:
        assignment = load_assignment(root)
    except AssignmentError as exc:
        raise SubmissionError(f"{exc}. Run submit in your assignment folder (the one with assignment.toml), "
                              "or give its path: python -m eecs498 submit path/to/a1_knn --student <uniqname>") from None
    if not student or not STUDENT_NAME.match(student):
        raise SubmissionError(f"invalid student name {student!r}: use your uniqname (letters, digits, _ . -)")
    missing = [name for name in assignment.submit if not (root / name).is_file()]
    if missing and (strict or len(missing) == len(assignment.submit)):
        raise SubmissionError(f"missing files in {root}: {', '.join(missing)}")
    for name in missing:
        warnings.warn(f"{name} is missing: {_cost(assignment, name)}; the zip holds the rest", stacklevel=2)
    present = [name for name in assignment.submit if name not in missing]
    if check_imports:
        for name in present:
            if name.endswith(".py"):
                _check_import(root, Path(name).stem)
    for name in present:
        if name.endswith(".ipynb") and not _has_outputs(root / name):
            warnings.warn(
                f"{name} has no outputs: run all its cells and save it before submitting, "
                "so graders can see your results and plots",
                stacklevel=2,
            )
    out_path = Path(out_dir or root).resolve() / f"{student}_{assignment.id}.zip"
    partial = out_path.with_name(out_path.name + ".part")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in present:
            archive.write(root / name, arcname=name)
    os.replace(partial, out_path)
    return out_path


def _cost(assignment, name: str) -> str:
    """What a missing file costs, in words."""
    if name.endswith(".ipynb"):
        return "its written answers get no points and graders see none of its results"
    at_stake = assignment.points_at_stake(name)
    if at_stake is None:
        return "the tests that read it get no points"
    return f"the tests that need it are worth {at_stake:g} of {assignment.max_score:g} points"


def _check_import(root: Path, module: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        cwd=root, capture_output=True, text=True, timeout=IMPORT_TIMEOUT_S,
        env={**os.environ, "PYTHONPATH": str(root), "MPLBACKEND": "Agg"},
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise SubmissionError(f"{module}.py does not import: {last}")


def _has_outputs(notebook: Path) -> bool:
    try:
        cells = json.loads(notebook.read_text()).get("cells", [])
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as exc:
        raise SubmissionError(f"{notebook.name} is not a valid notebook: {exc}") from exc
    return any(cell.get("outputs") for cell in cells if isinstance(cell, dict))
