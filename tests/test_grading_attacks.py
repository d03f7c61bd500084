"""Hostile a1 submissions graded for real: none may raise its score or touch anyone else's result.

The attacker is given every secret path in plain text (the strongest case): the references, the
hidden suite, the gradebook being written, the helper package of this checkout.
"""
from __future__ import annotations

import hashlib
import os
import textwrap
import time
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
from helpers import no_bubblewrap_environment, world_readable_folder

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


# ----------------------------------------------------------------------------------------------
# the Gradescope zip without bubblewrap: the grader is root, student code an unprivileged uid

STEAL_AND_HAUNT = '''
import os as _os
import time as _time

def _attack(references, results, marker):
    try:  # read the hidden references
        with open(references, "rb") as _f:
            stolen = _f.read(200)
        with open(marker + "-stolen", "wb") as _out:
            _out.write(stolen)
    except OSError:
        pass
    if _os.fork() == 0:  # a daemon that rewrites results.json once the grader is gone
        try:
            _os.setsid()
            if _os.fork() == 0:
                for _ in range(40):
                    try:
                        with open(results, "w") as _f:
                            _f.write('{"score": 1000, "tests": []}')
                    except OSError:
                        pass
                    with open(marker + "-alive", "w") as _f:
                        _f.write(str(_time.time()))
                    _time.sleep(0.25)
        finally:
            _os._exit(0)

_attack(REFERENCES, RESULTS, MARKER)
'''


def run_autograder_without_bubblewrap(layout: Path, python: Path, files: dict[str, str], tmp_path: Path) -> dict:
    import json
    import shutil
    import subprocess

    submission, results = layout / "submission", layout / "results"
    for folder in (submission, results):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        os.chmod(folder, 0o755)  # as Gradescope leaves them: the grader must do the protecting
    for name, text in files.items():
        (submission / name).write_text(text)
    env = {**no_bubblewrap_environment(tmp_path), "EECS498_GRADESCOPE_ROOT": str(layout)}
    env.pop("PYTHONPATH")
    proc = subprocess.run(["/bin/bash", str(layout / "source" / "run_autograder")], env=env,
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((results / "results.json").read_text())


def test_gradescope_zip_without_bubblewrap_keeps_references_and_results_from_students(shared_python, tmp_path):
    import shutil
    import zipfile

    from autograder.gradescope import build_autograder_zip

    layout, haunt = world_readable_folder("eecs498-gradescope-"), Path("/nonexistent")
    try:
        archive = build_autograder_zip(ASSIGNMENT, tmp_path / "a1_autograder.zip")
        with zipfile.ZipFile(archive) as z:
            z.extractall(layout / "source")
        for path in [layout / "source", *(layout / "source").rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)  # readable by all, as unzipped by Gradescope
        (layout / "venv").symlink_to(shared_python.parent.parent)
        references = layout / "source" / "autograder" / "suites" / "a1_knn" / "references.ref"
        assert references.is_file() and references.stat().st_mode & 0o004
        honest = {name: (ASSIGNMENT.root / name).read_text() for name in ("knn.py", "pytorch101.py")}

        full = run_autograder_without_bubblewrap(layout, shared_python, honest, tmp_path)
        assert full["score"] == pytest.approx(ASSIGNMENT.max_score), full["output"]
        sandbox = full["extra_data"]["sandbox"]  # for the staff: not in what students read
        assert "REDUCED ISOLATION" in sandbox and "unprivileged uid" in sandbox and sandbox not in full["output"]

        haunt = world_readable_folder("eecs498-haunt-")
        os.chmod(haunt, 0o777)  # where the attack reports what it got
        marker = str(haunt / "mark")
        attack = STEAL_AND_HAUNT.replace("REFERENCES, RESULTS, MARKER", f"{str(references)!r}, "
                                         f"{str(layout / 'results' / 'results.json')!r}, {marker!r}")
        hostile = {**honest, "knn.py": honest["knn.py"] + attack}
        graded = run_autograder_without_bubblewrap(layout, shared_python, hostile, tmp_path)
        time.sleep(3)  # the daemon would be rewriting results.json by now
        assert not Path(marker + "-stolen").exists(), "the submission read the references"
        after = (layout / "results" / "results.json").read_text()
        assert '"score": 1000' not in after and graded["score"] == pytest.approx(ASSIGNMENT.max_score)
        alive = Path(marker + "-alive")
        assert not alive.exists() or time.time() - float(alive.read_text()) > 2.5, "the daemon outlived grading"
    finally:
        shutil.rmtree(layout, ignore_errors=True)
        shutil.rmtree(haunt, ignore_errors=True)


# ----------------------------------------------------------------------------------------------
# names, reports and interrupts


def test_bad_names_and_duplicates_cost_their_student_only_and_reports_stay_safe(tmp_path):
    import csv

    from autograder.reports import summary_table
    from helpers import write_folder, write_zip

    complete = {name: (ASSIGNMENT.root / name).read_text() for name in ASSIGNMENT.modules}
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    write_zip(submissions / "ann.zip", complete)
    for name in ("bad name.zip", "grades.csv.zip", "\x1b[2J\u202eevil.zip", "bob.zip", f"bob_{ASSIGNMENT.id}.zip"):
        write_zip(submissions / name, complete)
    write_folder(submissions / "nbgrader", complete)
    out = tmp_path / "grades"
    grades = {g.student: g for g in grade_class(ASSIGNMENT, submissions, out, jobs=1, progress=False)}

    assert grades["ann"].score == ASSIGNMENT.max_score
    assert "two submissions for bob: 'bob.zip' and 'bob_a1_knn.zip'" in grades["bob"].rejected
    invalid = {s: g for s, g in grades.items() if s.startswith("invalid-")}
    assert len(invalid) == 4 and all("not a valid student name" in g.rejected and g.score == 0
                                     for g in invalid.values())
    assert len(grades) == 6
    assert (out / "grades.csv").is_file()
    for student in grades:
        assert (out / student / "results.json").is_file()
    with open(out / "grades.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["student"] for r in rows) == sorted(grades)
    table = summary_table(list(grades.values()))
    assert "\x1b" not in table and "\u202e" not in table and "\\x1b" in table


def test_csv_cells_that_start_like_a_formula_are_neutralised():
    from autograder.reports import csv_cell

    for dangerous in ("=HYPERLINK(\"http://evil\")", "+1", "-2", "@SUM(A1)", "\tx", "\rx"):
        assert csv_cell(dangerous) == "'" + dangerous
    assert csv_cell("ada") == "ada" and csv_cell(97.5) == "97.5"


def test_ctrl_c_stops_grading_without_recording_anyone_in_progress_and_a_rerun_goes_on(tmp_path):
    import json
    import signal
    import subprocess
    import sys

    from helpers import write_zip

    complete = {name: (ASSIGNMENT.root / name).read_text() for name in ASSIGNMENT.modules}
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    students = [f"s{i:02d}" for i in range(8)]
    for student in students:
        write_zip(submissions / f"{student}.zip", complete)
    out = tmp_path / "grades"
    command = [sys.executable, "-m", "eecs498", "grade", ASSIGNMENT.id, str(submissions), "--out", str(out),
               "--jobs", "2"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 900
    while not list(out.glob("*/results.json")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends: the whole process group
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130, stderr[-2000:]
    assert "interrupted" in stderr and "nobody in progress was recorded" in stderr
    recorded = {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/results.json")}
    assert 0 < len(recorded) < len(students), "the interrupt came too late to test anything"
    for student, results in recorded.items():
        assert results["score"] == ASSIGNMENT.max_score, (student, results["output"])

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    final = {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/results.json")}
    assert sorted(final) == students and all(r["score"] == ASSIGNMENT.max_score for r in final.values())
    for student, results in recorded.items():  # graded once: the rerun kept what was recorded
        assert final[student]["execution_time"] == results["execution_time"]


def test_a_rerun_regrades_a_result_that_holds_an_internal_grader_error(tmp_path):
    from autograder.grading import already_graded
    from autograder.reports import StudentGrade, write_student_reports
    from autograder.unpack import Submission, submission_digest
    from helpers import write_zip

    zip_path = write_zip(tmp_path / "ann.zip", {"knn.py": "x = 1\n"})
    submission = Submission("ann", zip_path)
    for rejected, kept in (("", True), ("internal grader error: the grading worker died", False)):
        grade = StudentGrade("ann", 0.0, 100.0, [], submission_digest(zip_path), rejected=rejected)
        write_student_reports(grade, tmp_path / "out" / "ann", ASSIGNMENT)
        assert (already_graded(tmp_path / "out", submission) is not None) == kept


def test_a_grader_killed_half_way_loses_nothing_and_a_rerun_grades_each_student_once(tmp_path):
    """kill -9 of the whole grading process group (parent and workers) half way through a class:
    what was written stays valid, the rerun grades only the rest, and every result equals an
    uninterrupted run's."""
    import json
    import signal
    import subprocess
    import sys

    from autograder.samples import sample_class_module
    from helpers import write_zip

    sample = sample_class_module(ASSIGNMENT)
    complete = {name: (ASSIGNMENT.root / name).read_text() for name in ASSIGNMENT.modules}
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    for i in range(6):
        files = complete if i % 2 else {**complete, "knn.py": replace_functions(complete["knn.py"],
                                                                               sample.TIES_TOWARD_LARGER)}
        write_zip(submissions / f"s{i}.zip", files)
    out = tmp_path / "grades"
    command = [sys.executable, "-m", "eecs498", "grade", ASSIGNMENT.id, str(submissions), "--out", str(out),
               "--jobs", "2"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 900
    while len(list(out.glob("*/results.json"))) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    first = {p.parent.name: p.read_text() for p in out.glob("*/results.json")}
    assert 0 < len(first) < 6, "the kill came too late to test anything"

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"{len(first)} of 6 students were unchanged" in rerun.stdout
    final = {p.parent.name: p.read_text() for p in out.glob("*/results.json")}
    assert all(final[s] == text for s, text in first.items())  # kept, not regraded
    whole = grade_class(ASSIGNMENT, submissions, tmp_path / "uninterrupted", jobs=2, progress=False)

    def outcome(document: dict) -> tuple:
        return document["score"], [(t["name"], t["score"], t["status"], t["output"]) for t in document["tests"]]

    assert {s: outcome(json.loads(text)) for s, text in final.items()} == \
           {g.student: outcome(json.loads((tmp_path / "uninterrupted" / g.student / "results.json").read_text()))
            for g in whole}


def test_checkpoints_are_data_dense_tensors_within_the_assignments_bounds(tmp_path):
    """A checkpoint whose tensor is a stride-0 view claiming a billion numbers from a few bytes, or
    one bigger than the assignment allows, is refused before any network is built from it; a
    permuted (dense) tensor is fine."""
    import dataclasses

    import torch

    from autograder.sandbox import Sandbox
    from autograder.suite import GradingFailure, StudentCode

    torch.save({"W": torch.zeros(1).expand(2**20, 2**10)}, tmp_path / "huge.pt")
    torch.save({"W": torch.zeros(1).expand(1000, 1000)}, tmp_path / "repeated.pt")
    torch.save({"W": torch.arange(6.0).reshape(2, 3).t()}, tmp_path / "permuted.pt")
    torch.save({"W": torch.zeros(3000, 1000)}, tmp_path / "big.pt")
    bounded = dataclasses.replace(ASSIGNMENT, checkpoints={"big.pt": {"max_params": 1e6, "max_flops": 1e8}})
    with Sandbox(tmp_path) as sandbox:
        student = StudentCode(sandbox, tmp_path, bounded)
        with pytest.raises(GradingFailure, match="view may repeat its data"):  # caught on the wire
            student.checkpoint("huge.pt")
        with pytest.raises(GradingFailure, match="view repeating its data"):
            student.checkpoint("repeated.pt")
        permuted = student.checkpoint("permuted.pt")["W"]
        assert permuted.is_contiguous() and torch.equal(permuted, torch.arange(6.0).reshape(2, 3).t())
        with pytest.raises(GradingFailure, match="3,000,000 numbers, more than the 1,000,000"):
            student.checkpoint("big.pt")
        with pytest.raises(GradingFailure, match="operations per image"):
            student.check_forward_cost("big.pt", 5e8)
        student.check_forward_cost("big.pt", 5e7)


def test_a_worker_told_to_stop_mid_grade_records_nothing(tmp_path, monkeypatch):
    """The stop (SIGTERM from the parent after Ctrl-C) may arrive while pytest runs the hidden suite,
    which catches it as a failure or an internal error: that grade is never written."""
    import signal

    from autograder import grading
    from autograder.reports import StudentGrade
    from helpers import write_zip

    write_zip(tmp_path / "s00.zip", {name: (ASSIGNMENT.root / name).read_text() for name in ASSIGNMENT.modules})
    submission, = find_submissions(tmp_path, ASSIGNMENT.id)

    def interrupted_grade(*args, **kwargs):
        with pytest.raises(SystemExit):  # what the suite swallows
            grading._exit_on_terminate(signal.SIGTERM, None)
        return StudentGrade("s00", 0.0, ASSIGNMENT.max_score, [], rejected="internal grader error: pytest exit code 3")

    monkeypatch.setattr(grading, "_terminating", False)
    monkeypatch.setattr(grading, "grade_submission", interrupted_grade)
    with pytest.raises(SystemExit):
        grading._grade_and_write(ASSIGNMENT, submission, tmp_path / "grades", None, "cpu")
    assert not (tmp_path / "grades" / "s00").exists()
