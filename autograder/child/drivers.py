"""Drivers: multi-step calls that run inside the sandbox and return plain data only.

Some student code cannot be called in one step from the grader: a layer's ``backward`` needs the
``cache`` its ``forward`` made (which may hold anything), a model must be built and have its
parameters set before ``loss`` runs, a ``Solver`` must be built around a student's model and
trained. A driver does those steps next to the student's code and returns only plain data
(tensors, numbers, strings, lists, dicts), so no object of the student's ever crosses the wire.

Drivers hold no test logic and no reference values: they only call. The grader asks for one by
name (``sandbox.drive("layer_roundtrip", "fully_connected_networks.ReLU", (x,), {}, dout)``); the
first argument every driver gets is ``load``, which turns ``"module.name"`` into the student's
object (``missing``/``import`` failures are reported as for a plain call). This module is copied
into the sandbox with the rest of :mod:`autograder.child`, so it imports only the standard library,
torch, and (inside the sandbox) the private copy of ``eecs498``.
"""
from __future__ import annotations

from typing import Any, Callable

Loader = Callable[[str], Any]


def layer_roundtrip(load: Loader, layer: str, forward_args: tuple, forward_kwargs: dict, dout,
                    forward: str = "forward", backward: str = "backward") -> dict:
    """``out, cache = Layer.forward(*args, **kwargs)``; ``grads = Layer.backward(dout, cache)``
    (or the methods named ``forward`` and ``backward``, e.g. ``forward_im2col``).

    Returns ``{"out": out, "grads": grads}``; ``dout=None`` skips the backward pass.
    """
    cls = load(layer)
    out, cache = getattr(cls, forward)(*forward_args, **forward_kwargs)
    result = {"out": out}
    if dout is not None:
        result["grads"] = getattr(cls, backward)(dout, cache)
    return result


def model_loss(load: Loader, model: str, init_kwargs: dict, params: dict | None, X, y=None,
               loss_kwargs: dict | None = None) -> Any:
    """Build ``model(**init_kwargs)``, set ``model.params[name] = value`` for each given parameter,
    then return ``model.loss(X, y, **loss_kwargs)`` (``model.loss(X)`` when ``y`` is None)."""
    instance = load(model)(**init_kwargs)
    for name, value in (params or {}).items():
        instance.params[name] = value
    loss_kwargs = loss_kwargs or {}
    return instance.loss(X, **loss_kwargs) if y is None else instance.loss(X, y, **loss_kwargs)


def model_state(load: Loader, model: str, init_kwargs: dict, attributes: tuple = ()) -> dict:
    """Build ``model(**init_kwargs)``; return its ``params`` and the named attributes."""
    instance = load(model)(**init_kwargs)
    state = {"params": dict(instance.params)}
    for name in attributes:
        state[name] = getattr(instance, name, None)
    return state


def update_steps(load: Loader, rule: str, w, dws: list, config: dict | None) -> list:
    """Apply the update rule ``rule(w, dw, config) -> (next_w, config)`` once per ``dws`` entry.

    Returns ``[(next_w, config), ...]`` after each step: copies of ``next_w`` and of the config's
    values, so a rule that updates ``w`` and its state in place (as the course's ``sgd`` does, and
    returns them) is recorded step by step.
    """
    function = load(rule)
    history = []
    for dw in dws:
        w, config = function(w, dw, config)
        history.append((w.clone() if hasattr(w, "clone") else w, _plain_config(config)))
    return history


def solver_train(load: Loader, model: str, model_kwargs: dict, data: dict, solver_kwargs: dict,
                 update_rule: str | None = None) -> dict:
    """Train ``model(**model_kwargs)`` with the helper package's ``Solver`` on ``data``.

    ``update_rule`` names a student update rule (``"module.adam"``); ``None`` keeps the Solver's
    default. Returns the histories and the final training accuracy on all of ``data["X_train"]``.
    """
    from eecs498.solver import Solver

    instance = load(model)(**model_kwargs)
    if update_rule is not None:
        solver_kwargs = {**solver_kwargs, "update_rule": load(update_rule)}
    solver = Solver(instance, data, **solver_kwargs)
    solver.train()
    return _solver_summary(solver, data)


def call_then_train(load: Loader, factory: str, args: tuple, kwargs: dict, data: dict | None = None) -> dict:
    """``solver = factory(*args, **kwargs)`` (a function that builds a ``Solver``); describe it and,
    when ``data`` is given, train it and add the histories. Returns plain data only."""
    solver = load(factory)(*args, **kwargs)
    description = {
        "type": type(solver).__name__,
        "model_type": type(getattr(solver, "model", None)).__name__,
        "num_epochs": getattr(solver, "num_epochs", None),
        "batch_size": getattr(solver, "batch_size", None),
        "param_shapes": {name: list(value.shape) for name, value in getattr(solver.model, "params", {}).items()}
        if hasattr(solver, "model") else {},
    }
    if data is not None:
        solver.train()
        description.update(_solver_summary(solver, data))
    return description


INSTANCE = "<the instance it was given>"


def call_with_instance(load: Loader, function: str, instance_class: str, instance_kwargs: dict, args: tuple,
                       kwargs: dict, attributes: tuple = ()) -> dict:
    """``function(instance_class(**instance_kwargs), *args, **kwargs)``, for a function that takes an
    object (e.g. ``test_one_param_set(cls, data_dict, lr, reg)``).

    Returns ``{"result": ..., "instance": {attribute: value}}``: in the result, the instance itself
    (returned alone or inside a tuple/list) is replaced by the string :data:`INSTANCE`.
    """
    instance = load(instance_class)(**instance_kwargs)
    result = load(function)(instance, *args, **kwargs)
    if isinstance(result, (tuple, list)):
        result = [INSTANCE if item is instance else item for item in result]
    elif result is instance:
        result = INSTANCE
    return {"result": result, "instance": {name: getattr(instance, name, None) for name in attributes}}


def call_with_callables(load: Loader, function: str, args: tuple, kwargs: dict, callables: dict) -> dict:
    """``function(*args, **kwargs)`` for a function that takes functions as arguments (``nn_train``'s
    ``loss_func`` and ``pred_func``, ``find_best_net``'s ``get_param_set_fn``).

    ``callables`` maps a position in ``args`` (int) or a keyword (str) to what goes there: a
    ``"module.name"`` of the student's, or ``{"returns": value}`` for a function that returns
    ``value`` whatever it is given. Returns ``{"result": ..., "args": [...]}``: the result, and the
    positional arguments as they are after the call (to see what was updated in place), each
    callable replaced by its description. In the result, an object that is not plain data but
    has a ``params`` dict (a model) is replaced by ``{"class": its class name, "params": ...}``.
    """
    args, kwargs = list(args), dict(kwargs)
    for key, spec in callables.items():
        value = load(spec) if isinstance(spec, str) else _constant(spec["returns"])
        if isinstance(key, int):
            args[key] = value
        else:
            kwargs[key] = value
    result = load(function)(*args, **kwargs)
    if isinstance(result, (tuple, list)):
        result = [_model_as_data(item) for item in result]
    else:
        result = _model_as_data(result)
    after = [callables[i] if i in callables else arg for i, arg in enumerate(args)]
    return {"result": result, "args": after}


def call_many(load: Loader, target: str, calls: list, item: int | None = None) -> list:
    """``target(*args, **kwargs)`` for each ``(args, kwargs)`` of ``calls``, in one round trip (the
    perturbed inputs of a numeric gradient). With ``item``, keep ``result[item]`` of each result
    (the ``out`` of a layer's ``(out, cache)``, whose cache may hold anything)."""
    function = load(target)
    results = []
    for args, kwargs in calls:
        result = function(*args, **kwargs)
        results.append(result[item] if item is not None else result)
    return results


def model_losses(load: Loader, model: str, init_kwargs: dict, params_list: list, X, y) -> list:
    """Build ``model(**init_kwargs)`` once; for each dict of ``params_list``, set those parameters
    and keep the loss of ``model.loss(X, y)`` (its first item). Returns the losses."""
    instance = load(model)(**init_kwargs)
    losses = []
    for params in params_list:
        for name, value in params.items():
            instance.params[name] = value
        result = instance.loss(X, y)
        losses.append(result[0] if isinstance(result, (tuple, list)) else result)
    return losses


def module_probe(load: Loader, module: str, args: tuple, kwargs: dict, x, seed: int, train: bool = True,
                 classes: dict | None = None) -> dict:
    """Build the ``torch.nn.Module`` ``module(*args, **kwargs)`` (``classes`` maps more keyword
    arguments to ``"module.name"`` objects of the student's, e.g. a ResNet's ``block``), give its parameters fixed values
    (drawn in the order of ``named_parameters`` from a generator seeded with ``seed``, each scaled
    by 1 / sqrt(fan-in)), and run it on ``x`` in train (batch statistics) or eval mode.

    Returns ``{"out", "num_params", "param_shapes": [[name, shape], ...], "layers": [the class
    names of its leaf modules, in registration order]}``; ``"out"`` is ``None`` when the module
    is not an ``nn.Module``.
    """
    import torch

    kwargs = {**kwargs, **{name: load(target) for name, target in (classes or {}).items()}}
    instance = load(module)(*args, **kwargs)
    if not isinstance(instance, torch.nn.Module):
        return {"out": None, "num_params": 0, "param_shapes": [], "layers": [type(instance).__name__]}
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, parameter in instance.named_parameters():
            fan_in = max(1, parameter[0].numel()) if parameter.dim() > 1 else 1
            values = torch.randn(parameter.shape, generator=generator, dtype=torch.float64) / fan_in ** 0.5
            parameter.copy_(values.to(parameter.dtype))
    instance.train(train)
    with torch.no_grad():
        out = instance(x)
    return {
        "out": out,
        "num_params": sum(p.numel() for p in instance.parameters()),
        "param_shapes": [[name, list(p.shape)] for name, p in instance.named_parameters()],
        "layers": [type(m).__name__ for m in instance.modules() if not list(m.children())],
    }


def autograd_backward(load: Loader, function: str, x, dout) -> dict:
    """``y = function(x)`` with ``x`` requiring gradients, then ``y.backward(dout)``: the output and
    the gradient autograd gives ``x`` (through the student's ``torch.autograd.Function``)."""
    x = x.detach().clone().requires_grad_(True)
    y = load(function)(x)
    y.backward(dout)
    return {"y": y.detach(), "grad": x.grad}


def preflight(load: Loader) -> dict:
    """What grading needs inside the sandbox: torch, numpy and the helper package import, and a
    tensor computes. Returns their versions."""
    import numpy
    import torch

    import eecs498

    return {"torch": torch.__version__, "numpy": numpy.__version__,
            "eecs498": bool(eecs498.__file__), "sum": float(torch.arange(4.0).sum())}


def _constant(value: Any) -> Callable:
    def constant(*args: Any, **kwargs: Any) -> Any:
        return value
    return constant


def _model_as_data(value: Any) -> Any:
    params = getattr(value, "params", None)
    if isinstance(params, dict) and not isinstance(value, (dict, list, tuple)):
        return {"class": type(value).__name__, "params": dict(params)}
    return value


def _solver_summary(solver, data: dict) -> dict:
    return {
        "loss_history": [float(v) for v in solver.loss_history],
        "train_acc_history": [float(v) for v in solver.train_acc_history],
        "val_acc_history": [float(v) for v in solver.val_acc_history],
        "train_acc": float(solver.check_accuracy(data["X_train"], data["y_train"])),
    }


def _plain_config(config: Any) -> Any:
    if isinstance(config, dict):
        return {str(k): _plain_config(v) for k, v in config.items()}
    if hasattr(config, "clone"):
        return config.clone()
    return config


def autograd_grads(load: Loader, function: str, args: tuple, dout) -> dict:
    """``out = function(*args)`` with every floating tensor of ``args`` (also inside lists and
    tuples, e.g. a list of parameters) a fresh leaf that requires gradients, then
    ``out.backward(dout)``. Returns ``{"out": out, "grads": [each leaf's .grad, in the order the
    leaves appear in args]}`` (a ``None`` where autograd gave a leaf no gradient)."""
    leaves = []

    def leaf(value):
        if hasattr(value, "is_floating_point") and value.is_floating_point():
            made = value.detach().clone().requires_grad_(True)
            leaves.append(made)
            return made
        if isinstance(value, (list, tuple)):
            return type(value)(leaf(item) for item in value)
        return value

    out = load(function)(*[leaf(arg) for arg in args])
    out.backward(dout)
    return {"out": out.detach(), "grads": [t.grad for t in leaves]}


def module_init(load: Loader, module: str, args: tuple, kwargs: dict, seed: int) -> dict:
    """``torch.manual_seed(seed)``, then ``module(*args, **kwargs)``: its parameters as they are
    initialized. Returns ``{"type": class name, "is_module": bool, "params": [[name, tensor], ...]}``
    (in the order of ``named_parameters``; empty when it is not an ``nn.Module``)."""
    import torch

    torch.manual_seed(seed)
    instance = load(module)(*args, **kwargs)
    if not isinstance(instance, torch.nn.Module):
        return {"type": type(instance).__name__, "is_module": False, "params": []}
    return {"type": type(instance).__name__, "is_module": True,
            "params": [[name, p.detach().clone()] for name, p in instance.named_parameters()]}


def factory_probe(load: Loader, factory: str, args: tuple, kwargs: dict, x, seed: int, train: bool = True) -> dict:
    """``result = factory(*args, **kwargs)``, a function returning ``(model, optimizer)``: describe
    the optimizer, then probe the model as :func:`module_probe` does (fixed parameters drawn from
    ``seed``, output on ``x``). Returns ``{"result_type", "model_type", "optimizer_type", "groups":
    [hyperparameters and parameter count of each param group], "covers_model": whether the optimizer
    holds exactly the model's parameters, "probe": module_probe's dict}``; only what exists."""
    import torch

    result = load(factory)(*args, **kwargs)
    description = {"result_type": type(result).__name__}
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        return description
    model, optimizer = result
    description["model_type"] = type(model).__name__
    description["optimizer_type"] = type(optimizer).__name__
    if isinstance(optimizer, torch.optim.Optimizer):
        description["groups"] = [
            {**{key: group[key] for key in ("lr", "momentum", "weight_decay", "nesterov", "dampening")
                if key in group and isinstance(group[key], (bool, int, float))},
             "num_params": len(group["params"])}
            for group in optimizer.param_groups]
        if isinstance(model, torch.nn.Module):
            held = {id(p) for group in optimizer.param_groups for p in group["params"]}
            description["covers_model"] = held == {id(p) for p in model.parameters()}
    if isinstance(model, torch.nn.Module):
        description["probe"] = module_probe(lambda _: (lambda: model), "", (), {}, x, seed, train)
    return description


DRIVERS = {f.__name__: f for f in (layer_roundtrip, model_loss, model_state, update_steps, solver_train,
                                   call_then_train, call_with_instance, call_with_callables, call_many, model_losses,
                                   module_probe, autograd_backward, autograd_grads, module_init, factory_probe,
                                   preflight)}
