"""Submission zips: file list from the metadata, import check, warnings, names, atomic write."""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

import nbformat
import pytest

from autograder.release import release_assignment
from eecs498.assignment import load_assignment
from eecs498.submit import SubmissionError, make_submission
from toy_assignment import make_toy_assignment


@pytest.fixture(scope="module")
def toy_release(tmp_path_factory):
    toy = load_assignment(make_toy_assignment(tmp_path_factory.mktemp("source")))
    return release_assignment(toy, tmp_path_factory.mktemp("release"))


@pytest.fixture
def work(toy_release, tmp_path):
    """A student's working copy of the released toy assignment."""
    return shutil.copytree(toy_release, tmp_path / "toy")


def test_zip_holds_exactly_the_submitted_files(work):
    with pytest.warns(UserWarning, match="toy.ipynb has no outputs"):
        path = make_submission(work, "alice")
    assert path.name == "alice_toy.zip" and path.parent == work
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["toy.ipynb", "toy.py"]
        assert archive.read("toy.py") == (work / "toy.py").read_bytes()
    assert not list(work.glob("*.part"))


def test_notebook_with_outputs_gives_no_warning(work, tmp_path, recwarn):
    nb = nbformat.read(work / "toy.ipynb", as_version=4)
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="tensor([2., 2.])\n")]
    nbformat.write(nb, work / "toy.ipynb")
    make_submission(work, "alice", out_dir=tmp_path)
    assert not [w for w in recwarn if "no outputs" in str(w.message)]


def test_unfinished_work_is_zipped_and_each_missing_file_named_with_what_it_costs(work):
    (work / "toy.py").unlink()
    with pytest.warns(UserWarning, match="toy.py is missing: the tests that need it are worth 4 of 4 points"):
        path = make_submission(work, "alice")
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["toy.ipynb"]


def test_strict_refuses_a_missing_file_and_names_it(work):
    (work / "toy.py").unlink()
    with pytest.raises(SubmissionError, match="missing files .*toy.py"):
        make_submission(work, "alice", strict=True)


def test_nothing_to_submit_is_refused(work):
    (work / "toy.py").unlink()
    (work / "toy.ipynb").unlink()
    with pytest.raises(SubmissionError, match="missing files"):
        make_submission(work, "alice")


def test_submit_outside_an_assignment_folder_says_where_to_run_it(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "eecs498", "submit", str(tmp_path), "--student", "bob"],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "assignment.toml is missing" in proc.stderr and "Run submit in your assignment folder" in proc.stderr


def test_the_release_tells_students_how_to_submit(toy_release):
    readme = (toy_release / "README.md").read_text()
    assert "python -m eecs498 submit . --student <uniqname>" in readme and "Colab" in readme
    assert "| 4 |" in readme
    last = nbformat.read(toy_release / "toy.ipynb", as_version=4).cells[-1]
    assert "python -m eecs498 submit . --student <uniqname>" in last.source and last.metadata["nbgrader"]["locked"]


def test_module_that_does_not_import_is_refused_with_the_error(work):
    (work / "toy.py").write_text((work / "toy.py").read_text() + "\ndef broken(:\n")
    with pytest.raises(SubmissionError, match="toy.py does not import: SyntaxError"):
        make_submission(work, "alice")


@pytest.mark.parametrize("name", ["", None, "../evil", "a b", "x" * 80])
def test_bad_student_names_are_refused(work, name):
    with pytest.raises(SubmissionError, match="invalid student name"):
        make_submission(work, name, check_imports=False)


def test_command_line_submit_in_a_released_folder(work):
    """Students run `python -m eecs498 submit` inside the release, with the copied helper package."""
    proc = subprocess.run([sys.executable, "-m", "eecs498", "submit", ".", "--student", "bob"],
                          cwd=work, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout and "has no outputs" in proc.stderr
    assert (work / "bob_toy.zip").is_file()
