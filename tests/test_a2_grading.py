"""a2_linear graded end to end: what its sample class's students lose and why, and the suite's
own pieces.

The sample class (autograder/suites/a2_linear/sample_class.py: mutants of the source solutions,
checkpoints trained with them on Fashion-MNIST) is graded once in the sandbox (the ``sample_class``
fixture); the contract every assignment keeps is in test_assignments.py. Each kind of submission
must lose exactly the points its defect deserves, with a message that says what to fix.

Course compatibility (issue 12): hidden tests of course behaviour call the course's way
(``svm_loss_naive(W, X, y, reg)``), so a solution written to the course's starter code loses only
this assignment's addition, the ``reg_type`` keyword (``ivy_course_starter``); the course's habits
(a float loss, an in-place update, numpy search lists, percent accuracies, float64 checkpoints) lose
nothing (``jo_course_habits``).
"""
from __future__ import annotations

import io
import textwrap
import zipfile
from pathlib import Path

import pytest
import torch

from autograder.suite import GradingFailure, suite_dir
from eecs498.assignment import find_assignment
from helpers import import_file, lost

pytestmark = pytest.mark.xdist_group("a2_linear")

ASSIGNMENT = find_assignment("a2_linear")
MODULE = "linear_classifier.py"
LOSSES = ("svm_loss_naive", "svm_loss_vectorized", "softmax_loss_naive", "softmax_loss_vectorized")


def suite_module(filename: str):
    """A hidden-suite file, imported here to test its grader-side helpers."""
    return import_file(suite_dir("a2_linear") / filename, f"a2_suite_{Path(filename).stem}")


SUITE = suite_module("test_linear_classifier.py")


def headline(test: str) -> str:
    """The name students see for the hidden test function ``test``: its docstring."""
    return getattr(SUITE, test).__doc__.strip().splitlines()[0]


MODEL_TESTS = {
    "svm_best_model.pt reaches the target accuracy on the held-out test set",
    "softmax_best_model.pt reaches the target accuracy on the held-out test set",
}
GRADIENT_SUFFIXES = ("gradient", "gradient_float32", "numeric_gradient", "noncontiguous_gradient")
L1_SUFFIXES = ("l1_value", "l1_gradient", "l1_numeric_gradient", "unknown_reg_type")
SVM_GRADIENT_TESTS = {headline(f"test_{name}_{suffix}") for name in LOSSES[:2] for suffix in GRADIENT_SUFFIXES}


def l1_tests(*names: str) -> set[str]:
    return {headline(f"test_{name}_{suffix}") for name in names for suffix in L1_SUFFIXES}


SOFTMAX_LOOP_TEST = headline("test_softmax_loss_vectorized_has_no_loop")
REG_TYPE_HINT = "reg_type is this assignment's addition to the course's signature"


def source_module():
    """The source solutions, imported here (trusted code)."""
    return import_file(ASSIGNMENT.root / MODULE, "a2_linear_source")


@pytest.fixture(scope="module")
def graded(sample_class):
    return sample_class("a2_linear")


@pytest.fixture(scope="module")
def class_grades(graded) -> dict:
    return graded.grades


@pytest.fixture(scope="module")
def checkpoints(graded) -> dict[str, bytes]:
    """svm_best_model.pt and softmax_best_model.pt trained with the source solutions on Fashion-MNIST."""
    return graded.kit.checkpoints


def test_test_names_are_unique_and_every_group_has_tests(class_grades):
    tests = class_grades["ada_complete"].tests
    names = [t.name for t in tests]
    assert len(names) == len(set(names)), "two hidden tests show the same name to students"
    assert {t.group for t in tests} == {g.name for g in ASSIGNMENT.groups}
    assert MODEL_TESTS | SVM_GRADIENT_TESTS | {SOFTMAX_LOOP_TEST} | l1_tests(*LOSSES) <= set(names)
    l1_group = {t.name for t in tests if t.group == "l1_regularization"}
    assert l1_group == l1_tests(*LOSSES), "the reg_type keyword has its own tests, and only they are in its group"


def test_checkpoints_reach_the_targets(checkpoints):
    """The checkpoints the complete submission uses really reach the toml targets (trusted side)."""
    from eecs498.data import preprocess_dataset

    data = preprocess_dataset("fashion_mnist", bias_trick=True)
    for filename, kind in (("svm_best_model.pt", "svm"), ("softmax_best_model.pt", "softmax")):
        W = torch.load(io.BytesIO(checkpoints[filename]), weights_only=True)["W"]
        accuracy = ((data["X_test"] @ W).argmax(1) == data["y_test"]).double().mean().item()
        assert accuracy >= ASSIGNMENT.targets["fashion_mnist"][f"{kind}_test"], (filename, accuracy)


def test_suite_formulas_match_the_solutions():
    """The suite's float64 formulas (used for hints and rule checks) agree with the source solutions."""
    module = source_module()
    cases = [(shape, reg, "l2") for _, shape, reg in SUITE.CASES] + [(shape, reg, t) for _, shape, reg, t in SUITE.L1_CASES]
    for name in LOSSES:
        for index, ((N, D, C), reg, reg_type) in enumerate(cases):
            W, X, y = SUITE.loss_case(5000 + index, N, D, C)
            loss, dW = getattr(module, name)(W, X, y, reg, reg_type)
            expected_loss, expected_dW = SUITE.formula(name, W, X, y, reg, reg_type)
            assert abs(loss.item() - expected_loss.item()) < 1e-10 * max(1.0, abs(expected_loss.item()))
            assert SUITE.rel_error(dW, expected_dW) < 1e-10


# ----------------------------------------------------------------------------------------------
# course compatibility


def test_a_solution_to_the_course_s_starter_code_scores_full_marks_and_is_told_about_reg_type(class_grades):
    """The course's signatures (no reg_type) and its template classes: every course test passes and
    the solution scores full marks; the l1_regularization tests (this assignment's extension,
    feedback only) fail, each with a sentence naming the keyword."""
    grade = class_grades["ivy_course_starter"]
    failed = lost(grade)
    assert set(failed) == l1_tests(*LOSSES)
    for message in failed.values():
        assert REG_TYPE_HINT in message and "reg_type='l2'" in message, message
    assert ASSIGNMENT.group("l1_regularization").points == 0
    assert grade.score == pytest.approx(ASSIGNMENT.max_score)


def test_the_course_s_habits_lose_nothing(class_grades):
    """A Python-float softmax loss, an in-place SGD update, numpy search lists (an array and a list
    of numpy scalars), percent accuracies as 0-dim tensors and float64 checkpoints."""
    grade = class_grades["jo_course_habits"]
    assert lost(grade) == {}
    assert grade.score == pytest.approx(ASSIGNMENT.max_score)


def test_the_course_habits_student_really_has_them(graded):
    """The sample student of the habits keeps them (so the test above means something)."""
    with zipfile.ZipFile(graded.kit.out / "jo_course_habits_a2_linear.zip") as archive:
        module = archive.read(MODULE).decode()
        W = torch.load(io.BytesIO(archive.read("svm_best_model.pt")), weights_only=True)["W"]
    assert "W -= learning_rate * grad" in module and "return loss.item(), dW" in module
    assert "np.logspace" in module and "100.0 *" in module
    assert W.dtype == torch.float64


def test_loss_number_reads_a_float_or_any_one_element_floating_tensor():
    what = "f(W, X, y, 0.1)"
    for value in (2.5, torch.tensor(2.5), torch.tensor([2.5], dtype=torch.float32), torch.tensor(2.5).double()):
        assert SUITE.loss_number(value, what).item() == 2.5
        assert SUITE.loss_number(value, what).dtype == torch.float64
    for bad, said in ((torch.zeros(3, 2), "shape (3, 2)"), (None, "None"), (torch.tensor(2), "torch.int64")):
        with pytest.raises(GradingFailure, match="should be a single number") as info:
            SUITE.loss_number(bad, what)
        assert said in str(info.value)


def test_accuracies_are_read_as_fractions_or_as_percentages():
    what = "test_one_param_set(...)"
    assert SUITE.read_accuracy(0.75, 0.75, "val_acc", what) == 0.75
    assert SUITE.read_accuracy(75.0, 0.75, "val_acc", what) == pytest.approx(0.75)
    assert SUITE.read_accuracy(torch.tensor(75.0), 0.75, "val_acc", what) == pytest.approx(0.75)
    assert SUITE.read_accuracy(torch.tensor(0.75, dtype=torch.float32), 0.75, "val_acc", what) == pytest.approx(0.75)
    assert SUITE.read_accuracy(1, 1.0, "val_acc", what) == 1.0
    for wrong in (0.5, 50.0, 7.5):
        with pytest.raises(GradingFailure, match="not the accuracy"):
            SUITE.read_accuracy(wrong, 0.75, "val_acc", what)
    with pytest.raises(GradingFailure, match="Python float"):
        SUITE.read_accuracy("75%", 0.75, "val_acc", what)


def test_search_lists_may_be_lists_tuples_or_numpy_arrays():
    assert SUITE.search_values([1e-3, 1e-2]) == [1e-3, 1e-2]
    assert SUITE.search_values((1e-3,)) == [1e-3]
    assert SUITE.search_values(torch.tensor([1e-3, 1e-2], dtype=torch.float64)) == [1e-3, 1e-2]  # a numpy array
    assert SUITE.search_values([torch.tensor(1e-3)]) == [pytest.approx(1e-3)]
    assert SUITE.search_values(torch.zeros(2, 2)) is None and SUITE.search_values(0.1) is None


class InProcessStudent:
    """A submission run here (trusted test code): what the loop rules need, ``call`` and ``source``."""

    def __init__(self, text: str):
        self.text = textwrap.dedent(text)
        self.namespace: dict = {}
        exec(compile(self.text, MODULE, "exec"), self.namespace)

    def source(self, filename: str) -> str:
        return self.text

    def call(self, target: str, *args, **kwargs):
        try:
            return self.namespace[target.split(".", 1)[1]](*args, **kwargs)
        except Exception as exc:
            raise GradingFailure(f"`{target}`: raised {type(exc).__name__}: {exc}") from None


VECTORIZED_WITH_HELPERS = '''
import torch

def _check(reg_type):
    if reg_type not in ("l2", "l1"):
        raise ValueError("reg_type must be one of " + ", ".join(repr(r) for r in ("l2", "l1")))

def _margins(scores, y):
    rows = torch.arange(scores.shape[0])
    return (scores - scores[rows, y][:, None] + 1).clamp(min=0), rows

def _rows_summed(margins):
    return torch.stack([row.sum() for row in margins])   # loops over the examples

def svm_loss_vectorized(W, X, y, reg, reg_type="l2"):
    _check(reg_type)
    margins, rows = _margins(X.mm(W), y)
    margins[rows, y] = 0
    positive = (margins > 0).to(W.dtype)
    positive[rows, y] = -positive.sum(dim=1)
    dW = sum(part for part in (X.t().mm(positive) / X.shape[0], 2 * reg * W))   # over a literal: not a loop
    return margins.sum() / X.shape[0] + reg * (W * W).sum(), dW
'''


def test_the_loop_rule_follows_helpers_and_ignores_comprehensions_that_do_not_iterate_the_data():
    """The vectorized rule (autograder.source_rules): a comprehension in a raise, or over a tuple
    literal, is not a loop; a helper that loops over the examples is, once called."""
    honest = InProcessStudent(VECTORIZED_WITH_HELPERS)
    SUITE.check_vectorized_no_loops(honest, "svm_loss_vectorized")  # passes
    looping = InProcessStudent(VECTORIZED_WITH_HELPERS.replace(
        "margins.sum() / X.shape[0] + reg", "_rows_summed(margins).sum() / X.shape[0] + reg"))
    with pytest.raises(GradingFailure, match=r"a comprehension on line \d+ \(in _rows_summed\)"):
        SUITE.check_vectorized_no_loops(looping, "svm_loss_vectorized")


def test_a_rule_pays_only_once_the_loss_is_right():
    null = InProcessStudent('''
import torch

def svm_loss_vectorized(W, X, y, reg, reg_type="l2"):
    return torch.zeros(()), torch.zeros_like(W)
''')
    with pytest.raises(GradingFailure, match="checked only once svm_loss_vectorized computes the right loss"):
        SUITE.check_vectorized_no_loops(null, "svm_loss_vectorized")


def test_the_suite_keeps_no_loop_walking_code_of_its_own():
    """One piece of code per idea: loops, helpers and aliases are judged by autograder.source_rules."""
    text = (suite_dir("a2_linear") / "test_linear_classifier.py").read_text()
    for own in ("def with_helpers", "def computing_loops", "def loop_lines", "def module_functions", "ast.walk"):
        assert own not in text


# ----------------------------------------------------------------------------------------------
# mutants of the solutions (written to the course's signatures: they also lose the reg_type tests
# of the functions they replace)


def test_svm_gradient_without_regularization_loses_exactly_the_svm_gradient_tests(class_grades):
    failed = lost(class_grades["cat_svm_no_reg_gradient"])
    assert set(failed) == SVM_GRADIENT_TESTS | l1_tests("svm_loss_naive", "svm_loss_vectorized")
    for test in SVM_GRADIENT_TESTS:
        assert "regularization term" in failed[test] and "dW" in failed[test], failed[test]


def test_bad_checkpoints_lose_only_the_model_tests(class_grades):
    grade = class_grades["fay_bad_checkpoints"]
    failed = lost(grade)
    assert set(failed) == MODEL_TESTS
    assert "could not be read" in failed[sorted(MODEL_TESTS)[1]]  # svm_best_model.pt: corrupt
    assert "missing" in failed[sorted(MODEL_TESTS)[0]]  # softmax_best_model.pt: absent
    assert grade.score == pytest.approx(ASSIGNMENT.max_score - ASSIGNMENT.group("trained_models").points)


def test_loop_in_vectorized_loss_loses_only_its_loop_rule(class_grades):
    failed = lost(class_grades["gus_loop_in_vectorized"])
    assert set(failed) == {SOFTMAX_LOOP_TEST} | l1_tests("softmax_loss_vectorized")
    assert "loop" in failed[SOFTMAX_LOOP_TEST] and "line" in failed[SOFTMAX_LOOP_TEST]


def test_checkpoint_without_bias_row_names_the_expected_shapes(class_grades):
    failed = lost(class_grades["hal_no_bias_row"])
    assert set(failed) == {"svm_best_model.pt reaches the target accuracy on the held-out test set"}
    message = next(iter(failed.values()))
    assert "(784, 10)" in message and "(785, 10)" in message and "(3073, 10)" in message and "bias" in message
