"""
A two-layer neural network classifier in PyTorch, written the way the course's starter code of
two_layer_net.py (2022 A2) lays it out: the course's names, signatures, defaults and habits.
WARNING: do not use ".to()" or ".cuda()" inside the implementation blocks.

(Course-style second solution of tests/test_course_style.py. The course imports sample_batch from
its linear_classifier.py; that file is not part of this assignment, so it is written here.)
"""
import random
import statistics
from typing import Callable, Dict, List, Optional

import numpy as np
import torch


def hello_two_layer_net():
    """
    Sample function that the notebook imports and runs, to check the setup.
    """
    print("Hello from two_layer_net.py!")


def sample_batch(X: torch.Tensor, y: torch.Tensor, num_train: int, batch_size: int):
    """
    Draw batch_size random training examples (with replacement), as linear_classifier.py did.
    """
    picked = torch.randint(0, num_train, size=(batch_size,), device=y.device)
    return X.index_select(0, picked), y.index_select(0, picked)


# Template class modules that we will use later: Do not edit/modify this class
class TwoLayerNet(object):
    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        dtype: torch.dtype = torch.float32,
        device: str = "cuda",
        std: float = 1e-4,
    ):
        """
        Weights are small random values, biases are zero; all of them live in self.params:
        W1 (D, H), b1 (H,), W2 (H, C), b2 (C,).
        """
        # reset seed before start
        random.seed(0)
        torch.manual_seed(0)

        self.params = {}
        self.params["W1"] = std * torch.randn(input_size, hidden_size, dtype=dtype, device=device)
        self.params["b1"] = torch.zeros(hidden_size, dtype=dtype, device=device)
        self.params["W2"] = std * torch.randn(hidden_size, output_size, dtype=dtype, device=device)
        self.params["b2"] = torch.zeros(output_size, dtype=dtype, device=device)

    def loss(self, X: torch.Tensor, y: Optional[torch.Tensor] = None, reg: float = 0.0):
        return nn_forward_backward(self.params, X, y, reg)

    def train(self, X: torch.Tensor, y: torch.Tensor, X_val: torch.Tensor, y_val: torch.Tensor,
              learning_rate: float = 1e-3, learning_rate_decay: float = 0.95, reg: float = 5e-6,
              num_iters: int = 100, batch_size: int = 200, verbose: bool = False):
        return nn_train(self.params, nn_forward_backward, nn_predict, X, y, X_val, y_val, learning_rate,
                        learning_rate_decay, reg, num_iters, batch_size, verbose)

    def predict(self, X: torch.Tensor):
        return nn_predict(self.params, nn_forward_backward, X)

    def save(self, path: str):
        torch.save(self.params, path)
        print("Saved in {}".format(path))

    def load(self, path: str):
        checkpoint = torch.load(path, map_location="cpu")
        self.params = checkpoint
        if len(self.params) != 4:
            raise Exception("Failed to load your checkpoint")
        for param in ["W1", "b1", "W2", "b2"]:
            if param not in self.params:
                raise Exception("Failed to load your checkpoint")


def nn_forward_pass(params: Dict[str, torch.Tensor], X: torch.Tensor):
    """
    FC layer -> ReLU (hidden) -> FC layer (scores). No torch.relu, no torch.nn (just for this time).

    Returns a tuple of:
    - scores: (N, C) classification scores
    - hidden: (N, H) the hidden layer after the ReLU
    """
    W1, b1 = params["W1"], params["b1"]
    W2, b2 = params["W2"], params["b2"]
    N, D = X.shape

    hidden = None
    scores = None
    ##########################################################################
    # TODO: the forward pass                                                 #
    ##########################################################################
    hidden = torch.addmm(b1, X, W1)
    hidden[hidden < 0] = 0
    scores = torch.addmm(b2, hidden, W2)
    ##########################################################################
    #                             END OF YOUR CODE                           #
    ##########################################################################
    return scores, hidden


def nn_forward_backward(params: Dict[str, torch.Tensor], X: torch.Tensor, y: Optional[torch.Tensor] = None,
                        reg: float = 0.0):
    """
    Loss and gradients of the two-layer network (softmax loss, averaged over the batch, plus
    reg * (||W1||^2 + ||W2||^2) with no factor 1/2). Without y: the scores.
    """
    W1, b1 = params["W1"], params["b1"]
    W2, b2 = params["W2"], params["b2"]
    N, D = X.shape

    scores, h1 = nn_forward_pass(params, X)
    # If the targets are not given then jump out, we're done
    if y is None:
        return scores

    loss = None
    ##########################################################################
    # TODO: the loss                                                         #
    ##########################################################################
    stable = scores - torch.max(scores, dim=1, keepdim=True)[0]
    log_norm = torch.logsumexp(stable, dim=1)
    picked = torch.gather(stable, 1, y.view(-1, 1)).view(-1)
    loss = torch.sum(log_norm - picked) / N
    loss += reg * torch.sum(W1 ** 2) + reg * torch.sum(W2 ** 2)
    ##########################################################################
    #                             END OF YOUR CODE                           #
    ##########################################################################

    grads = {}
    ##########################################################################
    # TODO: the backward pass                                                #
    ##########################################################################
    softmax = torch.exp(stable - log_norm.view(-1, 1))
    onehot = torch.zeros_like(softmax)
    onehot[torch.arange(N, device=X.device), y] = 1.0
    d_scores = (softmax - onehot) / N
    grads["W2"] = torch.matmul(h1.T, d_scores) + 2.0 * reg * W2
    grads["b2"] = torch.sum(d_scores, dim=0)
    d_hidden = torch.matmul(d_scores, W2.T)
    d_hidden[h1 <= 0] = 0
    grads["W1"] = torch.matmul(X.T, d_hidden) + 2.0 * reg * W1
    grads["b1"] = torch.sum(d_hidden, dim=0)
    ##########################################################################
    #                             END OF YOUR CODE                           #
    ##########################################################################
    return loss, grads


def nn_train(params: Dict[str, torch.Tensor], loss_func: Callable, pred_func: Callable, X: torch.Tensor,
             y: torch.Tensor, X_val: torch.Tensor, y_val: torch.Tensor, learning_rate: float = 1e-3,
             learning_rate_decay: float = 0.95, reg: float = 5e-6, num_iters: int = 100,
             batch_size: int = 200, verbose: bool = False):
    """
    Train with stochastic gradient descent; returns the statistics of the run.
    """
    num_train = X.shape[0]
    iterations_per_epoch = max(num_train // batch_size, 1)

    loss_history = []
    train_acc_history = []
    val_acc_history = []

    for it in range(num_iters):
        X_batch, y_batch = sample_batch(X, y, num_train, batch_size)

        loss, grads = loss_func(params, X_batch, y=y_batch, reg=reg)
        loss_history.append(loss.item())

        ######################################################################
        # TODO: the SGD update of every parameter                            #
        ######################################################################
        for key in ("W1", "b1", "W2", "b2"):
            params[key].sub_(learning_rate * grads[key])
        ######################################################################
        #                             END OF YOUR CODE                       #
        ######################################################################

        if verbose and it % 100 == 0:
            print("iteration %d / %d: loss %f" % (it, num_iters, loss.item()))

        # Every epoch, check train and val accuracy and decay learning rate.
        if it % iterations_per_epoch == 0:
            y_train_pred = pred_func(params, loss_func, X_batch)
            train_acc = (y_train_pred == y_batch).float().mean().item()
            y_val_pred = pred_func(params, loss_func, X_val)
            val_acc = (y_val_pred == y_val).float().mean().item()
            train_acc_history.append(train_acc)
            val_acc_history.append(val_acc)

            learning_rate *= learning_rate_decay

    return {
        "loss_history": loss_history,
        "train_acc_history": train_acc_history,
        "val_acc_history": val_acc_history,
    }


def nn_predict(params: Dict[str, torch.Tensor], loss_func: Callable, X: torch.Tensor):
    """
    The label of the highest score of each row of X.
    """
    y_pred = None
    ##########################################################################
    # TODO: prediction; VERY simple                                          #
    ##########################################################################
    y_pred = torch.max(loss_func(params, X), dim=1)[1]
    ##########################################################################
    #                              END OF YOUR CODE                          #
    ##########################################################################
    return y_pred


def nn_get_search_params():
    """
    Candidate hyperparameters: (learning_rates, hidden_sizes, regularization_strengths,
    learning_rate_decays).
    """
    learning_rates = []
    hidden_sizes = []
    regularization_strengths = []
    learning_rate_decays = []
    ##########################################################################
    # TODO: hyperparameter lists (numpy, as many course notebooks build them)#
    ##########################################################################
    learning_rates = np.array([0.3, 0.6])
    hidden_sizes = np.array([128, 256])
    regularization_strengths = np.logspace(-5, -4, num=2)
    learning_rate_decays = np.array([0.95])
    ##########################################################################
    #                           END OF YOUR CODE                             #
    ##########################################################################
    return (
        learning_rates,
        hidden_sizes,
        regularization_strengths,
        learning_rate_decays,
    )


def find_best_net(data_dict: Dict[str, torch.Tensor], get_param_set_fn: Callable):
    """
    Tune the hyperparameters on the validation set. Returns (best_net, best_stat, best_val_acc),
    the accuracy in percent, as the course's notebooks print it.
    """
    best_net = None
    best_stat = None
    best_val_acc = 0.0

    ##########################################################################
    # TODO: the search                                                       #
    ##########################################################################
    lrs, sizes, regs, decays = get_param_set_fn()
    X_train, y_train = data_dict["X_train"], data_dict["y_train"]
    X_val, y_val = data_dict["X_val"], data_dict["y_val"]
    num_classes = int(y_train.max().item()) + 1
    trial = 0
    for lr in lrs:
        for size in sizes:
            for reg in regs:
                for decay in decays:
                    trial += 1
                    net = TwoLayerNet(X_train.shape[1], int(size), num_classes, dtype=X_train.dtype,
                                      device=X_train.device, std=1e-2)
                    stat = net.train(X_train, y_train, X_val, y_val, learning_rate=float(lr),
                                     learning_rate_decay=float(decay), reg=float(reg), num_iters=1500,
                                     batch_size=400)
                    acc = 100.0 * (net.predict(X_val) == y_val).double().mean().item()
                    print("trial %d: lr %e, hidden %d, reg %e, decay %f: val accuracy %.2f%%"
                          % (trial, lr, size, reg, decay, acc))
                    if acc > best_val_acc:
                        best_net, best_stat, best_val_acc = net, stat, acc
    ##########################################################################
    #                               END OF YOUR CODE                         #
    ##########################################################################
    return best_net, best_stat, best_val_acc
