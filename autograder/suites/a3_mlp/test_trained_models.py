"""Hidden tests of the submitted checkpoints ``nn_best_model.pt`` and ``fc_best_model.pt``.

Each checkpoint is read inside the sandbox (``student.checkpoint``: ``torch.load`` with
``weights_only=True``) and arrives here as plain data. Its network is then run here, in the grader,
by a forward pass written in this file (linear - activation - ... - linear; ReLU for
``nn_best_model.pt``, the checkpoint's ``"activation"`` for ``fc_best_model.pt``), on the held-out
test split of the dataset its input size identifies (784: Fashion-MNIST, 3072: CIFAR-10), prepared
as ``preprocess_dataset(name)`` prepares it (flattened, no bias trick); the accuracy is compared
with the target of ``assignment.toml`` (``nn_test``, ``fc_test``). No references are needed: the
targets are thresholds. A missing dataset on the grading machine is the staff's problem
(GraderBug), never the student's.

Checkpoints saved the course's way are read like ours: ``nn_best_model.pt`` is ``{"W1", "b1",
"W2", "b2"}`` in both (the course's ``TwoLayerNet.save`` writes ``self.params``); ``fc_best_model.pt``
may be ours, the course's ``TwoLayerNet.save`` (``{"reg", "params"}``, submitted as
``best_two_layer_net.pth``: see ``[alternative_names]`` in ``assignment.toml``) or the course's
``FullyConnectedNet.save`` (``{"reg", "dtype", "params", "num_layers", "use_dropout",
"dropout_param"}``): the architecture is read from the shapes of ``params``, checked against the
keys that say it; a checkpoint that names no activation is a ReLU network, as the course's are.
"""
from __future__ import annotations

import math

import pytest
import torch

from autograder.suite import GraderBug, GradingFailure
from autograder.suite_helpers import held_out_split
from eecs498.assignment import find_assignment

ASSIGNMENT = find_assignment("a3_mlp")
DATASETS = {784: "fashion_mnist", 3072: "cifar10"}
NAMES = {"fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}
NUM_CLASSES = 10
ACTIVATIONS = ("relu", "leaky_relu", "elu")


def activate(name: str, x: torch.Tensor) -> torch.Tensor:
    if name == "relu":
        return x.clamp(min=0)
    if name == "leaky_relu":
        return torch.where(x > 0, x, 0.01 * x)
    return torch.where(x > 0, x, torch.expm1(x.clamp(max=0)))


def accuracy(layers: list[tuple[torch.Tensor, torch.Tensor]], activation: str, X: torch.Tensor,
             y: torch.Tensor) -> float:
    """The fraction of ``X`` the network (weights, biases per layer) classifies as ``y``, float32."""
    correct = 0
    for start in range(0, X.shape[0], 2000):
        h = X[start:start + 2000]
        for i, (W, b) in enumerate(layers):
            h = h @ W + b
            if i < len(layers) - 1:
                h = activate(activation, h)
        correct += int((h.argmax(dim=1) == y[start:start + 2000]).sum())
    return correct / X.shape[0]


def read_checkpoint(student, filename: str, how: str):
    try:
        return student.checkpoint(filename)
    except GradingFailure as failure:
        raise GradingFailure(f"{failure}; save your best network with {how} in the notebook and submit "
                             "the file") from None


def check_tensor_entry(value, name: str, filename: str, expected: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or not value.is_floating_point():
        raise GradingFailure(f"{filename}: {name} should be a floating tensor; expected {expected}")
    if not torch.isfinite(value).all():
        raise GradingFailure(f"{filename}: {name} contains NaN or infinity")
    return value.to(torch.float32)


def chain_of_layers(params: dict, num_layers: int, filename: str, expected: str, where: str) -> list:
    """[(W1, b1), ..., (WL, bL)] checked to fit together: Wi (D_{i-1}, D_i), bi (D_i,)."""
    layers = []
    for i in range(1, num_layers + 1):
        W = check_tensor_entry(params.get(f"W{i}"), f"{where}'W{i}'", filename, expected)
        b = check_tensor_entry(params.get(f"b{i}"), f"{where}'b{i}'", filename, expected)
        previous = layers[-1][0].shape[1] if layers else None
        if W.dim() != 2 or b.shape != (W.shape[1],) or (previous is not None and W.shape[0] != previous):
            shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in sorted(params.items())
                               if isinstance(v, torch.Tensor))
            raise GradingFailure(f"{filename}: the shapes do not fit together ({shapes}); expected {expected}")
        layers.append((W, b))
    D, C = layers[0][0].shape[0], layers[-1][0].shape[1]
    if D not in DATASETS or C != NUM_CLASSES:
        raise GradingFailure(f"{filename}: the network maps {D} inputs to {C} classes; expected 784 (Fashion-MNIST) "
                             "or 3072 (CIFAR-10) inputs and 10 classes — train on preprocess_dataset(name), "
                             "flattened, without the bias trick")
    return layers


def load_nn_model(student) -> tuple[list, str]:
    filename = "nn_best_model.pt"
    checkpoint = read_checkpoint(student, filename, "`best_net.save('nn_best_model.pt')`")
    expected = ("a dict {'W1', 'b1', 'W2', 'b2'} of floating tensors W1 (D, H), b1 (H,), W2 (H, 10), b2 (10,) with "
                "D = 784 (Fashion-MNIST) or 3072 (CIFAR-10), as written by TwoLayerNet.save")
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get("params"), dict):
        checkpoint = checkpoint["params"]  # the same weights wrapped as {"params": ...}
    if not isinstance(checkpoint, dict) or set(checkpoint) != {"W1", "b1", "W2", "b2"}:
        raise GradingFailure(f"{filename} should hold {expected}; it holds something else")
    return chain_of_layers(checkpoint, 2, filename, expected, ""), "relu"


def load_fc_model(student) -> tuple[list, str]:
    filename = "fc_best_model.pt"
    checkpoint = read_checkpoint(student, filename, "`model.save('fc_best_model.pt')`")
    expected = ("a dict whose 'params' holds W1, b1, ..., WL, bL (W1 (D, H_1), ..., WL (H_(L-1), 10)) with D = 784 "
                "(Fashion-MNIST) or 3072 (CIFAR-10), as written by FullyConnectedNet.save or TwoLayerNet.save "
                "(ours or the course's)")
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("params"), dict):
        raise GradingFailure(f"{filename} should hold {expected}; it holds something else")
    params = checkpoint["params"]
    num_layers = sum(1 for name in params if isinstance(name, str) and name.startswith("W"))
    names = {f"{kind}{i}" for i in range(1, num_layers + 1) for kind in "Wb"}
    if num_layers == 0 or set(params) != names:
        raise GradingFailure(f"{filename}: 'params' should hold exactly W1, b1, ..., WL, bL of consecutive layers; "
                             f"expected {expected}")
    activation = checkpoint.get("activation", "relu")  # the course's networks are ReLU networks
    if activation not in ACTIVATIONS:
        raise GradingFailure(f"{filename}: 'activation' should be one of {', '.join(map(repr, ACTIVATIONS))}")
    layers = chain_of_layers(params, num_layers, filename, expected, "params")
    actual = {"hidden_dims": [W.shape[1] for W, _ in layers[:-1]], "num_layers": num_layers,
              "input_dim": layers[0][0].shape[0], "num_classes": layers[-1][0].shape[1]}
    for key, value in actual.items():  # the keys that state the architecture must agree with the weights
        stated = checkpoint.get(key)
        if stated is not None and (list(stated) if isinstance(stated, (list, tuple)) else stated) != value:
            raise GradingFailure(f"{filename}: {key!r} does not match the shapes of the weights; expected {expected}")
    return layers, activation


def check_model(student, expect, filename: str, kind: str) -> None:
    if expect.record:
        return  # references are recorded from the source modules alone; nothing to record here
    layers, activation = (load_nn_model if kind == "nn" else load_fc_model)(student)
    dataset = DATASETS[layers[0][0].shape[0]]
    target = ASSIGNMENT.targets.get(dataset, {}).get(f"{kind}_test")
    if target is None:
        raise GraderBug(f"assignment.toml has no target {kind}_test for {dataset}")
    X_test, y_test = held_out_split(dataset)
    result = accuracy(layers, activation, X_test, y_test)
    if not math.isfinite(result) or result < target:
        raise GradingFailure(f"{filename} reaches {100 * result:.2f}% accuracy on the {NAMES[dataset]} test set; the "
                             f"target is {100 * target:.0f}% — tune the hyperparameters on the validation set, train "
                             "longer, and save the best model")


@pytest.mark.group("trained_models")
def test_nn_best_model(student, expect):
    """nn_best_model.pt (two-layer net) reaches the target accuracy on the held-out test set"""
    check_model(student, expect, "nn_best_model.pt", "nn")


@pytest.mark.group("trained_models")
def test_fc_best_model(student, expect):
    """fc_best_model.pt (fully-connected net) reaches the target accuracy on the held-out test set"""
    check_model(student, expect, "fc_best_model.pt", "fc")
