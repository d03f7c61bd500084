"""`eecs498 new` writes an assignment's two folders, and the whole flow works on them at once.

The test works in a copy of this checkout (so nothing is written into it) and runs the real
commands there as a staff member would: ``new``, ``references``, ``release``, ``grade``, ``demo``;
then the project's contract tests (test_assignments.py) on the new assignment.
"""
from __future__ import annotations

import csv
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder.skeleton import SkeletonError, new_assignment

ROOT = Path(__file__).resolve().parent.parent
NEW_ID = "a9_skeleton"


def run(copy: Path, *args: str, timeout: int = 1200) -> subprocess.CompletedProcess:
    """``python -m eecs498 ARGS`` (or ``python -m pytest`` with ``-m pytest``) in the copy."""
    command = [sys.executable, *args] if args[0] == "-m" else [sys.executable, "-m", "eecs498", *args]
    env = {**os.environ, "PYTHONPATH": str(copy)}
    proc = subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def checkout_copy(tmp_path_factory) -> Path:
    """The tracked and untracked-but-not-ignored files of this checkout, copied."""
    copy = tmp_path_factory.mktemp("checkout")
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            (copy / name).write_bytes(source.read_bytes())
    return copy


@pytest.mark.xdist_group("new-assignment")
def test_new_then_references_release_grade_and_demo_work_at_once(checkout_copy):
    copy = checkout_copy
    printed = run(copy, "new", NEW_ID, "--title", "A9: a skeleton").stdout
    assert "references" in printed and "demo" in printed
    assignment_dir, staff = copy / "assignments" / NEW_ID, copy / "autograder" / "suites" / NEW_ID
    assert sorted(p.name for p in assignment_dir.iterdir()) == ["assignment.toml", "skeleton.ipynb", "skeleton.py"]
    assert sorted(p.name for p in staff.iterdir()) == ["sample_class.py", "test_skeleton.py"]

    run(copy, "references", NEW_ID)
    assert (staff / "references.ref").is_file()
    run(copy, "release", NEW_ID, "--out", str(copy / "build" / "release"))
    released = copy / "build" / "release" / NEW_ID
    assert "NotImplementedError" in (released / "skeleton.py").read_text()

    submissions = copy / "submissions"
    submissions.mkdir()
    with zipfile.ZipFile(submissions / f"ann_{NEW_ID}.zip", "w") as archive:
        archive.write(assignment_dir / "skeleton.py", "skeleton.py")
        archive.write(released / "skeleton.ipynb", "skeleton.ipynb")
    (submissions / "bob").mkdir()
    (submissions / "bob" / "skeleton.py").write_text((released / "skeleton.py").read_text())
    run(copy, "grade", NEW_ID, str(submissions), "--out", str(copy / "grades"), "--jobs", "2")
    with open(copy / "grades" / "grades.csv") as handle:
        scores = {row["student"]: float(row["score"]) for row in csv.DictReader(handle)}
    assert scores == {"ann": 10.0, "bob": 0.0}

    printed = run(copy, "demo", "--assignment", NEW_ID, "--out", str(copy / "build" / "demo")).stdout
    assert "every sample student scored what its sample class documents" in printed
    for student in ("ada_complete", "ben_untouched", "null_zeros", "cat_forgets_the_shift"):
        assert student in printed


@pytest.mark.xdist_group("new-assignment")
def test_the_contract_tests_pass_on_the_new_assignment(checkout_copy):
    if not (checkout_copy / "autograder" / "suites" / NEW_ID / "references.ref").is_file():
        pytest.fail("the skeleton was not made: see test_new_then_references_release_grade_and_demo_work_at_once")
    proc = run(checkout_copy, "-m", "pytest", "tests/test_assignments.py", "-k", NEW_ID, "-p", "no:cacheprovider",
               "-q", timeout=3000)
    passed = int(proc.stdout.strip().splitlines()[-1].split(" passed")[0].split()[-1])
    assert passed >= 12, proc.stdout[-2000:]


@pytest.mark.parametrize("bad, message", [("A1", "invalid assignment id"), ("a1_knn", "exists already"),
                                          ("9lives", "invalid assignment id"), ("a9_x/../y", "invalid")])
def test_bad_ids_are_refused_with_a_reason(bad, message):
    with pytest.raises(SkeletonError, match=message):
        new_assignment(bad)
