"""PyTorch 101: creating, indexing, reshaping and computing with tensors (A1, part 1).

You fill in the parts marked ``# YOUR CODE HERE`` in the functions below; ``pytorch101.ipynb``
walks through the ideas and calls these functions to check them.

Unless a docstring says otherwise:

* do not modify the input tensors (functions that must work in place say so);
* keep the dtype of the input;
* do not move data between devices (``.cuda()``, ``.cpu()``, ``.to(device)``): only
  ``mm_on_gpu`` does that, on purpose;
* "no Python loops" means no ``for``/``while`` loop and no comprehension over the data (a loop
  over a fixed list such as ``(0, 1)`` or over ``x.shape`` is not a loop over the data).
"""
from __future__ import annotations

from typing import List, Tuple

import torch
from torch import Tensor


def hello():
    """Import check: the notebook calls this to make sure it imports the right file."""
    print("Hello from pytorch101.py!")


# ------------------------------------------------------------------------------------------------
# Creating and mutating tensors


def create_sample_tensor() -> Tensor:
    """A (3, 2) tensor of zeros, except for element (0, 1) = 10 and element (1, 0) = 100.

    Returns:
        x: tensor of shape (3, 2) on the CPU (any dtype that holds these numbers: ``torch.zeros``
            gives float32, ``torch.tensor`` of a list of ints gives int64):
            [[  0,  10],
             [100,   0],
             [  0,   0]]
    """
    x = None
    ### BEGIN SOLUTION
    x = torch.zeros(3, 2)
    x[0, 1] = 10
    x[1, 0] = 100
    ### END SOLUTION
    return x


def mutate_tensor(x: Tensor, indices: List[Tuple[int, int]], values: List[float]) -> Tensor:
    """Set ``x[i, j] = v`` for each pair of ``(i, j)`` in ``indices`` and ``v`` in ``values``, IN PLACE.

    The assignments happen in list order, so when the same (i, j) appears more than once the
    last value wins. A Python loop over the lists is fine here.

    Args:
        x: tensor of shape (H, W), any dtype; it is modified in place.
        indices: list of N pairs [(i0, j0), (i1, j1), ...] of integer indices into x.
        values: list of N numbers [v0, v1, ...].

    Returns:
        x: the input tensor itself (not a copy), after the assignments.
    """
    ### BEGIN SOLUTION
    for (i, j), value in zip(indices, values):
        x[i, j] = value
    ### END SOLUTION
    return x


def count_tensor_elements(x: Tensor) -> int:
    """The number of scalar elements of ``x``: the product of the sizes in ``x.shape``.

    For example (10,) has 10 elements, (3, 4) has 12, (2, 3, 4) has 24, a 0-dimensional tensor
    has 1 and any shape containing a 0 has 0.

    You may NOT use ``torch.numel`` or ``x.numel()`` (nor its alias ``x.nelement()``): compute the
    product yourself from ``x.shape``. Do not modify x.

    Args:
        x: a tensor of any shape, dtype and device.

    Returns:
        num_elements: a Python int (a 0-dim integer tensor holding it is accepted too).
    """
    num_elements = None
    ### BEGIN SOLUTION
    num_elements = 1
    for size in x.shape:
        num_elements *= size
    ### END SOLUTION
    return num_elements


def create_tensor_of_pi(M: int, N: int) -> Tensor:
    """An (M, N) tensor on the CPU filled with the value 3.14 (one line is enough).

    Args:
        M, N: non-negative ints, the shape.

    Returns:
        x: floating tensor of shape (M, N), every element 3.14 (float32, the default of
            ``torch.full``; a float64 tensor of 3.14 is accepted too).
    """
    x = None
    ### BEGIN SOLUTION
    x = torch.full((M, N), 3.14, dtype=torch.float32)
    ### END SOLUTION
    return x


def multiples_of_ten(start: int, stop: int) -> Tensor:
    """All multiples of ten between ``start`` and ``stop`` (both inclusive), in increasing order.

    ``start`` and ``stop`` may be negative. When the range holds no multiple of ten, return an
    empty tensor of shape (0,). Hint: ``torch.arange`` with a step.

    Args:
        start, stop: ints with start <= stop.

    Returns:
        x: float64 tensor of shape (K,) on the CPU, e.g. multiples_of_ten(5, 25) -> [10., 20.].
    """
    assert start <= stop, f"need start <= stop, got start={start}, stop={stop}"
    x = None
    ### BEGIN SOLUTION
    first = -(-start // 10) * 10  # the smallest multiple of ten >= start
    if first > stop:
        x = torch.zeros(0, dtype=torch.float64)
    else:
        x = torch.arange(first, stop + 1, 10, dtype=torch.float64)
    ### END SOLUTION
    return x


# ------------------------------------------------------------------------------------------------
# Indexing: slices, integer arrays, boolean masks


def slice_indexing_practice(x: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Four sub-tensors of x, EACH made with a single slice-indexing expression (no copies needed).

    Do not modify x.

    Args:
        x: tensor of shape (M, N) with M >= 3 and N >= 5, any dtype.

    Returns:
        A tuple of four tensors with the dtype of x:
        - last_row: shape (N,), the last row of x (one-dimensional);
        - third_col: shape (M, 1), the third column of x (two-dimensional: keep the column axis);
        - first_two_rows_three_cols: shape (2, 3), the first two rows and first three columns;
        - even_rows_odd_cols: the elements in rows 0, 2, 4, ... and columns 1, 3, 5, ...
          (two-dimensional, shape (ceil(M / 2), floor(N / 2))).
    """
    assert x.dim() == 2 and x.shape[0] >= 3 and x.shape[1] >= 5, f"need (M >= 3, N >= 5), got {tuple(x.shape)}"
    last_row = None
    third_col = None
    first_two_rows_three_cols = None
    even_rows_odd_cols = None
    ### BEGIN SOLUTION
    last_row = x[-1, :]
    third_col = x[:, 2:3]
    first_two_rows_three_cols = x[:2, :3]
    even_rows_odd_cols = x[::2, 1::2]
    ### END SOLUTION
    out = (last_row, third_col, first_two_rows_three_cols, even_rows_odd_cols)
    return out


def slice_assignment_practice(x: Tensor) -> Tensor:
    """Overwrite the top-left 4x6 block of x, IN PLACE, with this pattern:

        [0 1 2 2 2 2]
        [0 1 2 2 2 2]
        [3 4 3 4 5 5]
        [3 4 3 4 5 5]

    Rules:
    - modify x in place and return it; elements outside the first 4 rows and 6 columns must
      keep their values (x may be larger than 4x6);
    - only use slice assignments of a single number, ``x[rows, cols] = value`` with slices
      (steps allowed), at most 6 of them.

    Args:
        x: tensor of shape (M, N) with M >= 4 and N >= 6, any dtype.

    Returns:
        x: the input tensor itself, after the assignments.
    """
    ### BEGIN SOLUTION
    x[:2, 0] = 0
    x[:2, 1] = 1
    x[:2, 2:6] = 2
    x[2:4, 0:4:2] = 3
    x[2:4, 1:4:2] = 4
    x[2:4, 4:6] = 5
    ### END SOLUTION
    return x


def shuffle_cols(x: Tensor) -> Tensor:
    """A new (M, 4) tensor whose columns are columns 0, 0, 2 and 1 of x, in that order.

    Use a single integer-array indexing operation. Do not modify x.

    Args:
        x: tensor of shape (M, N) with N >= 3, any dtype.

    Returns:
        y: tensor of shape (M, 4) with the dtype of x.
    """
    y = None
    ### BEGIN SOLUTION
    y = x[:, [0, 0, 2, 1]]
    ### END SOLUTION
    return y


def reverse_rows(x: Tensor) -> Tensor:
    """A new tensor holding the rows of x in reverse order (the last row first).

    Use a single integer-array indexing operation; ``torch.flip`` (and its other forms ``x.flip``,
    ``torch.flipud``, ``torch.fliplr``) is NOT allowed, and negative-step slices do not exist in
    PyTorch. Do not modify x.

    Args:
        x: tensor of shape (M, N), any dtype.

    Returns:
        y: tensor of shape (M, N) with the dtype of x; y[i] == x[M - 1 - i].
    """
    y = None
    ### BEGIN SOLUTION
    y = x[torch.arange(x.shape[0] - 1, -1, -1, device=x.device)]
    ### END SOLUTION
    return y


def take_one_elem_per_col(x: Tensor) -> Tensor:
    """A (3,) tensor [x[1, 0], x[0, 1], x[3, 2]]: one element from each of the first three columns.

    That is: the second element of column 0, the first element of column 1 and the fourth
    element of column 2. Read x with a single integer-array indexing operation. Do not modify x.

    Args:
        x: tensor of shape (M, N) with M >= 4 and N >= 3, any dtype.

    Returns:
        y: tensor of shape (3,) with the dtype of x.
    """
    y = None
    ### BEGIN SOLUTION
    y = x[[1, 0, 3], [0, 1, 2]]
    ### END SOLUTION
    return y


def count_negative_entries(x: Tensor) -> int:
    """The number of negative elements of x (from the course's 2020 version of this assignment).

    For example x = [[-1, -1, 0], [0, 1, 2], [3, 4, 5]] has 2 negative elements.

    No Python loops: a comparison gives a boolean mask, and a single indexing operation with it
    picks the negative elements (or count the True values of the mask). Do not modify x.

    Args:
        x: tensor of any shape, integer or floating dtype.

    Returns:
        num_neg: Python int (a 0-dim integer tensor holding it is accepted too).
    """
    num_neg = 0
    ### BEGIN SOLUTION
    num_neg = int(x[x < 0].shape[0])
    ### END SOLUTION
    return num_neg


def make_one_hot(x: List[int]) -> Tensor:
    """One-hot vectors, one row per element of the list ``x``.

    No Python loops: create a tensor of zeros and set the ones with one integer-array
    assignment.

    Args:
        x: a non-empty list of N non-negative Python ints.

    Returns:
        y: float32 tensor of shape (N, C) on the CPU with C = max(x) + 1; y[n, x[n]] = 1 and all
            other elements are 0.
    """
    y = None
    ### BEGIN SOLUTION
    labels = torch.tensor(x, dtype=torch.int64)
    y = torch.zeros(len(x), int(labels.max()) + 1, dtype=torch.float32)
    y[torch.arange(len(x)), labels] = 1
    ### END SOLUTION
    return y


# ------------------------------------------------------------------------------------------------
# Reshaping, reductions and elementwise operations


def sum_positive_entries(x: Tensor) -> int:
    """The sum of the positive elements of x, as a Python int.

    For example x = [[-1, 2, 0], [0, 5, -3], [8, -9, 0]] gives 2 + 5 + 8 = 15.

    No Python loops: one comparison to build a boolean mask, one indexing operation with it, then
    a sum. Return a Python int (``.item()``); a 0-dim tensor holding the sum is accepted too.
    Do not modify x.

    Args:
        x: int64 tensor of any shape.

    Returns:
        pos_sum: Python int (0 when no element is positive), or a 0-dim tensor holding it.
    """
    pos_sum = None
    ### BEGIN SOLUTION
    pos_sum = int(x[x > 0].sum().item())
    ### END SOLUTION
    return pos_sum


def reshape_practice(x: Tensor) -> Tensor:
    """Rearrange a (24,) tensor into this (3, 8) layout:

        y = [[x[0], x[1], x[2],  x[3],  x[12], x[13], x[14], x[15]],
             [x[4], x[5], x[6],  x[7],  x[16], x[17], x[18], x[19]],
             [x[8], x[9], x[10], x[11], x[20], x[21], x[22], x[23]]]

    Only use reshaping operations (view, reshape, transpose, permute, t, contiguous, flatten...):
    no indexing, no loops. x may be non-contiguous (``view`` fails on some such tensors; see the
    notebook). Do not modify x.

    Args:
        x: tensor of shape (24,), any dtype.

    Returns:
        y: tensor of shape (3, 8) with the dtype of x.
    """
    y = None
    ### BEGIN SOLUTION
    # x.reshape(2, 3, 4)[a, r, c] is x[12a + 4r + c]; y[r, 4a + c] wants exactly that element.
    y = x.reshape(2, 3, 4).transpose(0, 1).reshape(3, 8)
    ### END SOLUTION
    return y


def zero_row_min(x: Tensor) -> Tensor:
    """A copy of x in which the minimum of each row is replaced by 0.

    For example [[10, 20, 30], [2, 5, 1]] gives [[0, 20, 30], [2, 5, 0]]. If a row's minimum
    occurs more than once, zero any one of them (the tests use rows with a unique minimum).

    Use a reduction (``argmin``/``min``) and integer-array indexing; no Python loops. Return a new
    tensor: x itself must not change (``clone`` it first).

    Args:
        x: tensor of shape (M, N), any dtype.

    Returns:
        y: tensor of shape (M, N) with the dtype of x.
    """
    y = None
    ### BEGIN SOLUTION
    y = x.clone()
    rows = torch.arange(x.shape[0], device=x.device)
    y[rows, x.argmin(dim=1)] = 0
    ### END SOLUTION
    return y


def batched_matrix_multiply(x: Tensor, y: Tensor, use_loop: bool = True) -> Tensor:
    """Batched matrix product z[i] = x[i] @ y[i] (given: calls one of the two versions below).

    Args:
        x: tensor of shape (B, N, M).
        y: tensor of shape (B, M, P), same dtype and device as x.
        use_loop: True for ``batched_matrix_multiply_loop``, False for ``..._noloop``.

    Returns:
        z: tensor of shape (B, N, P) with the dtype of x.
    """
    if use_loop:
        return batched_matrix_multiply_loop(x, y)
    return batched_matrix_multiply_noloop(x, y)


def batched_matrix_multiply_loop(x: Tensor, y: Tensor) -> Tensor:
    """Batched matrix product with ONE explicit Python loop over the batch dimension B.

    Each iteration multiplies two matrices, x[i] (N, M) and y[i] (M, P), with ``@``/``torch.mm``.

    Args:
        x: tensor of shape (B, N, M).
        y: tensor of shape (B, M, P), same dtype and device as x.

    Returns:
        z: tensor of shape (B, N, P), dtype and device of x; z[i] = x[i] @ y[i].
    """
    z = None
    ### BEGIN SOLUTION
    B, N, _ = x.shape
    z = x.new_empty(B, N, y.shape[2])
    for i in range(B):
        z[i] = x[i] @ y[i]
    ### END SOLUTION
    return z


def batched_matrix_multiply_noloop(x: Tensor, y: Tensor) -> Tensor:
    """Batched matrix product with NO Python loop (hint: ``torch.bmm``).

    Args:
        x: tensor of shape (B, N, M).
        y: tensor of shape (B, M, P), same dtype and device as x.

    Returns:
        z: tensor of shape (B, N, P), dtype and device of x; z[i] = x[i] @ y[i].
    """
    z = None
    ### BEGIN SOLUTION
    z = torch.bmm(x, y)
    ### END SOLUTION
    return z


def normalize_columns(x: Tensor) -> Tensor:
    """Standardize each column: y[i, j] = (x[i, j] - mu_j) / sigma_j.

    mu_j is the mean of column j and sigma_j its standard deviation with the (M - 1) divisor:
    sigma_j = sqrt(sum_i (x[i, j] - mu_j) ** 2 / (M - 1)).

    No Python loops, and NOT ``torch.mean``, ``torch.std``, ``torch.var`` (nor ``x.mean()``,
    ``x.std()``, ``x.var()``): only ``sum``, elementwise arithmetic (+, -, *, /, **, sqrt) and
    broadcasting. Return a new tensor; do not modify x.

    Args:
        x: floating tensor of shape (M, N) with M >= 2.

    Returns:
        y: tensor of shape (M, N), dtype and device of x.
    """
    y = None
    ### BEGIN SOLUTION
    M = x.shape[0]
    mu = x.sum(dim=0) / M  # (N,), broadcast over the rows
    centered = x - mu
    sigma = ((centered**2).sum(dim=0) / (M - 1)).sqrt()
    y = centered / sigma
    ### END SOLUTION
    return y


# ------------------------------------------------------------------------------------------------
# Running on a GPU


def mm_on_cpu(x: Tensor, w: Tensor) -> Tensor:
    """Matrix product on the CPU (given: the baseline the notebook times ``mm_on_gpu`` against).

    Args:
        x: (A, B) tensor on the CPU.
        w: (B, C) tensor on the CPU, same dtype.

    Returns:
        y: (A, C) tensor on the CPU.
    """
    return x.mm(w)


def mm_on_gpu(x: Tensor, w: Tensor) -> Tensor:
    """Matrix product computed on the GPU, returned on the CPU.

    Step 1 (yours): make ``gpu``, the ``torch.device`` of the CUDA device to compute on.
    Step 2 (given): stop with a clear RuntimeError on a machine without CUDA.
    Step 3 (yours): copy x and w to ``gpu`` (``.cuda()``, as the course says, or ``.to(gpu)``),
    multiply them there, and copy the product back to the CPU (``.cpu()``). This is the one
    function in the assignment that is supposed to move data between devices.

    Args:
        x: (A, B) tensor on the CPU.
        w: (B, C) tensor on the CPU, same dtype.

    Returns:
        y: (A, C) tensor with the dtype of x, on the CPU.

    Raises:
        RuntimeError: when no CUDA device is available.
    """
    y = None
    ### BEGIN SOLUTION
    gpu = torch.device("cuda")
    ### END SOLUTION
    if not torch.cuda.is_available():
        raise RuntimeError(
            "mm_on_gpu needs a CUDA device, and torch.cuda.is_available() is False on this machine. "
            "On Colab choose Runtime > Change runtime type > GPU; elsewhere, skip this part."
        )
    ### BEGIN SOLUTION
    y = x.to(gpu).mm(w.to(gpu)).cpu()
    ### END SOLUTION
    return y


# ------------------------------------------------------------------------------------------------
# Challenge problems (optional, no Python loops)


def challenge_mean_tensors(xs: List[Tensor], ls: Tensor) -> Tensor:
    """The mean of each of N one-dimensional tensors, with NO Python loops or comprehensions.

    Hint: ``torch.cat`` joins all of them into one long vector (the one operation that may take
    the list); every element then needs to know which tensor it came from
    (``torch.repeat_interleave``), and per-tensor sums are one ``index_add_``/``scatter_add_``.

    Args:
        xs: list of N >= 1 one-dimensional floating tensors; xs[i] has length ls[i] >= 1. All on
            the same device, with the same dtype.
        ls: int64 tensor of shape (N,) on the device of xs: the lengths.

    Returns:
        y: tensor of shape (N,), dtype and device of xs[0]; y[i] is the mean of xs[i].
    """
    y = None
    ### BEGIN SOLUTION
    values = torch.cat(xs)  # (sum of ls,)
    owner = torch.repeat_interleave(torch.arange(ls.shape[0], device=ls.device), ls)  # xs index of each value
    sums = values.new_zeros(ls.shape[0]).index_add_(0, owner, values)
    y = sums / ls.to(values.dtype)
    ### END SOLUTION
    return y


def challenge_get_uniques(x: Tensor) -> Tuple[Tensor, Tensor]:
    """The distinct values of x and where each first occurs, with NO Python loops.

    Memory must stay O(N): no tensor larger than a few copies of x (no N x N comparison).
    As in the course, ``torch.unique`` is allowed but earns only half the credit: the values
    are graded, and so is the rule "no loops and no torch.unique". Hint: a STABLE sort keeps
    equal values in their original order, so the first of each run of equal sorted values is
    the first occurrence.

    Args:
        x: int64 tensor of shape (N,) holding K distinct values.

    Returns:
        uniques: int64 tensor of shape (K,), the distinct values in increasing order.
        indices: int64 tensor of shape (K,); indices[i] is the smallest index with
            x[indices[i]] == uniques[i].
    """
    uniques, indices = None, None
    ### BEGIN SOLUTION
    sorted_x, order = torch.sort(x, stable=True)
    starts = torch.ones_like(sorted_x, dtype=torch.bool)
    starts[1:] = sorted_x[1:] != sorted_x[:-1]
    uniques = sorted_x[starts]
    indices = order[starts]
    ### END SOLUTION
    return uniques, indices
