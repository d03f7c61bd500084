"""PyTorch 101 written the way the course's starter code is filled in (a course-style solution).

The course's names and signatures; its habits where they differ from ours: an int64 sample
tensor, 0-dim tensors where a number is returned, a float64 tensor of pi, a comprehension where
loops are allowed, ``.cuda()`` in ``mm_on_gpu`` with no check of its own, ``pad_sequence`` in the
first challenge. Graded by tests/test_course_style.py: it must score full marks.
"""
import torch

# Type hints.
from typing import List, Tuple
from torch import Tensor


def hello():
    """
    This is a sample function that we will try to import and run to ensure that
    our environment is correctly set up on Google Colab.
    """
    print("Hello from pytorch101.py!")


def create_sample_tensor() -> Tensor:
    # torch.tensor of a list of ints: an int64 tensor, which the course accepts
    return torch.tensor([[0, 10], [100, 0], [0, 0]])


def mutate_tensor(x: Tensor, indices: List[Tuple[int, int]], values: List[float]) -> Tensor:
    for pair, value in zip(indices, values):
        x[pair] = value
    return x


def count_tensor_elements(x: Tensor) -> int:
    # the product of the sizes, as a 0-dim int64 tensor (an empty shape gives 1)
    return torch.tensor(x.shape, dtype=torch.int64).prod()


def create_tensor_of_pi(M: int, N: int) -> Tensor:
    return 3.14 * torch.ones(M, N, dtype=torch.float64)


def multiples_of_ten(start: int, stop: int) -> Tensor:
    assert start <= stop
    tens = [n for n in range(start, stop + 1) if n % 10 == 0]
    return torch.tensor(tens, dtype=torch.float64)


def slice_indexing_practice(x: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    assert x.shape[0] >= 3
    assert x.shape[1] >= 5
    out = (x[-1], x[:, 2:3], x[0:2, 0:3], x[0::2, 1::2])
    return out


def slice_assignment_practice(x: Tensor) -> Tensor:
    x[0:2, 0:1] = 0
    x[0:2, 1:2] = 1
    x[0:2, 2:6] = 2
    x[2:4, 0:3:2] = 3
    x[2:4, 1:5:2] = 4
    x[2:4, 4:6:1] = 5
    return x


def shuffle_cols(x: Tensor) -> Tensor:
    order = torch.tensor([0, 0, 2, 1])
    return x[:, order]


def reverse_rows(x: Tensor) -> Tensor:
    rows = x.shape[0] - 1 - torch.arange(x.shape[0])
    return x[rows]


def take_one_elem_per_col(x: Tensor) -> Tensor:
    rows = torch.tensor([1, 0, 3])
    cols = torch.tensor([0, 1, 2])
    return x[rows, cols]


def count_negative_entries(x: Tensor) -> int:
    # a 0-dim tensor: the number of True values of the mask
    return (x < 0).sum()


def make_one_hot(x: List[int]) -> Tensor:
    # the course's docstring: C = 1 + max(x); one integer-array assignment, no loop
    y = torch.zeros(len(x), 1 + max(x), dtype=torch.float32)
    y[torch.arange(len(x)), torch.tensor(x)] = 1
    return y


def sum_positive_entries(x: Tensor) -> Tensor:
    # the 2022 signature says Tensor: a 0-dim tensor holding the sum
    return torch.sum(x[x > 0])


def reshape_practice(x: Tensor) -> Tensor:
    return x.view(2, 3, 4).permute(1, 0, 2).contiguous().view(3, 8)


def zero_row_min(x: Tensor) -> Tensor:
    y = torch.clone(x)
    y[torch.arange(x.shape[0]), torch.argmin(x, dim=1)] = 0
    return y


def batched_matrix_multiply(x: Tensor, y: Tensor, use_loop: bool = True) -> Tensor:
    if use_loop:
        return batched_matrix_multiply_loop(x, y)
    else:
        return batched_matrix_multiply_noloop(x, y)


def batched_matrix_multiply_loop(x: Tensor, y: Tensor) -> Tensor:
    return torch.stack([torch.mm(x[b], y[b]) for b in range(x.shape[0])])


def batched_matrix_multiply_noloop(x: Tensor, y: Tensor) -> Tensor:
    return x @ y


def normalize_columns(x: Tensor) -> Tensor:
    n = x.shape[0]
    mean = torch.sum(x, dim=0, keepdim=True) / n
    var = torch.sum((x - mean) ** 2, dim=0, keepdim=True) / (n - 1)  # a local named like torch.var
    return (x - mean) / torch.sqrt(var)


def mm_on_cpu(x: Tensor, w: Tensor) -> Tensor:
    return x.mm(w)


def mm_on_gpu(x: Tensor, w: Tensor) -> Tensor:
    # the course's way: .cuda(), and no check of our own when there is no GPU
    x_gpu = x.cuda()
    w_gpu = w.cuda()
    return x_gpu.mm(w_gpu).cpu()


def challenge_mean_tensors(xs: List[Tensor], ls: Tensor) -> Tensor:
    padded = torch.nn.utils.rnn.pad_sequence(xs, batch_first=True)  # (N, max length), zeros after each
    return padded.sum(dim=1) / ls


def challenge_get_uniques(x: torch.Tensor) -> Tuple[Tensor, Tensor]:
    ordered, where = torch.sort(x, stable=True)
    first = torch.cat([ordered.new_ones(1, dtype=torch.bool), ordered[1:] != ordered[:-1]])
    return ordered[first], where[first]
