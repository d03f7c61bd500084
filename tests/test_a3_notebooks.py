"""The a3_mlp notebooks: each SOURCE notebook runs top to bottom and reaches its targets; each
RELEASE notebook stops at its first stub.

A source notebook is executed by nbclient in a fresh ``python3`` kernel (the one of the interpreter
running pytest: run pytest with the project's .venv) in a COPY of the assignment folder under
``tmp_path`` (modules, notebooks, assignment.toml), because the notebooks write their trained
models (``nn_best_model.pt``, ``fc_best_model.pt``) next to themselves: the source folder stays
clean. The executed notebooks are written under ``tmp_path`` for inspection.
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
ASSIGNMENT_DIR = Path(__file__).resolve().parent.parent / "assignments" / "a3_mlp"
COPIED = ("two_layer_net.py", "fully_connected_networks.py", "two_layer_net.ipynb",
          "fully_connected_networks.ipynb", "assignment.toml")
BUDGET_S = 300  # each notebook, on a 2-core CPU machine with Fashion-MNIST
INPUT_DIM = {"fashion_mnist": 784, "cifar10": 3072}
NUM_CLASSES = 10


@dataclass(frozen=True)
class Notebook:
    name: str
    prefix: str  # of the nbgrader grade_ids
    module: str
    targets: tuple[str, ...]
    checkpoint: str
    first_stub: str  # the function whose stub stops the release notebook
    first_stub_cell: str  # the grade_id of the cell that calls it first


NOTEBOOKS = {
    nb.name: nb for nb in (
        Notebook("two_layer_net.ipynb", "tln", "two_layer_net", ("nn_val", "nn_test"), "nn_best_model.pt",
                 "two_layer_net.nn_forward_pass", "tln-forward"),
        Notebook("fully_connected_networks.ipynb", "fcn", "fully_connected_networks", ("fc_val", "fc_test"),
                 "fc_best_model.pt", "fully_connected_networks.Linear.forward", "fcn-linear-forward"),
    )
}


def check_two_layer_checkpoint(checkpoint, dataset: str) -> None:
    """TwoLayerNet.save of two_layer_net.py: {"W1", "b1", "W2", "b2"} as float32 CPU tensors."""
    assert set(checkpoint) == {"W1", "b1", "W2", "b2"}
    hidden = checkpoint["W1"].shape[1]
    assert tuple(checkpoint["W1"].shape) == (INPUT_DIM[dataset], hidden)
    assert tuple(checkpoint["b1"].shape) == (hidden,)
    assert tuple(checkpoint["W2"].shape) == (hidden, NUM_CLASSES)
    assert tuple(checkpoint["b2"].shape) == (NUM_CLASSES,)
    for name, value in checkpoint.items():
        assert value.dtype == torch.float32 and value.device.type == "cpu", name


def check_network_checkpoint(checkpoint, dataset: str) -> None:
    """FullyConnectedNet.save (or fully_connected_networks.TwoLayerNet.save): params plus architecture."""
    assert set(checkpoint) == {"params", "hidden_dims", "activation", "input_dim", "num_classes"}
    assert checkpoint["input_dim"] == INPUT_DIM[dataset] and checkpoint["num_classes"] == NUM_CLASSES
    assert checkpoint["activation"] in ("relu", "leaky_relu", "elu")
    dims = [checkpoint["input_dim"], *checkpoint["hidden_dims"], checkpoint["num_classes"]]
    expected = {}
    for i in range(1, len(dims)):
        expected[f"W{i}"] = (dims[i - 1], dims[i])
        expected[f"b{i}"] = (dims[i],)
    params = checkpoint["params"]
    assert {name: tuple(value.shape) for name, value in params.items()} == expected
    for name, value in params.items():
        assert value.dtype == torch.float32 and value.device.type == "cpu", name


CHECK_CHECKPOINT = {"nn_best_model.pt": check_two_layer_checkpoint, "fc_best_model.pt": check_network_checkpoint}


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_source_notebook_is_clean_nbgrader(name):
    assert check_clean_nbgrader(ASSIGNMENT_DIR / name, NOTEBOOKS[name].prefix) == 3
    assert not list(ASSIGNMENT_DIR.glob("*.pt")), "trained models must not be left in the source folder"


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_source_notebook_runs_reaches_its_targets_and_saves_its_model(name, tmp_path):
    notebook = NOTEBOOKS[name]
    folder = tmp_path / "a3_mlp"
    folder.mkdir()
    for file in COPIED:
        shutil.copy2(ASSIGNMENT_DIR / file, folder / file)
    nb, seconds = execute(folder, name, tmp_path / f"executed-{name}")
    assert errors(nb) == [], f"executed copy: {tmp_path / f'executed-{name}'}"
    text = stdout(nb)
    assert f"Hello from {notebook.module}.py!" in text and "Using dataset:" in text
    dataset = "cifar10" if "Using dataset: cifar10" in text else "fashion_mnist"
    for target in notebook.targets:
        assert f"Target reached ({dataset}, {target}): " in text, f"target {target} was not reported"
    assert text.count("Target reached (") == len(notebook.targets)
    checkpoint = torch.load(folder / notebook.checkpoint, map_location="cpu", weights_only=True)
    CHECK_CHECKPOINT[notebook.checkpoint](checkpoint, dataset)
    assert not list(ASSIGNMENT_DIR.glob("*.pt")), "the run wrote into the source folder"
    if dataset == "fashion_mnist":  # the budget is set for Fashion-MNIST on a 2-core CPU
        assert seconds <= BUDGET_S, f"{name} took {seconds:.0f} s"


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    """The student version of a3_mlp, built once for the release tests."""
    return release_assignment(load_assignment(ASSIGNMENT_DIR), tmp_path_factory.mktemp("release"))


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_release_notebook_stops_at_the_first_stub(name, release, tmp_path):
    notebook = NOTEBOOKS[name]
    folder = tmp_path / "a3_mlp"
    shutil.copytree(release, folder)  # each run gets its own copy of the release
    nb, _ = execute(folder, name, tmp_path / f"executed-release-{name}", stop_on_error=True)
    check_stopped_at_first_stub(nb, notebook.first_stub, notebook.first_stub_cell, notebook.module)
    assert "Using dataset:" in stdout(nb)
    assert not list(folder.glob("*.pt"))
