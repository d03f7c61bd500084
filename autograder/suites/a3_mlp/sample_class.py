"""The a3_mlp sample class: the students `make demo` grades and the project's tests check.

Besides the standard students (complete, untouched, null: see autograder.samples): Adam without
bias correction, a dropout that does not rescale, a Linear.backward that forgets dx's shape, a
ReLU backward through autograd, unreadable checkpoints and a hostile student.
"""
from __future__ import annotations

TWO_LAYER, FC = "two_layer_net.py", "fully_connected_networks.py"

ADAM_WITHOUT_BIAS_CORRECTION = {
    "adam": '''
def adam(w, dw, config=None):
    """Adam with the moments right, but no bias correction (the bug)."""
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("m", torch.zeros_like(w))
    config.setdefault("v", torch.zeros_like(w))
    config.setdefault("t", 0)
    config["t"] += 1
    config["m"] = config["beta1"] * config["m"] + (1 - config["beta1"]) * dw
    config["v"] = config["beta2"] * config["v"] + (1 - config["beta2"]) * dw * dw
    next_w = w - config["learning_rate"] * config["m"] / (torch.sqrt(config["v"]) + config["epsilon"])
    return next_w, config
''',
}

DROPOUT_WITHOUT_RESCALE = {
    "Dropout.forward": '''
@staticmethod
def forward(x, dropout_param):
    """Drops units with probability p, but forgets to scale the kept ones by 1 / (1 - p) (the bug)."""
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param and dropout_param["seed"] is not None:
        torch.manual_seed(dropout_param["seed"])
    mask = None
    if mode == "train":
        mask = (torch.rand_like(x) > p).to(x.dtype)
        out = x * mask
    elif mode == "test":
        out = x
    else:
        raise ValueError(f"dropout mode must be 'train' or 'test', got {mode!r}")
    return out, (dropout_param, mask)
''',
}

LINEAR_BACKWARD_WITHOUT_RESHAPE = {
    "Linear.backward": '''
@staticmethod
def backward(dout, cache):
    """Right dw and db, but dx keeps the flattened (N, D) shape instead of the shape of x (the bug)."""
    x, w, b = cache
    rows = x.reshape(x.shape[0], -1)
    return dout.mm(w.t()), rows.t().mm(dout), dout.sum(dim=0)
''',
}

HOSTILE_LAYERS = {
    "ReLU.forward": '''
@staticmethod
def forward(x):
    """Tries to read the hidden references and tests first; computes the ReLU of what it found."""
    import glob
    stolen = []
    for pattern in ("/work/*/autograder/suites/*/references.ref", "/work/*/autograder/suites/*/*.py", "../*.ref",
                    "../../*/autograder/suites/*/references.ref", "/tmp/*/references/*.ref"):
        for path in glob.glob(pattern)[:3]:
            try:
                stolen.append(open(path, "rb").read(64))
            except OSError:
                pass
    return x.clamp(min=0) * (1 + len(stolen)), x
''',
}

RELU_BACKWARD_WITH_AUTOGRAD = {
    "ReLU.backward": '''
@staticmethod
def backward(dout, cache):
    """Right values, from autograd (banned: the gradients are computed by hand)."""
    x = cache.detach().clone().requires_grad_(True)
    x.clamp(min=0).backward(dout)
    return x.grad
''',
}


def checkpoints(assignment: Assignment, dataset: str | None = None) -> dict[str, bytes]:
    """nn_best_model.pt and fc_best_model.pt trained quickly with the source solutions (trusted code,
    imported here) on ``dataset`` (the default dataset when None): a two-layer net trained by
    ``nn_train`` and a fully-connected net trained by the ``Solver``, in the formats of their
    ``save`` methods."""
    import torch

    from autograder.samples import checkpoint_bytes, source_module
    from eecs498.data import preprocess_dataset
    from eecs498.solver import Solver

    two_layer = source_module(assignment.root / "two_layer_net.py", "a3_two_layer_net_source")
    fc = source_module(assignment.root / "fully_connected_networks.py", "a3_fully_connected_networks_source")
    data = preprocess_dataset(dataset)
    D = data["X_train"].shape[1]
    torch.manual_seed(0)
    net = two_layer.TwoLayerNet(D, 200, 10, std=1e-2)
    net.train(data["X_train"], data["y_train"], data["X_val"], data["y_val"], num_iters=2000, batch_size=200,
              learning_rate=0.5, learning_rate_decay=0.95, reg=1e-5)
    files = {"nn_best_model.pt": checkpoint_bytes({k: v.detach().cpu() for k, v in net.params.items()})}
    torch.manual_seed(0)
    model = fc.FullyConnectedNet([256, 128], input_dim=D, weight_scale=5e-2, reg=1e-5)
    solver = Solver(model, data, update_rule=fc.sgd_momentum, optim_config={"learning_rate": 5e-2},
                    lr_schedule="cosine", batch_size=128, num_epochs=4, verbose=False)
    solver.train()
    files["fc_best_model.pt"] = checkpoint_bytes({
        "params": {k: v.detach().cpu() for k, v in model.params.items()}, "hidden_dims": [256, 128],
        "activation": "relu", "input_dim": D, "num_classes": 10})
    return files


def students(kit) -> None:
    from autograder.samples import Pwned, checkpoint_bytes, replace_functions, replace_methods

    fc = kit.source(FC)
    complete = kit.complete

    def fc_mutant(name: str, text: str, as_zip: bool = True, **changes) -> None:
        kit.add(name, {**complete, FC: text, **changes}, as_zip)

    fc_mutant("cat_adam_no_bias_correction", replace_functions(fc, ADAM_WITHOUT_BIAS_CORRECTION), as_zip=False)
    fc_mutant("dan_dropout_no_rescale", replace_methods(fc, DROPOUT_WITHOUT_RESCALE))
    fc_mutant("eve_hostile", replace_methods(fc, HOSTILE_LAYERS),
              **{"fc_best_model.pt": checkpoint_bytes({"params": {"W1": Pwned()}})})
    fc_mutant("fay_linear_no_reshape", replace_methods(fc, LINEAR_BACKWARD_WITHOUT_RESHAPE), as_zip=False)
    fc_mutant("gus_relu_autograd", replace_methods(fc, RELU_BACKWARD_WITH_AUTOGRAD))
    kit.add("hal_bad_checkpoints", {TWO_LAYER: complete[TWO_LAYER], FC: fc, "nn_best_model.pt": b"not a checkpoint"},
            as_zip=False)


def expected_scores(full: float) -> dict:
    """Adam without bias correction loses its two optimizer tests; a dropout that does not rescale
    loses the dropout tests and the network-with-dropout test; the hostile student's attacks earn
    nothing and its pickled fc_best_model.pt never runs: only that checkpoint's test is lost (see
    tests/test_a3_grading.py for exactly which tests each loses)."""
    partial = (0.9 * full, full)
    return {"cat_adam_no_bias_correction": partial, "dan_dropout_no_rescale": partial,
            "eve_hostile": (0.9 * full - 1e-9, full), "fay_linear_no_reshape": partial,
            "gus_relu_autograd": partial, "hal_bad_checkpoints": (0, full)}
