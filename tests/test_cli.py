"""The staff's command line: mistakes get a sentence, not a traceback; reruns say what they skipped."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import zipfile

import pytest
from click.testing import CliRunner

from autograder.cli import references
from eecs498.assignment import find_assignment, load_assignment
from eecs498.cli import main
from helpers import write_folder, write_zip

pytestmark = pytest.mark.xdist_group("cli")
A1 = find_assignment("a1_knn")


def eecs498(*args: str, timeout: int = 1200) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "eecs498", *args], capture_output=True, text=True, timeout=timeout)


def test_an_empty_submissions_folder_is_an_error_with_a_sentence(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = eecs498("grade", "a1_knn", str(tmp_path / "empty"), "--out", str(tmp_path / "out"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "no submissions in" in proc.stderr and "<student>_a1_knn.zip" in proc.stderr


def test_a_rerun_says_who_was_unchanged_and_another_assignments_files_are_named(tmp_path):
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    write_zip(submissions / "ann.zip", {name: (A1.root / name).read_text() for name in A1.modules})
    a2 = find_assignment("a2_linear")
    write_folder(submissions / "bob", {"linear_classifier.py": (a2.root / "linear_classifier.py").read_text(),
                                       "svm_best_model.pt": b"weights"})
    first = eecs498("grade", "a1_knn", str(submissions), "--out", str(tmp_path / "out"), "--jobs", "1")
    assert first.returncode == 0, first.stderr[-2000:]
    assert "unchanged" not in first.stdout
    assert "this looks like a submission for a2_linear" in (tmp_path / "out" / "bob" / "results.json").read_text()
    again = eecs498("grade", "a1_knn", str(submissions), "--out", str(tmp_path / "out"), "--jobs", "1")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "2 of 2 students were unchanged since they were graded and kept their results (--force" in again.stdout


def test_references_help_says_what_it_writes_and_when_it_is_needed():
    result = CliRunner().invoke(main, ["references", "--help"])
    assert result.exit_code == 0
    assert "references.ref" in result.output and "stale" in result.output and "source solutions" in result.output


def test_a_failed_recording_says_the_suite_disagrees_with_its_own_formula(tmp_path, monkeypatch):
    from autograder import suite

    course = tmp_path / "course"
    (course / "toy").mkdir(parents=True)
    (course / "toy" / "net.py").write_text("def six(x):\n    ### BEGIN SOLUTION\n    return 5 * x\n    ### END SOLUTION\n")
    (course / "toy" / "assignment.toml").write_text(textwrap.dedent('''\
        id = "toy"
        title = "Toy"
        modules = ["net.py"]
        submit = ["net.py"]
        [groups.all]
        module = "net.py"
        points = 1
        '''))
    suites = tmp_path / "suites"
    (suites / "toy").mkdir(parents=True)
    (suites / "toy" / "test_net.py").write_text(textwrap.dedent('''\
        import pytest
        from autograder.suite import GradingFailure

        @pytest.mark.group("all")
        def test_six(student):
            """six multiplies by six"""
            if student.call("net.six", 2) != 12:
                raise GradingFailure("six(2) should be 12")
        '''))
    monkeypatch.setattr(suite, "SUITES_DIR", suites)
    monkeypatch.setattr("autograder.cli.find_assignment", lambda name: load_assignment(course / "toy"))
    result = CliRunner().invoke(references, ["toy"])
    assert result.exit_code == 1
    assert "checks the hidden suite computes itself" in result.output and "six(2) should be 12" in result.output
    assert not (suites / "toy" / "references.ref").exists()
