"""
Implements a K-Nearest Neighbor classifier in PyTorch, the way the course's starter code is
filled in (a course-style solution, graded by tests/test_course_style.py: full marks).

Course habits: accuracies in percent from check_accuracy, cross-validation that builds a
KnnClassifier per (fold, k), the 2022 default list of k_choices, a loop over the test samples in
predict_labels, a comprehension over the two inputs in the no-loop distances, and knn_get_best_k
returning a 0-dim tensor.
"""
import torch
from typing import Dict, List


def hello():
    """
    This is a sample function that we will try to import and run to ensure that
    our environment is correctly set up on Google Colab.
    """
    print("Hello from knn.py!")


def compute_distances_two_loops(x_train: torch.Tensor, x_test: torch.Tensor):
    num_train = x_train.shape[0]
    num_test = x_test.shape[0]
    dists = x_train.new_zeros(num_train, num_test)
    for i in range(num_train):
        for j in range(num_test):
            dists[i, j] = torch.sum((x_train[i] - x_test[j]) ** 2)
    return dists


def compute_distances_one_loop(x_train: torch.Tensor, x_test: torch.Tensor):
    num_train = x_train.shape[0]
    num_test = x_test.shape[0]
    dists = x_train.new_zeros(num_train, num_test)
    for i in range(num_train):
        squares = (x_test - x_train[i]) ** 2  # broadcast over the test samples
        dists[i] = squares.reshape(num_test, -1).sum(dim=1)
    return dists


def compute_distances_no_loops(x_train: torch.Tensor, x_test: torch.Tensor):
    # a comprehension over the two inputs: it does not iterate over the data
    train, test = [t.reshape(t.shape[0], -1) for t in (x_train, x_test)]
    train_norms = (train ** 2).sum(dim=1).unsqueeze(1)
    test_norms = (test ** 2).sum(dim=1).unsqueeze(0)
    return train_norms + test_norms - 2 * train.mm(test.t())


def predict_labels(dists: torch.Tensor, y_train: torch.Tensor, k: int = 1):
    num_train, num_test = dists.shape
    y_pred = torch.zeros(num_test, dtype=torch.int64)
    for j in range(num_test):
        neighbours = torch.topk(dists[:, j], k, largest=False).indices
        votes = torch.bincount(y_train[neighbours])
        y_pred[j] = torch.argmax(votes)  # the first maximum: the smallest tied label
    return y_pred


class KnnClassifier:

    def __init__(self, x_train: torch.Tensor, y_train: torch.Tensor):
        self.x_train = x_train
        self.y_train = y_train

    def predict(self, x_test: torch.Tensor, k: int = 1):
        dists = compute_distances_no_loops(self.x_train, x_test)
        return predict_labels(dists, self.y_train, k=k)

    def check_accuracy(self, x_test: torch.Tensor, y_test: torch.Tensor, k: int = 1, quiet: bool = False):
        """Accuracy in percent (a Python float in [0, 100]); prints it unless quiet."""
        predicted = self.predict(x_test, k=k)
        total = x_test.shape[0]
        right = (y_test == predicted).sum().item()
        accuracy = 100.0 * right / total
        if not quiet:
            print(f"Got {right} / {total} correct; accuracy is {accuracy:.2f}%")
        return accuracy


def knn_cross_validate(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    num_folds: int = 5,
    k_choices: List[int] = [1, 3, 5, 8, 10, 12, 15, 20, 50, 100],
):
    x_train_folds = torch.chunk(x_train, num_folds, dim=0)
    y_train_folds = torch.chunk(y_train, num_folds, dim=0)
    k_to_accuracies = {}
    for k in k_choices:
        k_to_accuracies[k] = []
        for fold in range(num_folds):
            rest = [i for i in range(num_folds) if i != fold]
            classifier = KnnClassifier(torch.cat([x_train_folds[i] for i in rest]),
                                       torch.cat([y_train_folds[i] for i in rest]))
            k_to_accuracies[k].append(
                classifier.check_accuracy(x_train_folds[fold], y_train_folds[fold], k=k, quiet=True))
    return k_to_accuracies


def knn_get_best_k(k_to_accuracies: Dict[int, List]):
    ks = sorted(k_to_accuracies)
    means = torch.tensor([sum(k_to_accuracies[k]) / len(k_to_accuracies[k]) for k in ks], dtype=torch.float64)
    return torch.tensor(ks)[torch.argmax(means)]  # a 0-dim tensor; argmax takes the smallest k of a tie
