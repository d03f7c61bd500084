"""
Linear classifiers (multiclass SVM and softmax), written against the course's starter code of
linear_classifier.py: its names, signatures, defaults and habits (losses accumulated from a Python
0.0, a softmax loss returned as a plain float as its docstring allows, an in-place SGD update, numpy
search lists, accuracies in percent, checkpoints saved as {'W': W}). The only addition is this
assignment's reg_type keyword, defaulting to the course's L2.
"""
import random
from abc import abstractmethod
from typing import Callable, Dict

import numpy as np
import torch


def hello_linear_classifier():
    """
    Prints a greeting, to check that the notebook imports this file.
    """
    print("Hello from linear_classifier.py!")


def _penalty(W, reg, reg_type):
    """
    The regularization term and its gradient: reg * sum(W^2) (the course's) or reg * sum(|W|).
    """
    if reg_type == "l2":
        return reg * torch.sum(W * W), 2 * reg * W
    if reg_type == "l1":
        return reg * torch.sum(torch.abs(W)), reg * torch.sign(W)
    raise ValueError("reg_type should be 'l2' or 'l1', got %r" % (reg_type,))


class LinearClassifier:
    """The template the two classifiers share (the course's API)."""

    def __init__(self):
        random.seed(0)
        torch.manual_seed(0)
        self.W = None

    def train(self, X_train: torch.Tensor, y_train: torch.Tensor, learning_rate: float = 1e-3,
              reg: float = 1e-5, num_iters: int = 100, batch_size: int = 200, verbose: bool = False):
        self.W, history = train_linear_classifier(self.loss, self.W, X_train, y_train, learning_rate, reg,
                                                  num_iters, batch_size, verbose)
        return history

    def predict(self, X: torch.Tensor):
        return predict_linear_classifier(self.W, X)

    @abstractmethod
    def loss(self, W: torch.Tensor, X_batch: torch.Tensor, y_batch: torch.Tensor, reg: float):
        raise NotImplementedError

    def _loss(self, X_batch: torch.Tensor, y_batch: torch.Tensor, reg: float):
        return self.loss(self.W, X_batch, y_batch, reg)

    def save(self, path: str):
        torch.save({"W": self.W}, path)
        print("Saved in {}".format(path))

    def load(self, path: str):
        self.W = torch.load(path, map_location="cpu")["W"]
        if self.W is None:
            raise Exception("Failed to load your checkpoint")


class LinearSVM(LinearClassifier):
    def loss(self, W, X_batch, y_batch, reg):
        return svm_loss_vectorized(W, X_batch, y_batch, reg)


class Softmax(LinearClassifier):
    def loss(self, W, X_batch, y_batch, reg):
        return softmax_loss_vectorized(W, X_batch, y_batch, reg)


# **************************************************#
################## Section 1: SVM ##################
# **************************************************#


def svm_loss_naive(W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, reg: float, reg_type: str = "l2"):
    """
    Structured SVM loss with loops. Returns (loss as a torch scalar, dW of the shape of W).
    """
    dW = torch.zeros_like(W)
    num_classes = W.shape[1]
    num_train = X.shape[0]
    loss = 0.0
    for i in range(num_train):
        scores = W.t().mv(X[i])
        correct_class = y[i].item()
        correct_class_score = scores[correct_class]
        for j in range(num_classes):
            if j == correct_class:
                continue
            margin = scores[j] - correct_class_score + 1
            if margin > 0:
                loss += margin
                dW[:, j] += X[i]
                dW[:, correct_class] -= X[i]
    loss /= num_train
    dW /= num_train
    reg_loss, reg_grad = _penalty(W, reg, reg_type)
    loss += reg_loss
    dW += reg_grad
    return loss, dW


def svm_loss_vectorized(W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, reg: float, reg_type: str = "l2"):
    """
    Structured SVM loss without loops; same inputs and outputs as svm_loss_naive.
    """
    num_train = X.shape[0]
    idx = torch.arange(num_train, device=X.device)
    scores = torch.mm(X, W)
    margins = torch.clamp(scores - scores[idx, y].reshape(-1, 1) + 1, min=0)
    # the correct class contributes a margin of exactly 1 to every row: take it back out
    loss = (margins.sum() - num_train) / num_train
    mask = (margins > 0).to(X.dtype)
    mask[idx, y] = 0
    mask[idx, y] = -mask.sum(dim=1)
    dW = torch.mm(X.t(), mask) / num_train
    reg_loss, reg_grad = _penalty(W, reg, reg_type)
    return loss + reg_loss, dW + reg_grad


def sample_batch(X: torch.Tensor, y: torch.Tensor, num_train: int, batch_size: int):
    """
    batch_size random training examples and their labels, with replacement.
    """
    batch_idx = torch.randint(0, num_train, (batch_size,), device=X.device)
    return X[batch_idx], y[batch_idx]


def train_linear_classifier(loss_func: Callable, W: torch.Tensor, X: torch.Tensor, y: torch.Tensor,
                            learning_rate: float = 1e-3, reg: float = 1e-5, num_iters: int = 100,
                            batch_size: int = 200, verbose: bool = False):
    """
    Minibatch SGD. Returns (W, loss_history).
    """
    num_train, dim = X.shape
    if W is None:
        num_classes = torch.max(y) + 1
        W = 0.000001 * torch.randn(dim, num_classes, device=X.device, dtype=X.dtype)
    else:
        num_classes = W.shape[1]

    loss_history = []
    for it in range(num_iters):
        X_batch, y_batch = sample_batch(X, y, num_train, batch_size)
        loss, grad = loss_func(W, X_batch, y_batch, reg)
        if isinstance(loss, torch.Tensor):
            loss_history.append(loss.item())
        else:
            loss_history.append(loss)
        W -= learning_rate * grad
        if verbose and it % 100 == 0:
            print("iteration %d / %d: loss %f" % (it, num_iters, loss))
    return W, loss_history


def predict_linear_classifier(W: torch.Tensor, X: torch.Tensor):
    """
    The label of the highest score of each row of X, int64.
    """
    y_pred = torch.zeros(X.shape[0], dtype=torch.int64)
    y_pred = torch.argmax(torch.mm(X, W), dim=1)
    return y_pred


def svm_get_search_params():
    """
    Candidate learning rates and regularization strengths for the SVM.
    """
    learning_rates = list(np.logspace(-2, -1.5, 2))
    regularization_strengths = list(np.logspace(-4, -3, 2))
    return learning_rates, regularization_strengths


def test_one_param_set(cls: LinearClassifier, data_dict: Dict[str, torch.Tensor], lr: float, reg: float,
                       num_iters: int = 2000):
    """
    Train cls on the training split; return (cls, train_acc, val_acc), accuracies in percent.
    """
    cls.train(data_dict["X_train"], data_dict["y_train"], lr, reg, num_iters)
    train_acc = 100.0 * (cls.predict(data_dict["X_train"]) == data_dict["y_train"]).double().mean().item()
    val_acc = 100.0 * (cls.predict(data_dict["X_val"]) == data_dict["y_val"]).double().mean().item()
    return cls, train_acc, val_acc


# **************************************************#
################ Section 2: Softmax ################
# **************************************************#


def softmax_loss_naive(W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, reg: float, reg_type: str = "l2"):
    """
    Softmax loss with loops. Returns (loss as a single float, dW of the shape of W).
    """
    loss = 0.0
    dW = torch.zeros_like(W)
    num_train, num_classes = X.shape[0], W.shape[1]
    for i in range(num_train):
        f = X[i].matmul(W)
        f -= f.max()
        log_norm = torch.log(torch.exp(f).sum())
        loss += (log_norm - f[y[i]]).item()
        for k in range(num_classes):
            indicator = 1.0 if k == y[i].item() else 0.0
            dW[:, k] += (torch.exp(f[k] - log_norm) - indicator) * X[i]
    reg_loss, reg_grad = _penalty(W, reg, reg_type)
    loss = loss / num_train + reg_loss.item()
    dW = dW / num_train + reg_grad
    return loss, dW


def softmax_loss_vectorized(W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, reg: float,
                            reg_type: str = "l2"):
    """
    Softmax loss without loops; same inputs and outputs as softmax_loss_naive.
    """
    num_train = X.shape[0]
    rows = torch.arange(num_train, device=X.device)
    logits = X @ W
    logits = logits - logits.max(dim=1, keepdim=True)[0]
    exp_logits = torch.exp(logits)
    totals = exp_logits.sum(dim=1, keepdim=True)
    loss = (torch.log(totals).squeeze(1) - logits[rows, y]).mean()
    grad_logits = exp_logits / totals
    grad_logits[rows, y] -= 1.0
    dW = X.t() @ grad_logits / num_train
    reg_loss, reg_grad = _penalty(W, reg, reg_type)
    return loss + reg_loss, dW + reg_grad


def softmax_get_search_params():
    """
    Candidate learning rates and regularization strengths for the softmax classifier.
    """
    learning_rates = np.array([3e-2, 1e-1])
    regularization_strengths = np.array([1e-4, 1e-3])
    return learning_rates, regularization_strengths
