"""The Gradescope autograder zip, run in a folder laid out like Gradescope's /autograder."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder.gradescope import build_autograder_zip
from eecs498.assignment import find_assignment


@pytest.mark.xdist_group("grading")
def test_zip_runs_like_on_gradescope_and_writes_valid_results(tmp_path):
    assignment = find_assignment("a1_knn")
    archive = build_autograder_zip(assignment, tmp_path / "a1_autograder.zip")
    with zipfile.ZipFile(archive) as z:
        names = set(z.namelist())
        assert {"setup.sh", "run_autograder", "autograder/suites/a1_knn/references.ref"} <= names
        assert not any(n.startswith("assignments/a1_knn/") and n.endswith(".py") for n in names), \
            "the source solutions must not ship in the autograder zip"
        assert z.getinfo("run_autograder").external_attr >> 16 & 0o111
        z.extractall(tmp_path / "autograder" / "source")
    root = tmp_path / "autograder"
    (root / "submission").mkdir()
    (root / "results").mkdir()
    for name in assignment.submit:
        shutil.copy2(assignment.root / name, root / "submission" / name)
    env = {**os.environ, "EECS498_GRADESCOPE_ROOT": str(root),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((root / "results" / "results.json").read_text())
    assert set(results) >= {"score", "execution_time", "output", "visibility", "stdout_visibility", "tests"}
    assert results["tests"] and all(
        {"name", "score", "max_score", "status", "output", "visibility"} <= set(t) for t in results["tests"])
    assert all(t["status"] in ("passed", "failed") for t in results["tests"])
    assert results["score"] == pytest.approx(assignment.max_score)
    assert results["score"] == pytest.approx(sum(t["score"] for t in results["tests"]))
