"""Hidden tests of ``knn.py``: distances (and their bans), label prediction, cross-validation.

Runs in the trusted grader: every input is made here from fixed seeds, the student's functions run
in the sandbox through ``student.call``, and outputs are compared with the references recorded
from the source solutions. Failure messages name functions, shapes, dtypes and parameters, never
hidden values.
"""
from __future__ import annotations

import math

import pytest
import torch

from autograder import suite_helpers

from autograder.source_rules import Banned, SourceView, check_banned, check_loops, fail_if_unverifiable
from autograder.suite import GraderBug, GradingFailure, check_tensor

# ----------------------------------------------------------------------------------------------
# helpers (grader side)

FILE = "knn.py"
# What the course bans in the distance functions: torch.norm, torch.dist, torch.cdist and their
# method forms (x.norm, x.dist, x.cdist), anything from torch.nn / torch.nn.functional, and the same
# functions under other names (torch.linalg.norm / vector_norm / matrix_norm, which replace torch.norm;
# torch.pairwise_distance, which is torch.nn.functional.pairwise_distance). Nothing else: torch.pdist,
# sums, matmuls and broadcasting are the student's to use.
BANNED = Banned({"norm", "dist", "cdist", "vector_norm", "matrix_norm", "pairwise_distance"}, ("torch.nn",))
BANNED_RULE = ("must compute the distances itself, without torch.norm, torch.dist, torch.cdist (nor x.norm, "
               "x.dist, x.cdist) or anything from torch.nn / torch.nn.functional")
DISTANCES = ("compute_distances_two_loops", "compute_distances_one_loop", "compute_distances_no_loops")


def rand(seed: int, *shape: int, dtype=torch.float64) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def randn(seed: int, *shape: int, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def call(student, target: str, *args, context: str, **kwargs):
    """``student.call`` whose failure message also says which case was being run."""
    try:
        return student.call(target, *args, **kwargs)
    except GradingFailure as failure:
        raise GradingFailure(f"{failure} (when called {context})") from None


def shapes(*tensors: torch.Tensor) -> str:
    return " and ".join(str(tuple(t.shape)) for t in tensors)


def squared_distances(x_train: torch.Tensor, x_test: torch.Tensor) -> torch.Tensor:
    """Grader-side (num_train, num_test) squared distances, in float64."""
    a, b = x_train.double().flatten(1), x_test.double().flatten(1)
    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(dim=2)


def vote_counts(dists: torch.Tensor, y_train: torch.Tensor, k: int) -> torch.Tensor:
    """(num_test, num_classes) votes among the k nearest training samples of each test sample."""
    nearest = dists.double().topk(k, dim=0, largest=False).indices  # (k, num_test)
    votes = y_train[nearest].t()
    classes = int(y_train.max()) + 1
    return torch.zeros(votes.shape[0], classes, dtype=torch.int64).scatter_add_(1, votes, torch.ones_like(votes))


def tied_columns(dists: torch.Tensor, y_train: torch.Tensor, k: int) -> torch.Tensor:
    counts = vote_counts(dists, y_train, k)
    return (counts == counts.max(dim=1, keepdim=True).values).sum(dim=1) > 1


def distinct(column: torch.Tensor) -> bool:
    return column.unique().numel() == column.numel()


def tie_free_dists(seed: int, y_train: torch.Tensor, num_test: int, ks, dtype=torch.float64) -> torch.Tensor:
    """Random (num_train, num_test) distances whose k-nearest votes never tie for any k in ``ks``."""
    generator = torch.Generator().manual_seed(seed)
    columns = []
    for _ in range(100_000):
        if len(columns) == num_test:
            return torch.cat(columns, dim=1)
        column = torch.rand(len(y_train), 1, generator=generator, dtype=dtype)
        if distinct(column) and not any(tied_columns(column, y_train, k).any() for k in ks):
            columns.append(column)
    raise GraderBug("tie_free_dists: cannot avoid vote ties with these labels")


def explain_labels(labels, dists: torch.Tensor, y_train: torch.Tensor, k: int, what: str) -> str | None:
    """A precise sentence about wrong predicted labels (None when it cannot say more)."""
    if not isinstance(labels, torch.Tensor) or labels.shape != (dists.shape[1],) or labels.is_floating_point():
        return None
    counts = vote_counts(dists, y_train, k)
    top = counts == counts.max(dim=1, keepdim=True).values
    smallest = top.int().argmax(dim=1)
    wrong = labels.long() != smallest
    if not wrong.any():
        return None
    valid = (labels >= 0) & (labels < counts.shape[1])
    among_top = valid & top.gather(1, labels.long().clamp(0, counts.shape[1] - 1)[:, None])[:, 0]
    toward_larger = (wrong & among_top).sum().item()
    not_top = (wrong & ~among_top).sum().item()
    parts = []
    if not_top:
        parts.append(f"for {not_top} of {len(labels)} test samples it returned a label that is not the most "
                     f"common label among the {k} nearest training samples")
    if toward_larger:
        parts.append(f"for {toward_larger} of {len(labels)} test samples it broke a tie between equally common "
                     "labels toward a larger label; ties must go to the smallest label")
    return f"{what}: " + "; ".join(parts)


def expect_labels(expect, key: str, labels, dists, y_train, k: int, what: str) -> None:
    try:
        expect.tensor(key, labels, what=what, exact=True, device="cpu")
    except GradingFailure as failure:
        raise GradingFailure(explain_labels(labels, dists, y_train, k, what) or str(failure)) from None


# ----------------------------------------------------------------------------------------------
# static checks of the submitted source (never run here): autograder.source_rules


def loop_findings(student, name: str):
    """The loops over the data in ``name`` and the code it reaches, once that is verifiable."""
    view = SourceView.of(student, FILE)
    fail_if_unverifiable(view, name)
    return view.loops(name)


def require_working(student, name: str) -> None:
    """A rule test earns its points only for an implementation that computes correct distances
    (to float32 precision, whatever dtype it returns: dtypes have their own tests)."""
    x_train, x_test = rand(900, 7, 5, dtype=torch.float32), rand(901, 4, 5, dtype=torch.float32)
    try:
        dists = student.call(f"knn.{name}", x_train, x_test)
        check_tensor(dists, squared_distances(x_train, x_test), what=f"{name}(x_train, x_test) with float32 "
                     f"inputs of shapes {shapes(x_train, x_test)}", tol=1e-5, device="cpu",
                     dtype=dists.dtype if isinstance(dists, torch.Tensor) else None)
    except GradingFailure as failure:
        raise GradingFailure(f"this rule is checked only once {name} computes correct distances, "
                             f"and it does not yet: {failure}") from None


# ----------------------------------------------------------------------------------------------
# compute_distances_*: values, dtypes, devices

FLOAT64_CASES = [  # (description, train shape, test shape)
    ("2-D inputs", (12, 6), (7, 6)),
    ("image batches (N, C, H, W)", (10, 3, 4, 4), (5, 3, 4, 4)),
    ("a single test sample", (9, 5), (1, 5)),
    ("a single training sample", (1, 5), (4, 5)),
]
FLOAT32_CASES = [
    ("2-D inputs", (15, 8), (6, 8)),
    ("image batches (N, C, H, W)", (7, 3, 2, 2), (4, 3, 2, 2)),
]


def check_distances(student, expect, name: str, cases, dtype, tol: float, seed: int) -> None:
    label = str(dtype).removeprefix("torch.")
    for index, (description, train_shape, test_shape) in enumerate(cases):
        x_train = rand(seed + 2 * index, *train_shape, dtype=dtype)
        x_test = rand(seed + 2 * index + 1, *test_shape, dtype=dtype)
        what = f"{name}(x_train, x_test) with {label} {description} of shapes {shapes(x_train, x_test)}"
        dists = call(student, f"knn.{name}", x_train, x_test, context=f"with {label} {description}")
        expect.tensor(f"case{index}", dists, what=what, tol=tol, device="cpu")


def noncontiguous_inputs(seed: int):
    """Transposed, strided and permuted views (what slicing a dataset gives)."""
    return [
        ("a transposed x_train and a column-strided x_test",
         rand(seed, 6, 11).t(), rand(seed + 1, 8, 12)[:, ::2]),
        ("channels-last image batches permuted to (N, C, H, W)",
         rand(seed + 2, 5, 4, 4, 3).permute(0, 3, 1, 2), rand(seed + 3, 3, 4, 4, 3).permute(0, 3, 1, 2)),
        ("every other sample of a larger batch",
         rand(seed + 4, 14, 6)[::2], rand(seed + 5, 9, 6)[1::3]),
    ]


def check_noncontiguous(student, expect, name: str, seed: int) -> None:
    for index, (description, x_train, x_test) in enumerate(noncontiguous_inputs(seed)):
        assert not (x_train.is_contiguous() and x_test.is_contiguous())
        what = f"{name}(x_train, x_test) with {description} (shapes {shapes(x_train, x_test)})"
        hint = " — use reshape or flatten, which work on any tensor, rather than view"
        try:
            dists = call(student, f"knn.{name}", x_train, x_test, context=f"with {description}")
        except GradingFailure as failure:
            text = str(failure)
            raise GradingFailure(text + (hint if "view" in text else "")) from None
        expect.tensor(f"case{index}", dists, what=what, tol=1e-9, device="cpu")


@pytest.mark.group("knn_distances")
def test_two_loops_float64(student, expect):
    """compute_distances_two_loops: squared L2 distances on float64 inputs (2-D and image batches)"""
    check_distances(student, expect, "compute_distances_two_loops", FLOAT64_CASES, torch.float64, 1e-9, 100)


@pytest.mark.group("knn_distances")
def test_two_loops_float32(student, expect):
    """compute_distances_two_loops: float32 inputs give float32 distances"""
    check_distances(student, expect, "compute_distances_two_loops", FLOAT32_CASES, torch.float32, 1e-5, 110)


@pytest.mark.group("knn_distances")
def test_two_loops_noncontiguous(student, expect):
    """compute_distances_two_loops: works on non-contiguous inputs (transposed, strided, permuted views)"""
    check_noncontiguous(student, expect, "compute_distances_two_loops", 120)


@pytest.mark.group("knn_distances")
def test_one_loop_float64(student, expect):
    """compute_distances_one_loop: squared L2 distances on float64 inputs (2-D and image batches)"""
    check_distances(student, expect, "compute_distances_one_loop", FLOAT64_CASES, torch.float64, 1e-9, 200)


@pytest.mark.group("knn_distances")
def test_one_loop_float32(student, expect):
    """compute_distances_one_loop: float32 inputs give float32 distances"""
    check_distances(student, expect, "compute_distances_one_loop", FLOAT32_CASES, torch.float32, 1e-5, 210)


@pytest.mark.group("knn_distances")
def test_one_loop_noncontiguous(student, expect):
    """compute_distances_one_loop: works on non-contiguous inputs (transposed, strided, permuted views)"""
    check_noncontiguous(student, expect, "compute_distances_one_loop", 220)


@pytest.mark.group("knn_distances")
def test_no_loops_float64(student, expect):
    """compute_distances_no_loops: squared L2 distances on float64 inputs (2-D and image batches)"""
    check_distances(student, expect, "compute_distances_no_loops", FLOAT64_CASES, torch.float64, 1e-9, 300)


@pytest.mark.group("knn_distances")
def test_no_loops_float32(student, expect):
    """compute_distances_no_loops: float32 inputs give float32 distances"""
    check_distances(student, expect, "compute_distances_no_loops", FLOAT32_CASES, torch.float32, 1e-5, 310)


@pytest.mark.group("knn_distances")
def test_no_loops_noncontiguous(student, expect):
    """compute_distances_no_loops: works on non-contiguous inputs (transposed, strided, permuted views)"""
    check_noncontiguous(student, expect, "compute_distances_no_loops", 320)


# ----------------------------------------------------------------------------------------------
# compute_distances_*: the rules, judged from the submitted source


def check_no_banned(student, name: str) -> None:
    require_working(student, name)
    check_banned(student, FILE, name, BANNED, BANNED_RULE)


@pytest.mark.group("knn_distances")
def test_two_loops_no_library_distance(student):
    """compute_distances_two_loops does not use torch.norm, torch.dist, torch.cdist or torch.nn"""
    check_no_banned(student, "compute_distances_two_loops")


@pytest.mark.group("knn_distances")
def test_one_loop_no_library_distance(student):
    """compute_distances_one_loop does not use torch.norm, torch.dist, torch.cdist or torch.nn"""
    check_no_banned(student, "compute_distances_one_loop")


@pytest.mark.group("knn_distances")
def test_no_loops_no_library_distance(student):
    """compute_distances_no_loops does not use torch.norm, torch.dist, torch.cdist or torch.nn"""
    check_no_banned(student, "compute_distances_no_loops")


@pytest.mark.group("knn_distances")
def test_one_loop_has_one_loop(student):
    """compute_distances_one_loop uses exactly one Python loop over the data"""
    name = "compute_distances_one_loop"
    require_working(student, name)
    check_loops(student, FILE, name, most=1, instead="compute one whole row or column of distances per "
                "iteration with broadcasting")
    if not loop_findings(student, name):
        raise GradingFailure(f"{name} has no Python loop over the data: write it with exactly one loop that "
                             "fills a whole row or column of distances per iteration (the loop-free version "
                             "belongs in compute_distances_no_loops)")


@pytest.mark.group("knn_distances")
def test_no_loops_has_no_loop(student):
    """compute_distances_no_loops uses no Python loop over the data"""
    name = "compute_distances_no_loops"
    require_working(student, name)
    check_loops(student, FILE, name, most=0,
                instead="expand ||a - b||^2 = ||a||^2 - 2 a.b + ||b||^2 and use one matrix multiply")


# ----------------------------------------------------------------------------------------------
# predict_labels


def labels_with_rare_class(seed: int, counts=(6, 6, 6, 0, 2)) -> torch.Tensor:
    """Shuffled int64 labels with ``counts[c]`` samples of class c: by default class 3 is absent and
    class 4 has only two samples."""
    generator = torch.Generator().manual_seed(seed)
    y = torch.repeat_interleave(torch.arange(len(counts), dtype=torch.int64), torch.tensor(counts))
    return y[torch.randperm(len(y), generator=generator)]


@pytest.mark.group("knn_predict")
def test_predict_labels_k1(student, expect):
    """predict_labels with k=1 returns the label of the nearest training sample (float32 and float64)"""
    y_train = labels_with_rare_class(400)
    for index, dtype in enumerate((torch.float64, torch.float32)):
        dists = tie_free_dists(401 + index, y_train, 9, [1], dtype)
        what = f"predict_labels(dists, y_train, k=1) with {str(dtype)[6:]} dists of shape {tuple(dists.shape)}"
        labels = call(student, "knn.predict_labels", dists, y_train, k=1, context=f"with k=1, {str(dtype)[6:]} dists")
        expect_labels(expect, f"case{index}", labels, dists, y_train, 1, what)


@pytest.mark.group("knn_predict")
def test_predict_labels_majority(student, expect):
    """predict_labels with k=3, 5 and 7 returns the most common label among the k nearest"""
    y_train = labels_with_rare_class(410)
    dists = tie_free_dists(411, y_train, 11, [3, 5, 7])
    for k in (3, 5, 7):
        what = f"predict_labels(dists, y_train, k={k}) with dists of shape {tuple(dists.shape)}"
        labels = call(student, "knn.predict_labels", dists, y_train, k=k, context=f"with k={k}")
        expect_labels(expect, f"k{k}", labels, dists, y_train, k, what)


@pytest.mark.group("knn_predict")
def test_predict_labels_large_k(student, expect):
    """predict_labels with k larger than a class and with k = num_train"""
    y_train = labels_with_rare_class(420, (5, 7, 6, 0, 2))  # a unique most common class overall
    dists = tie_free_dists(421, y_train, 8, [9, 13, 20])
    for k in (9, 13, 20):
        what = f"predict_labels(dists, y_train, k={k}) with dists of shape {tuple(dists.shape)}"
        labels = call(student, "knn.predict_labels", dists, y_train, k=k, context=f"with k={k}")
        expect_labels(expect, f"k{k}", labels, dists, y_train, k, what)


@pytest.mark.group("knn_predict")
def test_predict_labels_noncontiguous(student, expect):
    """predict_labels works on a transposed dists view and a strided y_train"""
    y_full = labels_with_rare_class(430).repeat_interleave(2)  # (40,)
    y_train = y_full[::2]
    dists = tie_free_dists(431, y_train, 10, [1, 3]).t().contiguous().t()  # (20, 10), column-major
    assert not dists.is_contiguous() and not y_train.is_contiguous()
    for k in (1, 3):
        what = f"predict_labels(dists, y_train, k={k}) with a transposed dists of shape {tuple(dists.shape)}"
        labels = call(student, "knn.predict_labels", dists, y_train, k=k,
                      context=f"with k={k}, a transposed dists and a strided y_train")
        expect_labels(expect, f"k{k}", labels, dists, y_train, k, what)


def tie_cases(seed: int, y_train: torch.Tensor, k: int, num_test: int) -> torch.Tensor:
    """Distances where the k nearest of every test sample have a vote tie (some won by the larger label first)."""
    generator = torch.Generator().manual_seed(seed)
    columns, nearest_larger = [], 0
    for _ in range(100_000):
        if len(columns) == num_test:
            break
        column = torch.rand(len(y_train), 1, generator=generator, dtype=torch.float64)
        if tied_columns(column, y_train, k).all():
            counts = vote_counts(column, y_train, k)[0]
            smallest = int((counts == counts.max()).int().argmax())
            nearest_larger += int(y_train[column[:, 0].argmin()]) > smallest
            columns.append(column)
    if len(columns) < num_test or nearest_larger == 0:
        raise GraderBug("tie_cases: no test sample whose nearest neighbour has the larger tied label")
    return torch.cat(columns, dim=1)


TIE_LABELS = torch.tensor([4, 1, 4, 1, 2, 2, 0, 3, 5], dtype=torch.int64)


@pytest.mark.group("knn_predict")
def test_predict_labels_ties_small_k(student, expect):
    """predict_labels breaks vote ties toward the smallest label (k=2 and k=4)"""
    for k in (2, 4):
        dists = tie_cases(440 + k, TIE_LABELS, k, 8)
        what = f"predict_labels(dists, y_train, k={k})"
        labels = call(student, "knn.predict_labels", dists, TIE_LABELS, k=k, context=f"with k={k}")
        expect_labels(expect, f"k{k}", labels, dists, TIE_LABELS, k, what)


@pytest.mark.group("knn_predict")
def test_predict_labels_ties_all_neighbours(student, expect):
    """predict_labels breaks vote ties toward the smallest label when k = num_train"""
    k = len(TIE_LABELS)
    dists = rand(450, k, 5, dtype=torch.float32)
    what = f"predict_labels(dists, y_train, k={k}) with k = num_train"
    labels = call(student, "knn.predict_labels", dists, TIE_LABELS, k=k, context="with k = num_train")
    expect_labels(expect, "all", labels, dists, TIE_LABELS, k, what)


# ----------------------------------------------------------------------------------------------
# KnnClassifier


def classifier_predict(student, x_train, y_train, x_test, k: int, context: str):
    return call(student, "knn.KnnClassifier", x_train, y_train,
                chain=[("call", "predict", (x_test,), {"k": k})], context=context)


def tie_free_points(seed: int, x_train: torch.Tensor, y_train: torch.Tensor, num_test: int, ks, dtype):
    """Test points whose k-nearest votes never tie for any k in ``ks``."""
    generator = torch.Generator().manual_seed(seed)
    points = []
    for _ in range(100_000):
        if len(points) == num_test:
            return torch.cat(points)
        point = torch.rand(1, *x_train.shape[1:], generator=generator, dtype=dtype)
        dists = squared_distances(x_train, point)
        if distinct(dists) and not any(tied_columns(dists, y_train, k).any() for k in ks):
            points.append(point)
    raise GraderBug("tie_free_points: cannot avoid vote ties")


@pytest.mark.group("knn_predict")
def test_classifier_k1(student, expect):
    """KnnClassifier(x_train, y_train).predict(x_test, k=1) on float32 vectors and float64 images"""
    cases = [(torch.float32, (16, 6)), (torch.float64, (12, 3, 2, 2))]
    for index, (dtype, shape) in enumerate(cases):
        x_train = rand(500 + index, *shape, dtype=dtype)
        y_train = torch.arange(shape[0], dtype=torch.int64) % 4
        x_test = tie_free_points(510 + index, x_train, y_train, 7, [1], dtype)
        dists = squared_distances(x_train, x_test)
        label = str(dtype)[6:]
        what = f"KnnClassifier(x_train, y_train).predict(x_test, k=1) with {label} inputs of shapes {shapes(x_train, x_test)}"
        labels = classifier_predict(student, x_train, y_train, x_test, 1, f"with {label} inputs and k=1")
        expect_labels(expect, f"case{index}", labels, dists, y_train, 1, what)


@pytest.mark.group("knn_predict")
def test_classifier_majority(student, expect):
    """KnnClassifier.predict with k=3 and k=5 takes the majority vote of the k nearest"""
    x_train = rand(520, 18, 2, 3, 3)
    y_train = labels_with_rare_class(521)[:18]
    x_test = tie_free_points(522, x_train, y_train, 9, [3, 5], torch.float64)
    dists = squared_distances(x_train, x_test)
    for k in (3, 5):
        what = f"KnnClassifier(x_train, y_train).predict(x_test, k={k}) with inputs of shapes {shapes(x_train, x_test)}"
        labels = classifier_predict(student, x_train, y_train, x_test, k, f"with k={k}")
        expect_labels(expect, f"k{k}", labels, dists, y_train, k, what)


# ----------------------------------------------------------------------------------------------
# knn_cross_validate and knn_get_best_k

DEFAULT_K_CHOICES = [1, 3, 5, 8, 10, 12, 15, 20, 50, 100]


def two_clusters(seed: int, per_class: int, dim: int, spread: float, mislabeled: int, dtype=torch.float64):
    """Two Gaussian clusters (labels 0, 1) interleaved 0, 1, 0, 1, ... so every fold holds both classes;
    ``mislabeled`` samples of each cluster carry the other label."""
    generator = torch.Generator().manual_seed(seed)
    centers = torch.zeros(2, dim, dtype=torch.float64)
    centers[1, 0] = spread
    x = torch.randn(2 * per_class, dim, generator=generator, dtype=torch.float64)
    y = torch.arange(2 * per_class, dtype=torch.int64) % 2
    x += centers[y]
    if mislabeled:
        for label in (0, 1):
            members = (y == label).nonzero()[:, 0]
            flip = members[torch.randperm(len(members), generator=generator)[:mislabeled]]
            y[flip] = 1 - label
    return x.to(dtype), y


def folds_tie_free(x: torch.Tensor, y: torch.Tensor, num_folds: int, ks) -> bool:
    """True when no fold of the cross-validation has a vote tie or an equal distance, for any k."""
    x_folds, y_folds = torch.chunk(x, num_folds), torch.chunk(y, num_folds)
    for i in range(num_folds):
        x_tr = torch.cat(x_folds[:i] + x_folds[i + 1:])
        y_tr = torch.cat(y_folds[:i] + y_folds[i + 1:])
        dists = squared_distances(x_tr, x_folds[i])
        if any(not distinct(dists[:, j]) for j in range(dists.shape[1])):
            return False
        if any(tied_columns(dists, y_tr, k).any() for k in ks):
            return False
    return True


def cv_data(seed: int, per_class: int, dim: int, spread: float, mislabeled: int, num_folds: int, ks, dtype,
            count: int | None = None):
    """The first data set from ``seed`` on whose folds no k-nearest vote ties (the suite checks itself);
    ``count`` keeps only the first samples. Found once per grading process (the search is the same
    for every student)."""
    key = ("a1_knn.cv_data", seed, per_class, dim, spread, mislabeled, num_folds, tuple(ks), dtype, count)
    if key not in suite_helpers._CACHE:
        suite_helpers._CACHE[key] = _search_cv_data(seed, per_class, dim, spread, mislabeled, num_folds, ks, dtype,
                                                    count)
    x, y = suite_helpers._CACHE[key]
    return x.clone(), y.clone()


def _search_cv_data(seed, per_class, dim, spread, mislabeled, num_folds, ks, dtype, count):
    for attempt in range(50):
        x, y = two_clusters(seed + attempt, per_class, dim, spread, mislabeled, dtype)
        x, y = x[:count], y[:count]
        if folds_tie_free(x, y, num_folds, ks):
            return x, y
    raise GraderBug("cv_data: no tie-free data set found")


def fold_accuracies(result, k_choices, num_folds: int, what: str) -> dict[int, list[float]]:
    """The result as {k: [num_folds floats]}, structure checked first with a precise message: a dict
    k -> fold accuracies, each a number or a 0-dim tensor, in a list, tuple or 1-D tensor (the course
    checks none of these container types)."""
    if not isinstance(result, dict):
        raise GradingFailure(f"{what} should return a dict mapping each k to a list of fold accuracies, "
                             f"but returned {type(result).__name__}")
    if set(result) != set(k_choices):
        wrong = "int keys" if not all(isinstance(k, int) for k in result) else f"{len(k_choices)} keys"
        raise GradingFailure(f"{what} should return a dict with one entry per k in k_choices (the Python "
                             f"ints of k_choices as keys), but its keys differ: expected {wrong}")
    accuracies = {}
    for k in k_choices:
        folds = result[k]
        if isinstance(folds, torch.Tensor) and folds.dim() == 1:
            folds = folds.tolist()
        if not isinstance(folds, (list, tuple)) or len(folds) != num_folds:
            raise GradingFailure(f"{what}[{k}] should be a list of {num_folds} fold accuracies (one per fold)")
        values = []
        for value in folds:
            if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.dtype == torch.bool:
                value = value.item()
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
                raise GradingFailure(f"{what}[{k}] should hold numbers (accuracies), not {type(value).__name__}")
            if not 0.0 <= value <= 100.0:
                raise GradingFailure(f"{what}[{k}] holds an accuracy outside [0, 100]; report the percentage "
                                     "of correctly classified validation samples, as check_accuracy does")
            values.append(float(value))
        accuracies[k] = values
    return accuracies


def matches(accuracies: dict, expected: dict, scale: float, tol: float = 1e-6) -> bool:
    return all(math.isclose(scale * a, e, rel_tol=tol, abs_tol=tol)
               for k in expected for a, e in zip(accuracies[k], expected[k]))


def check_cross_validate(student, expect, key, x, y, num_folds, k_choices, context, pass_defaults=False):
    """The fold accuracies match the reference (recorded in percent, the course's convention) read
    as percentages; fractions in [0, 1] are accepted too when every value is at most 1 and they match
    once multiplied by 100 (the failure message says which reading it tried)."""
    what = "knn_cross_validate(x_train, y_train" + ("" if pass_defaults else f", num_folds={num_folds}, k_choices=...") + ")"
    kwargs = {} if pass_defaults else {"num_folds": num_folds, "k_choices": list(k_choices)}
    result = call(student, "knn.knn_cross_validate", x, y, context=context, **kwargs)
    accuracies = fold_accuracies(result, k_choices, num_folds, what)
    expected = expect.reference(key, accuracies)  # {k: [percent, ...]}
    if matches(accuracies, expected, 1.0):
        return
    all_fractions = all(a <= 1.0 for folds in accuracies.values() for a in folds)
    if all_fractions and matches(accuracies, expected, 100.0):
        return  # fractions of correct predictions: the same accuracies, unambiguously
    reading = ("read as percentages (as check_accuracy returns them) and, since every value is at most 1, "
               "as fractions" if all_fractions else "read as percentages, as check_accuracy returns them")
    raise GradingFailure(f"{what} {context} returned wrong fold accuracies ({reading}): split x_train and "
                         "y_train into num_folds folds with torch.chunk; for fold i train on all the other "
                         "folds, validate on fold i, and record the accuracy (check_accuracy with quiet=True)")


ODD_KS = [1, 3, 5, 7, 9]


@pytest.mark.group("knn_cross_validation")
def test_cross_validate_five_folds(student, expect):
    """knn_cross_validate with 5 folds: one accuracy per fold for each k (in percent like check_accuracy, or as fractions)"""
    x, y = cv_data(600, 25, 4, 2.0, 0, 5, ODD_KS, torch.float64)
    check_cross_validate(student, expect, "f5", x, y, 5, ODD_KS, "with float64 inputs of shape (50, 4)")


@pytest.mark.group("knn_cross_validation")
def test_cross_validate_unequal_folds(student, expect):
    """knn_cross_validate with 4 folds of unequal size (torch.chunk), float32 image batches, k_choices in any order"""
    k_choices = [7, 1, 5]
    x, y = cv_data(620, 19, 12, 1.5, 0, 4, k_choices, torch.float32, count=38)
    x = x.reshape(38, 3, 2, 2)
    check_cross_validate(student, expect, "f4", x, y, 4, k_choices, "with float32 inputs of shape (38, 3, 2, 2)")


@pytest.mark.group("knn_cross_validation")
def test_cross_validate_default_k_choices(student, expect):
    """knn_cross_validate with its defaults (5 folds, k_choices = [1, 3, 5, 8, 10, 12, 15, 20, 50, 100])"""
    x, y = cv_data(640, 75, 3, 12.0, 2, 5, DEFAULT_K_CHOICES, torch.float64)
    check_cross_validate(student, expect, "default", x, y, 5, DEFAULT_K_CHOICES,
                         "with only x_train (150, 3) and y_train", pass_defaults=True)


BEST_K_CASES = [  # (description, k_to_accuracies); percentages (the course's), sums exact in float32
    ("the best mean, not the best single fold",
     {1: [100.0, 0.0, 25.0], 3: [50.0, 50.0, 50.0], 5: [25.0, 50.0, 37.5]}),
    ("the best k is the largest",
     {1: [25.0, 50.0], 2: [37.5, 50.0], 4: [50.0, 62.5], 16: [75.0, 50.0]}),
    ("accuracies given as fractions", {1: [0.25, 0.5], 3: [0.75, 0.5], 5: [0.5, 0.5]}),
]
BEST_K_TIES = [
    ("keys inserted from the largest k", {10: [75.0, 25.0], 5: [50.0, 50.0], 1: [25.0, 50.0]}),
    ("keys inserted from the smallest k", {1: [50.0, 50.0, 50.0], 3: [25.0, 25.0, 50.0], 8: [75.0, 25.0, 50.0]}),
    ("a tie between all k", {7: [50.0], 2: [50.0], 4: [50.0]}),
]


def check_best_k(student, expect, cases, tie: bool) -> None:
    for index, (description, k_to_accuracies) in enumerate(cases):
        what = f"knn_get_best_k(k_to_accuracies) with {description}"
        best = call(student, "knn.knn_get_best_k", k_to_accuracies, context=f"with {description}")
        if isinstance(best, torch.Tensor) and best.dim() == 0 and not best.is_floating_point():
            best = best.item()  # a 0-dim integer tensor holding the key is read as the key
        try:
            expect.value(f"case{index}", best, what=what)
        except GradingFailure as failure:
            if not isinstance(best, int) or isinstance(best, bool):
                raise
            if best not in k_to_accuracies:
                raise GradingFailure(f"{what} returned a k that is not a key of k_to_accuracies") from None
            hint = ("when several k share the best mean accuracy, return the smallest of them" if tie else
                    "return the k with the highest mean accuracy over the folds")
            raise GradingFailure(f"{what} returned the wrong k: {hint}") from failure


@pytest.mark.group("knn_cross_validation")
def test_get_best_k(student, expect):
    """knn_get_best_k returns the k with the highest mean accuracy"""
    check_best_k(student, expect, BEST_K_CASES, tie=False)


@pytest.mark.group("knn_cross_validation")
def test_get_best_k_ties(student, expect):
    """knn_get_best_k breaks ties toward the smallest k"""
    check_best_k(student, expect, BEST_K_TIES, tie=True)
