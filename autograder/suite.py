"""What a hidden test suite sees: the ``student`` and ``expect`` fixtures, groups and points.

A hidden suite is a folder of pytest files (``autograder/suites/<assignment>/``) that runs in the
trusted grader process. It never imports student code: it asks the sandboxed child to make calls
(``student.call("knn.predict_labels", dists, y_train, k=3)``) and gets plain data back, then
compares in the grader (``expect.tensor("k3", labels, what="predict_labels(dists, y_train, k=3)")``).

Each test belongs to one group of the assignment's metadata (``@pytest.mark.group("knn_predict")``
or a module-level ``pytestmark``); a group's points are shared equally by its tests. A failing
test's message is the sentence shown to the student, so every check says what to fix — and never
shows hidden inputs or reference values.

The same suite records the references: run against the source solutions with ``mode="record"``,
``expect`` stores what it is given instead of comparing (see :mod:`autograder.references`).
"""
from __future__ import annotations

import ast
import contextlib
import io
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import torch

from eecs498.assignment import Assignment

if TYPE_CHECKING:
    from autograder.sandbox import Sandbox


class GradingFailure(AssertionError):
    """A check failed; the message is what the student reads."""


class GraderBug(Exception):
    """The hidden suite itself is wrong (e.g. a reference is missing): never the student's fault."""


# --------------------------------------------------------------------------------------------
# the student's code, seen through the sandbox


class StudentCode:
    """A submission as the hidden tests see it: calls through the sandbox, files as text."""

    def __init__(self, sandbox: Sandbox, folder: Path, assignment: Assignment | None = None):
        self.sandbox = sandbox
        self.folder = folder
        self.limits = dict(assignment.checkpoints) if assignment is not None else {}
        self.timed_out: set[str] = set()  # a target that hung once is not waited for again

    def call(self, target: str, *args: Any, chain=(), return_args: bool = False, **kwargs: Any):
        """Call ``module.function`` (or ``module.Class`` then ``chain``) in the sandbox.

        Returns the plain-data result (and the arguments as they are afterwards when
        ``return_args``). Raises :class:`GradingFailure` with the student-facing reason when the
        call raised, crashed, timed out or returned something that is not plain data.
        """
        if target in self.timed_out:
            raise GradingFailure(f"{_pretty(target, chain)}: not run again, it timed out in an earlier test")
        result = self.sandbox.call(target, *args, chain=chain, return_args=return_args, **kwargs)
        if not result.ok:
            if result.kind == "timeout":
                self.timed_out.add(target)
            raise GradingFailure(f"{_pretty(target, chain)}: {result.error}")
        return (result.value, result.args_after) if return_args else result.value

    def drive(self, driver: str, *args: Any, what: str, timeout: float | None = None, **kwargs: Any):
        """Run a driver of :mod:`autograder.child.drivers` in the sandbox (e.g. ``"model_loss"``).

        ``what`` names, for the student, what was being run (``"FullyConnectedNet(...).loss(X, y)"``).
        Raises :class:`GradingFailure` like :meth:`call`.
        """
        if what in self.timed_out:
            raise GradingFailure(f"`{what}`: not run again, it timed out in an earlier test")
        result = self.sandbox.drive(driver, *args, timeout=timeout, **kwargs)
        if not result.ok:
            if result.kind == "timeout":
                self.timed_out.add(what)
            raise GradingFailure(f"`{what}`: {result.error}")
        return result.value

    def checkpoint(self, filename: str):
        """A submitted ``.pt`` file as plain data (tensors, dicts, lists), read inside the sandbox.

        Checkpoints are data: every tensor must be dense (no view repeating its storage; a
        permuted one is made contiguous) and all together hold at most ``max_params`` numbers
        when ``assignment.toml``'s ``[checkpoints."<file>"]`` says so. Raises
        :class:`GradingFailure` when it is missing, not a checkpoint of plain tensors, or breaks
        a bound.
        """
        result = self.sandbox.load_file(filename)
        if not result.ok:
            raise GradingFailure(result.error)
        tensors = []
        value = _dense_tensors(result.value, filename, tensors)
        most = self.limits.get(filename, {}).get("max_params")
        if most is not None and sum(t.numel() for t in tensors) > most:
            raise GradingFailure(f"{filename} holds {sum(t.numel() for t in tensors):,} numbers, more than the "
                                 f"{int(most):,} a network for this assignment may have: train a smaller one")
        return value

    def check_forward_cost(self, filename: str, flops: float) -> None:
        """GradingFailure when running the network of ``filename`` on one image would take more than
        the ``max_flops`` its ``[checkpoints]`` entry allows (the grader runs it on thousands)."""
        most = self.limits.get(filename, {}).get("max_flops")
        if most is not None and flops > most:
            raise GradingFailure(f"the network in {filename} needs {flops:.3g} operations per image, more than the "
                                 f"{most:.3g} allowed: train a smaller one")

    def source(self, filename: str) -> str:
        """The text of a submitted file ('' when it is missing); parsed by tests, never run here."""
        path = self.folder / filename
        return path.read_text(errors="replace") if path.is_file() else ""

    def function(self, filename: str, qualname: str) -> ast.AST:
        """The AST of ``qualname`` (``f`` or ``Class.method``) in a submitted module."""
        try:
            tree = ast.parse(self.source(filename))
        except SyntaxError as exc:
            raise GradingFailure(f"{filename} has a syntax error on line {exc.lineno}: {exc.msg}") from exc
        node: ast.AST = tree
        for part in qualname.split("."):
            found = [c for c in ast.iter_child_nodes(node)
                     if isinstance(c, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and c.name == part]
            if not found:
                raise GradingFailure(f"{filename} has no function {qualname}")
            node = found[0]
        return node


def _dense_tensors(value: Any, filename: str, found: list) -> Any:
    """``value`` with every tensor checked dense and made contiguous; the tensors into ``found``."""
    if isinstance(value, torch.Tensor):
        if value.untyped_storage().nbytes() != value.numel() * value.element_size():
            raise GradingFailure(f"{filename} holds a tensor of shape {tuple(value.shape)} that is a view repeating "
                                 "its data (strides " + str(value.stride()) + "); save plain tensors "
                                 "(x.contiguous().clone())")
        found.append(value)
        return value.contiguous()
    if isinstance(value, dict):
        return {k: _dense_tensors(v, filename, found) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_dense_tensors(v, filename, found) for v in value)
    return value


def _pretty(target: str, chain) -> str:
    text = target
    for step in chain:
        text += f".{step[1]}" if step[0] == "attr" else f".{step[1]}(...)"
    return f"`{text}`"


# --------------------------------------------------------------------------------------------
# comparisons against the references


@dataclass
class Expectation:
    """Compares student outputs with the recorded references (or records them)."""

    references: dict[str, Any]
    test_id: str
    record: bool = False

    def reference(self, key: str, actual: Any) -> Any:
        """The recorded reference of ``key`` (in record mode: records ``actual`` and returns it), for
        checks that compare in their own way."""
        full = f"{self.test_id}::{key}"
        if self.record:
            self.references[full] = actual
            return actual
        if full not in self.references:
            raise GraderBug(f"no reference for {full}: run `eecs498 references`")
        return self.references[full]

    def tensor(self, key: str, actual: Any, *, what: str, tol: float = 1e-6, exact: bool = False,
               dtype: torch.dtype | None = None, device: str | None = None, inputs: tuple = ()) -> None:
        """``actual`` is a tensor like the reference: shape, then dtype, device and values.

        ``tol`` bounds the course's relative error ``max|x-y| / max(|x|+|y|)``; ``exact`` asks for
        equal values. ``dtype`` defaults to the reference's; ``device`` (e.g. ``"cpu"``) is the
        device the output must be on; ``inputs`` (the tensors passed in) are named in a dtype or
        device failure.
        """
        expected = self.reference(key, actual)
        check_tensor(actual, expected, what=what, tol=tol, exact=exact, dtype=dtype, device=device, inputs=inputs)

    def value(self, key: str, actual: Any, *, what: str, tol: float = 1e-9) -> None:
        """Plain data (numbers, strings, lists, dicts) equal to the reference; floats within ``tol``."""
        expected = self.reference(key, actual)
        check_value(actual, expected, what=what, tol=tol)


def rel_error(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-10) -> float:
    """The course's relative error, computed in float64 in the grader."""
    x, y = x.double(), y.double()
    if x.numel() == 0:
        return 0.0
    return ((x - y).abs().max() / (x.abs() + y.abs()).clamp(min=eps).max()).item()


def describe_inputs(inputs: tuple) -> str:
    """`` (its inputs: float64 on cpu, int64 on cpu)`` for the tensors among ``inputs``; ''."""
    tensors = [t for t in inputs if isinstance(t, torch.Tensor)]
    if not tensors:
        return ""
    shown = ", ".join(f"{str(t.dtype).removeprefix('torch.')} on {getattr(t, 'eecs498_device', str(t.device))}"
                      for t in tensors)
    return f" (its inputs: {shown})"


def check_tensor(actual: Any, expected: torch.Tensor, *, what: str, tol: float = 1e-6, exact: bool = False,
                 dtype: torch.dtype | None = None, device: str | None = None, inputs: tuple = ()) -> None:
    """Raise :class:`GradingFailure` naming the first way ``actual`` differs from ``expected``;
    a dtype or device failure also names the ``inputs``' dtypes and devices."""
    actual_device = getattr(actual, "eecs498_device", None)
    if not isinstance(actual, torch.Tensor):
        raise GradingFailure(f"{what} should return a torch.Tensor, but returned {_kind(actual)}")
    if tuple(actual.shape) != tuple(expected.shape):
        raise GradingFailure(
            f"{what} returned a tensor of shape {tuple(actual.shape)}; expected shape {tuple(expected.shape)}")
    want = dtype or expected.dtype
    if actual.dtype != want:
        raise GradingFailure(f"{what} returned dtype {actual.dtype}; expected {want}{describe_inputs(inputs)}")
    if device is not None and actual_device is not None and actual_device.split(":")[0] != device:
        raise GradingFailure(
            f"{what} returned a tensor on {actual_device}; expected it on {device} like its inputs "
            f"(don't move data between devices){describe_inputs(inputs)}")
    if exact or not (actual.is_floating_point() or actual.is_complex()):
        if not torch.equal(actual.cpu(), expected.cpu().to(actual.dtype)):
            wrong = (actual.cpu() != expected.cpu().to(actual.dtype)).sum().item()
            raise GradingFailure(f"{what} has {wrong} of {actual.numel()} entries wrong")
        return
    if not torch.isfinite(actual).all() and torch.isfinite(expected).all():
        raise GradingFailure(f"{what} contains NaN or infinity")
    error = rel_error(actual, expected)
    if not error <= tol:
        raise GradingFailure(f"{what} differs from the reference: relative error {error:.1e} > {tol:.0e}")


def check_value(actual: Any, expected: Any, *, what: str, tol: float = 1e-9) -> None:
    """Compare plain data recursively; tensors inside go through :func:`check_tensor`.

    A tensor where plain data is expected is read as what it holds, as the course's own code
    would use it: a 0-dim tensor as its number (``sum_positive_entries`` may return one), a tensor
    as its list (numpy arrays arrive as tensors)."""
    if isinstance(actual, torch.Tensor) and not isinstance(expected, torch.Tensor):
        if actual.dim() == 0 and isinstance(expected, (bool, int, float)):
            actual = actual.item()
        elif actual.dim() > 0 and isinstance(expected, (list, tuple)):
            actual = type(expected)(actual.tolist())
    if isinstance(expected, torch.Tensor):
        check_tensor(actual, expected, what=what, tol=tol)
    elif isinstance(expected, bool) or expected is None or isinstance(expected, str):
        if type(actual) is not type(expected) or actual != expected:
            raise GradingFailure(f"{what} returned {_kind(actual)} that is not the expected {type(expected).__name__}")
    elif isinstance(expected, (int, float)):
        if isinstance(actual, bool) or not isinstance(actual, (int, float)):
            raise GradingFailure(f"{what} should return a Python number, but returned {_kind(actual)}")
        if isinstance(expected, int) and not isinstance(actual, int):
            raise GradingFailure(f"{what} should return a Python int, but returned a {type(actual).__name__}")
        if not math.isclose(actual, expected, rel_tol=tol, abs_tol=tol):
            raise GradingFailure(f"{what} returned a wrong number")
    elif isinstance(expected, (list, tuple)):
        if not isinstance(actual, (list, tuple)) or len(actual) != len(expected):
            raise GradingFailure(f"{what} should return a {type(expected).__name__} of {len(expected)} items, "
                                 f"but returned {_kind(actual)}")
        for index, (a, e) in enumerate(zip(actual, expected)):
            check_value(a, e, what=f"{what}[{index}]", tol=tol)
    elif isinstance(expected, dict):
        if not isinstance(actual, dict) or set(actual) != set(expected):
            raise GradingFailure(f"{what} should return a dict with keys {sorted(map(str, expected))}, "
                                 f"but returned {_kind(actual)}")
        for key in expected:
            check_value(actual[key], expected[key], what=f"{what}[{key!r}]", tol=tol)
    else:  # pragma: no cover - references are plain data by construction
        raise GraderBug(f"unsupported reference type {type(expected)}")


def _kind(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    if isinstance(value, (list, tuple, dict)):
        return f"a {type(value).__name__} of {len(value)} items"
    return "None" if value is None else f"a {type(value).__name__}"


# --------------------------------------------------------------------------------------------
# running a suite


@dataclass
class TestResult:
    """One hidden test's outcome, as the reports show it."""

    __test__ = False  # not a pytest test class

    name: str       # the test's docstring headline: what was checked
    group: str
    score: float
    max_score: float
    passed: bool
    message: str    # why points were lost ('' when passed)


class GradingPlugin:
    """The pytest plugin that gives a hidden suite its fixtures and collects its outcomes."""

    def __init__(self, assignment: Assignment, student: StudentCode, references: dict[str, Any],
                 record: bool = False):
        self.assignment = assignment
        self._student = student
        self.references = references
        self.record = record
        self.outcomes: dict[str, tuple[bool, str]] = {}
        self.items: list[pytest.Item] = []

    def pytest_configure(self, config):
        config.addinivalue_line("markers", "group(name): the assignment test group a hidden test scores for")

    @pytest.fixture
    def student(self) -> StudentCode:
        return self._student

    @pytest.fixture
    def expect(self, request) -> Expectation:
        return Expectation(self.references, _test_id(request.node), self.record)

    def pytest_collection_modifyitems(self, items):
        known = {g.name for g in self.assignment.groups}
        for item in items:
            marker = item.get_closest_marker("group")
            if marker is None or marker.args[0] not in known:
                raise GraderBug(f"{item.nodeid}: needs @pytest.mark.group(<one of {sorted(known)}>)")
        self.items = list(items)

    def pytest_runtest_logreport(self, report):
        if report.when == "call" or report.failed:
            test_id = report.nodeid.split("/")[-1]
            if report.passed and test_id not in self.outcomes:
                self.outcomes[test_id] = (True, "")
            elif report.failed:
                self.outcomes.setdefault(test_id, (False, _failure_message(report)))

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        exc = call.excinfo.value if call.excinfo else None
        if isinstance(exc, GraderBug) or (exc is not None and not isinstance(exc, (AssertionError, pytest.skip.Exception))):
            # A bug in the hidden suite is the staff's, never the student's: make it loud.
            report.grader_bug = f"{type(exc).__name__}: {exc}"

    def results(self) -> list[TestResult]:
        per_group: dict[str, int] = {}
        for item in self.items:
            group = item.get_closest_marker("group").args[0]
            per_group[group] = per_group.get(group, 0) + 1
        results = []
        for item in self.items:
            group = item.get_closest_marker("group").args[0]
            share = self.assignment.group(group).points / per_group[group]
            passed, message = self.outcomes.get(_test_id(item), (False, "the test did not run"))
            results.append(TestResult(_headline(item), group, share if passed else 0.0, share, passed, message))
        return results


def _test_id(item) -> str:
    return item.nodeid.split("/")[-1]


def _headline(item) -> str:
    """The test's name as students see it: its docstring's first line, and the parameters' id
    (``[float32]``) when it is parametrized."""
    doc = (item.function.__doc__ or "").strip().splitlines()
    headline = doc[0] if doc else item.originalname.removeprefix("test_").replace("_", " ")
    callspec = getattr(item, "callspec", None)
    return f"{headline} [{callspec.id}]" if callspec is not None else headline


def _failure_message(report) -> str:
    bug = getattr(report, "grader_bug", None)
    if bug:
        return f"internal grader error ({bug}); this is not your fault — tell the course staff"
    excinfo = getattr(report, "longrepr", None)
    crash = getattr(excinfo, "reprcrash", None)
    message = crash.message if crash is not None else str(excinfo)
    return message.removeprefix("autograder.suite.GradingFailure: ").removeprefix("GradingFailure: ")


SUITES_DIR = Path(__file__).resolve().parent / "suites"
SAMPLE_CLASS_FILE = "sample_class.py"  # the demo's sample students; staff-only, not part of the suite


def suite_dir(assignment_id: str) -> Path:
    """The assignment's staff folder: hidden tests, recorded references and its sample class."""
    return SUITES_DIR / assignment_id


def hidden_suite_files(assignment_id: str) -> list[Path]:
    """The Python files of the hidden suite (tests and their helpers), sample class excluded."""
    folder = suite_dir(assignment_id)
    return sorted(p for p in folder.rglob("*.py") if p.name != SAMPLE_CLASS_FILE and "__pycache__" not in p.parts)


def _forget_modules_of(folder: Path) -> None:
    """Drop the suite files under ``folder`` from ``sys.modules``: pytest's importlib mode names a
    module after its path relative to the rootdir (the suite folder), so two assignments' suites
    each holding ``test_trained_models.py`` would otherwise share one module in a process."""
    prefixes = {str(Path(folder)) + os.sep, str(Path(folder).resolve()) + os.sep}
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if isinstance(path, str) and path.startswith(tuple(prefixes)):
            del sys.modules[name]


def run_suite(assignment: Assignment, student: StudentCode, references: dict[str, Any],
              record: bool = False, folder: Path | None = None) -> list[TestResult]:
    """Run the hidden suite (``folder``, by default the assignment's) against ``student``, quietly."""
    plugin = GradingPlugin(assignment, student, references, record)
    folder = folder or suite_dir(assignment.id)
    args = [str(folder), "-p", "no:cacheprovider", "-p", "no:terminal", "-p", "no:xdist",
            "-p", "no:randomly", "--rootdir", str(folder), "-c", os.devnull,
            "--import-mode=importlib", "-W", "ignore"]
    _forget_modules_of(folder)  # another suite's file of the same name must not stand in for this one's
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            code = pytest.main(args, plugins=[plugin])
    finally:
        _forget_modules_of(folder)
    if code == pytest.ExitCode.INTERRUPTED:
        raise KeyboardInterrupt  # Ctrl-C is an instruction to stop, never a grade
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        raise GraderBug(f"the hidden suite of {assignment.id} could not run (pytest exit code {code})")
    results = plugin.results()
    if record and not all(r.passed for r in results):
        # The source solutions must pass their own suite, or the references would be wrong.
        failed = "; ".join(f"{r.name}: {r.message}" for r in results if not r.passed)
        raise GraderBug("the source solutions fail checks the hidden suite computes itself (its own formulas and "
                        "rules, not the recorded references, which were being re-recorded), so nothing was "
                        f"written: {failed}")
    return results
