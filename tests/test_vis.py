"""eecs498.vis: image conversion, the dataset grid, and the two notebook plots, all headless."""
from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from eecs498.vis import plot_cross_validation, plot_speedups, tensor_to_image, visualize_dataset

matplotlib.use("Agg")  # headless, as in CI


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_tensor_to_image(device):
    x = torch.tensor([0.0, 0.5, 1.0, 1.7, -0.2, 0.999], device=device, requires_grad=True).view(3, 1, 2)
    image = tensor_to_image(x)
    assert isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.shape == (1, 2, 3)
    assert image[0, :, 0].tolist() == [0, 128] and image[0, :, 1].tolist() == [255, 255]
    assert image[0, :, 2].tolist() == [0, 255]  # clamped, rounded
    gray = tensor_to_image(torch.full((1, 4, 5), 0.25, device=device))
    assert gray.shape == (4, 5) and (gray == 64).all()  # (H, W): imshow rejects (H, W, 1)
    with pytest.raises(ValueError, match=r"expected a \(C, H, W\) tensor"):
        tensor_to_image(torch.zeros(2, 3))


def test_visualize_dataset_rgb(cifar10_format, device):
    x = cifar10_format.x_train.to(device).float() / 255
    y = cifar10_format.y_train.to(device)
    classes = [f"class {i}" for i in range(10)]
    _, ax = plt.subplots()
    grid = visualize_dataset(x, y, 3, classes, ax=ax)
    assert grid.dtype == np.uint8 and grid.shape == (10 * 34 + 2, 3 * 34 + 2, 3)
    assert [text.get_text() for text in ax.texts] == classes
    assert np.array_equal(grid, visualize_dataset(x, y, 3, classes))  # the same draw every time

    originals = [tensor_to_image(image) for image in x]
    counts = torch.bincount(cifar10_format.y_train, minlength=10).tolist()
    for label in range(10):
        for column in range(3):
            tile = grid[2 + 34 * label: 34 * label + 34, 2 + 34 * column: 34 * column + 34]
            if column < counts[label]:  # a real image of this class ...
                matches = [i for i, image in enumerate(originals) if np.array_equal(image, tile)]
                assert matches and all(y[i] == label for i in matches)
            else:  # ... or blank where the class has too few
                assert not tile.any()


def test_visualize_dataset_grayscale(fashion_mnist_format):
    x = fashion_mnist_format.x_train.float() / 255
    grid = visualize_dataset(x, fashion_mnist_format.y_train, 2, [str(i) for i in range(10)], seed=1)
    assert grid.shape == (10 * 30 + 2, 2 * 30 + 2)


def test_plot_cross_validation():
    accuracies = {5: [0.3, 0.5], 1: [0.2, torch.tensor(0.4)], 3: [0.25]}
    ax = plot_cross_validation(accuracies, title="kNN")
    assert ax.get_title() == "kNN" and ax.get_xlabel() == "k"
    assert len(ax.collections) >= 3  # one scatter per k (the errorbar adds its own)
    line = ax.lines[0]
    assert line.get_xdata().tolist() == [1, 3, 5]
    assert np.allclose(line.get_ydata(), [0.3, 0.25, 0.4])

    _, given = plt.subplots()
    assert plot_cross_validation({1: [0.5]}, ax=given) is given
    with pytest.raises(ValueError, match="no accuracies for k=2"):
        plot_cross_validation({2: []})


def test_plot_speedups():
    ax = plot_speedups(["two loops", "one loop", "no loops"], [2.0, 0.5, 0.002], baseline=0)
    assert [bar.get_height() for bar in ax.patches] == [2.0, 0.5, 0.002]
    assert [text.get_text() for text in ax.texts] == ["1.0x", "4.0x", "1,000.0x"]
    assert ax.get_title() == "Speedup over two loops"
    relative = plot_speedups(["a", "b"], [1.0, 4.0], baseline=1)
    assert [text.get_text() for text in relative.texts] == ["4.0x", "1.0x"]
    with pytest.raises(ValueError, match="one time per name"):
        plot_speedups(["a"], [1.0, 2.0])
    with pytest.raises(ValueError, match="positive"):
        plot_speedups(["a"], [0.0])
