"""The a1_knn source solutions (assignments/a1_knn/pytorch101.py and knn.py) on course-style examples.

These are the instructor's own checks of the reference code, fast and visible; the hidden suite
that grades students lives in autograder/suites/a1_knn/. Every tensor test runs on the CPU and
again on CUDA when a GPU is present (the ``device`` fixture from conftest.py).
"""
from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
import torch

from autograder.release import find_solution_regions
from helpers import body_names, import_file, loop_count

ASSIGNMENT_DIR = Path(__file__).resolve().parent.parent / "assignments" / "a1_knn"




p101 = import_file(ASSIGNMENT_DIR / "pytorch101.py", "a1_knn_source_pytorch101")
knn = import_file(ASSIGNMENT_DIR / "knn.py", "a1_knn_source_knn")

COURSE_K_CHOICES = [1, 3, 5, 8, 10, 12, 15, 20, 50, 100]

# The course's signatures (2022; count_negative_entries from 2020): names, order and defaults.
COURSE_SIGNATURES = {
    p101: {
        "hello": "()", "create_sample_tensor": "()", "mutate_tensor": "(x, indices, values)",
        "count_tensor_elements": "(x)", "create_tensor_of_pi": "(M, N)", "multiples_of_ten": "(start, stop)",
        "slice_indexing_practice": "(x)", "slice_assignment_practice": "(x)", "shuffle_cols": "(x)",
        "reverse_rows": "(x)", "take_one_elem_per_col": "(x)", "count_negative_entries": "(x)",
        "make_one_hot": "(x)", "sum_positive_entries": "(x)", "reshape_practice": "(x)", "zero_row_min": "(x)",
        "batched_matrix_multiply": "(x, y, use_loop=True)", "batched_matrix_multiply_loop": "(x, y)",
        "batched_matrix_multiply_noloop": "(x, y)", "normalize_columns": "(x)", "mm_on_cpu": "(x, w)",
        "mm_on_gpu": "(x, w)", "challenge_mean_tensors": "(xs, ls)", "challenge_get_uniques": "(x)",
    },
    knn: {
        "hello": "()", "compute_distances_two_loops": "(x_train, x_test)",
        "compute_distances_one_loop": "(x_train, x_test)", "compute_distances_no_loops": "(x_train, x_test)",
        "predict_labels": "(dists, y_train, k=1)", "KnnClassifier": "(x_train, y_train)",
        "KnnClassifier.predict": "(self, x_test, k=1)",
        "KnnClassifier.check_accuracy": "(self, x_test, y_test, k=1, quiet=False)",
        "knn_cross_validate": f"(x_train, y_train, num_folds=5, k_choices={COURSE_K_CHOICES})",
        "knn_get_best_k": "(k_to_accuracies)",
    },
}


def _plain_signature(function) -> str:
    """``(name, name=default, ...)`` without annotations."""
    parts = []
    for parameter in inspect.signature(function).parameters.values():
        default = "" if parameter.default is inspect.Parameter.empty else f"={parameter.default!r}"
        parts.append(parameter.name + default)
    return "(" + ", ".join(parts) + ")"


@pytest.mark.parametrize("module", [p101, knn], ids=["pytorch101", "knn"])
def test_the_course_signatures(module):
    expected = COURSE_SIGNATURES[module]
    found = {}
    for name in expected:
        target = module
        for part in name.split("."):
            target = getattr(target, part)
        found[name] = _plain_signature(target)
    assert found == expected


def _rel_error(x: torch.Tensor, y: torch.Tensor) -> float:
    return ((x - y).abs().max() / (x.abs() + y.abs()).clamp(min=1e-10).max()).item()


# ------------------------------------------------------------------------------------------------
# the modules as files: regions, hello


@pytest.mark.parametrize("name", ["pytorch101", "knn"])
def test_every_student_function_has_a_solution_region(name):
    source = (ASSIGNMENT_DIR / f"{name}.py").read_text()
    regions = {region.function for region in find_solution_regions(source, f"{name}.py")}
    given = {"hello", "batched_matrix_multiply", "mm_on_cpu", "KnnClassifier.check_accuracy"}
    tree = ast.parse(source)
    functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    functions |= {f"{cls.name}.{node.name}" for cls in tree.body if isinstance(cls, ast.ClassDef)
                  for node in cls.body if isinstance(node, ast.FunctionDef)}
    assert regions == functions - given


@pytest.mark.parametrize("module, text", [(p101, "Hello from pytorch101.py!"), (knn, "Hello from knn.py!")])
def test_hello(module, text, capsys):
    module.hello()
    assert capsys.readouterr().out.strip() == text


# ------------------------------------------------------------------------------------------------
# pytorch101: creating and mutating


def test_create_sample_tensor():
    x = p101.create_sample_tensor()
    assert x.dtype == torch.float32 and x.device.type == "cpu"
    assert x.tolist() == [[0, 10], [100, 0], [0, 0]]


def test_mutate_tensor_in_place_last_value_wins():
    x = torch.zeros(3, 4, dtype=torch.int64)
    result = p101.mutate_tensor(x, [(0, 0), (1, 2), (2, 3), (1, 2)], [4, 5, 6, 7])
    assert result is x
    assert x.tolist() == [[4, 0, 0, 0], [0, 0, 7, 0], [0, 0, 0, 6]]
    y = torch.ones(2, 2)
    assert p101.mutate_tensor(y, [], []).tolist() == [[1, 1], [1, 1]]


@pytest.mark.parametrize("shape", [(10,), (3, 4), (2, 3, 4), (), (4, 0, 2), (2, 3, 5, 1)])
def test_count_tensor_elements(shape):
    x = torch.zeros(shape)
    count = p101.count_tensor_elements(x)
    assert type(count) is int and count == x.numel()


def test_count_tensor_elements_non_contiguous_and_without_numel():
    x = torch.randn(5, 12)[:, ::2].t()
    assert p101.count_tensor_elements(x) == 30
    assert not body_names(p101.count_tensor_elements) & {"numel", "nelement"}


@pytest.mark.parametrize("M, N", [(4, 5), (1, 1), (0, 3)])
def test_create_tensor_of_pi(M, N):
    x = p101.create_tensor_of_pi(M, N)
    assert x.shape == (M, N) and x.dtype == torch.float32 and x.device.type == "cpu"
    assert torch.equal(x, torch.full((M, N), 3.14))


@pytest.mark.parametrize("start, stop, expected", [
    (5, 25, [10, 20]), (10, 10, [10]), (0, 30, [0, 10, 20, 30]), (-25, 5, [-20, -10, 0]),
    (31, 79, [40, 50, 60, 70]), (11, 19, []), (11, 11, []), (-9, -1, []),
])
def test_multiples_of_ten(start, stop, expected):
    x = p101.multiples_of_ten(start, stop)
    assert x.dtype == torch.float64 and x.shape == (len(expected),)
    assert x.tolist() == expected


# ------------------------------------------------------------------------------------------------
# pytorch101: indexing


def test_slice_indexing_practice():
    x = torch.tensor([[1, 2, 3, 4, 5], [6, 7, 8, 8, 10], [11, 12, 13, 14, 15]])
    before = x.clone()
    last_row, third_col, first_two_rows_three_cols, even_rows_odd_cols = p101.slice_indexing_practice(x)
    assert last_row.tolist() == [11, 12, 13, 14, 15] and last_row.shape == (5,)
    assert third_col.tolist() == [[3], [8], [13]] and third_col.shape == (3, 1)
    assert first_two_rows_three_cols.tolist() == [[1, 2, 3], [6, 7, 8]]
    assert even_rows_odd_cols.tolist() == [[2, 4], [12, 14]]
    assert torch.equal(x, before)


def test_slice_indexing_practice_larger_float():
    x = torch.arange(42, dtype=torch.float64).reshape(6, 7)
    out = p101.slice_indexing_practice(x)
    assert [t.dtype for t in out] == [torch.float64] * 4
    assert out[3].shape == (3, 3) and torch.equal(out[3], x[[0, 2, 4]][:, [1, 3, 5]])


def test_slice_assignment_practice():
    x = torch.full((5, 7), -1, dtype=torch.int64)
    result = p101.slice_assignment_practice(x)
    assert result is x
    assert x.tolist() == [
        [0, 1, 2, 2, 2, 2, -1],
        [0, 1, 2, 2, 2, 2, -1],
        [3, 4, 3, 4, 5, 5, -1],
        [3, 4, 3, 4, 5, 5, -1],
        [-1, -1, -1, -1, -1, -1, -1],
    ]


def test_shuffle_cols(device):
    x = torch.tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]], device=device)
    y = p101.shuffle_cols(x)
    assert y.tolist() == [[1, 1, 3, 2], [4, 4, 6, 5], [7, 7, 9, 8], [10, 10, 12, 11]]
    assert y.device == x.device and x[0, 0].item() == 1


def test_reverse_rows(device):
    x = torch.tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]], device=device)
    y = p101.reverse_rows(x)
    assert y.tolist() == [[10, 11, 12], [7, 8, 9], [4, 5, 6], [1, 2, 3]]
    assert y.device == x.device and x.tolist()[0] == [1, 2, 3]
    assert not body_names(p101.reverse_rows) & {"flip", "fliplr", "flipud"}
    single = torch.arange(5.0, device=device).reshape(1, 5)
    assert torch.equal(p101.reverse_rows(single), single)


def test_take_one_elem_per_col(device):
    x = torch.tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]], device=device)
    y = p101.take_one_elem_per_col(x)
    assert y.tolist() == [4, 2, 12] and y.shape == (3,) and y.device == x.device


@pytest.mark.parametrize("labels", [[1, 4, 3, 2], [0], [2, 2, 0, 5, 2]])
def test_make_one_hot(labels):
    y = p101.make_one_hot(labels)
    assert y.dtype == torch.float32 and y.shape == (len(labels), max(labels) + 1)
    assert y.tolist() == [[float(c == label) for c in range(max(labels) + 1)] for label in labels]
    assert loop_count(p101.make_one_hot) == 0


def test_count_negative_entries(device):
    x = torch.tensor([[-1, -1, 0], [0, 1, 2], [3, 4, 5]], device=device)
    count = p101.count_negative_entries(x)
    assert type(count) is int and count == 2 and x.tolist()[0] == [-1, -1, 0]
    assert p101.count_negative_entries(torch.arange(4, device=device)) == 0
    noisy = torch.randn(30, 20, generator=torch.Generator().manual_seed(11)).to(device).t()
    assert p101.count_negative_entries(noisy) == int((noisy < 0).sum())
    assert loop_count(p101.count_negative_entries) == 0


# ------------------------------------------------------------------------------------------------
# pytorch101: reshaping, reductions, matrix products


def test_sum_positive_entries():
    x = torch.tensor([[-1, 2, 0], [0, 5, -3], [8, -9, 0]])
    total = p101.sum_positive_entries(x)
    assert type(total) is int and total == 15
    assert p101.sum_positive_entries(torch.tensor([-3, -1])) == 0
    assert loop_count(p101.sum_positive_entries) == 0


def test_reshape_practice():
    expected = [[0, 1, 2, 3, 12, 13, 14, 15], [4, 5, 6, 7, 16, 17, 18, 19], [8, 9, 10, 11, 20, 21, 22, 23]]
    assert p101.reshape_practice(torch.arange(24)).tolist() == expected
    strided = torch.arange(48.0)[::2]  # non-contiguous: x[i] = 2 * i
    assert p101.reshape_practice(strided).tolist() == [[2.0 * v for v in row] for row in expected]


def test_zero_row_min(device):
    x = torch.tensor([[10, 20, 30], [2, 5, 1]], device=device)
    y = p101.zero_row_min(x)
    assert y.tolist() == [[0, 20, 30], [2, 5, 0]]
    assert x.tolist() == [[10, 20, 30], [2, 5, 1]] and y.device == x.device
    z = torch.tensor([[1.5, -0.5], [0.25, 3.0]], device=device).t()
    assert p101.zero_row_min(z).tolist() == [[1.5, 0.0], [0.0, 3.0]]
    assert loop_count(p101.zero_row_min) == 0


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-6), (torch.float64, 1e-12)])
def test_batched_matrix_multiply(device, dtype, tol):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, 5, generator=generator, dtype=dtype).to(device)
    y = torch.randn(4, 6, 5, generator=generator, dtype=dtype).to(device).transpose(1, 2)  # non-contiguous
    expected = torch.stack([x[i] @ y[i] for i in range(4)])
    for z in (p101.batched_matrix_multiply_loop(x, y), p101.batched_matrix_multiply_noloop(x, y),
              p101.batched_matrix_multiply(x, y, use_loop=True), p101.batched_matrix_multiply(x, y, use_loop=False)):
        assert z.shape == (4, 3, 6) and z.dtype == dtype and z.device == x.device
        assert _rel_error(z, expected) < tol
    assert loop_count(p101.batched_matrix_multiply_noloop) == 0
    assert loop_count(p101.batched_matrix_multiply_loop) == 1


def test_normalize_columns(device):
    x = torch.tensor([[0.0, 30.0, 600.0], [1.0, 10.0, 200.0], [-1.0, 20.0, 400.0]], dtype=torch.float64,
                     device=device)
    before = x.clone()
    y = p101.normalize_columns(x)
    assert torch.equal(x, before) and y.dtype == x.dtype and y.device == x.device
    assert y.tolist() == [[0.0, 1.0, 1.0], [1.0, -1.0, -1.0], [-1.0, 0.0, 0.0]]
    wide = torch.randn(8, 6, dtype=torch.float64, device=device).t()
    assert _rel_error(p101.normalize_columns(wide), (wide - wide.mean(0)) / wide.std(0)) < 1e-10
    assert not body_names(p101.normalize_columns) & {"mean", "std", "var"}
    assert loop_count(p101.normalize_columns) == 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given on machines without CUDA")
def test_mm_on_gpu_without_cuda_raises_a_clear_error():
    with pytest.raises(RuntimeError, match=r"mm_on_gpu needs a CUDA device"):
        p101.mm_on_gpu(torch.randn(3, 4), torch.randn(4, 2))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_mm_on_gpu_with_cuda():
    x, w = torch.randn(64, 32), torch.randn(32, 16)
    y = p101.mm_on_gpu(x, w)
    assert y.device.type == "cpu" and y.dtype == x.dtype and y.shape == (64, 16)
    assert _rel_error(y, p101.mm_on_cpu(x, w)) < 1e-5


def test_challenge_mean_tensors(device):
    generator = torch.Generator().manual_seed(1)
    lengths = [1, 7, 3, 12, 1]
    xs = [torch.randn(n, generator=generator, dtype=torch.float64).to(device) for n in lengths]
    ls = torch.tensor(lengths, device=device)
    y = p101.challenge_mean_tensors(xs, ls)
    assert y.shape == (5,) and y.dtype == torch.float64 and y.device.type == device.type
    assert _rel_error(y, torch.stack([x.mean() for x in xs])) < 1e-12
    assert loop_count(p101.challenge_mean_tensors) == 0


def test_challenge_get_uniques(device):
    x = torch.tensor([5, 2, 9, 2, 5, 5, -3, 9, 0, 2], device=device)
    uniques, indices = p101.challenge_get_uniques(x)
    assert uniques.tolist() == [-3, 0, 2, 5, 9] and indices.tolist() == [6, 8, 1, 0, 2]
    assert uniques.dtype == indices.dtype == torch.int64 and indices.device == x.device
    big = torch.randint(0, 50, (10_000,), generator=torch.Generator().manual_seed(2)).to(device)
    uniques, indices = p101.challenge_get_uniques(big)
    assert torch.equal(uniques, torch.unique(big)) and torch.equal(big[indices], uniques)
    first = [big.tolist().index(v) for v in uniques.tolist()]
    assert indices.tolist() == first
    assert loop_count(p101.challenge_get_uniques) == 0 and "unique" not in body_names(p101.challenge_get_uniques)


# ------------------------------------------------------------------------------------------------
# knn: distances

DISTANCES = [knn.compute_distances_two_loops, knn.compute_distances_one_loop, knn.compute_distances_no_loops]
BANNED = {"norm", "dist", "cdist", "pdist", "nn", "functional", "vector_norm", "pairwise_distance"}


def _reference(x_train, x_test):
    return torch.cdist(x_train.double().flatten(1), x_test.double().flatten(1)) ** 2


@pytest.mark.parametrize("compute", DISTANCES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_distances_match_reference(compute, dtype, tol, device):
    generator = torch.Generator().manual_seed(3)
    x_train = torch.rand(13, 3, 4, 4, generator=generator, dtype=dtype).to(device)
    x_test = torch.rand(6, 3, 4, 4, generator=generator, dtype=dtype).to(device)
    dists = compute(x_train, x_test)
    assert dists.shape == (13, 6) and dists.dtype == dtype and dists.device == x_train.device
    assert _rel_error(dists.double(), _reference(x_train, x_test)) < tol


@pytest.mark.parametrize("compute", DISTANCES, ids=lambda f: f.__name__)
def test_distances_non_contiguous(compute, device):
    generator = torch.Generator().manual_seed(4)
    x_train = torch.rand(5, 4, 4, 3, generator=generator, dtype=torch.float64).to(device).permute(0, 3, 1, 2)
    x_test = torch.rand(9, 3, 4, 8, generator=generator, dtype=torch.float64).to(device)[::3, :, :, ::2]
    assert not x_train.is_contiguous() and not x_test.is_contiguous()
    dists = compute(x_train, x_test)
    assert _rel_error(dists, _reference(x_train, x_test)) < 1e-10


def test_no_loops_identical_points_are_zero_not_negative(device):
    x = torch.rand(20, 50, device=device) * 10
    dists = knn.compute_distances_no_loops(x, x)
    assert (dists >= 0).all() and dists.diagonal().max().item() < 1e-2


def test_distance_rules():
    assert [loop_count(f) for f in DISTANCES] == [2, 1, 0]
    for compute in DISTANCES:
        assert not body_names(compute) & BANNED, compute.__name__
        assert "cuda" not in inspect.getsource(compute)


# ------------------------------------------------------------------------------------------------
# knn: predictions


def _column(order: list[int], num_train: int, device) -> torch.Tensor:
    """A (num_train, 1) distance column in which training sample order[r] is the r-th nearest."""
    dists = torch.empty(num_train, 1, device=device)
    dists[torch.tensor(order, device=device), 0] = torch.arange(num_train, dtype=torch.float32, device=device)
    return dists


def test_predict_labels_ties_go_to_the_smallest_label(device):
    y_train = torch.tensor([3, 1, 3, 1, 0, 2], device=device)
    dists = _column([0, 1, 2, 3, 4, 5], 6, device)  # nearest labels: 3, 1, 3, 1, 0, 2
    assert knn.predict_labels(dists, y_train, k=1).tolist() == [3]
    assert knn.predict_labels(dists, y_train, k=2).tolist() == [1]  # 3 vs 1: one vote each
    assert knn.predict_labels(dists, y_train, k=3).tolist() == [3]
    assert knn.predict_labels(dists, y_train, k=4).tolist() == [1]
    assert knn.predict_labels(dists, y_train, k=6).tolist() == [1]  # 1 and 3 have two votes each


def test_predict_labels_majority_many_columns(device):
    generator = torch.Generator().manual_seed(5)
    y_train = torch.randint(0, 4, (30,), generator=generator)
    dists = torch.rand(30, 40, generator=generator, dtype=torch.float64)
    for k in (1, 3, 7, 12, 30):
        nearest = dists.argsort(dim=0)[:k]
        counts = torch.stack([(y_train[nearest] == c).sum(0) for c in range(4)])  # (4, 40)
        expected = [min(c for c in range(4) if counts[c, j] == counts[:, j].max()) for j in range(40)]
        y_pred = knn.predict_labels(dists.to(device), y_train.to(device), k=k)
        assert y_pred.dtype == torch.int64 and y_pred.shape == (40,) and y_pred.device.type == device.type
        assert y_pred.tolist() == expected, k


def test_predict_labels_k_larger_than_a_class(device):
    y_train = torch.tensor([0, 1, 1, 1, 1, 2, 2], device=device)  # class 0 has one sample
    dists = _column([0, 5, 6, 1, 2, 3, 4], 7, device)  # nearest labels: 0, 2, 2, 1, 1, 1, 1
    assert knn.predict_labels(dists, y_train, k=3).tolist() == [2]
    assert knn.predict_labels(dists, y_train, k=6).tolist() == [1]
    assert knn.predict_labels(dists, y_train, k=7).tolist() == [1]


def test_predict_labels_rejects_bad_k():
    with pytest.raises(ValueError, match="k must be between 1 and num_train"):
        knn.predict_labels(torch.rand(4, 2), torch.tensor([0, 1, 0, 1]), k=5)
    with pytest.raises(ValueError):
        knn.predict_labels(torch.rand(4, 2), torch.tensor([0, 1, 0, 1]), k=0)


def test_knn_classifier(device, capsys):
    generator = torch.Generator().manual_seed(6)
    centers = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    y_train = torch.arange(60) % 3
    x_train = (centers[y_train] + torch.randn(60, 2, generator=generator)).to(device)
    y_test = torch.arange(15) % 3
    x_test = (centers[y_test] + torch.randn(15, 2, generator=generator)).to(device)
    classifier = knn.KnnClassifier(x_train, y_train.to(device))
    for k in (1, 5):
        y_pred = classifier.predict(x_test, k=k)
        assert y_pred.tolist() == y_test.tolist() and y_pred.device.type == device.type
    accuracy = classifier.check_accuracy(x_test, y_test.to(device), k=3)
    assert type(accuracy) is float and accuracy == 100.0  # percent, as in the course
    assert "Got 15 / 15 correct; accuracy is 100.00%" in capsys.readouterr().out
    wrong = (y_test + 1) % 3
    assert classifier.check_accuracy(x_test, wrong.to(device), quiet=True) == 0.0
    assert capsys.readouterr().out == ""
    some = y_test.clone()
    some[:3] = (some[:3] + 1) % 3  # 12 of 15 right
    assert classifier.check_accuracy(x_test, some.to(device), quiet=True) == 80.0


# ------------------------------------------------------------------------------------------------
# knn: cross-validation


def _manual_cross_validation(x, y, num_folds, k_choices):
    x_folds, y_folds = torch.chunk(x, num_folds), torch.chunk(y, num_folds)
    result = {k: [] for k in k_choices}
    for i in range(num_folds):
        x_tr = torch.cat([f for j, f in enumerate(x_folds) if j != i])
        y_tr = torch.cat([f for j, f in enumerate(y_folds) if j != i])
        dists = _reference(x_tr, x_folds[i])
        for k in k_choices:
            y_pred = knn.predict_labels(dists, y_tr, k=k)
            result[k].append(100.0 * (y_pred == y_folds[i]).sum().item() / len(y_folds[i]))
    return result


def _two_clusters(n: int, dim: int, seed: int, dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.randn(n, dim, generator=generator, dtype=dtype)
    x[:, 0] += 1.5 * y
    return x, y


def test_knn_cross_validate_folds_and_types(device):
    x, y = _two_clusters(53, 4, 7)  # 53 = 11 + 11 + 11 + 11 + 9: torch.chunk's uneven folds
    k_choices = [7, 1, 3]
    result = knn.knn_cross_validate(x.to(device), y.to(device), num_folds=5, k_choices=k_choices)
    assert list(result) == k_choices
    expected = _manual_cross_validation(x, y, 5, k_choices)
    for k in k_choices:
        assert len(result[k]) == 5
        assert all(type(a) is float and 0.0 <= a <= 100.0 for a in result[k])
        assert result[k] == pytest.approx(expected[k], abs=1e-12), k


def test_knn_cross_validate_defaults():
    x, y = _two_clusters(150, 3, 8, torch.float32)
    result = knn.knn_cross_validate(x, y)
    assert list(result) == COURSE_K_CHOICES
    assert all(len(accuracies) == 5 for accuracies in result.values())
    expected = _manual_cross_validation(x, y, 5, list(result))
    assert all(result[k] == pytest.approx(expected[k], abs=1e-12) for k in expected)
    assert knn.knn_cross_validate(x, y, k_choices=None) == result  # the course's 2020 default
    assert knn.knn_cross_validate.__defaults__[1] == COURSE_K_CHOICES  # never mutated


def test_knn_cross_validate_accuracies_are_those_of_check_accuracy():
    x, y = _two_clusters(40, 3, 10)
    result = knn.knn_cross_validate(x, y, num_folds=4, k_choices=[1, 3])
    x_folds, y_folds = torch.chunk(x, 4), torch.chunk(y, 4)
    for i in range(4):
        classifier = knn.KnnClassifier(torch.cat(x_folds[:i] + x_folds[i + 1:]), torch.cat(y_folds[:i] + y_folds[i + 1:]))
        for k in (1, 3):
            assert result[k][i] == classifier.check_accuracy(x_folds[i], y_folds[i], k=k, quiet=True)


def test_knn_cross_validate_image_batches_three_folds():
    x, y = _two_clusters(36, 12, 9, torch.float32)
    result = knn.knn_cross_validate(x.reshape(36, 3, 2, 2), y, num_folds=3, k_choices=[1, 5])
    expected = _manual_cross_validation(x, y, 3, [1, 5])
    assert list(result) == [1, 5] and all(result[k] == pytest.approx(expected[k], abs=1e-12) for k in expected)


@pytest.mark.parametrize("k_to_accuracies, best", [
    ({1: [1.0, 0.0, 0.25], 3: [0.5, 0.5, 0.5], 5: [0.25, 0.5, 0.375]}, 3),  # best mean, not best fold
    ({1: [0.25, 0.5], 2: [0.375, 0.5], 16: [0.75, 0.5]}, 16),
    ({10: [0.75, 0.25], 5: [0.5, 0.5], 1: [0.25, 0.5]}, 5),  # tie 5/10, inserted from the largest k
    ({1: [0.5, 0.5], 3: [0.25, 0.75], 8: [0.75, 0.25]}, 1),  # three-way tie
    ({7: [0.5], 2: [0.5], 4: [0.5]}, 2),
    ({3: [torch.tensor(0.5), torch.tensor(0.75)], 1: [torch.tensor(0.5), torch.tensor(0.5)]}, 3),
])
def test_knn_get_best_k(k_to_accuracies, best):
    result = knn.knn_get_best_k(k_to_accuracies)
    assert type(result) is int and result == best
