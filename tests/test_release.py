"""Release: stubs, nbgrader notebooks, leak checks, determinism — on a small assignment made here."""
from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

import nbformat
import pytest

from autograder.release import (
    ReleaseError,
    find_solution_regions,
    release_assignment,
    strip_solutions,
    verify_release,
)
from eecs498.assignment import load_assignment
from toy_assignment import MODULE, make_toy_assignment

@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return load_assignment(make_toy_assignment(tmp_path_factory.mktemp("source")))


@pytest.fixture(scope="module")
def toy_release(toy, tmp_path_factory):
    return release_assignment(toy, tmp_path_factory.mktemp("release"))


@pytest.fixture
def released_copy(toy_release, tmp_path):
    """A private copy of the toy release that a test may tamper with."""
    return Path(shutil.copytree(toy_release, tmp_path / "toy"))


def test_strip_replaces_each_region_with_a_stub_and_keeps_the_rest():
    out = strip_solutions(MODULE, "toy")
    assert "secret" not in out and "BEGIN SOLUTION" not in out
    assert 'raise NotImplementedError("toy.double: not implemented yet")' in out
    assert 'raise NotImplementedError("toy.Squarer.__call__: not implemented yet")' in out
    assert "# Hint: one line is enough." in out and '"""Return 2 * x.  Shape: (N,) -> (N,)."""' in out
    namespace: dict = {}
    exec(compile(out, "toy.py", "exec"), namespace)
    with pytest.raises(NotImplementedError, match="toy.double"):
        namespace["double"](1)


@pytest.mark.parametrize("bad, message", [
    ("def f():\n    ### BEGIN SOLUTION\n    return 1\n", "never closed"),
    ("def f():\n    return 1\n    ### END SOLUTION\n", "without a"),
    ("def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION\n", "inside the region"),
    ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n", "outside any function"),
    ("def f():\n    ## BEGIN SOLUTION\n    return 1\n", "malformed"),
])
def test_malformed_regions_are_refused_with_the_line(bad, message):
    with pytest.raises(ReleaseError, match=message):
        find_solution_regions(bad, "bad.py")


def test_release_builds_a_verified_student_version(toy, toy_release):
    folder = toy_release
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "assignment.toml", "eecs498", "toy.ipynb", "toy.py"]
    nb = nbformat.read(folder / "toy.ipynb", as_version=4)
    assert nb.cells[1].outputs == [] and nb.cells[1].execution_count is None
    assert "Doubling is linear" not in nb.cells[2].source and "YOUR ANSWER HERE" in nb.cells[2].source
    assert nb.cells[0].metadata["deletable"] is False  # nbgrader locked the instructions
    assert verify_release(toy, folder) == []


def test_release_is_byte_identical_when_run_twice(toy, toy_release, tmp_path):
    first = toy_release
    second = release_assignment(toy, tmp_path / "two")
    names = sorted(str(p.relative_to(first)) for p in first.rglob("*") if p.is_file())
    assert names == sorted(str(p.relative_to(second)) for p in second.rglob("*") if p.is_file())
    match, mismatch, errors = filecmp.cmpfiles(first, second, names, shallow=False)
    assert mismatch == [] and errors == []


@pytest.mark.parametrize("tamper, expected", [
    (lambda f: f.write_text(f.read_text().replace("# YOUR CODE HERE", "y = x.mul(2)  # secret")), "solution text"),
    (lambda f: f.write_text(f.read_text() + "\n### BEGIN SOLUTION\n"), "marker"),
    (lambda f: f.write_text(f.read_text().replace(
        'raise NotImplementedError("toy.double: not implemented yet")', "return x")), "does not raise"),
    (lambda f: f.write_text(f.read_text().replace("def double(x: torch.Tensor)", "def double(x, y=1)")),
     "signature of double changed"),
    (lambda f: f.write_text(f.read_text().replace("import torch", "import torch\nimport no_such_module")),
     "does not import"),
])
def test_verification_fails_when_the_release_is_wrong(toy, released_copy, tamper, expected):
    folder = released_copy
    tamper(folder / "toy.py")
    assert any(expected in problem for problem in verify_release(toy, folder))


def test_verification_catches_a_leaked_written_answer_and_kept_outputs(toy, released_copy):
    folder = released_copy
    nb = nbformat.read(folder / "toy.ipynb", as_version=4)
    nb.cells[2].source = "Doubling is linear, so its gradient is two."
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="x\n")]
    nbformat.write(nb, folder / "toy.ipynb")
    problems = verify_release(toy, folder)
    assert any("solution text" in p for p in problems)
    assert any("still has outputs" in p for p in problems)


def test_release_refuses_to_write_into_its_source(toy):
    with pytest.raises(ReleaseError, match="source folder"):
        release_assignment(toy, toy.root.parent)
