"""The a2_linear sample class: the students `make demo` grades and the project's tests check.

Besides the standard students (complete, untouched, null: see autograder.samples): an SVM gradient
without its regularization term, no checkpoints, a hostile pickle as a checkpoint, unreadable
checkpoints, a loop in a vectorized loss, a checkpoint without the bias row, a solution written to
the course's starter code (no reg_type), and the course's habits (float losses, in-place updates,
numpy search lists, percent accuracies, float64 checkpoints).
"""
from __future__ import annotations

MODULE = "linear_classifier.py"

# Mutants are written to the course's signatures (W, X, y, reg): no reg_type keyword, so they also
# lose the l1_regularization tests of the functions they replace.
SVM_NO_REG_GRADIENT = {
    "svm_loss_naive": """
def svm_loss_naive(W, X, y, reg):
    \"\"\"Right loss; the gradient forgets the regularization term (the bug).\"\"\"
    dW = torch.zeros_like(W)
    loss = 0.0
    for i in range(X.shape[0]):
        scores = W.t().mv(X[i])
        for j in range(W.shape[1]):
            margin = scores[j] - scores[y[i]] + 1
            if j != y[i] and margin > 0:
                loss += margin
                dW[:, j] += X[i]
                dW[:, y[i]] -= X[i]
    loss = loss / X.shape[0] + reg * torch.sum(W * W)
    return loss, dW / X.shape[0]
""",
    "svm_loss_vectorized": """
def svm_loss_vectorized(W, X, y, reg):
    \"\"\"Right loss; the gradient forgets the regularization term (the bug).\"\"\"
    rows = torch.arange(X.shape[0], device=X.device)
    scores = X.mm(W)
    margins = (scores - scores[rows, y].unsqueeze(1) + 1).clamp(min=0)
    margins[rows, y] = 0
    loss = margins.sum() / X.shape[0] + reg * torch.sum(W * W)
    dscores = (margins > 0).to(W.dtype)
    dscores[rows, y] = -dscores.sum(dim=1)
    return loss, X.t().mm(dscores) / X.shape[0]
""",
}
SOFTMAX_WITH_LOOP = {
    "softmax_loss_vectorized": """
def softmax_loss_vectorized(W, X, y, reg):
    \"\"\"Right values, with a Python loop where none is allowed.\"\"\"
    loss = W.new_zeros(())
    dW = torch.zeros_like(W)
    for i in range(X.shape[0]):
        scores = X[i] @ W
        probs = (scores - scores.max()).exp()
        probs = probs / probs.sum()
        loss = loss - probs[y[i]].log()
        probs[y[i]] -= 1
        dW += X[i][:, None] * probs[None, :]
    return loss / X.shape[0] + reg * torch.sum(W * W), dW / X.shape[0] + 2 * reg * W
""",
}

# A solution written to the course's own starter code: the four losses with the course's
# signature (L2 only, no reg_type), and the course's given classes. Everything else is the
# solutions'. It loses exactly the l1_regularization group.
COURSE_STARTER_LOSSES = {
    "svm_loss_naive": """
def svm_loss_naive(W, X, y, reg):
    dW = torch.zeros_like(W)
    num_classes = W.shape[1]
    num_train = X.shape[0]
    loss = 0.0
    for i in range(num_train):
        scores = W.t().mv(X[i])
        correct_class_score = scores[y[i]]
        for j in range(num_classes):
            if j == y[i]:
                continue
            margin = scores[j] - correct_class_score + 1
            if margin > 0:
                loss += margin
                dW[:, j] += X[i]
                dW[:, y[i]] -= X[i]
    loss /= num_train
    dW /= num_train
    loss += reg * torch.sum(W * W)
    dW += 2 * reg * W
    return loss, dW
""",
    "svm_loss_vectorized": """
def svm_loss_vectorized(W, X, y, reg):
    num_train = X.shape[0]
    every = torch.arange(num_train, device=X.device)
    scores = X.mm(W)
    margins = (scores - scores[every, y].view(-1, 1) + 1).clamp(min=0)
    margins[every, y] = 0
    loss = margins.sum() / num_train + reg * torch.sum(W * W)
    counts = (margins > 0).to(X.dtype)
    counts[every, y] = -counts.sum(dim=1)
    dW = X.t().mm(counts) / num_train + 2 * reg * W
    return loss, dW
""",
    "softmax_loss_naive": """
def softmax_loss_naive(W, X, y, reg):
    loss = 0.0
    dW = torch.zeros_like(W)
    num_train = X.shape[0]
    for i in range(num_train):
        scores = W.t().mv(X[i])
        scores = scores - scores.max()
        probs = scores.exp() / scores.exp().sum()
        loss += -torch.log(probs[y[i]])
        for c in range(W.shape[1]):
            dW[:, c] += (probs[c] - (c == y[i]).to(X.dtype)) * X[i]
    loss = loss / num_train + reg * torch.sum(W * W)
    dW = dW / num_train + 2 * reg * W
    return loss, dW
""",
    "softmax_loss_vectorized": """
def softmax_loss_vectorized(W, X, y, reg):
    num_train = X.shape[0]
    every = torch.arange(num_train, device=X.device)
    scores = X.mm(W)
    scores -= scores.max(dim=1, keepdim=True).values
    probs = scores.exp() / scores.exp().sum(dim=1, keepdim=True)
    loss = -probs[every, y].log().sum() / num_train + reg * torch.sum(W * W)
    probs[every, y] -= 1
    dW = X.t().mm(probs) / num_train + 2 * reg * W
    return loss, dW
""",
}
COURSE_STARTER_CLASSES = {
    "LinearClassifier.__init__": """
def __init__(self):
    random.seed(0)
    torch.manual_seed(0)
    self.W = None
""",
    "LinearSVM.loss": """
def loss(self, W, X_batch, y_batch, reg):
    return svm_loss_vectorized(W, X_batch, y_batch, reg)
""",
    "Softmax.loss": """
def loss(self, W, X_batch, y_batch, reg):
    return softmax_loss_vectorized(W, X_batch, y_batch, reg)
""",
}

# Course habits that are not mistakes: the softmax losses return the loss as a Python float (the
# course's docstring: "loss as single float"), the update is in place, the search lists are numpy
# (an array and a list of numpy scalars), test_one_param_set returns percentages as 0-dim tensors,
# and the checkpoints hold float64 weights (the course trains in float64).
COURSE_HABITS = {
    "softmax_loss_naive": """
def softmax_loss_naive(W, X, y, reg, reg_type="l2"):
    _check_reg_type(reg_type)
    loss = 0.0
    dW = torch.zeros_like(W)
    for i in range(X.shape[0]):
        scores = X[i] @ W
        scores = scores - scores.max()
        probs = scores.exp() / scores.exp().sum()
        loss += -probs[y[i]].log().item()
        probs[y[i]] -= 1
        dW += torch.outer(X[i], probs)
    loss /= X.shape[0]
    dW /= X.shape[0]
    if reg_type == "l2":
        loss += (reg * torch.sum(W * W)).item()
        dW += 2 * reg * W
    else:
        loss += (reg * W.abs().sum()).item()
        dW += reg * W.sign()
    return loss, dW
""",
    "softmax_loss_vectorized": """
def softmax_loss_vectorized(W, X, y, reg, reg_type="l2"):
    _check_reg_type(reg_type)
    num_train = X.shape[0]
    every = torch.arange(num_train, device=X.device)
    scores = X.mm(W)
    scores -= scores.max(dim=1, keepdim=True).values
    probs = scores.exp() / scores.exp().sum(dim=1, keepdim=True)
    loss = -probs[every, y].log().sum() / num_train
    probs[every, y] -= 1
    dW = X.t().mm(probs) / num_train
    if reg_type == "l2":
        loss += reg * torch.sum(W * W)
        dW += 2 * reg * W
    else:
        loss += reg * torch.sum(W.abs())
        dW += reg * torch.sign(W)
    return loss.item(), dW
""",
    "train_linear_classifier": """
def train_linear_classifier(loss_func, W, X, y, learning_rate=1e-3, reg=1e-5, num_iters=100,
                            batch_size=200, verbose=False):
    num_train, dim = X.shape
    if W is None:
        num_classes = torch.max(y) + 1
        W = 0.000001 * torch.randn(dim, num_classes, device=X.device, dtype=X.dtype)
    loss_history = []
    for it in range(num_iters):
        X_batch, y_batch = sample_batch(X, y, num_train, batch_size)
        loss, grad = loss_func(W, X_batch, y_batch, reg)
        loss_history.append(loss.item() if isinstance(loss, torch.Tensor) else loss)
        W -= learning_rate * grad
    return W, loss_history
""",
    "svm_get_search_params": """
def svm_get_search_params():
    import numpy as np
    return np.array([3e-3, 1e-2, 3e-2]), list(np.logspace(-4, -2, 3))
""",
    "softmax_get_search_params": """
def softmax_get_search_params():
    import numpy as np
    return list(np.array([1e-2, 3e-2, 1e-1])), np.logspace(-4, -2, 3)
""",
    "test_one_param_set": """
def test_one_param_set(cls, data_dict, lr, reg, num_iters=2000):
    cls.train(data_dict["X_train"], data_dict["y_train"], lr, reg, num_iters)
    train_acc = 100.0 * (cls.predict(data_dict["X_train"]) == data_dict["y_train"]).float().mean()
    val_acc = 100.0 * (cls.predict(data_dict["X_val"]) == data_dict["y_val"]).float().mean()
    return cls, train_acc, val_acc
""",
}


def checkpoints(assignment, dataset=None) -> dict[str, bytes]:
    """svm_best_model.pt and softmax_best_model.pt trained with the source solutions (trusted code,
    imported here) on ``dataset`` (the default dataset when None), with settings from the
    solutions' search lists."""
    import torch

    from autograder.samples import checkpoint_bytes, source_module
    from eecs498.data import preprocess_dataset

    module = source_module(assignment.root / MODULE, "a2_linear_source")
    data = preprocess_dataset(dataset, bias_trick=True)
    files = {}
    for filename, classifier, lr, reg in (("svm_best_model.pt", module.LinearSVM, 1e-2, 1e-3),
                                          ("softmax_best_model.pt", module.Softmax, 1e-1, 1e-3)):
        torch.manual_seed(0)
        model = classifier()
        model.train(data["X_train"], data["y_train"], learning_rate=lr, reg=reg, num_iters=1500, batch_size=200)
        files[filename] = checkpoint_bytes({"W": model.W.detach().cpu()})
    return files


def students(kit) -> None:
    import io

    import torch

    from autograder.samples import Pwned, checkpoint_bytes, replace_functions, replace_methods

    module = kit.source(MODULE)
    complete = kit.complete
    W = torch.load(io.BytesIO(complete["svm_best_model.pt"]), weights_only=True)["W"]
    float64 = {name: checkpoint_bytes({"W": torch.load(io.BytesIO(complete[name]), weights_only=True)["W"].double()})
               for name in ("svm_best_model.pt", "softmax_best_model.pt")}
    kit.add("cat_svm_no_reg_gradient", {**complete, MODULE: replace_functions(module, SVM_NO_REG_GRADIENT)},
            as_zip=False)
    kit.add("dan_no_checkpoints", {MODULE: module})
    kit.add("eve_hostile_checkpoint", {**complete, "svm_best_model.pt": checkpoint_bytes({"W": Pwned()})})
    kit.add("fay_bad_checkpoints", {MODULE: module, "svm_best_model.pt": b"not a checkpoint"}, as_zip=False)
    kit.add("gus_loop_in_vectorized", {**complete, MODULE: replace_functions(module, SOFTMAX_WITH_LOOP)})
    kit.add("hal_no_bias_row", {**complete, "svm_best_model.pt": checkpoint_bytes({"W": W[:-1].clone()})},
            as_zip=False)
    course = replace_methods(replace_functions(module, COURSE_STARTER_LOSSES), COURSE_STARTER_CLASSES)
    kit.add("ivy_course_starter", {**complete, MODULE: course})
    kit.add("jo_course_habits", {**float64, MODULE: replace_functions(module, COURSE_HABITS)})


def expected_scores(full: float) -> dict:
    """Missing or unreadable checkpoints lose exactly the trained_models group (25 points); a hostile
    pickle never runs and loses only its model's test; a solution to the course's starter code scores
    full marks (it fails only the l1_regularization tests, which are feedback only); the course's
    habits lose nothing (see tests/test_a2_grading.py)."""
    return {"cat_svm_no_reg_gradient": (0, full), "dan_no_checkpoints": full - 25,
            "eve_hostile_checkpoint": (full - 25, full), "fay_bad_checkpoints": full - 25,
            "gus_loop_in_vectorized": (full - 25, full), "hal_no_bias_row": (full - 25, full),
            "ivy_course_starter": full, "jo_course_habits": full}
