"""Hostile a1 submissions graded for real: none may raise its score or touch anyone else's result.

The attacker is given every secret path in plain text (the strongest case): the references, the
hidden suite, the gradebook being written, the helper package of this checkout.
"""
from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import pytest

import autograder
import eecs498
from autograder.samples import replace_functions
from autograder.gradebook import record_grades
from autograder.grading import grade_class
from autograder.sandbox import bubblewrap_problem
from autograder.unpack import find_submissions
from eecs498.assignment import find_assignment

pytestmark = pytest.mark.xdist_group("grading")

ASSIGNMENT = find_assignment("a1_knn")
AUTOGRADER = Path(autograder.__file__).resolve().parent
HELPERS = Path(eecs498.__file__).resolve().parent


def digest(folder: Path) -> str:
    files = sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)
    return hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()


def hostile_knn(gradebook: Path) -> str:
    """knn.py with correct code except for attacks at import time and in predict_labels."""
    source = (ASSIGNMENT.root / "knn.py").read_text()
    attacks = textwrap.dedent(f'''
        import os as _os
        _TARGETS = [{str(gradebook / "gradebook.db")!r}, {str(AUTOGRADER / "suites" / "a1_knn" / "references.ref")!r},
                    {str(AUTOGRADER / "suite.py")!r}, {str(HELPERS / "__init__.py")!r},
                    "/sandbox/lib/eecs498/__init__.py", "/tmp/eecs498-planted"]
        for _target in _TARGETS:  # overwrite the gradebook, the references, the grader, the helpers
            try:
                with open(_target, "w") as _f:
                    _f.write("raise SystemExit('owned')\\n")
            except OSError:
                pass
    ''')
    liar = textwrap.dedent('''
        def predict_labels(dists, y_train, k=1):
            """Returns an object that claims to equal anything."""
            class Liar(torch.Tensor):
                def __eq__(self, other):
                    return True
                def __ne__(self, other):
                    return False
            class Anything:
                shape = dtype = device = None
                def __eq__(self, other):
                    return True
            return Anything() if k == 1 else torch.zeros(dists.shape[1], dtype=torch.int64).as_subclass(Liar)
    ''')
    return replace_functions(source, {"predict_labels": liar}) + attacks


def test_hostile_submission_harms_nobody(tmp_path):
    if bubblewrap_problem():  # never run these attacks unsandboxed: they would overwrite the checkout
        pytest.fail(f"grading is not isolated on this machine: {bubblewrap_problem()}")
    gradebook = tmp_path / "grades" / "nbgrader"
    submissions = tmp_path / "submissions"
    for name, knn in (("mallory", hostile_knn(gradebook)), ("alice", (ASSIGNMENT.root / "knn.py").read_text())):
        folder = submissions / name
        folder.mkdir(parents=True)
        (folder / "knn.py").write_text(knn)
        (folder / "pytorch101.py").write_text((ASSIGNMENT.root / "pytorch101.py").read_text())
    before = {"references": (AUTOGRADER / "suites" / "a1_knn" / "references.ref").read_bytes(),
              "autograder": digest(AUTOGRADER), "helpers": digest(HELPERS)}

    grades = {g.student: g for g in grade_class(ASSIGNMENT, submissions, tmp_path / "grades", jobs=1,
                                                progress=False)}
    record_grades(gradebook, ASSIGNMENT, list(grades.values()), find_submissions(submissions, ASSIGNMENT.id))

    mallory, alice = grades["mallory"], grades["alice"]
    assert alice.score == ASSIGNMENT.max_score, [t.message for t in alice.tests if not t.passed]
    lost = {t.name: t.message for t in mallory.tests if not t.passed}
    assert mallory.score < ASSIGNMENT.max_score
    predict_tests = [t for t in mallory.tests if t.name.startswith("predict_labels")]
    assert predict_tests and not any(t.passed for t in predict_tests)
    assert any("not plain data" in message for message in lost.values()), lost
    assert (AUTOGRADER / "suites" / "a1_knn" / "references.ref").read_bytes() == before["references"]
    assert digest(AUTOGRADER) == before["autograder"] and digest(HELPERS) == before["helpers"]
    assert not Path("/tmp/eecs498-planted").exists()
    assert (gradebook / "gradebook.db").read_bytes()[:16] == b"SQLite format 3\x00"
