"""Drivers: multi-step calls that run next to student code in the sandbox and return plain data only."""
from __future__ import annotations

import textwrap

import pytest
import torch

from autograder.child.drivers import DRIVERS, INSTANCE
from autograder.sandbox import Limits, Sandbox

pytestmark = pytest.mark.xdist_group("sandbox")

STUDENT = textwrap.dedent('''
    import torch

    class Scale:
        """A layer whose cache is not plain data: it could never cross the wire."""
        @staticmethod
        def forward(x, factor=2.0):
            return x * factor, (lambda d: d * factor)
        @staticmethod
        def backward(dout, cache):
            return cache(dout)

    class Broken:
        @staticmethod
        def forward(x):
            return x.no_such_method(), None

    class Linear:
        def __init__(self, D, C, dtype=torch.float32):
            self.params = {"W": torch.zeros(D, C, dtype=dtype), "b": torch.zeros(C, dtype=dtype)}
            self.seen = None
        def loss(self, X, y=None):
            scores = X @ self.params["W"] + self.params["b"]
            if y is None:
                return scores
            return scores.sum(), {"W": X.t() @ torch.ones_like(scores), "b": torch.ones_like(self.params["b"]) * X.shape[0]}

    def momentum(w, dw, config=None):
        config = config if config is not None else {}
        config.setdefault("learning_rate", 0.1)
        v = 0.9 * config.get("velocity", torch.zeros_like(w)) - config["learning_rate"] * dw
        config["velocity"] = v
        return w + v, config

    class Box:
        def __init__(self):
            self.value = None

    class Net:
        def __init__(self):
            self.params = {"W": torch.ones(2)}

    def double(x):
        return 2 * x

    def apply(params, f, g):
        params["W"] = f(params["W"])
        return Net(), g(), 3

    def threads():
        return torch.get_num_threads()

    def fill(box, value):
        box.value = torch.full((2,), value)
        return box, value * 2

    class Doubled(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return 2 * x
        @staticmethod
        def backward(ctx, grad):
            return 3 * grad  # deliberately not the true gradient: the driver must use this backward

    def doubled(x):
        return Doubled.apply(x)

    class Stack(torch.nn.Module):
        def __init__(self, width, block=torch.nn.Linear):
            super().__init__()
            self.first = block(width, width)
            self.act = torch.nn.ReLU()
            self.last = torch.nn.Linear(width, 1, bias=False)
        def forward(self, x):
            return self.last(self.act(self.first(x)))

    class Pair(torch.nn.Module):
        def __init__(self, width_in, width_out):
            super().__init__()
            self.linear = torch.nn.Linear(width_in, width_out)
            self.act = torch.nn.Tanh()
        def forward(self, x):
            return self.act(self.linear(x))
''')


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    folder = tmp_path_factory.mktemp("student")
    (folder / "mod.py").write_text(STUDENT)
    with Sandbox(folder, Limits(call_timeout_s=20)) as box:
        yield box


def test_layer_roundtrip_keeps_the_cache_in_the_child(sandbox):
    x = torch.randn(3, 4)
    result = sandbox.drive("layer_roundtrip", "mod.Scale", (x,), {"factor": 3.0}, torch.ones(3, 4))
    assert result.ok, result.error
    assert torch.equal(result.value["out"], x * 3) and torch.equal(result.value["grads"], torch.full((3, 4), 3.0))
    forward_only = sandbox.drive("layer_roundtrip", "mod.Scale", (x,), {}, None)
    assert forward_only.ok and set(forward_only.value) == {"out"}


def test_model_loss_sets_the_given_parameters_before_calling_loss(sandbox):
    X = torch.randn(5, 3, dtype=torch.float64)
    W = torch.randn(3, 2, dtype=torch.float64)
    kwargs = {"D": 3, "C": 2, "dtype": torch.float64}
    scores = sandbox.drive("model_loss", "mod.Linear", kwargs, {"W": W}, X)
    assert scores.ok and torch.allclose(scores.value, X @ W)
    loss = sandbox.drive("model_loss", "mod.Linear", kwargs, {"W": W}, X, torch.zeros(5, dtype=torch.int64))
    assert loss.ok
    value, grads = loss.value
    assert torch.allclose(value, (X @ W).sum()) and set(grads) == {"W", "b"}


def test_model_state_returns_params_and_attributes(sandbox):
    state = sandbox.drive("model_state", "mod.Linear", {"D": 4, "C": 3}, ("seen", "absent"))
    assert state.ok and tuple(state.value["params"]["W"].shape) == (4, 3)
    assert state.value["seen"] is None and state.value["absent"] is None


def test_update_steps_returns_every_step_with_its_state(sandbox):
    w, dw = torch.zeros(3), torch.ones(3)
    result = sandbox.drive("update_steps", "mod.momentum", w, [dw, dw], None)
    assert result.ok
    (w1, c1), (w2, c2) = result.value
    assert torch.allclose(w1, torch.full((3,), -0.1)) and torch.allclose(c1["velocity"], torch.full((3,), -0.1))
    assert torch.allclose(c2["velocity"], torch.full((3,), -0.19)) and torch.allclose(w2, torch.full((3,), -0.29))


def test_call_with_instance_marks_the_instance_and_reports_its_attributes(sandbox):
    result = sandbox.drive("call_with_instance", "mod.fill", "mod.Box", {}, (1.5,), {}, ("value",))
    assert result.ok
    assert result.value["result"] == [INSTANCE, 3.0]
    assert torch.equal(result.value["instance"]["value"], torch.full((2,), 1.5))


def test_student_failures_inside_a_driver_are_reported_like_calls(sandbox):
    broken = sandbox.drive("layer_roundtrip", "mod.Broken", (torch.ones(2),), {}, None)
    assert not broken.ok and broken.kind == "exception" and "AttributeError" in broken.error
    assert "line" in broken.error
    missing = sandbox.drive("model_loss", "mod.Nothing", {}, None, torch.ones(2))
    assert missing.kind == "missing" and "Nothing" in missing.error
    absent_module = sandbox.drive("layer_roundtrip", "nomodule.Layer", (torch.ones(2),), {}, None)
    assert absent_module.kind == "missing" and "nomodule.py is missing" in absent_module.error


def test_only_named_drivers_run(sandbox):
    for name in ("__import__", "Loader", "_solver_summary", "os"):
        assert name not in DRIVERS
        result = sandbox.drive(name, "mod")
        assert not result.ok and result.kind == "bad_request", (name, result)
    assert sandbox.call("mod.momentum", torch.zeros(1), torch.zeros(1)).ok  # the child still serves calls


def test_the_child_runs_one_torch_thread(sandbox):
    """Students are graded side by side (--jobs); one thread each keeps them from starving each other."""
    assert sandbox.call("mod.threads").value == 1


def test_call_with_callables_passes_student_functions_and_returns_the_arguments_after(sandbox):
    """Arguments named in ``callables`` become the student's own function (or one returning a constant);
    the arguments come back as they are after the call, and a returned model as its params."""
    reply = sandbox.drive("call_with_callables", "mod.apply", ({"W": torch.ones(2)}, None), {"g": None},
                          {1: "mod.double", "g": {"returns": [1, 2]}})
    assert reply.ok, reply.error
    result, args = reply.value["result"], reply.value["args"]
    assert result[0]["class"] == "Net" and torch.equal(result[0]["params"]["W"], torch.ones(2))
    assert result[1] == [1, 2] and result[2] == 3
    assert torch.equal(args[0]["W"], torch.full((2,), 2.0)) and args[1] == "mod.double"


def test_layer_roundtrip_runs_the_named_methods(sandbox):
    x = torch.randn(2, 3)
    result = sandbox.drive("layer_roundtrip", "mod.Scale", (x,), {}, torch.ones(2, 3), "forward", "backward")
    assert result.ok and torch.equal(result.value["out"], 2 * x)
    wrong = sandbox.drive("layer_roundtrip", "mod.Scale", (x,), {}, None, "forward_im2col")
    assert not wrong.ok and "forward_im2col" in wrong.error


def test_call_many_returns_every_result_or_the_chosen_item(sandbox):
    calls = [((torch.full((2,), float(k)),), {"factor": 1.0 + k}) for k in range(3)]
    outs = sandbox.drive("call_many", "mod.Scale.forward", calls, 0)
    assert outs.ok, outs.error
    assert [o.tolist() for o in outs.value] == [[0.0, 0.0], [2.0, 2.0], [6.0, 6.0]]
    doubled = sandbox.drive("call_many", "mod.double", [((3,), {}), ((4,), {})])
    assert doubled.ok and doubled.value == [6, 8]


def test_model_losses_sets_each_parameter_set_and_keeps_the_loss(sandbox):
    X, y = torch.ones(2, 3, dtype=torch.float64), torch.zeros(2, dtype=torch.int64)
    kwargs = {"D": 3, "C": 2, "dtype": torch.float64}
    sets = [{"W": torch.full((3, 2), float(k), dtype=torch.float64)} for k in range(3)]
    losses = sandbox.drive("model_losses", "mod.Linear", kwargs, sets, X, y)
    assert losses.ok, losses.error
    assert [float(v) for v in losses.value] == [0.0, 12.0, 24.0]


def test_module_probe_fixes_the_parameters_and_describes_the_module(sandbox):
    x = torch.randn(4, 3)
    first = sandbox.drive("module_probe", "mod.Stack", (3,), {}, x, 7)
    again = sandbox.drive("module_probe", "mod.Stack", (3,), {}, x, 7)
    other = sandbox.drive("module_probe", "mod.Stack", (3,), {}, x, 8)
    assert first.ok, first.error
    value = first.value
    assert torch.equal(value["out"], again.value["out"]) and not torch.equal(value["out"], other.value["out"])
    assert value["num_params"] == 3 * 3 + 3 + 3 and value["layers"] == ["Linear", "ReLU", "Linear"]
    assert value["param_shapes"] == [["first.weight", [3, 3]], ["first.bias", [3]], ["last.weight", [1, 3]]]
    with_class = sandbox.drive("module_probe", "mod.Stack", (3,), {}, x, 7, True, {"block": "mod.Pair"})
    assert with_class.ok, with_class.error
    assert with_class.value["layers"] == ["Linear", "Tanh", "ReLU", "Linear"]
    not_a_module = sandbox.drive("module_probe", "mod.Box", (), {}, x, 7)
    assert not_a_module.ok and not_a_module.value["out"] is None and not_a_module.value["layers"] == ["Box"]


def test_autograd_backward_goes_through_the_students_function(sandbox):
    x = torch.randn(5, dtype=torch.float64)
    result = sandbox.drive("autograd_backward", "mod.doubled", x, torch.ones(5, dtype=torch.float64))
    assert result.ok, result.error
    assert torch.equal(result.value["y"], 2 * x) and torch.equal(result.value["grad"], torch.full((5,), 3.0,
                                                                                                 dtype=torch.float64))
    plain = sandbox.drive("autograd_backward", "mod.Doubled.forward", x, torch.ones(5))
    assert not plain.ok
