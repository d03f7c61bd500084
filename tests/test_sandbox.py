"""The sandbox as the grader uses it: calls, failure kinds, limits, and a fresh child after a failure."""
from __future__ import annotations

import textwrap

import pytest
import torch

from autograder.sandbox import Limits, Sandbox

pytestmark = pytest.mark.xdist_group("sandbox")

STUDENT = textwrap.dedent('''
    import os
    import sys
    import torch

    calls = []

    def add(a, b):
        return a + b

    def describe(x):
        return {"shape": tuple(x.shape), "stride": x.stride(), "contiguous": x.is_contiguous(),
                "dtype": x.dtype}

    def fill_(x):
        x.fill_(7)
        return None

    def remember(value):
        calls.append(value)
        return list(calls)

    class Counter:
        def __init__(self, start):
            self.count = start
        def bump(self, by=1):
            self.count += by
            return self

    def fails():
        return helper()

    def helper():
        raise ValueError("the shapes do not match")

    def todo():
        raise NotImplementedError

    def spins():
        while True:
            pass

    def exits():
        os._exit(3)

    def segfaults():
        import ctypes
        ctypes.string_at(0)

    def quits():
        sys.exit(0)

    def returns_numpy():
        import numpy
        return {"array": numpy.arange(3.0), "scalar": numpy.float32(0.5), "counts": [numpy.int64(2)]}

    def returns_object():
        return object()

    class Softmax:
        def train(self):
            return softmax_loss_vectorized()

    def softmax_loss_vectorized():
        raise NotImplementedError("linear_classifier.softmax_loss_vectorized: not implemented yet")

    def calls_a_broken_helper():
        return helper()

    def subtracts_a_bool_tensor(x):
        return x - (x > 0)  # torch raises NotImplementedError for this: a real error, not a stub

    def forks_and_returns():
        os.fork()  # the copy returns too, into the child's request loop
        return "forked"

    def prints(count):
        print("x" * count)
        return count

    def prints_forever():
        while True:
            print("spam " * 100)

    def allocates(gigabytes):
        return torch.empty(int(gigabytes * 2**30), dtype=torch.uint8).fill_(1).sum().item()

    def where_am_i():
        return os.getcwd(), os.environ.get("HOME"), os.getuid()

    def on_cuda(x):
        return x.cuda()
''')


@pytest.fixture(scope="module")
def submission(tmp_path_factory):
    folder = tmp_path_factory.mktemp("student")
    (folder / "mod.py").write_text(STUDENT)
    (folder / "broken.py").write_text("def f(:\n    pass\n")
    (folder / "raises_at_import.py").write_text("raise RuntimeError('boom at import')\n")
    return folder


@pytest.fixture(scope="module")
def sandbox(submission):
    with Sandbox(submission, Limits(call_timeout_s=10, memory_mb=4096)) as box:
        yield box


def test_values_come_back_as_plain_data(sandbox):
    result = sandbox.call("mod.add", 2, b=3)
    assert result.ok and result.value == 5
    result = sandbox.call("mod.add", torch.ones(2, 3, dtype=torch.float64), torch.ones(3, dtype=torch.float64))
    assert result.ok and torch.equal(result.value, torch.full((2, 3), 2.0, dtype=torch.float64))
    assert result.value.eecs498_device == "cpu"


def test_inputs_arrive_as_the_views_they_were(sandbox):
    x = torch.randn(4, 6).t()
    result = sandbox.call("mod.describe", x)
    assert result.value == {"shape": (6, 4), "stride": (1, 6), "contiguous": False, "dtype": torch.float32}


def test_in_place_changes_are_visible_with_return_args(sandbox):
    x = torch.zeros(3)
    result = sandbox.call("mod.fill_", x, return_args=True)
    assert result.ok and result.value is None
    assert torch.equal(result.args_after[0], torch.full((3,), 7.0)) and torch.equal(x, torch.zeros(3))


def test_chain_builds_a_class_then_calls_methods(sandbox):
    result = sandbox.call("mod.Counter", 5, chain=[("call", "bump", (), {"by": 2}), ("call", "bump", (), {}),
                                                    ("attr", "count")])
    assert result.ok and result.value == 8


def test_exceptions_name_type_line_and_message(sandbox):
    result = sandbox.call("mod.helper")
    assert not result.ok and result.kind == "exception"
    assert "ValueError" in result.error and "the shapes do not match" in result.error and "line" in result.error
    assert "mod.py" in result.traceback and "__main__" not in result.traceback


def test_not_implemented_missing_and_import_failures(sandbox):
    assert sandbox.call("mod.todo").kind == "not_implemented"
    missing_function = sandbox.call("mod.nothing_here")
    assert missing_function.kind == "missing" and "nothing_here" in missing_function.error
    missing_file = sandbox.call("knn.predict_labels")
    assert missing_file.kind == "missing" and "knn.py" in missing_file.error
    syntax = sandbox.call("broken.f")
    assert syntax.kind == "import" and "syntax error on line 1" in syntax.error
    at_import = sandbox.call("raises_at_import.f")
    assert at_import.kind == "import" and "boom at import" in at_import.error


def test_non_plain_return_values_are_bad_output(sandbox):
    result = sandbox.call("mod.returns_object")
    assert result.kind == "bad_output" and "builtins.object" in result.error


def test_numpy_values_arrive_as_tensors_and_numbers(sandbox):
    value = sandbox.call("mod.returns_numpy").value
    assert torch.equal(value["array"], torch.arange(3.0, dtype=torch.float64))
    assert value["scalar"] == 0.5 and type(value["scalar"]) is float
    assert value["counts"] == [2] and type(value["counts"][0]) is int


def test_a_failure_names_the_student_function_that_raised(sandbox):
    """Not the entry point the test called: "`Softmax.train` failed because `softmax_loss_vectorized`..."."""
    todo = sandbox.call("mod.Softmax", chain=[("call", "train", (), {})])
    assert todo.kind == "not_implemented"
    assert todo.error.startswith("failed because `softmax_loss_vectorized` is not implemented yet"), todo.error
    broken = sandbox.call("mod.calls_a_broken_helper")
    assert broken.error.startswith("failed because `helper` raised ValueError on line"), broken.error
    direct = sandbox.call("mod.todo")
    assert direct.error == "not implemented yet (it raises NotImplementedError)"
    torch_error = sandbox.call("mod.subtracts_a_bool_tensor", torch.ones(2, dtype=torch.bool))
    assert torch_error.kind == "exception" and "raised NotImplementedError on line" in torch_error.error
    assert "not implemented yet" not in torch_error.error


def test_a_forked_copy_of_the_child_never_answers(sandbox):
    assert sandbox.call("mod.forks_and_returns").value == "forked"
    assert [sandbox.call("mod.add", i, 1).value for i in range(20)] == list(range(1, 21))


def test_sys_exit_is_an_exception_not_a_crash(sandbox):
    result = sandbox.call("mod.quits")
    assert result.kind == "exception" and "sys.exit" in result.error
    assert sandbox.call("mod.add", 1, 1).value == 2


def test_prints_are_captured_and_truncated(submission):
    with Sandbox(submission, Limits(output_bytes=1000)) as box:
        result = box.call("mod.prints", 10)
        assert result.value == 10 and result.stdout == "x" * 10 + "\n"
        result = box.call("mod.prints", 100_000)
        assert result.ok and len(result.stdout) == 1000


def test_printing_without_end_is_bounded(submission):
    with Sandbox(submission, Limits(output_bytes=5000, file_size_mb=4, call_timeout_s=5)) as box:
        result = box.call("mod.prints_forever")
        assert not result.ok and result.kind in ("timeout", "disk"), result
        assert len(result.stdout) <= 5000
        assert box.call("mod.add", 1, 2, timeout=300).value == 3  # a fresh child may have to start


def test_timeout_kills_the_child_and_the_next_call_gets_a_fresh_one(sandbox):
    assert sandbox.call("mod.remember", 1).value == [1]
    result = sandbox.call("mod.spins", timeout=2)
    assert result.kind == "timeout" and "2 s" in result.error
    assert sandbox.call("mod.remember", 2).value == [2]  # a new process: module state is gone


@pytest.mark.parametrize("name, words", [("exits", "exit code 3"), ("segfaults", "SIGSEGV")])
def test_crashes_cost_one_call(sandbox, name, words):
    result = sandbox.call(f"mod.{name}")
    assert result.kind == "crash" and words in result.error
    assert sandbox.call("mod.add", 1, 2).value == 3


def test_memory_limit(submission):
    with Sandbox(submission, Limits(memory_mb=4096)) as box:
        result = box.call("mod.allocates", 8)
        assert result.kind == "memory", result
        assert box.call("mod.allocates", 0.01).value == int(0.01 * 2**30)


def test_cpu_time_limit(submission):
    with Sandbox(submission, Limits(cpu_s=3, call_timeout_s=60)) as box:
        result = box.call("mod.spins")
        assert result.kind == "timeout" and "CPU" in result.error


def test_child_runs_in_its_own_folder_as_nobody(sandbox):
    cwd, home, uid = sandbox.call("mod.where_am_i").value
    assert cwd == home and uid == 65534


def test_cpu_grading_hides_gpus(sandbox):
    result = sandbox.call("mod.on_cuda", torch.zeros(1))
    assert not result.ok and result.kind == "exception"


def test_checkpoints_are_read_in_the_child_as_plain_tensors(tmp_path):
    torch.save({"W": torch.ones(3, 2), "meta": {"lr": 0.1}}, tmp_path / "model.pt")
    (tmp_path / "corrupt.pt").write_bytes(b"not a checkpoint")

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))
    torch.save({"W": Evil()}, tmp_path / "evil.pt")
    with Sandbox(tmp_path) as box:
        loaded = box.load_file("model.pt")
        assert loaded.ok and torch.equal(loaded.value["W"], torch.ones(3, 2)) and loaded.value["meta"] == {"lr": 0.1}
        for name, kind in (("corrupt.pt", "bad_output"), ("evil.pt", "bad_output"), ("absent.pt", "missing"),
                           ("../model.pt", "missing")):
            result = box.load_file(name)
            assert not result.ok and result.kind == kind and name in result.error, (name, result)
