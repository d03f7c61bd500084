"""Pictures for the assignment notebooks: image grids, the kNN cross-validation plot, speedup bars,
training curves and learning-rate schedules.

Plots use matplotlib's object API and return their Axes; nothing here calls ``plt.show()``, so
they work headless (Agg) as well as inline in a notebook. When no ``ax`` is given a new figure is
made with ``plt.subplots()``, which a notebook displays at the end of the cell.
"""
from __future__ import annotations

import statistics
from typing import Mapping, Sequence

import numpy as np
import torch


def tensor_to_image(tensor: torch.Tensor) -> np.ndarray:
    """An image tensor as a numpy array ``imshow`` accepts.

    Args:
        tensor: (C, H, W) floats in [0, 1] on any device; values outside are clamped.

    Returns:
        uint8 (H, W, C) for C = 3 (or 4), and uint8 (H, W) for C = 1, since ``imshow`` rejects
        (H, W, 1): show that one with ``cmap="gray"``.
    """
    if tensor.dim() != 3:
        raise ValueError(f"expected a (C, H, W) tensor, got shape {tuple(tensor.shape)}")
    image = tensor.detach().mul(255).add_(0.5).clamp_(0, 255).to("cpu", torch.uint8).permute(1, 2, 0)
    return (image[:, :, 0] if image.shape[2] == 1 else image).numpy()


def visualize_dataset(X: torch.Tensor, y: torch.Tensor, samples_per_class: int, class_list: Sequence[str],
                      *, ax=None, seed: int = 0) -> np.ndarray:
    """A grid with one row per class of ``samples_per_class`` images drawn at random from it.

    Args:
        X: (N, C, H, W) images in [0, 1], C = 1 or 3, on any device.
        y: (N,) integer labels; row ``i`` shows images with label ``i``, named ``class_list[i]``.
        samples_per_class: images per row, drawn without replacement; a class with fewer images
            leaves the rest of its row blank.
        ax: when given, the grid is drawn there with the class names at the left of each row.
        seed: the draw is reproducible and leaves the global random generators alone.

    Returns:
        The grid from ``tensor_to_image``: uint8 (rows*(H+2)+2, samples_per_class*(W+2)+2, C),
        without the channel axis when C = 1.
    """
    num_classes, (channels, height, width) = len(class_list), X.shape[1:]
    generator = torch.Generator().manual_seed(seed)
    tiles = torch.zeros(num_classes, samples_per_class, channels, height, width, dtype=X.dtype)
    for label in range(num_classes):
        candidates = (y == label).nonzero().flatten().cpu()
        picks = candidates[torch.randperm(len(candidates), generator=generator)[:samples_per_class]]
        tiles[label, :len(picks)] = X[picks.to(X.device)].cpu()
    image = tensor_to_image(_grid(tiles))
    if ax is not None:
        ax.imshow(image, **({"cmap": "gray", "vmin": 0, "vmax": 255} if channels == 1 else {}))
        for label, name in enumerate(class_list):
            ax.text(-4, 2 + label * (height + 2) + height / 2, name, ha="right", va="center")
        ax.axis("off")
    return image


def _grid(tiles: torch.Tensor, padding: int = 2) -> torch.Tensor:
    """(rows, cols, C, H, W) tiles -> one (C, rows*(H+p)+p, cols*(W+p)+p) image, zeros between."""
    padded = torch.nn.functional.pad(tiles, (padding, 0, padding, 0))  # a border left of and above each
    rows, cols, channels, height, width = padded.shape
    grid = padded.permute(2, 0, 3, 1, 4).reshape(channels, rows * height, cols * width)
    return torch.nn.functional.pad(grid, (0, padding, 0, padding))


def plot_cross_validation(k_to_accuracies: dict[int, Sequence[float]], ax=None,
                          title: str = "Cross-validation on k"):
    """The kNN cross-validation plot: each fold's accuracy as a dot, mean ± std as an errorbar.

    Args:
        k_to_accuracies: k -> accuracies of the folds (floats or 0-d tensors), at least one each.
        ax: the Axes to draw on; a new figure when ``None``.

    Returns:
        The Axes.
    """
    ax = ax if ax is not None else _new_axes()
    ks = sorted(k_to_accuracies)
    means, stds = [], []
    for k in ks:
        accuracies = [float(a) for a in k_to_accuracies[k]]
        if not accuracies:
            raise ValueError(f"no accuracies for k={k}")
        ax.scatter([k] * len(accuracies), accuracies, color="tab:green", s=12)
        means.append(statistics.fmean(accuracies))
        stds.append(statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0)
    ax.errorbar(ks, means, yerr=stds, capsize=3)
    ax.set_xlabel("k")
    ax.set_ylabel("Cross-validation accuracy")
    ax.set_title(title)
    return ax


def plot_speedups(names: Sequence[str], seconds: Sequence[float], ax=None, baseline: int = 0):
    """Bars of run times, each labelled with its speedup over ``names[baseline]``.

    Args:
        names: one label per implementation ("two loops", "one loop", ...).
        seconds: their run times, all positive.
        ax: the Axes to draw on; a new figure when ``None``.

    Returns:
        The Axes.
    """
    seconds = [float(s) for s in seconds]
    if len(names) != len(seconds) or not names:
        raise ValueError(f"need one time per name, got {len(names)} names and {len(seconds)} times")
    if min(seconds) <= 0:
        raise ValueError(f"times must be positive, got {seconds}")
    ax = ax if ax is not None else _new_axes()
    bars = ax.bar(list(names), seconds, color="tab:blue")
    ax.bar_label(bars, labels=[f"{seconds[baseline] / s:,.1f}x" for s in seconds])
    ax.margins(y=0.1)  # room for the tallest bar's label
    ax.set_ylabel("time (s)")
    ax.set_title(f"Speedup over {names[baseline]}")
    return ax


def plot_training_history(solvers, *, smooth: int = 1, title: str | None = None, axes=None):
    """Training curves of one or more runs: the loss per iteration, train and val accuracy per epoch.

    Args:
        solvers: an ``eecs498.solver.Solver`` after ``train()``, a history dict with the same
            names as keys (``loss_history``, ``train_acc_history``, ``val_acc_history``, like the
            stats of ``nn_train``), or a dict ``name -> either`` to compare runs (one line each,
            labelled ``name``): e.g. ``{"sgd": solver_a, "adam": solver_b}``.
        smooth: when > 1, the loss is also drawn as a moving average over this many iterations
            (the raw loss stays, faint, behind it).
        title: the figure's title.
        axes: three Axes to draw on (loss, train accuracy, val accuracy); a new 1 x 3 figure when
            ``None``.

    Returns:
        The Figure.

    Accuracies are placed at the epochs in the run's ``acc_epochs`` (a Solver measures before
    training, epoch 0, and after every epoch); without it, at 0, 1, 2, ...
    """
    if _is_history(solvers):
        runs = {"": solvers}
    elif isinstance(solvers, Mapping):
        runs = dict(solvers)
    else:
        raise TypeError(f"expected a Solver, a history dict or a dict of them, got {type(solvers).__name__}")
    axes_given = axes
    if axes is None:
        import matplotlib.pyplot as plt  # imported on use: `import eecs498.vis` stays cheap

        fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    loss_ax, train_ax, val_ax = axes
    for name, run in runs.items():
        loss = np.asarray(_history(run, "loss_history"), dtype=float)
        label = name or None
        if smooth > 1 and len(loss) >= smooth:
            raw, = loss_ax.plot(loss, alpha=0.25)
            averaged = np.convolve(loss, np.ones(smooth) / smooth, mode="valid")
            loss_ax.plot(np.arange(smooth - 1, len(loss)), averaged, color=raw.get_color(), label=label)
        else:
            loss_ax.plot(loss, label=label)
        for ax, key in ((train_ax, "train_acc_history"), (val_ax, "val_acc_history")):
            accuracies = _history(run, key)
            epochs = _history(run, "acc_epochs", default=range(len(accuracies)))
            ax.plot(list(epochs), accuracies, "-o", markersize=3, label=label)
    for ax, ylabel, ax_title in ((loss_ax, "loss", "Training loss"), (train_ax, "accuracy", "Training accuracy"),
                                 (val_ax, "accuracy", "Validation accuracy")):
        ax.set_xlabel("iteration" if ax is loss_ax else "epoch")
        ax.set_ylabel(ylabel)
        ax.set_title(ax_title)
        if any(runs):
            ax.legend()
    fig = loss_ax.figure
    if title is not None:
        fig.suptitle(title)
    if axes_given is None:
        fig.tight_layout()  # the figure is ours: keep titles and labels from overlapping
    return fig


def _is_history(run) -> bool:
    """A Solver (histories as attributes) or one history dict, rather than a dict of runs."""
    if isinstance(run, Mapping):
        return "loss_history" in run
    return hasattr(run, "loss_history")


def _history(run, key: str, default=None):
    """``run.key`` of a Solver, ``run[key]`` of a history dict."""
    if isinstance(run, Mapping):
        value = run.get(key, default)
    else:
        value = getattr(run, key, default)
    if value is None:
        raise ValueError(f"the run has no {key}")
    return value


def plot_lr_schedules(schedules: Sequence = ("constant", "step", "cosine", "linear", "inverse_sqrt"),
                      num_iterations: int = 100, ax=None, learning_rate: float = 1.0):
    """The learning rate of each schedule over a run of ``num_iterations`` (see
    ``eecs498.solver.lr_multiplier``).

    Args:
        schedules: names from ``eecs498.solver.SCHEDULES`` or callables ``(t, T) -> multiplier``.
        num_iterations: T, the length of the run.
        ax: the Axes to draw on; a new figure when ``None``.
        learning_rate: the initial learning rate (1: the curves show the multipliers).

    Returns:
        The Axes.
    """
    from eecs498.solver import lr_multiplier

    ax = ax if ax is not None else _new_axes()
    steps = np.arange(num_iterations)
    for schedule in schedules:
        rates = [learning_rate * lr_multiplier(schedule, int(t), num_iterations) for t in steps]
        name = schedule if isinstance(schedule, str) else getattr(schedule, "__name__", "custom")
        ax.plot(steps, rates, label=name)
    ax.set_xlabel("iteration t")
    ax.set_ylabel("learning rate")
    ax.set_title("Learning-rate schedules")
    ax.legend()
    return ax


def _new_axes():
    import matplotlib.pyplot as plt  # imported on use: `import eecs498.vis` stays cheap

    return plt.subplots()[1]
