"""The course's ``Solver``: minibatch training of a model with a given update rule (A3 onwards).

A ``Solver`` trains any model that follows the course's model API:

* ``model.params``: a dict from parameter names (``"W1"``, ``"b1"``, ...) to tensors;
* ``model.loss(X, y)``: the minibatch loss (a 0-dim tensor) and a dict ``grads`` with the same
  keys, shapes, dtypes and devices as ``model.params``;
* ``model.loss(X)`` (no labels): the class scores, a (N, C) tensor.

Usage::

    data = {"X_train": X_train, "y_train": y_train, "X_val": X_val, "y_val": y_val}
    solver = Solver(model, data, update_rule=sgd, optim_config={"learning_rate": 1e-3},
                    lr_decay=0.95, lr_schedule="cosine", num_epochs=10, batch_size=100,
                    device=X_train.device)
    solver.train()
    solver.best_val_acc, solver.loss_history, solver.val_acc_history

An update rule is a function ``update_rule(w, dw, config) -> (next_w, config)``: ``w`` a parameter
tensor, ``dw`` its gradient, ``config`` a dict holding the hyperparameters (``learning_rate``, ...)
and any state the rule keeps between steps (a velocity, running averages). Each parameter has its
own config, a deep copy of ``optim_config``; the rule fills in its defaults with ``setdefault``.

Learning-rate schedules (lecture 11): the learning rate used at iteration ``t`` of ``T`` is
``config["learning_rate"] * lr_multiplier(lr_schedule, t, T)``, where ``config["learning_rate"]``
starts at the initial learning rate and is multiplied by ``lr_decay`` after every epoch (the
course's decay). So with both, ``lr_t = lr_0 * lr_decay ** epoch * multiplier(t, T)``.
"""
from __future__ import annotations

import copy
import math
import time
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import torch

__all__ = ["Solver", "sgd", "lr_multiplier", "SCHEDULES"]

SCHEDULES = ("constant", "step", "cosine", "linear", "inverse_sqrt")

Schedule = Union[None, str, Callable[..., float]]


def sgd(w: torch.Tensor, dw: torch.Tensor, config: Optional[dict] = None):
    """Vanilla stochastic gradient descent: ``w - learning_rate * dw``.

    Args:
        w: a parameter tensor, any shape; updated in place.
        dw: its gradient, same shape, dtype and device.
        config: a dict; ``learning_rate`` defaults to 1e-2.

    Returns:
        ``(next_w, config)``: the updated tensor (``w`` itself) and the config.
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    w -= config["learning_rate"] * dw
    return w, config


def lr_multiplier(schedule: Schedule, t: int, T: int, **kwargs) -> float:
    """The factor by which a schedule multiplies the initial learning rate at iteration ``t`` of ``T``.

    Args:
        schedule: one of
            * ``None`` or ``"constant"``: 1;
            * ``"step"``: ``gamma ** (number of milestones passed)``, a milestone ``m`` (a fraction
              of training) being passed once ``t >= m * T``; by default ``milestones=(0.5, 0.75)``
              and ``gamma=0.1``: x0.1 at half of training, x0.01 from three quarters on;
            * ``"cosine"``: ``0.5 * (1 + cos(pi * t / T))``;
            * ``"linear"``: ``1 - t / T``;
            * ``"inverse_sqrt"``: ``1 / sqrt(t + 1)``;
            * a callable ``schedule(t, T, **kwargs) -> multiplier``.
        t: the iteration, 0 <= t < T.
        T: the number of iterations of the whole training run, at least 1.
        kwargs: options of the schedule: ``milestones`` and ``gamma`` for ``"step"``, anything for
            a callable; the other schedules take none.

    Returns:
        A Python float (1.0 at t = 0 for every named schedule).

    Raises:
        ValueError: an unknown schedule name, or options the schedule does not take.
    """
    if callable(schedule):
        return float(schedule(t, T, **kwargs))
    if schedule is None:
        schedule = "constant"
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown lr_schedule {schedule!r}: use one of {', '.join(map(repr, SCHEDULES))}, "
                         "None, or a callable (t, T) -> multiplier")
    if schedule == "step":
        unknown = set(kwargs) - {"milestones", "gamma"}
        if unknown:
            raise ValueError(f"the 'step' schedule takes milestones and gamma, not {', '.join(sorted(unknown))}")
        milestones: Sequence[float] = kwargs.get("milestones", (0.5, 0.75))
        gamma = kwargs.get("gamma", 0.1)
        if any(not 0 <= m <= 1 for m in milestones):
            raise ValueError(f"step milestones are fractions of training in [0, 1], got {list(milestones)}")
        return float(gamma ** sum(t >= m * T for m in milestones))
    if kwargs:
        raise ValueError(f"the {schedule!r} schedule takes no options, got {', '.join(sorted(kwargs))}")
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * t / T))
    if schedule == "linear":
        return 1 - t / T
    if schedule == "inverse_sqrt":
        return 1 / math.sqrt(t + 1)
    return 1.0  # constant


class Solver:
    """Trains a classification model with minibatch gradient descent and records its progress.

    After ``train()``:

    * ``loss_history``: the minibatch loss of every iteration (Python floats);
    * ``lr_history``: the learning rate used at every iteration (that of the first parameter;
      ``nan`` when the update rule has no ``learning_rate``);
    * ``train_acc_history``, ``val_acc_history``: accuracies (floats) measured before training
      (epoch 0) and after every epoch, so ``num_epochs + 1`` of each for a full run; when a time
      limit stops training mid-epoch, one more is measured there;
    * ``acc_epochs``: the epoch (a float) at which each of those accuracies was measured;
    * ``best_val_acc`` and ``best_params``: the best validation accuracy seen at those checks
      and a copy of the parameters that reached it (and ``best_bn_params``, a copy of the model's
      ``bn_params`` running statistics at that check, for a model with batch normalization);
    * ``epoch``: the number of epochs completed.

    ``train()`` may be called again to train further; histories and optimizer states carry on.
    """

    def __init__(self, model, data: dict, *, update_rule: Callable = sgd, optim_config: Optional[dict] = None,
                 lr_decay: float = 1.0, lr_schedule: Schedule = None, lr_schedule_kwargs: Optional[dict] = None,
                 batch_size: int = 100, num_epochs: int = 10, num_train_samples: Optional[int] = 1000,
                 num_val_samples: Optional[int] = None, checkpoint_name: Optional[str] = None,
                 print_every: int = 10, print_acc_every: int = 1, verbose: bool = True, progress: bool = False,
                 device: Union[str, torch.device] = "cpu"):
        """
        Args:
            model: an object with ``params`` and ``loss`` as described in the module docstring.
            data: ``X_train`` (N_train, ...) and ``X_val`` (N_val, ...) inputs, ``y_train``
                (N_train,) and ``y_val`` (N_val,) int64 labels; moved to ``device`` once, here.
            update_rule: ``(w, dw, config) -> (next_w, config)``; ``sgd`` by default.
            optim_config: hyperparameters for the update rule (``learning_rate``, ...); every
                parameter gets its own deep copy, in ``optim_configs``.
            lr_decay: after every epoch each config's ``learning_rate`` is multiplied by this.
            lr_schedule: ``None``, a name in ``SCHEDULES`` or a callable ``(t, T) -> multiplier``;
                see ``lr_multiplier``. Applied on top of ``lr_decay`` at every iteration.
            lr_schedule_kwargs: options of the schedule, e.g. ``{"milestones": (0.3, 0.6, 0.9),
                "gamma": 0.2}`` for ``"step"``.
            batch_size: examples per minibatch, drawn at random without replacement.
            num_epochs: epochs to train; an epoch is ``max(N_train // batch_size, 1)`` iterations.
            num_train_samples: training examples used to measure the training accuracy (a random
                subset each time); ``None`` for all of them.
            num_val_samples: the same for the validation accuracy; ``None`` (default) for all.
            checkpoint_name: when given, ``{checkpoint_name}_epoch_{epoch}.pkl`` is written with
                ``torch.save`` before training and after every epoch: the parameters (CPU tensors)
                and the histories, loadable with ``torch.load(path)``.
            print_every: with ``verbose``, print the loss every this many iterations.
            print_acc_every: with ``verbose``, print the accuracies every this many epochs.
            verbose: print progress; ``False`` for silence.
            progress: show a tqdm progress bar over the iterations, with the loss.
            device: where the data goes (the model's parameters must already be there).
        """
        missing = [k for k in ("X_train", "y_train", "X_val", "y_val") if k not in data]
        if missing:
            raise KeyError(f"data lacks {', '.join(missing)}")
        self.model = model
        self.device = torch.device(device)
        self.X_train = data["X_train"].to(self.device)
        self.y_train = data["y_train"].to(self.device)
        self.X_val = data["X_val"].to(self.device)
        self.y_val = data["y_val"].to(self.device)

        self.update_rule = update_rule
        self.optim_config = {} if optim_config is None else optim_config
        self.lr_decay = lr_decay
        self.lr_schedule = lr_schedule
        self.lr_schedule_kwargs = dict(lr_schedule_kwargs or {})
        lr_multiplier(lr_schedule, 0, 1, **self.lr_schedule_kwargs)  # an unknown schedule fails here
        self.batch_size = batch_size
        self.num_epochs = num_epochs
        self.num_train_samples = num_train_samples
        self.num_val_samples = num_val_samples
        self.checkpoint_name = checkpoint_name
        self.print_every = print_every
        self.print_acc_every = print_acc_every
        self.verbose = verbose
        self.progress = progress
        self._reset()

    def _reset(self) -> None:
        """Fresh histories and one deep copy of ``optim_config`` per parameter."""
        self.epoch = 0
        self.best_val_acc = 0.0
        self.best_params: dict = {}
        self.best_bn_params: Optional[list] = None
        self.loss_history: list[float] = []
        self.lr_history: list[float] = []
        self.train_acc_history: list[float] = []
        self.val_acc_history: list[float] = []
        self.acc_epochs: list[float] = []
        self.optim_configs = {p: copy.deepcopy(self.optim_config) for p in self.model.params}

    def _step(self, lr_scale: float = 1.0) -> None:
        """One update on a random minibatch; the learning rate is scaled by ``lr_scale`` for it."""
        num_train = self.X_train.shape[0]
        batch = torch.randperm(num_train)[: self.batch_size].to(self.device)  # same draw on every device
        loss, grads = self.model.loss(self.X_train[batch], self.y_train[batch])
        self.loss_history.append(float(loss.detach()) if hasattr(loss, "detach") else float(loss))

        lr_used = math.nan
        with torch.no_grad():
            for i, (p, w) in enumerate(list(self.model.params.items())):
                config = self.optim_configs[p]
                base = config.get("learning_rate")
                if base is not None and lr_scale != 1.0:
                    config["learning_rate"] = base * lr_scale
                next_w, next_config = self.update_rule(w, grads[p], config)
                if i == 0:
                    lr_used = float(next_config.get("learning_rate", math.nan))
                if base is not None:
                    next_config["learning_rate"] = base  # the schedule scales one iteration only
                self.model.params[p] = next_w
                self.optim_configs[p] = next_config
        self.lr_history.append(lr_used)

    def check_accuracy(self, X: torch.Tensor, y: torch.Tensor, num_samples: Optional[int] = None,
                       batch_size: int = 100) -> float:
        """The model's accuracy on ``(X, y)``: the fraction of rows whose highest score is the label.

        Args:
            X: (N, ...) inputs; y: (N,) int64 labels (moved to the solver's device if elsewhere).
            num_samples: when given and smaller than N, measure on that many random rows.
            batch_size: rows per call of ``model.loss(X)``, to bound memory.

        Returns:
            A Python float in [0, 1].
        """
        X, y = X.to(self.device), y.to(self.device)
        N = X.shape[0]
        if num_samples is not None and N > num_samples:
            rows = torch.randperm(N)[:num_samples].to(self.device)
            X, y, N = X[rows], y[rows], num_samples
        correct = 0
        with torch.no_grad():
            for start in range(0, N, batch_size):
                scores = self.model.loss(X[start:start + batch_size])
                correct += int((scores.argmax(dim=1) == y[start:start + batch_size]).sum())
        return correct / N if N else math.nan

    def _record_accuracy(self, epoch: float, say: Callable[[str], None]) -> None:
        """Measure train and val accuracy, log them, keep the best parameters."""
        train_acc = self.check_accuracy(self.X_train, self.y_train, num_samples=self.num_train_samples)
        val_acc = self.check_accuracy(self.X_val, self.y_val, num_samples=self.num_val_samples)
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)
        self.acc_epochs.append(epoch)
        if self.verbose and self.epoch % self.print_acc_every == 0:
            say(f"(Epoch {epoch:g} / {self.num_epochs}) train acc: {train_acc:f}; val_acc: {val_acc:f}")
        if not self.best_params or val_acc > self.best_val_acc:
            self.best_val_acc = val_acc
            self.best_params = {k: v.clone() for k, v in self.model.params.items()}
            self.best_bn_params = _copy_bn_params(getattr(self.model, "bn_params", None))

    def _save_checkpoint(self) -> None:
        """``{checkpoint_name}_epoch_{epoch}.pkl``: parameters (CPU tensors), settings and histories."""
        if self.checkpoint_name is None:
            return
        checkpoint = {
            "params": {k: v.detach().cpu() for k, v in self.model.params.items()},
            "update_rule": getattr(self.update_rule, "__name__", repr(self.update_rule)),
            "optim_config": copy.deepcopy(self.optim_config),
            "lr_decay": self.lr_decay,
            "lr_schedule": self.lr_schedule if isinstance(self.lr_schedule, (str, type(None)))
            else getattr(self.lr_schedule, "__name__", repr(self.lr_schedule)),
            "batch_size": self.batch_size,
            "num_train_samples": self.num_train_samples,
            "num_val_samples": self.num_val_samples,
            "epoch": self.epoch,
            "loss_history": list(self.loss_history),
            "lr_history": list(self.lr_history),
            "train_acc_history": list(self.train_acc_history),
            "val_acc_history": list(self.val_acc_history),
            "acc_epochs": list(self.acc_epochs),
        }
        torch.save(checkpoint, Path(f"{self.checkpoint_name}_epoch_{self.epoch}.pkl"))

    def train(self, time_limit: Optional[float] = None, return_best_params: bool = True) -> None:
        """Run ``num_epochs`` epochs of minibatch updates (``num_epochs * max(N_train // batch_size, 1)``
        iterations), measuring accuracies before training and after every epoch.

        Args:
            time_limit: seconds; before each iteration after the first, training stops when the
                time spent so far plus the last iteration's duration exceeds it (so the run ends
                about when the limit would be passed; at least one iteration always runs).
            return_best_params: at the end, copy ``best_params`` (the parameters with the best
                validation accuracy) back into ``model.params``, and ``best_bn_params`` into
                ``model.bn_params`` (the running statistics that go with those parameters).
        """
        num_train = self.X_train.shape[0]
        iterations_per_epoch = max(num_train // self.batch_size, 1)
        num_iterations = self.num_epochs * iterations_per_epoch
        bar = None
        if self.progress:
            from tqdm.auto import tqdm  # imported on use: `import eecs498.solver` stays cheap

            bar = tqdm(total=num_iterations, desc="Training", unit="it")
        say = bar.write if bar is not None else print

        start_time = prev_time = time.perf_counter()
        if not self.train_acc_history:  # epoch 0: the model before any update
            self._record_accuracy(float(self.epoch), say)
            self._save_checkpoint()
        t = -1
        try:
            for t in range(num_iterations):
                now = time.perf_counter()
                if time_limit is not None and t > 0 and now - start_time + (now - prev_time) > time_limit:
                    if self.verbose:
                        say(f"(Time {now - start_time:.2f} sec; Iteration {t} / {num_iterations}) "
                            f"loss: {self.loss_history[-1]:f}")
                        say("End of training; next iteration will exceed the time limit.")
                    t -= 1  # the last iteration that ran
                    break
                prev_time = now
                scale = lr_multiplier(self.lr_schedule, t, num_iterations, **self.lr_schedule_kwargs)
                self._step(scale)
                if bar is not None:
                    bar.update()
                    bar.set_postfix(loss=f"{self.loss_history[-1]:.4f}", refresh=False)
                elif self.verbose and t % self.print_every == 0:
                    print(f"(Time {time.perf_counter() - start_time:.2f} sec; Iteration {t + 1} / "
                          f"{num_iterations}) loss: {self.loss_history[-1]:f}")

                if (t + 1) % iterations_per_epoch == 0:  # end of an epoch
                    self.epoch += 1
                    for config in self.optim_configs.values():
                        if "learning_rate" in config:
                            config["learning_rate"] *= self.lr_decay
                    self._record_accuracy(float(self.epoch), say)
                    self._save_checkpoint()
            partial = (t + 1) % iterations_per_epoch
            if partial:  # stopped mid-epoch by the time limit: measure where it stopped
                self._record_accuracy(self.epoch + partial / iterations_per_epoch, say)
        finally:
            if bar is not None:
                bar.close()

        if return_best_params and self.best_params:
            for k, v in self.best_params.items():
                self.model.params[k] = v.clone()
            if self.best_bn_params is not None:
                self.model.bn_params = _copy_bn_params(self.best_bn_params)

    # The course's `Solver.sgd` (defined last: a class attribute named `sgd` above `__init__` would
    # shadow the module's function as the default update rule).
    sgd = staticmethod(sgd)


def _copy_bn_params(bn_params: Optional[list]) -> Optional[list]:
    """A copy of a model's ``bn_params`` (one dict per batchnorm layer: mode, eps, momentum and the
    running statistics), its tensors cloned; ``None`` when the model has none."""
    if not isinstance(bn_params, list):
        return None
    return [{k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in p.items()} for p in bn_params]
