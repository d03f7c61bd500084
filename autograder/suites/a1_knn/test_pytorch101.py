"""Hidden tests of ``pytorch101.py``: creating, indexing, reshaping and reducing tensors.

Runs in the trusted grader: inputs are made here from fixed seeds, the student's functions run in
the sandbox through ``student.call``, outputs are compared with the references recorded from the
source solutions. Failure messages name functions, shapes, dtypes and parameters, never values.
"""
from __future__ import annotations

import ast

import pytest
import torch

from autograder.source_rules import Banned, SourceView, check_banned, check_loops, fail_if_unverifiable
from autograder.suite import GradingFailure, check_tensor, check_value

FILE = "pytorch101.py"

# ----------------------------------------------------------------------------------------------
# helpers (grader side)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(seed: int, *shape: int, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(*shape, generator=gen(seed), dtype=dtype)


def randint(seed: int, low: int, high: int, *shape: int) -> torch.Tensor:
    return torch.randint(low, high, shape, generator=gen(seed), dtype=torch.int64)


def call(student, target: str, *args, context: str, **kwargs):
    """``student.call`` whose failure message also says which case was being run."""
    try:
        return student.call(target, *args, **kwargs)
    except GradingFailure as failure:
        raise GradingFailure(f"{failure} (when called {context})") from None


def require_working(student, name: str, args: tuple, expected, context: str, tol: float = 1e-6) -> None:
    """A rule test earns its points only for an implementation that gives the right answer."""
    try:
        result = student.call(f"pytorch101.{name}", *args)
        check_value(result, expected, what=f"{name} {context}", tol=tol)
    except GradingFailure as failure:
        raise GradingFailure(f"this rule is checked only once {name} gives correct results, and it does not "
                             f"yet: {failure}") from None


def require_no_loops(student, name: str, instead: str) -> None:
    """No loop over the data in ``name`` or the code it reaches (source_rules: loops over literals or
    shapes are not loops; loops in disguise are)."""
    check_loops(student, FILE, name, most=0, instead=instead)


def require_no_names(student, name: str, banned: set[str], rule: str) -> None:
    """None of ``banned`` (wherever they come from) in ``name`` or the code it reaches; ``rule`` is
    the predicate the student reads after the function's name ("must ... without ...")."""
    check_banned(student, FILE, name, Banned(banned), rule)


def reached_nodes(student, name: str):
    """Every AST node of ``name`` and of the helpers it reaches, once the source is verifiable."""
    view = SourceView.of(student, FILE)
    fail_if_unverifiable(view, name)
    for _, function in view.reach(name):
        yield from ast.walk(function)


def tensor_dtype(value):
    """The dtype of ``value`` when it is a tensor (for checks where the course leaves it free)."""
    return value.dtype if isinstance(value, torch.Tensor) else None


# ----------------------------------------------------------------------------------------------
# pytorch101_basics: creating, mutating and counting tensors


@pytest.mark.group("pytorch101_basics")
def test_create_sample_tensor(student, expect):
    """create_sample_tensor returns the (3, 2) tensor the docstring describes (any dtype that holds it)"""
    x = call(student, "pytorch101.create_sample_tensor", context="with no arguments")
    if isinstance(x, torch.Tensor) and x.dtype == torch.bool:
        raise GradingFailure("create_sample_tensor() returned a bool tensor; it must hold the numbers 10 and 100")
    # The course states no dtype (its notebook compares x.tolist()): float32 and int64 both count.
    expect.tensor("x", x, what="create_sample_tensor()", exact=True, dtype=tensor_dtype(x), device="cpu")


MUTATE_CASES = [  # (description, x, indices, values)
    ("a float32 (3, 4) tensor", lambda: randn(10, 3, 4), [(0, 0), (1, 2), (2, 3)], [4.0, 5.0, 6.0]),
    ("an int64 (4, 2) tensor with a repeated index", lambda: randint(11, -9, 9, 4, 2),
     [(3, 1), (0, 0), (3, 1), (2, 0)], [7, 1, 8, 2]),
    ("a float64 (2, 5) tensor", lambda: randn(12, 2, 5, dtype=torch.float64), [(1, 4), (0, 1)], [2.5, -1.0]),
    ("empty index and value lists", lambda: randn(13, 2, 2), [], []),
]


@pytest.mark.group("pytorch101_basics")
def test_mutate_tensor(student, expect):
    """mutate_tensor sets x[i, j] = v in place and returns x"""
    for index, (description, make, indices, values) in enumerate(MUTATE_CASES):
        x = make()
        what = f"mutate_tensor(x, indices, values) with {description}"
        before = x.clone()
        result, (x_after, _, _) = call(student, "pytorch101.mutate_tensor", x, indices, values,
                                       return_args=True, context=f"with {description}")
        if indices and isinstance(x_after, torch.Tensor) and torch.equal(x_after, before):
            raise GradingFailure(f"{what} left x unchanged: modify x itself in place (x[i, j] = v) and "
                                 "return it, not a copy")
        expect.tensor(f"x{index}", x_after, what=f"x after {what} (it must be modified in place)",
                      exact=True, device="cpu")
        expect.tensor(f"result{index}", result, what=f"the value returned by {what} (return x itself)",
                      exact=True, device="cpu")



COUNT_CASES = [  # (description, tensor)
    ("a (3, 4) tensor", lambda: randn(20, 3, 4)),
    ("a (2, 3, 5, 1) tensor", lambda: randint(21, 0, 5, 2, 3, 5, 1)),
    ("a 0-dimensional tensor", lambda: torch.tensor(2.5)),
    ("an empty (4, 0, 2) tensor", lambda: torch.zeros(4, 0, 2)),
    ("a non-contiguous (6, 5) view", lambda: randn(22, 5, 12)[:, ::2].t()),
]


@pytest.mark.group("pytorch101_basics")
def test_count_tensor_elements(student, expect):
    """count_tensor_elements returns the number of elements as a Python int (any number of dimensions)"""
    for index, (description, make) in enumerate(COUNT_CASES):
        x = make()
        count = call(student, "pytorch101.count_tensor_elements", x, context=f"with {description}")
        expect.value(f"case{index}", count, what=f"count_tensor_elements(x) with {description}")


@pytest.mark.group("pytorch101_basics")
def test_count_tensor_elements_without_numel(student):
    """count_tensor_elements does not use torch.numel or x.numel()"""
    name = "count_tensor_elements"
    require_working(student, name, (randn(23, 2, 7, 3),), 42, "with a (2, 7, 3) tensor")
    # The course bans torch.numel and x.numel; x.nelement() is the same built-in under another name.
    require_no_names(student, name, {"numel", "nelement"},
                     "must multiply the sizes in x.shape itself, without torch.numel or x.numel() (nor its "
                     "alias x.nelement())")


@pytest.mark.group("pytorch101_basics")
def test_create_tensor_of_pi(student, expect):
    """create_tensor_of_pi(M, N) returns an (M, N) tensor of 3.14 (float32 or float64)"""
    for index, (M, N) in enumerate([(4, 5), (1, 1), (7, 2), (0, 3)]):
        what = f"create_tensor_of_pi({M}, {N})"
        x = call(student, "pytorch101.create_tensor_of_pi", M, N, context=f"with M={M}, N={N}")
        reference = expect.reference(f"case{index}", x)
        if isinstance(x, torch.Tensor) and not x.is_floating_point():
            raise GradingFailure(f"{what} returned a {x.dtype} tensor, which cannot hold 3.14; return a "
                                 "floating tensor (torch.full gives float32)")
        # The course checks (x == 3.14).all(): 3.14 in the tensor's own floating dtype.
        dtype = x.dtype if isinstance(x, torch.Tensor) else reference.dtype
        check_tensor(x, torch.full(tuple(reference.shape), 3.14, dtype=dtype), what=what, exact=True,
                     dtype=dtype, device="cpu")


@pytest.mark.group("pytorch101_basics")
def test_multiples_of_ten(student, expect):
    """multiples_of_ten(start, stop) returns the float64 multiples of ten in [start, stop], in order"""
    for index, (start, stop) in enumerate([(5, 25), (10, 10), (0, 100), (-25, 5), (31, 79)]):
        x = call(student, "pytorch101.multiples_of_ten", start, stop, context=f"with start={start}, stop={stop}")
        expect.tensor(f"case{index}", x, what=f"multiples_of_ten({start}, {stop})", exact=True, device="cpu")


@pytest.mark.group("pytorch101_basics")
def test_multiples_of_ten_empty(student, expect):
    """multiples_of_ten returns an empty float64 tensor of shape (0,) when the range holds no multiple of ten"""
    for index, (start, stop) in enumerate([(11, 19), (1, 9), (21, 29)]):
        x = call(student, "pytorch101.multiples_of_ten", start, stop, context=f"with start={start}, stop={stop}")
        expect.tensor(f"case{index}", x, what=f"multiples_of_ten({start}, {stop})", exact=True, device="cpu")


# ----------------------------------------------------------------------------------------------
# pytorch101_indexing: slicing, integer and boolean indexing


def indexing_inputs(seed: int, shape: tuple[int, int]):
    """An int64, a float32 and a non-contiguous float64 matrix of at least ``shape``."""
    M, N = shape
    return [
        (f"an int64 ({M}, {N}) tensor", randint(seed, -50, 50, M, N)),
        (f"a float32 ({M + 2}, {N + 3}) tensor", randn(seed + 1, M + 2, N + 3)),
        (f"a non-contiguous float64 ({M + 1}, {N + 1}) view", randn(seed + 2, N + 1, M + 1, dtype=torch.float64).t()),
    ]


@pytest.mark.group("pytorch101_indexing")
def test_slice_indexing_practice(student, expect):
    """slice_indexing_practice returns the last row, third column, top-left 2x3 block and even-row odd-column block"""
    for index, (description, x) in enumerate(indexing_inputs(30, (3, 5))):
        result = call(student, "pytorch101.slice_indexing_practice", x, context=f"with {description}")
        expect.value(f"case{index}", result, what=f"slice_indexing_practice(x) with {description}")


@pytest.mark.group("pytorch101_indexing")
def test_slice_assignment_practice(student, expect):
    """slice_assignment_practice writes the pattern into the top-left 4x6 block of x in place and returns x"""
    cases = [
        ("an int64 (4, 6) tensor of zeros", torch.zeros(4, 6, dtype=torch.int64)),
        ("an int64 (6, 9) tensor", randint(40, -9, 9, 6, 9)),
        ("a float32 (5, 7) tensor", randn(41, 5, 7)),
    ]
    for index, (description, x) in enumerate(cases):
        what = f"slice_assignment_practice(x) with {description}"
        before = x.clone()
        result, (x_after,) = call(student, "pytorch101.slice_assignment_practice", x, return_args=True,
                                  context=f"with {description}")
        if isinstance(x_after, torch.Tensor) and torch.equal(x_after, before):
            raise GradingFailure(f"{what} left x unchanged: assign to slices of x itself, in place, and "
                                 "return it, not a copy")
        expect.tensor(f"x{index}", x_after, what=f"x after {what} (it must be modified in place)",
                      exact=True, device="cpu")
        expect.tensor(f"result{index}", result, what=f"the value returned by {what} (return x itself)",
                      exact=True, device="cpu")


@pytest.mark.group("pytorch101_indexing")
def test_shuffle_cols(student, expect):
    """shuffle_cols returns the columns 0, 0, 2, 1 of x"""
    for index, (description, x) in enumerate(indexing_inputs(50, (2, 3))):
        y = call(student, "pytorch101.shuffle_cols", x, context=f"with {description}")
        expect.tensor(f"case{index}", y, what=f"shuffle_cols(x) with {description}", exact=True, device="cpu")


@pytest.mark.group("pytorch101_indexing")
def test_reverse_rows(student, expect):
    """reverse_rows returns x with its rows in reverse order"""
    cases = indexing_inputs(60, (4, 3)) + [("a float32 (1, 5) tensor", randn(63, 1, 5))]
    for index, (description, x) in enumerate(cases):
        y = call(student, "pytorch101.reverse_rows", x, context=f"with {description}")
        expect.tensor(f"case{index}", y, what=f"reverse_rows(x) with {description}", exact=True, device="cpu")


@pytest.mark.group("pytorch101_indexing")
def test_take_one_elem_per_col(student, expect):
    """take_one_elem_per_col returns x[1, 0], x[0, 1] and x[3, 2] as a tensor of shape (3,)"""
    for index, (description, x) in enumerate(indexing_inputs(70, (4, 3))):
        y = call(student, "pytorch101.take_one_elem_per_col", x, context=f"with {description}")
        expect.tensor(f"case{index}", y, what=f"take_one_elem_per_col(x) with {description}", exact=True,
                      device="cpu")


@pytest.mark.group("pytorch101_indexing")
def test_make_one_hot(student, expect):
    """make_one_hot turns a list of class indices into a float32 one-hot matrix with max(x) + 1 columns"""
    cases = [("a list of four distinct indices", [1, 4, 3, 2]), ("a list of one index", [0]),
             ("a list with repeated indices", [2, 2, 0, 5, 2]),
             ("a list of twelve indices", randint(80, 0, 7, 12).tolist())]
    for index, (description, x) in enumerate(cases):
        y = call(student, "pytorch101.make_one_hot", x, context=f"with {description}")
        expect.tensor(f"case{index}", y, what=f"make_one_hot(x) with {description}", exact=True, device="cpu")


NEGATIVE_CASES = [  # (description, x)
    ("the course's int64 (3, 3) example", lambda: torch.tensor([[-1, -1, 0], [0, 1, 2], [3, 4, 5]])),
    ("a float32 (10, 10) tensor", lambda: randn(85, 10, 10)),
    ("an int64 (4,) tensor without negatives", lambda: randint(86, 0, 9, 4)),
    ("a non-contiguous float64 (6, 4) view", lambda: randn(87, 4, 12, dtype=torch.float64)[:, ::2].t()),
]


@pytest.mark.group("pytorch101_indexing")
def test_count_negative_entries(student, expect):
    """count_negative_entries returns the number of negative entries (a Python int or a 0-dim tensor)"""
    for index, (description, make) in enumerate(NEGATIVE_CASES):
        x = make()
        count = call(student, "pytorch101.count_negative_entries", x, context=f"with {description}")
        expect.value(f"case{index}", count, what=f"count_negative_entries(x) with {description}")


@pytest.mark.group("pytorch101_indexing")
def test_count_negative_entries_no_loops(student):
    """count_negative_entries uses no Python loop"""
    name = "count_negative_entries"
    x = randint(88, -9, 9, 5, 6)
    require_working(student, name, (x,), int((x < 0).sum()), "with an int64 (5, 6) tensor")
    require_no_loops(student, name, "build a boolean mask with one comparison and index x with it")


def pattern_block(x: torch.Tensor) -> torch.Tensor:
    """Grader-side slice_assignment_practice (for the rule test's working check)."""
    y = x.clone()
    y[:4, :6] = torch.tensor([[0, 1, 2, 2, 2, 2], [0, 1, 2, 2, 2, 2], [3, 4, 3, 4, 5, 5], [3, 4, 3, 4, 5, 5]],
                             dtype=x.dtype)
    return y


def _is_number(node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    return isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool)


def slice_assignments(node: ast.AST) -> list[tuple[int, ast.AST | None]]:
    """(line, value) of each assignment to a subscript in an assignment statement; ``x[a], x[b] = 0, 1``
    counts twice (value None when it cannot be paired)."""
    if isinstance(node, ast.AugAssign):
        return [(node.lineno, node.value)] if isinstance(node.target, ast.Subscript) else []
    if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
        return []
    found = []
    for target in (node.targets if isinstance(node, ast.Assign) else [node.target]):
        if isinstance(target, ast.Subscript):
            found.append((node.lineno, node.value))
        elif isinstance(target, (ast.Tuple, ast.List)):
            values = node.value.elts if isinstance(node.value, (ast.Tuple, ast.List)) else []
            for index, element in enumerate(target.elts):
                if isinstance(element, ast.Subscript):
                    value = values[index] if len(values) == len(target.elts) else None
                    found.append((node.lineno, value))
    return found


LOOP_NODES = (ast.For, ast.AsyncFor, ast.While, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


@pytest.mark.group("pytorch101_indexing")
def test_slice_assignment_practice_rules(student):
    """slice_assignment_practice uses at most six slice assignments of a single number"""
    name = "slice_assignment_practice"
    x = randint(42, -9, 9, 5, 8)
    require_working(student, name, (x,), pattern_block(x), "with an int64 (5, 8) tensor")
    nodes = list(reached_nodes(student, name))
    loops = sorted(node.lineno for node in nodes if isinstance(node, LOOP_NODES))
    if loops:
        raise GradingFailure(f"{name} may not use loops (line {loops[0]}): the course counts the slice "
                             "assignments, so write them out, at most six, x[rows, cols] = number")
    assignments = [found for node in nodes for found in slice_assignments(node)]
    not_numbers = [line for line, value in assignments if value is None or not _is_number(value)]
    if not_numbers:
        raise GradingFailure(f"{name} may only assign a single number to each slice (x[rows, cols] = 3), "
                             f"not a tensor or list (line {not_numbers[0]})")
    if len(assignments) > 6:
        raise GradingFailure(f"{name} uses {len(assignments)} slice assignments; the pattern needs at most six "
                             "(slices can have steps, e.g. 0:4:2)")


@pytest.mark.group("pytorch101_indexing")
def test_reverse_rows_without_flip(student):
    """reverse_rows does not use torch.flip"""
    name = "reverse_rows"
    x = randn(64, 5, 3)
    require_working(student, name, (x,), x.flip(0), "with a float32 (5, 3) tensor")
    # The course bans torch.flip and asks for one integer-array indexing operation: flipud and
    # fliplr are torch.flip under other names.
    require_no_names(student, name, {"flip", "flipud", "fliplr"},
                     "must reverse the rows with integer-array indexing, without torch.flip (nor x.flip, "
                     "torch.flipud or torch.fliplr)")


@pytest.mark.group("pytorch101_indexing")
def test_make_one_hot_no_loops(student):
    """make_one_hot uses no Python loop"""
    name = "make_one_hot"
    x = [3, 0, 2, 3, 1]
    require_working(student, name, (x,), torch.eye(4)[x], "with a list of five indices")
    # Builtins over the list (the docstring's own C = max(x) + 1, len(x)) are not loops for the rule;
    # for statements and comprehensions are.
    check_loops(student, FILE, name, instead="create the zeros, then set all the ones with one integer-array "
                                             "assignment")


# ----------------------------------------------------------------------------------------------
# pytorch101_ops: reshaping, reductions, batched matmul, challenges


@pytest.mark.group("pytorch101_ops")
def test_sum_positive_entries(student, expect):
    """sum_positive_entries returns the sum of the positive entries (a Python int or a 0-dim tensor)"""
    cases = [
        ("an int64 (5, 4) tensor", randint(100, -20, 20, 5, 4)),
        ("an int64 (3, 2, 6) tensor", randint(101, -5, 9, 3, 2, 6)),
        ("an all-negative int64 (4,) tensor", -randint(102, 1, 9, 4)),
        ("a non-contiguous int64 (7, 3) view", randint(103, -30, 30, 3, 14)[:, ::2].t()),
    ]
    for index, (description, x) in enumerate(cases):
        total = call(student, "pytorch101.sum_positive_entries", x, context=f"with {description}")
        expect.value(f"case{index}", total, what=f"sum_positive_entries(x) with {description}")


@pytest.mark.group("pytorch101_ops")
def test_sum_positive_entries_no_loops(student):
    """sum_positive_entries uses no Python loop"""
    x = randint(104, -20, 20, 6, 5)
    name = "sum_positive_entries"
    require_working(student, name, (x,), int(x[x > 0].sum()), "with an int64 (6, 5) tensor")
    require_no_loops(student, name, "build a boolean mask with one comparison and index x with it")


@pytest.mark.group("pytorch101_ops")
def test_reshape_practice(student, expect):
    """reshape_practice rearranges a (24,) tensor into the (3, 8) layout of the docstring"""
    cases = [("an int64 arange(24)", torch.arange(24)), ("a float32 (24,) tensor", randn(110, 24)),
             ("a non-contiguous float64 (24,) view", randn(111, 48, dtype=torch.float64)[::2])]
    for index, (description, x) in enumerate(cases):
        y = call(student, "pytorch101.reshape_practice", x, context=f"with {description}")
        expect.tensor(f"case{index}", y, what=f"reshape_practice(x) with {description}", exact=True,
                      device="cpu")


@pytest.mark.group("pytorch101_ops")
def test_zero_row_min(student, expect):
    """zero_row_min returns a copy of x with the minimum of each row set to zero, leaving x unchanged"""
    cases = [("a float32 (4, 5) tensor", randn(120, 4, 5)),
             ("an int64 (3, 6) tensor with distinct entries", torch.randperm(18, generator=gen(121)).reshape(3, 6) - 9),
             ("a float64 (1, 3) tensor", randn(122, 1, 3, dtype=torch.float64)),
             ("a non-contiguous float32 (5, 2) view", randn(123, 2, 5).t())]
    for index, (description, x) in enumerate(cases):
        before = x.clone()
        y, (x_after,) = call(student, "pytorch101.zero_row_min", x, return_args=True, context=f"with {description}")
        expect.tensor(f"case{index}", y, what=f"zero_row_min(x) with {description}", exact=True, device="cpu")
        if not (isinstance(x_after, torch.Tensor) and torch.equal(x_after, before)):
            raise GradingFailure(f"zero_row_min(x) with {description} modified its input x; "
                                 "return a new tensor (clone x first)")


@pytest.mark.group("pytorch101_ops")
def test_reshape_practice_only_reshapes(student):
    """reshape_practice uses only reshaping operations (no indexing, no loops)"""
    name = "reshape_practice"
    x = torch.arange(24)
    require_working(student, name, (x,), x.reshape(2, 3, 4).transpose(0, 1).reshape(3, 8), "with arange(24)")
    require_no_loops(student, name, "use reshape/view, transpose or permute")
    require_no_names(student, name, {"index_select", "gather", "take", "take_along_dim", "cat", "stack",
                                     "hstack", "vstack", "split", "chunk"},
                     "must use only reshaping operations (reshape, view, transpose, permute, contiguous)")
    for sub in reached_nodes(student, name):
        if isinstance(sub, ast.Subscript) and not (
                isinstance(sub.value, ast.Attribute) and sub.value.attr == "shape"
                or isinstance(sub.value, ast.Call) and getattr(sub.value.func, "attr", "") == "size"):
            raise GradingFailure(f"{name} may not index x (line {sub.lineno}): use only reshaping "
                                 "operations (reshape, view, transpose, permute, contiguous)")


@pytest.mark.group("pytorch101_ops")
def test_zero_row_min_no_loops(student):
    """zero_row_min uses no Python loop"""
    name = "zero_row_min"
    x = randn(124, 4, 6)
    y = x.clone()
    y[torch.arange(4), x.argmin(dim=1)] = 0
    require_working(student, name, (x,), y, "with a float32 (4, 6) tensor")
    require_no_loops(student, name, "find the minima with argmin and zero them with integer-array indexing")


def bmm_cases(seed: int):
    return [
        ("float32 x (2, 3, 4) and y (2, 4, 5)", randn(seed, 2, 3, 4), randn(seed + 1, 2, 4, 5)),
        ("float64 x (5, 2, 3) and y (5, 3, 1)", randn(seed + 2, 5, 2, 3, dtype=torch.float64),
         randn(seed + 3, 5, 3, 1, dtype=torch.float64)),
        ("float32 x (1, 4, 4) and a transposed y (1, 4, 6)", randn(seed + 4, 1, 4, 4),
         randn(seed + 5, 1, 6, 4).transpose(1, 2)),
    ]


def check_bmm(student, expect, target: str, seed: int, **kwargs) -> None:
    name = target.split(".")[1]
    extra = "".join(f", {k}={v}" for k, v in kwargs.items())
    for index, (description, x, y) in enumerate(bmm_cases(seed)):
        z = call(student, target, x, y, context=f"with {description}{extra}", **kwargs)
        tol = 1e-6 if x.dtype == torch.float32 else 1e-12
        expect.tensor(f"case{index}", z, what=f"{name}(x, y{extra}) with {description}", tol=tol, device="cpu")


@pytest.mark.group("pytorch101_ops")
def test_batched_matrix_multiply_loop(student, expect):
    """batched_matrix_multiply_loop multiplies each pair of matrices (float32 and float64)"""
    check_bmm(student, expect, "pytorch101.batched_matrix_multiply_loop", 130)


@pytest.mark.group("pytorch101_ops")
def test_batched_matrix_multiply_noloop(student, expect):
    """batched_matrix_multiply_noloop multiplies each pair of matrices (float32 and float64)"""
    check_bmm(student, expect, "pytorch101.batched_matrix_multiply_noloop", 140)


@pytest.mark.group("pytorch101_ops")
def test_batched_matrix_multiply_noloop_has_no_loop(student):
    """batched_matrix_multiply_noloop uses no Python loop"""
    x, y = randn(170, 3, 2, 4), randn(171, 3, 4, 2)
    name = "batched_matrix_multiply_noloop"
    require_working(student, name, (x, y), torch.bmm(x, y), "with float32 x (3, 2, 4) and y (3, 4, 2)", tol=1e-5)
    require_no_loops(student, name, "one batched operation multiplies all B pairs at once")


@pytest.mark.group("pytorch101_ops")
def test_normalize_columns(student, expect):
    """normalize_columns subtracts each column's mean and divides by its standard deviation"""
    cases = [("a float32 (5, 3) tensor", randn(180, 5, 3) * 3 + 1, 1e-5),
             ("a float64 (8, 6) tensor", randn(181, 8, 6, dtype=torch.float64) * 10 - 4, 1e-10),
             ("a non-contiguous float64 (4, 7) view", randn(182, 7, 4, dtype=torch.float64).t(), 1e-10)]
    for index, (description, x, tol) in enumerate(cases):
        before = x.clone()
        y, (x_after,) = call(student, "pytorch101.normalize_columns", x, return_args=True,
                             context=f"with {description}")
        expect.tensor(f"case{index}", y, what=f"normalize_columns(x) with {description}", tol=tol, device="cpu")
        if not (isinstance(x_after, torch.Tensor) and torch.equal(x_after, before)):
            raise GradingFailure(f"normalize_columns(x) with {description} modified its input x; "
                                 "return a new tensor")


def moves_to_the_gpu_and_back(student, name: str) -> None:
    """``name`` (or a helper it reaches) copies data to a device (``.cuda()`` / ``.to(...)``) and back
    (``.cpu()`` / another ``.to(...)``)."""
    calls = [node.func.attr for node in reached_nodes(student, name)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)]
    cuda, to, cpu = calls.count("cuda"), calls.count("to"), calls.count("cpu")
    there = cuda + to > 0
    back = cpu > 0 or to >= 2 or (cuda > 0 and to > 0)
    if not there or not back:
        raise GradingFailure(f"{name} must copy x and w to the GPU (x.cuda() or x.to(device)), multiply "
                             "them there and copy the product back (.cpu()); its source does not "
                             + ("copy anything to a GPU" if not there else "copy the product back to the CPU"))


GPU_WORDS = ("cuda", "nvidia", "gpu")


@pytest.mark.group("pytorch101_ops")
def test_mm_on_gpu(student):
    """mm_on_gpu multiplies on the GPU and returns the product on the CPU (with no GPU: fails for the lack of one)"""
    name = "mm_on_gpu"
    x, w = randn(190, 3, 4), randn(191, 4, 2)
    try:
        result = student.call(f"pytorch101.{name}", x, w)
    except GradingFailure as failure:
        text = str(failure)
        said = text.lower().replace(name, "")
        if "notimplementederror" in said.replace(" ", "") or not any(word in said for word in GPU_WORDS):
            raise GradingFailure(f"{name}(x, w) failed, and not for the lack of a GPU on the grading "
                                 f"machine: {text}") from None
        # No GPU where the submission runs: the product cannot be checked, its recipe can.
        moves_to_the_gpu_and_back(student, name)
        return
    check_tensor(result, torch.mm(x, w), what=f"{name}(x, w)", tol=1e-5, device="cpu")
    moves_to_the_gpu_and_back(student, name)


def normalized(x: torch.Tensor) -> torch.Tensor:
    centered = x - x.mean(dim=0)
    return centered / centered.pow(2).sum(dim=0).div(x.shape[0] - 1).sqrt()


@pytest.mark.group("pytorch101_ops")
def test_normalize_columns_no_loops(student):
    """normalize_columns uses no Python loop"""
    name = "normalize_columns"
    x = randn(183, 6, 4, dtype=torch.float64)
    require_working(student, name, (x,), normalized(x), "with a float64 (6, 4) tensor", tol=1e-10)
    require_no_loops(student, name, "reduce over the rows with sum(dim=0) and broadcast")


@pytest.mark.group("pytorch101_ops")
def test_normalize_columns_without_mean_std(student):
    """normalize_columns does not use mean, std or var"""
    name = "normalize_columns"
    x = randn(184, 6, 4, dtype=torch.float64)
    require_working(student, name, (x,), normalized(x), "with a float64 (6, 4) tensor", tol=1e-10)
    # The course allows only sum, arithmetic and reshapes, and names torch.mean and torch.std (and
    # their methods); var and the combined reductions are the same shortcut.
    require_no_names(student, name, {"mean", "std", "var", "std_mean", "var_mean", "nanmean"},
                     "must compute the mean and the standard deviation with sum and arithmetic, without "
                     "torch.mean, torch.std or torch.var (nor their methods x.mean(), x.std(), x.var())")


MEAN_CASES = [  # (description, lengths, dtype)
    ("four float32 tensors", [3, 1, 5, 2], torch.float32),
    ("one float64 tensor", [6], torch.float64),
    ("seven float64 tensors", [1, 1, 9, 4, 2, 7, 3], torch.float64),
]


def mean_inputs(seed: int, lengths: list[int], dtype) -> tuple[list[torch.Tensor], torch.Tensor]:
    xs = [randn(seed + i, n, dtype=dtype) * (i + 1) for i, n in enumerate(lengths)]
    return xs, torch.tensor(lengths, dtype=torch.int64)


@pytest.mark.group("pytorch101_ops")
def test_challenge_mean_tensors(student, expect):
    """challenge_mean_tensors returns the mean of each tensor of the list"""
    for index, (description, lengths, dtype) in enumerate(MEAN_CASES):
        xs, ls = mean_inputs(200 + 10 * index, lengths, dtype)
        y = call(student, "pytorch101.challenge_mean_tensors", xs, ls, context=f"with {description}")
        tol = 1e-6 if dtype == torch.float32 else 1e-12
        expect.tensor(f"case{index}", y, what=f"challenge_mean_tensors(xs, ls) with {description}", tol=tol,
                      device="cpu")


@pytest.mark.group("pytorch101_ops")
def test_challenge_mean_tensors_no_loops(student):
    """challenge_mean_tensors uses no Python loop or comprehension"""
    name = "challenge_mean_tensors"
    xs, ls = mean_inputs(240, [2, 5, 1], torch.float64)
    expected = torch.stack([x.mean() for x in xs])
    require_working(student, name, (xs, ls), expected, "with three float64 tensors", tol=1e-12)
    require_no_loops(student, name, "join the tensors with torch.cat and sum per tensor with index_add_")


UNIQUE_CASES = [  # (description, x)
    ("an int64 (20,) tensor with repeats", lambda: randint(250, 0, 6, 20)),
    ("negative values and repeats", lambda: randint(251, -4, 3, 15)),
    ("distinct values in decreasing order", lambda: torch.arange(9, 0, -1)),
    ("a single repeated value", lambda: torch.full((7,), 3, dtype=torch.int64)),
    ("a single element", lambda: torch.tensor([5])),
]


@pytest.mark.group("pytorch101_ops")
def test_challenge_get_uniques(student, expect):
    """challenge_get_uniques returns the sorted distinct values and the index of each first occurrence"""
    for index, (description, make) in enumerate(UNIQUE_CASES):
        x = make()
        result = call(student, "pytorch101.challenge_get_uniques", x, context=f"with {description}")
        expect.value(f"case{index}", result, what=f"challenge_get_uniques(x) with {description}")


UNIQUES_EXAMPLE = (torch.tensor([4, 1, 4, 0, 1, 7]), (torch.tensor([0, 1, 4, 7]), torch.tensor([3, 1, 0, 5])))


@pytest.mark.group("pytorch101_ops")
def test_challenge_get_uniques_rules(student):
    """challenge_get_uniques uses no Python loop and not torch.unique (the course gives half credit for it)"""
    name = "challenge_get_uniques"
    x, expected = UNIQUES_EXAMPLE
    require_working(student, name, (x,), expected, "with an int64 (6,) tensor")
    require_no_loops(student, name, "sort x with a stable sort and find where each run of equal values starts")
    require_no_names(student, name, {"unique"},
                     "earns the second half of its points only without torch.unique (the course gives half "
                     "credit for it): find the distinct values yourself")
