"""The a3_mlp sample class: the students `make demo` grades and the project's tests check.

Besides the standard students (complete, untouched, null: see autograder.samples): Adam without
bias correction, a dropout that does not rescale, a Linear.backward that forgets dx's shape, a
ReLU backward through autograd, unreadable checkpoints, a hostile student, correct code written with
the course's habits (full marks) and a momentum rule that changes its learning rate.
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


# Correct code written with the course's habits (ivy_course_habits scores full marks): update rules
# that change w and their state in place, numpy search lists, a best_val_acc in percent, float32
# accuracy histories, torch.relu (allowed from A3 on), another way to draw the dropout mask, and
# checkpoints under the course's names with the course's keys.
COURSE_HABITS_FC_FUNCTIONS = {
    "sgd_momentum": '''
def sgd_momentum(w, dw, config=None):
    """In place, as the course's sgd."""
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config.get("velocity", torch.zeros_like(w))
    v.mul_(config["momentum"]).sub_(config["learning_rate"] * dw)
    w += v
    config["velocity"] = v
    return w, config
''',
    "rmsprop": '''
def rmsprop(w, dw, config=None):
    """In place."""
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("cache", torch.zeros_like(w))
    config["cache"] *= config["decay_rate"]
    config["cache"] += (1 - config["decay_rate"]) * dw * dw
    w -= config["learning_rate"] * dw / (config["cache"].sqrt() + config["epsilon"])
    return w, config
''',
    "adam": '''
def adam(w, dw, config=None):
    """In place."""
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
    config["m"].mul_(config["beta1"]).add_((1 - config["beta1"]) * dw)
    config["v"].mul_(config["beta2"]).add_((1 - config["beta2"]) * dw * dw)
    m_hat = config["m"] / (1 - config["beta1"] ** config["t"])
    v_hat = config["v"] / (1 - config["beta2"] ** config["t"])
    w -= config["learning_rate"] * m_hat / (v_hat.sqrt() + config["epsilon"])
    return w, config
''',
}
COURSE_HABITS_FC_METHODS = {
    "ReLU.forward": '''
@staticmethod
def forward(x):
    """torch.nn.functional.relu: torch.nn ops are allowed from A3 on."""
    return torch.nn.functional.relu(x), x
''',
    "Dropout.forward": '''
@staticmethod
def forward(x, dropout_param):
    """Keeps the units whose (float32) random number is below 1 - p: another mask than the docstring's."""
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param:
        torch.manual_seed(dropout_param["seed"])
    mask = None
    if mode == "train":
        mask = (torch.rand(x.shape) < 1 - p).to(x.dtype) / (1 - p)
        out = x * mask
    else:
        out = x
    return out, (dropout_param, mask)
''',
}
COURSE_HABITS_TWO_LAYER = {
    "nn_get_search_params": '''
def nn_get_search_params():
    """numpy lists."""
    import numpy as np
    return np.array([0.5, 1.0]), np.array([256]), np.logspace(-5, -4, 2), np.array([0.95])
''',
    "find_best_net": '''
def find_best_net(data_dict, get_param_set_fn):
    """best_val_acc in percent, as the course's notebooks print it."""
    best_net, best_stat, best_val_acc = None, None, 0.0
    X_train, y_train = data_dict["X_train"], data_dict["y_train"]
    X_val, y_val = data_dict["X_val"], data_dict["y_val"]
    learning_rates, hidden_sizes, regs, decays = get_param_set_fn()
    for lr, hidden_size, reg, decay in itertools.product(learning_rates, hidden_sizes, regs, decays):
        net = TwoLayerNet(X_train.shape[1], int(hidden_size), 10, dtype=X_train.dtype, device=X_train.device)
        stats = net.train(X_train, y_train, X_val, y_val, num_iters=2000, batch_size=500,
                          learning_rate=float(lr), learning_rate_decay=float(decay), reg=float(reg))
        val_acc = 100.0 * (net.predict(X_val) == y_val).double().mean().item()
        if best_net is None or val_acc > best_val_acc:
            best_net, best_stat, best_val_acc = net, stats, val_acc
    return best_net, best_stat, best_val_acc
''',
    "nn_train": '''
def nn_train(params, loss_func, pred_func, X, y, X_val, y_val, learning_rate=1e-3, learning_rate_decay=0.95,
             reg=5e-6, num_iters=100, batch_size=200, verbose=False):
    """The course's given code: accuracies as float32 means."""
    num_train = X.shape[0]
    iterations_per_epoch = max(num_train // batch_size, 1)
    loss_history, train_acc_history, val_acc_history = [], [], []
    for it in range(num_iters):
        X_batch, y_batch = sample_batch(X, y, num_train, batch_size)
        loss, grads = loss_func(params, X_batch, y=y_batch, reg=reg)
        loss_history.append(loss.item())
        for name in ("W1", "b1", "W2", "b2"):
            params[name] -= learning_rate * grads[name]
        if it % iterations_per_epoch == 0:
            train_acc = (pred_func(params, loss_func, X_batch) == y_batch).float().mean().item()
            val_acc = (pred_func(params, loss_func, X_val) == y_val).float().mean().item()
            train_acc_history.append(train_acc)
            val_acc_history.append(val_acc)
            learning_rate *= learning_rate_decay
    return {"loss_history": loss_history, "train_acc_history": train_acc_history,
            "val_acc_history": val_acc_history}
''',
}

# A correct momentum formula whose rule also changes a hyperparameter it was given: the grader must
# say what was carried wrong, not blame the formula.
MOMENTUM_CHANGING_ITS_LEARNING_RATE = {
    "sgd_momentum": '''
def sgd_momentum(w, dw, config=None):
    """The right update, but it halves config["learning_rate"] after every step (the bug)."""
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config.get("velocity", torch.zeros_like(w))
    v = config["momentum"] * v - config["learning_rate"] * dw
    config["velocity"] = v
    config["learning_rate"] = config["learning_rate"] / 2
    return w + v, config
''',
}


def course_format(fc_checkpoint: bytes) -> bytes:
    """Our fc_best_model.pt as the course's FullyConnectedNet.save writes it (no activation, no sizes)."""
    import io

    import torch

    from autograder.samples import checkpoint_bytes

    ours = torch.load(io.BytesIO(fc_checkpoint), weights_only=True)
    return checkpoint_bytes({"reg": 1e-5, "dtype": torch.float32, "params": ours["params"],
                             "num_layers": len(ours["hidden_dims"]) + 1, "use_dropout": False, "dropout_param": {}})


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
    kit.add("ivy_course_habits", {
        TWO_LAYER: replace_functions(kit.source(TWO_LAYER), COURSE_HABITS_TWO_LAYER),
        FC: replace_methods(replace_functions(fc, COURSE_HABITS_FC_FUNCTIONS), COURSE_HABITS_FC_METHODS),
        "nn_best_model.pth": kit.checkpoints["nn_best_model.pt"],
        "fc_best_model.pth": course_format(kit.checkpoints["fc_best_model.pt"])})
    fc_mutant("jon_momentum_changes_its_learning_rate", replace_functions(fc, MOMENTUM_CHANGING_ITS_LEARNING_RATE))
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
            "gus_relu_autograd": partial, "hal_bad_checkpoints": (0, full), "ivy_course_habits": full,
            "jon_momentum_changes_its_learning_rate": partial}
