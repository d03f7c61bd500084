"""The a2_linear sample class: the students `make demo` grades and the project's tests check.

Besides the standard students (complete, untouched, null: see autograder.samples): an SVM gradient
without its regularization term, no checkpoints, a hostile pickle as a checkpoint, unreadable
checkpoints, a loop in a vectorized loss, and a checkpoint without the bias row.
"""
from __future__ import annotations

MODULE = "linear_classifier.py"

SVM_NO_REG_GRADIENT = {
    "svm_loss_naive": '''
def svm_loss_naive(W, X, y, reg, reg_type="l2"):
    """Right loss; the gradient forgets the regularization term (the bug)."""
    _check_reg_type(reg_type)
    dW = torch.zeros_like(W)
    loss = W.new_zeros(())
    for i in range(X.shape[0]):
        scores = W.t().mv(X[i])
        for j in range(W.shape[1]):
            margin = scores[j] - scores[y[i]] + 1
            if j != y[i] and margin > 0:
                loss += margin
                dW[:, j] += X[i]
                dW[:, y[i]] -= X[i]
    loss = loss / X.shape[0] + (reg * torch.sum(W * W) if reg_type == "l2" else reg * torch.sum(W.abs()))
    return loss, dW / X.shape[0]
''',
    "svm_loss_vectorized": '''
def svm_loss_vectorized(W, X, y, reg, reg_type="l2"):
    """Right loss; the gradient forgets the regularization term (the bug)."""
    _check_reg_type(reg_type)
    rows = torch.arange(X.shape[0], device=X.device)
    scores = X.mm(W)
    margins = (scores - scores[rows, y].unsqueeze(1) + 1).clamp(min=0)
    margins[rows, y] = 0
    loss = margins.sum() / X.shape[0]
    loss = loss + (reg * torch.sum(W * W) if reg_type == "l2" else reg * torch.sum(W.abs()))
    dscores = (margins > 0).to(W.dtype)
    dscores[rows, y] = -dscores.sum(dim=1)
    return loss, X.t().mm(dscores) / X.shape[0]
''',
}
SOFTMAX_WITH_LOOP = {
    "softmax_loss_vectorized": '''
def softmax_loss_vectorized(W, X, y, reg, reg_type="l2"):
    """Right values, with a Python loop where none is allowed."""
    _check_reg_type(reg_type)
    loss = W.new_zeros(())
    dW = torch.zeros_like(W)
    for i in range(X.shape[0]):
        scores = X[i] @ W
        probs = (scores - scores.max()).exp()
        probs = probs / probs.sum()
        loss = loss - probs[y[i]].log()
        probs[y[i]] -= 1
        dW += X[i][:, None] * probs[None, :]
    loss, dW = loss / X.shape[0], dW / X.shape[0]
    if reg_type == "l2":
        return loss + reg * torch.sum(W * W), dW + 2 * reg * W
    return loss + reg * torch.sum(W.abs()), dW + reg * torch.sign(W)
''',
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

    from autograder.samples import Pwned, checkpoint_bytes, replace_functions

    module = kit.source(MODULE)
    complete = kit.complete
    W = torch.load(io.BytesIO(complete["svm_best_model.pt"]), weights_only=True)["W"]
    kit.add("cat_svm_no_reg_gradient", {**complete, MODULE: replace_functions(module, SVM_NO_REG_GRADIENT)},
            as_zip=False)
    kit.add("dan_no_checkpoints", {MODULE: module})
    kit.add("eve_hostile_checkpoint", {**complete, "svm_best_model.pt": checkpoint_bytes({"W": Pwned()})})
    kit.add("fay_bad_checkpoints", {MODULE: module, "svm_best_model.pt": b"not a checkpoint"}, as_zip=False)
    kit.add("gus_loop_in_vectorized", {**complete, MODULE: replace_functions(module, SOFTMAX_WITH_LOOP)})
    kit.add("hal_no_bias_row", {**complete, "svm_best_model.pt": checkpoint_bytes({"W": W[:-1].clone()})},
            as_zip=False)


def expected_scores(full: float) -> dict:
    """Missing or unreadable checkpoints lose exactly the trained_models group (25 points); a hostile
    pickle never runs and loses only its model's test (see tests/test_a2_grading.py)."""
    return {"cat_svm_no_reg_gradient": (0, full), "dan_no_checkpoints": full - 25,
            "eve_hostile_checkpoint": (full - 25, full), "fay_bad_checkpoints": full - 25,
            "gus_loop_in_vectorized": (full - 25, full), "hal_no_bias_row": (full - 25, full)}
