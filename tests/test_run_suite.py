"""run_suite: one process grades several assignments (a grading worker, the test suite, a TA's shell)."""
from __future__ import annotations

import textwrap
from pathlib import Path

from autograder.suite import run_suite
from eecs498.assignment import load_assignment


def make_assignment(root: Path, name: str) -> tuple:
    folder = root / name
    (folder / "suite").mkdir(parents=True)
    (folder / "assignment.toml").write_text(textwrap.dedent(f'''\
        id = "{name}"
        title = "{name}"
        modules = []
        submit = []
        [groups.all]
        points = 1
        '''))
    # the same file name in both suites, as a2's and a3's test_trained_models.py
    (folder / "suite" / "test_models.py").write_text(textwrap.dedent(f'''
        import pytest

        @pytest.mark.group("all")
        def test_{name}():
            """{name}'s own test"""
        '''))
    return load_assignment(folder), folder / "suite"


def test_suites_with_files_of_the_same_name_each_run_their_own(tmp_path):
    first, first_suite = make_assignment(tmp_path, "first")
    second, second_suite = make_assignment(tmp_path, "second")
    for _ in range(2):
        assert [r.name for r in run_suite(first, None, {}, folder=first_suite)] == ["first's own test"]
        assert [r.name for r in run_suite(second, None, {}, folder=second_suite)] == ["second's own test"]
