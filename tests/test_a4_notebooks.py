"""The a4_cnn notebooks: each SOURCE notebook runs top to bottom within its CPU budget, reaches its
targets and saves its checkpoints; each RELEASE notebook stops at its first stub.

A source notebook is executed by nbclient in a fresh ``python3`` kernel (the one of the interpreter
running pytest: run pytest with the project's .venv) in a COPY of the assignment folder under
``tmp_path`` (modules, notebooks, assignment.toml, and the given ``fully_connected_networks.py``
that ``convolutional_networks.py`` imports), because the notebooks write their trained models next
to themselves: the source folder stays clean.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from autograder.release import release_assignment
from eecs498.assignment import load_assignment
from notebook_helpers import check_clean_nbgrader, check_stopped_at_first_stub, errors, execute, stdout

pytestmark = pytest.mark.usefixtures("headless_kernel")  # every notebook kernel runs headless, one thread
ASSIGNMENT_DIR = Path(__file__).resolve().parent.parent / "assignments" / "a4_cnn"
ASSIGNMENT = load_assignment(ASSIGNMENT_DIR)
INPUT_DIMS = {"fashion_mnist": [1, 28, 28], "cifar10": [3, 32, 32]}


@dataclass(frozen=True)
class Notebook:
    name: str
    prefix: str  # of the nbgrader grade_ids
    module: str
    targets: tuple[str, ...]
    checkpoints: tuple[str, ...]
    first_stub: str  # the function whose stub stops the release notebook
    first_stub_cell: str  # the grade_id of the cell that calls it first
    budget_s: int  # on a 2-core CPU machine with Fashion-MNIST, one torch thread


NOTEBOOKS = {
    nb.name: nb for nb in (
        Notebook("convolutional_networks.ipynb", "cnn", "convolutional_networks",
                 ("convnet_val", "convnet_test", "overfit_train"),
                 ("one_minute_deepconvnet.pt", "overfit_deepconvnet.pt"),
                 "convolutional_networks.Conv.forward", "cnn-conv-forward", 300),
        Notebook("pytorch_autograd_and_nn.ipynb", "pt", "pytorch_autograd_and_nn", (), (),
                 "pytorch_autograd_and_nn.StableSigmoid.forward", "pt-stable-forward", 300),
    )
}


def copy_source(folder: Path) -> Path:
    folder.mkdir()
    for name in (*ASSIGNMENT.modules, *ASSIGNMENT.notebooks, "assignment.toml"):
        shutil.copy2(ASSIGNMENT_DIR / name, folder / name)
    ASSIGNMENT.write_given_files(folder)
    return folder


def check_deep_convnet_checkpoint(path: Path, dataset: str) -> None:
    """DeepConvNet.save's format, for the dataset's images and 10 classes, float32 CPU tensors."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    assert {"params", "input_dims", "num_filters", "max_pools", "batchnorm", "num_classes", "reg",
            "bn_params"} == set(checkpoint)
    assert checkpoint["input_dims"] == INPUT_DIMS[dataset] and checkpoint["num_classes"] == 10
    L = len(checkpoint["num_filters"]) + 1
    assert tuple(checkpoint["params"][f"W{L}"].shape)[1] == 10
    for name, value in checkpoint["params"].items():
        assert value.dtype == torch.float32 and value.device.type == "cpu", name


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_source_notebook_is_clean_nbgrader(name):
    assert check_clean_nbgrader(ASSIGNMENT_DIR / name, NOTEBOOKS[name].prefix) == 3
    assert not list(ASSIGNMENT_DIR.glob("*.pt")), "trained models must not be left in the source folder"


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_source_notebook_runs_reaches_its_targets_and_saves_its_models(name, tmp_path):
    notebook = NOTEBOOKS[name]
    folder = copy_source(tmp_path / "a4_cnn")
    nb, seconds = execute(folder, name, tmp_path / f"executed-{name}")
    assert errors(nb) == [], f"executed copy: {tmp_path / f'executed-{name}'}"
    text = stdout(nb)
    assert f"Hello from {notebook.module}.py!" in text and "Using dataset:" in text
    dataset = "cifar10" if "Using dataset: cifar10" in text else "fashion_mnist"
    for target in notebook.targets:
        assert f"Target reached ({dataset}, {target}): " in text, f"target {target} was not reported"
    assert text.count("Target reached (") == len(notebook.targets)
    for checkpoint in notebook.checkpoints:
        check_deep_convnet_checkpoint(folder / checkpoint, dataset)
    assert not list(ASSIGNMENT_DIR.glob("*.pt")), "the run wrote into the source folder"
    if dataset == "fashion_mnist":  # the budget is set for Fashion-MNIST on a 2-core CPU
        assert seconds <= notebook.budget_s, f"{name} took {seconds:.0f} s"


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    """The student version of a4_cnn, built once for the release tests."""
    return release_assignment(ASSIGNMENT, tmp_path_factory.mktemp("release"))


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_release_notebook_stops_at_the_first_stub(name, release, tmp_path):
    notebook = NOTEBOOKS[name]
    folder = tmp_path / "a4_cnn"
    shutil.copytree(release, folder)  # each run gets its own copy of the release
    nb, _ = execute(folder, name, tmp_path / f"executed-release-{name}", stop_on_error=True)
    check_stopped_at_first_stub(nb, notebook.first_stub, notebook.first_stub_cell, notebook.module)
    assert "Using dataset:" in stdout(nb)
    assert not list(folder.glob("*.pt"))
