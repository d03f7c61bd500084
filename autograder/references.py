"""Hidden reference outputs: recorded from the source solutions, stored beside the suites.

``eecs498 references <assignment>`` runs the hidden suite against the instructor's solutions (in
the same sandbox students get) with ``expect`` in record mode, and stores what it saw in
``autograder/suites/<assignment>/references.ref`` in the safe wire format (never a pickle). The file
carries a fingerprint of the solutions and the suite; grading refuses stale references.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from autograder.child import wire
from autograder.sandbox import Sandbox
from autograder.suite import StudentCode, hidden_suite_files, run_suite, suite_dir
from eecs498.assignment import Assignment

REFERENCES_FILE = "references.ref"
MAX_REFERENCE_BYTES = 256 * 2**20


class StaleReferences(Exception):
    """The stored references do not match the current solutions or suite."""


def references_path(assignment: Assignment) -> Path:
    """Where the assignment's references live: its staff folder, beside the hidden tests."""
    return suite_dir(assignment.id) / REFERENCES_FILE


def fingerprint(assignment: Assignment) -> str:
    """SHA-256 over the source modules, the hidden suite files, the suites' shared helpers and the
    given files, in a fixed order."""
    digest = hashlib.sha256()
    helpers = Path(__file__).resolve().parent / "suite_helpers.py"  # makes inputs the references record
    files = [assignment.root / m for m in assignment.modules] + hidden_suite_files(assignment.id) + [helpers]
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    for name, text in sorted(assignment.given_files().items()):
        digest.update(name.encode() + b"\0" + text.encode() + b"\0")
    return digest.hexdigest()


def record_references(assignment: Assignment) -> tuple[Path, list[str], int]:
    """Run the suite on the source solutions and write the references file; return its path, the
    keys whose values changed from (or are new to) the file recorded before, and how many there are.

    A failure is a :class:`~autograder.suite.GraderBug`: while recording, the suite's comparisons
    with references record instead of comparing, so what fails is a check the suite computes
    itself (a formula, a rule) against the source solutions; its message says which."""
    path = references_path(assignment)
    try:
        before = wire.decode(path.read_bytes(), max_bytes=MAX_REFERENCE_BYTES)["references"] if path.is_file() else {}
    except (wire.WireError, KeyError, TypeError):
        before = {}
    references: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="eecs498-refs-") as tmp:
        folder = Path(tmp)
        for name in assignment.modules:
            shutil.copy2(assignment.root / name, folder / name)
        assignment.write_given_files(folder)
        with Sandbox(folder) as sandbox:
            run_suite(assignment, StudentCode(sandbox, folder, assignment), references, record=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = wire.encode({"fingerprint": fingerprint(assignment), "references": references})
    partial = path.with_suffix(".part")
    partial.write_bytes(payload)
    os.replace(partial, path)
    changed = [key for key, value in references.items()
               if key not in before or wire.encode(before[key]) != wire.encode(value)]
    return path, changed, len(references)


def load_references(assignment: Assignment, check_fresh: bool = True) -> dict[str, Any]:
    """The stored references; :class:`StaleReferences` when missing or out of date.

    ``check_fresh=False`` skips the fingerprint, for a grader that ships without the source
    solutions (the Gradescope zip, whose references were checked when it was built).
    """
    path = references_path(assignment)
    command = f"run `eecs498 references {assignment.id}` (or `make references A={assignment.id}`)"
    if not path.is_file():
        raise StaleReferences(f"no reference outputs for {assignment.id}: {command}")
    stored = wire.decode(path.read_bytes(), max_bytes=MAX_REFERENCE_BYTES)
    if check_fresh and stored.get("fingerprint") != fingerprint(assignment):
        raise StaleReferences(
            f"the reference outputs of {assignment.id} are stale (the solutions or the hidden suite "
            f"changed since they were recorded): {command}")
    return stored["references"]
