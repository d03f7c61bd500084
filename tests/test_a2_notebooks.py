"""The a2_linear notebook: the SOURCE runs top to bottom and reaches its targets; the RELEASE stops at
the first stub.

The source notebook is executed by nbclient in a fresh ``python3`` kernel (the one of the
interpreter running pytest: run pytest with the project's .venv) in a COPY of the assignment folder
under ``tmp_path`` (module, notebook, assignment.toml), because the notebook writes its trained
models (``svm_best_model.pt``, ``softmax_best_model.pt``) next to itself: the source folder stays
clean. The executed notebooks are written under ``tmp_path`` for inspection.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from autograder.release import release_assignment
from eecs498.assignment import load_assignment
from notebook_helpers import check_clean_nbgrader, check_stopped_at_first_stub, errors, execute, stdout

pytestmark = pytest.mark.usefixtures("headless_kernel")  # every notebook kernel runs headless, one thread
ASSIGNMENT_DIR = Path(__file__).resolve().parent.parent / "assignments" / "a2_linear"
NOTEBOOK = "linear_classifier.ipynb"
COPIED = ("linear_classifier.py", NOTEBOOK, "assignment.toml")
BUDGET_S = 300  # on a 2-core CPU machine with Fashion-MNIST
TARGETS = ("svm_val", "softmax_val", "svm_test", "softmax_test")
# (D + 1, C) of the checkpoints, per dataset, with the bias trick
CHECKPOINT_SHAPE = {"fashion_mnist": (785, 10), "cifar10": (3073, 10)}


def test_source_notebook_is_clean_nbgrader():
    assert check_clean_nbgrader(ASSIGNMENT_DIR / NOTEBOOK, "lc") == 3
    assert not list(ASSIGNMENT_DIR.glob("*.pt")), "trained models must not be left in the source folder"


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
def test_source_notebook_runs_reaches_its_targets_and_saves_the_models(tmp_path):
    folder = tmp_path / "a2_linear"
    folder.mkdir()
    for name in COPIED:
        shutil.copy2(ASSIGNMENT_DIR / name, folder / name)
    nb, seconds = execute(folder, NOTEBOOK, tmp_path / f"executed-{NOTEBOOK}")
    assert errors(nb) == [], f"executed copy: {tmp_path / f'executed-{NOTEBOOK}'}"
    text = stdout(nb)
    assert "Hello from linear_classifier.py!" in text and "Using dataset:" in text
    dataset = "cifar10" if "Using dataset: cifar10" in text else "fashion_mnist"
    for target in TARGETS:
        assert f"Target reached ({dataset}, {target}): " in text, f"target {target} was not reported"
    assert text.count("Target reached (") == len(TARGETS)
    for name in ("svm_best_model.pt", "softmax_best_model.pt"):
        checkpoint = torch.load(folder / name, map_location="cpu", weights_only=True)
        assert set(checkpoint) == {"W"}, name
        assert tuple(checkpoint["W"].shape) == CHECKPOINT_SHAPE[dataset], name
        assert checkpoint["W"].dtype == torch.float32 and checkpoint["W"].device.type == "cpu", name
    assert not list(ASSIGNMENT_DIR.glob("*.pt")), "the run wrote into the source folder"
    if dataset == "fashion_mnist":  # the budget is set for Fashion-MNIST on a 2-core CPU
        assert seconds <= BUDGET_S, f"{NOTEBOOK} took {seconds:.0f} s"


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
def test_release_notebook_stops_at_the_first_stub(tmp_path):
    folder = release_assignment(load_assignment(ASSIGNMENT_DIR), tmp_path / "release")
    nb, _ = execute(folder, NOTEBOOK, tmp_path / f"executed-release-{NOTEBOOK}", stop_on_error=True)
    check_stopped_at_first_stub(nb, "linear_classifier.svm_loss_naive", "lc-svm-initial", "linear_classifier")
    assert not list(folder.glob("*.pt"))
