"""Pictures for the assignment notebooks: image grids, the kNN cross-validation plot, speedup bars.

Plots use matplotlib's object API and return their Axes; nothing here calls ``plt.show()``, so
they work headless (Agg) as well as inline in a notebook. When no ``ax`` is given a new figure is
made with ``plt.subplots()``, which a notebook displays at the end of the cell.
"""
from __future__ import annotations

import statistics
from typing import Sequence

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


def _new_axes():
    import matplotlib.pyplot as plt  # imported on use: `import eecs498.vis` stays cheap

    return plt.subplots()[1]
