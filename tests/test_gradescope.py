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

ROOT = Path(__file__).resolve().parent.parent


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


GRADESCOPE_VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}


def check_gradescope_results(results: dict) -> None:
    """``results`` is a valid Gradescope results.json: its fields, their types and allowed values."""
    assert isinstance(results["score"], (int, float)) and isinstance(results["execution_time"], (int, float))
    assert isinstance(results["output"], str)
    assert results["visibility"] in GRADESCOPE_VISIBILITY and results["stdout_visibility"] in GRADESCOPE_VISIBILITY
    assert isinstance(results["tests"], list) and results["tests"]
    for test in results["tests"]:
        assert isinstance(test["name"], str) and isinstance(test["output"], str)
        assert isinstance(test["score"], (int, float)) and isinstance(test["max_score"], (int, float))
        assert test["status"] in ("passed", "failed") and test["visibility"] in GRADESCOPE_VISIBILITY
    assert results["score"] == pytest.approx(sum(t["score"] for t in results["tests"]))


@pytest.mark.integration
def test_setup_sh_builds_a_fresh_environment_and_the_zip_grades_a_complete_submission(sample_class, tmp_path):
    """The whole Gradescope road for a2_linear (checkpoints scored on Fashion-MNIST's test split):
    setup.sh into a fresh venv of the system's python3 (pinned torch, grader requirements, the
    dataset, the preflight), then run_autograder with and without bubblewrap."""
    from helpers import world_readable_folder

    assignment = find_assignment("a2_linear")
    graded = sample_class("a2_linear")
    layout = world_readable_folder("eecs498-gradescope-setup-")
    try:
        archive = build_autograder_zip(assignment, tmp_path / "a2_autograder.zip")
        with zipfile.ZipFile(archive) as z:
            assert {"requirements-torch.txt", "requirements-grader.txt", "datasets.txt"} <= set(z.namelist())
            assert z.read("datasets.txt").decode().split() == ["fashion_mnist"]
            z.extractall(layout / "source")
        for path in [layout / "source", *(layout / "source").rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        system = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8",
                  "EECS498_GRADESCOPE_ROOT": str(layout)}
        setup = subprocess.run(["/bin/bash", str(layout / "source" / "setup.sh")], env=system, capture_output=True,
                               text=True, timeout=3600)
        assert setup.returncode == 0, setup.stdout[-2000:] + setup.stderr[-3000:]
        assert "preflight passed for a2_linear" in setup.stdout and "fashion_mnist: train (60000, 1, 28, 28)" in setup.stdout
        venv = layout / "venv" / "bin" / "python"
        version = subprocess.run([str(venv), "-c", "import torch; print(torch.__version__)"], capture_output=True,
                                 text=True, check=True).stdout.strip()
        pinned = (ROOT / "requirements" / "torch-x86_64.txt").read_text().split("torch==")[1].split()[0]
        assert version.split("+")[0] == pinned

        (layout / "submission").mkdir()
        (layout / "results").mkdir()
        complete = {**{name: (assignment.root / name).read_bytes() for name in assignment.modules},
                    **graded.kit.checkpoints}
        for name, data in complete.items():
            (layout / "submission" / name).write_bytes(data)
        empty = tmp_path / "no-bubblewrap"
        empty.mkdir()
        for label, path in (("bubblewrap", system["PATH"]), ("uid", str(empty))):
            proc = subprocess.run(["/bin/bash", str(layout / "source" / "run_autograder")],
                                  env={**system, "PATH": path}, capture_output=True, text=True, timeout=1800)
            assert proc.returncode == 0, (label, proc.stderr[-3000:])
            results = json.loads((layout / "results" / "results.json").read_text())
            check_gradescope_results(results)
            assert results["score"] == pytest.approx(assignment.max_score), (label, results["output"])
            assert results["extra_data"]["sandbox"].startswith("bubblewrap:") == (label == "bubblewrap")
    finally:
        shutil.rmtree(layout, ignore_errors=True)
