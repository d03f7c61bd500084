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


def test_missing_file_is_named(work):
    (work / "toy.py").unlink()
    with pytest.raises(SubmissionError, match="missing files .*toy.py"):
        make_submission(work, "alice")


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
