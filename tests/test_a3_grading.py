"""a3_mlp graded end to end: what its sample class's students lose and why, and the suite's own
pieces.

The sample class (autograder/suites/a3_mlp/sample_class.py: mutants of the source solutions,
checkpoints trained with them on Fashion-MNIST) is graded once in the sandbox (the ``sample_class``
fixture); the contract every assignment keeps is in test_assignments.py. Each kind of submission
must lose exactly the points its defect deserves, with a message that says what to fix.
"""
from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch

from autograder.samples import replace_functions, replace_methods, sample_class_module
from autograder.suite import suite_dir
from eecs498.assignment import find_assignment
from helpers import import_file, lost

pytestmark = pytest.mark.xdist_group("a3_mlp")

ASSIGNMENT = find_assignment("a3_mlp")
SAMPLE = sample_class_module(ASSIGNMENT)
TWO_LAYER, FC = "two_layer_net.py", "fully_connected_networks.py"
MODEL_TESTS = {
    "nn_best_model.pt (two-layer net) reaches the target accuracy on the held-out test set",
    "fc_best_model.pt (fully-connected net) reaches the target accuracy on the held-out test set",
}
ADAM_TESTS = {
    "adam: several steps with given hyperparameters and state (float64): next_w and state",
    "adam: several steps from config=None fill in the defaults (float32): next_w and state",
}
DROPOUT_TRAIN_TEST = ("Dropout.forward in train mode drops a fraction p of the units and scales the kept ones "
                      "by 1/(1-p)")
LINEAR_BACKWARD_TESTS = {
    "Linear.backward: dx (the shape of x), dw and db for 2-D and image-shaped x (float64, float32)",
    "Linear.backward: dx, dw and db are the gradients of Linear.forward (numeric gradient check)",
}
RELU_BACKWARD_TEST = "ReLU.backward: dx against the reference and the numeric gradient of ReLU.forward"
MOMENTUM_TESTS = {
    "sgd_momentum: several steps with given hyperparameters and state (float64): next_w and state",
    "sgd_momentum: several steps from config=None fill in the defaults (float32): next_w and state",
}

def source(name: str) -> str:
    return (ASSIGNMENT.root / name).read_text()


def source_module(name: str):
    """A source solution module, imported here (trusted code)."""
    return import_file(ASSIGNMENT.root / name, f"a3_source_{Path(name).stem}")


def suite_module(filename: str):
    """A hidden-suite file, imported here to test its grader-side helpers."""
    return import_file(suite_dir("a3_mlp") / filename, f"a3_suite_{Path(filename).stem}")


@pytest.fixture(scope="module")
def graded(sample_class):
    return sample_class("a3_mlp")


@pytest.fixture(scope="module")
def class_grades(graded) -> dict:
    return graded.grades


@pytest.fixture(scope="module")
def checkpoints(graded) -> dict[str, bytes]:
    """nn_best_model.pt and fc_best_model.pt trained with the source solutions on Fashion-MNIST."""
    return graded.kit.checkpoints


def points(grade, names: set[str]) -> float:
    return sum(t.max_score for t in grade.tests if t.name in names)


# ----------------------------------------------------------------------------------------------
# the suite's own pieces


def test_mutants_apply():
    """Each mutant really changes the function it names, and only that one."""
    fc = source(FC)
    for methods in (SAMPLE.DROPOUT_WITHOUT_RESCALE, SAMPLE.LINEAR_BACKWARD_WITHOUT_RESHAPE,
                    SAMPLE.RELU_BACKWARD_WITH_AUTOGRAD, SAMPLE.COURSE_HABITS_FC_METHODS):
        mutated = replace_methods(fc, methods)
        assert mutated != fc and compile(mutated, FC, "exec")
        assert mutated.count("class ") == fc.count("class ") and mutated.count("def ") == fc.count("def ")
    mutated = replace_functions(fc, SAMPLE.ADAM_WITHOUT_BIAS_CORRECTION)
    assert "1 - beta1 ** t" not in mutated and compile(mutated, FC, "exec")
    for functions, name in ((SAMPLE.COURSE_HABITS_FC_FUNCTIONS, FC), (SAMPLE.MOMENTUM_CHANGING_ITS_LEARNING_RATE, FC),
                            (SAMPLE.COURSE_HABITS_TWO_LAYER, TWO_LAYER)):
        mutated = replace_functions(source(name), functions)
        assert mutated != source(name) and compile(mutated, name, "exec")
        assert mutated.count("def ") == source(name).count("def ")


def test_suite_formulas_match_the_solutions():
    """The suite's float64 formulas (the nn_train trajectory, hints, safe inputs) agree with the source."""
    suite = suite_module("test_two_layer_net.py")
    module = source_module(TWO_LAYER)
    for index, (_, (N, D, H, C), reg) in enumerate(suite.CASES):
        params, X, y = suite.net_case(5000 + index, N, D, H, C)
        loss, grads = module.nn_forward_backward(params, X, y, reg)
        expected_loss, expected_grads = suite.loss_and_grads(params, X, y, reg)
        assert abs(loss.item() - expected_loss.item()) < 1e-10 * max(1.0, abs(expected_loss.item()))
        for name in suite.PARAMS:
            assert suite.rel_error(grads[name], expected_grads[name]) < 1e-10
        assert torch.allclose(module.nn_forward_pass(params, X)[0], suite.forward(params, X)[0])
    fc_suite = suite_module("test_fully_connected_networks.py")
    fc = source_module(FC)
    for index, (N, x_shape, hidden, C, reg, activation, dtype) in enumerate(fc_suite.FC_CASES
                                                                             + fc_suite.ACTIVATION_CASES_NET):
        params, X, y = fc_suite.net_case(6000 + index, N, x_shape, hidden, C, torch.float64, activation)
        model = fc.FullyConnectedNet(hidden, input_dim=X[0].numel(), num_classes=C, activation=activation,
                                     dtype=torch.float64, reg=reg)
        model.params = params
        assert fc_suite.rel_error(model.loss(X), fc_suite.fc_forward(params, X, len(hidden) + 1, activation)[0]) < 1e-12
        loss, grads = model.loss(X, y)
        expected_loss, expected_grads = fc_suite.fc_loss_and_grads(params, X, y, len(hidden) + 1, reg, activation)
        assert fc_suite.rel_error(loss, expected_loss) < 1e-12
        assert all(fc_suite.rel_error(grads[k], expected_grads[k]) < 1e-10 for k in params)
    # with seeded dropout: the grader's formula with the masks Dropout.forward draws on ones
    for index, (N, D, hidden, C, p, reg, activation, _) in enumerate(fc_suite.DROPOUT_CASES):
        params, X, y = fc_suite.net_case(7000 + index, N, (D,), hidden, C, torch.float64, activation)
        model = fc.FullyConnectedNet(hidden, input_dim=D, num_classes=C, dropout=p, seed=fc_suite.DROPOUT_SEED,
                                     reg=reg, dtype=torch.float64)
        model.params = params
        loss, grads = model.loss(X, y)
        masks = [fc.Dropout.forward(torch.ones(N, h, dtype=torch.float64),
                                    {"p": p, "mode": "train", "seed": fc_suite.DROPOUT_SEED})[0] for h in hidden]
        expected_loss, expected_grads = fc_suite.fc_loss_and_grads(params, X, y, len(hidden) + 1, reg, activation,
                                                                   masks)
        assert fc_suite.rel_error(loss, expected_loss) < 1e-12
        assert all(fc_suite.rel_error(grads[k], expected_grads[k]) < 1e-10 for k in params)
    w, dws = torch.randn(3, 4, dtype=torch.float64), [torch.randn(3, 4, dtype=torch.float64) for _ in range(3)]
    for rule in fc_suite.STATE:
        for config in (None, fc_suite.custom_config(rule, 1, (3, 4), torch.float64)):
            mine = fc_suite.grader_steps(rule, w, dws, config)
            current, state = w.clone(), None if config is None else {k: (v.clone() if torch.is_tensor(v) else v)
                                                                     for k, v in config.items()}
            for step, dw in enumerate(dws):
                current, state = getattr(fc, rule)(current, dw, state)
                assert fc_suite.rel_error(current, mine[step][0]) < 1e-12, (rule, step)
                for name in fc_suite.STATE[rule]:
                    assert fc_suite.close(state[name], mine[step][1][name], 1e-12), (rule, name, step)


def test_accuracy_histories_in_float32_are_read_as_the_counts_they_stand_for():
    """The course's nn_train takes `(pred == y).float().mean()`: a float32 fraction, off from the
    float64 one by ~1e-8, which an exact float64 tolerance would reject."""
    suite = suite_module("test_two_layer_net.py")
    labels = torch.arange(40) % 3
    predicted = labels.clone()
    predicted[:13] = (predicted[:13] + 1) % 3
    as_float32 = [(predicted == labels).float().mean().item()]
    as_float64 = [(predicted == labels).double().mean().item()]
    assert as_float32 != as_float64
    assert suite.same_accuracies(as_float32, as_float64, 40)
    assert not suite.same_accuracies([as_float64[0] + 1 / 40], as_float64, 40)


def test_nn_train_trajectory_matches_the_solution():
    """The grader's SGD trajectory of the deterministic nn_train case is what the source computes."""
    suite = suite_module("test_two_layer_net.py")
    module = source_module(TWO_LAYER)
    params, X1, y1, X_val, y_val = suite.train_case()
    X, y = X1.expand(suite.TRAIN_SIZE, 6).clone(), y1.expand(suite.TRAIN_SIZE).clone()
    trained = {k: v.clone() for k, v in params.items()}
    stats = module.nn_train(trained, module.nn_forward_backward, module.nn_predict, X, y, X_val, y_val,
                            **suite.TRAIN_KWARGS)
    kwargs = suite.TRAIN_KWARGS
    losses, train_accs, val_accs, final = suite.sgd_trajectory(
        params, X1, y1, X_val, y_val, kwargs["learning_rate"], kwargs["learning_rate_decay"], kwargs["reg"],
        kwargs["num_iters"], suite.TRAIN_SIZE // kwargs["batch_size"])
    assert suite.same_history(stats["loss_history"], losses)
    assert stats["train_acc_history"] == train_accs and stats["val_acc_history"] == val_accs
    assert train_accs == [0.0, 0.0, 1.0, 1.0], "the case should flip the training prediction mid-run"
    # No validation example is near a tie when the accuracies are measured: float64 rounding cannot flip one.
    for decay_when in ("it", "never", "end", "always"):
        run = suite.sgd_trajectory(params, X1, y1, X_val, y_val, kwargs["learning_rate"], kwargs["learning_rate_decay"],
                                   kwargs["reg"], kwargs["num_iters"], suite.TRAIN_SIZE // kwargs["batch_size"],
                                   decay_when)
        assert not suite.same_history(run[0], losses) or decay_when == "it", decay_when
    moving = {k: v.clone() for k, v in params.items()}
    for it in range(kwargs["num_iters"]):
        _, grads = suite.loss_and_grads(moving, X1, y1, kwargs["reg"])
        lr = kwargs["learning_rate"] * kwargs["learning_rate_decay"] ** (it // 4 + (1 if it % 4 else 0))
        for name in suite.PARAMS:
            moving[name] -= lr * grads[name]
        if it % 4 == 0:
            top = suite.forward(moving, X_val)[0].topk(2, dim=1).values
            assert (top[:, 0] - top[:, 1]).min() > 1e-6
    for name in suite.PARAMS:
        assert suite.rel_error(trained[name], final[name]) < 1e-12


def test_checkpoints_reach_the_targets(checkpoints):
    """The checkpoints the complete submission uses really reach the toml targets (trusted side)."""
    from eecs498.data import preprocess_dataset

    models = suite_module("test_trained_models.py")
    data = preprocess_dataset("fashion_mnist")
    nn = torch.load(io.BytesIO(checkpoints["nn_best_model.pt"]), weights_only=True)
    fc = torch.load(io.BytesIO(checkpoints["fc_best_model.pt"]), weights_only=True)
    layers_nn = [(nn["W1"], nn["b1"]), (nn["W2"], nn["b2"])]
    layers_fc = [(fc["params"][f"W{i}"], fc["params"][f"b{i}"]) for i in range(1, len(fc["hidden_dims"]) + 2)]
    for kind, layers, activation in (("nn", layers_nn, "relu"), ("fc", layers_fc, fc["activation"])):
        accuracy = models.accuracy(layers, activation, data["X_test"], data["y_test"])
        assert accuracy >= ASSIGNMENT.targets["fashion_mnist"][f"{kind}_test"], (kind, accuracy)


# ----------------------------------------------------------------------------------------------
# whole submissions


def test_test_names_are_unique_and_every_group_has_tests(class_grades):
    tests = class_grades["ada_complete"].tests
    names = [t.name for t in tests]
    assert len(names) == len(set(names)), "two hidden tests show the same name to students"
    assert {t.group for t in tests} == {g.name for g in ASSIGNMENT.groups}
    assert MODEL_TESTS | ADAM_TESTS | LINEAR_BACKWARD_TESTS | MOMENTUM_TESTS | {RELU_BACKWARD_TEST, DROPOUT_TRAIN_TEST} <= set(names)


def test_adam_without_bias_correction_loses_exactly_the_adam_tests(class_grades):
    grade = class_grades["cat_adam_no_bias_correction"]
    failed = lost(grade)
    assert set(failed) == ADAM_TESTS
    for message in failed.values():
        assert "next_w diverges from the reference from step 1 while m, v and t match" in message, message
        assert "bias correction" in message and "m / (1 - beta1 ** t)" in message, message
    assert grade.score == pytest.approx(ASSIGNMENT.max_score - points(grade, ADAM_TESTS))


def test_dropout_without_rescale_is_caught_and_told(class_grades):
    failed = lost(class_grades["dan_dropout_no_rescale"])
    assert DROPOUT_TRAIN_TEST in failed
    assert "does not rescale at training time" in failed[DROPOUT_TRAIN_TEST]
    assert "1 - p" in failed[DROPOUT_TRAIN_TEST]
    groups = {t.group for t in class_grades["dan_dropout_no_rescale"].tests if not t.passed}
    assert groups <= {"dropout", "networks"}, groups  # the network with dropout uses the same layer


def test_linear_backward_without_reshape_loses_the_linear_backward_tests(class_grades):
    failed = lost(class_grades["fay_linear_no_reshape"])
    assert set(failed) == LINEAR_BACKWARD_TESTS
    for message in failed.values():
        assert "dx" in message and ("(3, 4, 5)" in message or "(2, 3, 2)" in message), message
    shape_test = "Linear.backward: dx (the shape of x), dw and db for 2-D and image-shaped x (float64, float32)"
    assert "reshape" in failed[shape_test], failed[shape_test]


def test_autograd_in_a_layer_loses_that_layer_only(class_grades):
    failed = lost(class_grades["gus_relu_autograd"])
    assert set(failed) == {RELU_BACKWARD_TEST}
    for message in failed.values():
        assert "without autograd" in message and "requires_grad_" in message and "line" in message, message


def test_correct_code_with_the_courses_habits_scores_full_marks(class_grades):
    """Issue 12's checks the course does not make, each written as the course's students write it:
    update rules that change w and their state in place, numpy search lists, best_val_acc in
    percent, float32 accuracy histories, torch.nn.functional.relu in A3's ReLU (the course allows
    torch.nn from A3 on), a dropout mask drawn another way, checkpoints named nn_best_model.pth and
    fc_best_model.pth with the course's keys (no activation, no sizes). Each of these failed before."""
    grade = class_grades["ivy_course_habits"]
    assert not grade.rejected and lost(grade) == {}
    assert grade.score == pytest.approx(ASSIGNMENT.max_score)
    assert any("nn_best_model.pth" in note for note in grade.notes), grade.notes


def test_a_correct_formula_is_never_blamed(class_grades):
    """A momentum rule whose formula is right but which changes config['learning_rate'] after each
    step: the message says what was carried between steps, not that the formula is wrong."""
    grade = class_grades["jon_momentum_changes_its_learning_rate"]
    failed = lost(grade)
    assert set(failed) == MOMENTUM_TESTS
    for message in failed.values():
        assert "applies the rule correctly to what step 1 returned, so the formula is right" in message, message
        assert "config['learning_rate'] became" in message and "the rule is" not in message, message
    assert grade.score == pytest.approx(ASSIGNMENT.max_score - points(grade, MOMENTUM_TESTS))


def test_bad_checkpoints_lose_only_the_model_tests(class_grades):
    grade = class_grades["hal_bad_checkpoints"]
    failed = lost(grade)
    assert set(failed) == MODEL_TESTS
    nn_test, fc_test = sorted(MODEL_TESTS, key=lambda name: not name.startswith("nn"))
    assert "could not be read" in failed[nn_test], failed[nn_test]
    assert "missing" in failed[fc_test], failed[fc_test]
    assert grade.score == pytest.approx(ASSIGNMENT.max_score - ASSIGNMENT.group("trained_models").points)


def test_the_suites_ban_exactly_what_the_course_bans():
    """two_layer_net.py: no torch.relu and no torch.nn "just for this time", and no autograd;
    fully_connected_networks.py: only autograd (the course allows torch.nn from A3 on)."""
    from autograder.source_rules import SourceView

    two_layer = suite_module("test_two_layer_net.py")
    fc = suite_module("test_fully_connected_networks.py")
    text = '''
import torch
import torch.nn.functional as F

def relu_by_hand(x):
    return x.clamp(min=0)

def with_torch_relu(x):
    return torch.relu(x)

def with_functional(x):
    return F.relu(x)

def with_autograd(x):
    x = x.detach().requires_grad_()
    return x
'''
    view = SourceView(text, "m.py")
    found = {name: (bool(view.banned(name, two_layer.BANNED)), bool(view.banned(name, fc.BANNED)))
             for name in ("relu_by_hand", "with_torch_relu", "with_functional", "with_autograd")}
    assert found == {"relu_by_hand": (False, False), "with_torch_relu": (True, False),
                     "with_functional": (True, False), "with_autograd": (True, True)}
    for name in ("two_layer_net.py", "fully_connected_networks.py"):  # the solutions use nothing banned
        view = SourceView(source(name), name)
        banned = (two_layer if name == "two_layer_net.py" else fc).BANNED
        assert not any(view.banned(q, banned) for q in view.definitions), name
