"""eecs498.scenes: how fast the scenes are made, and how learnable they are in a CPU-minute or two.

Speed: wall and CPU seconds of ``generate_scenes`` (5000 scenes at 64, 96 and 112 pixels),
``detection_dataset`` and ``captioning_dataset`` (the course's 10000/500 split plus 500 test, at
112 pixels), the best of ``--repeats`` runs.

Learnability (``--learn STEPS``): a 4-layer CNN (61k parameters) trained for STEPS minibatches of
64 with Adam (learning rate 3e-3 decaying linearly to 5% of it) on 6000 scenes (seed 0) to name the
class of the object that covers most pixels, scored on 1000 other scenes (seed 1) against chance
(the most frequent class), with the time the training took (on this project's 2-core machine,
1000 steps took about 90 s when it was quiet and seven minutes when it was busy; held-out
accuracy 0.86).

    .venv/bin/python scripts/bench_scenes.py               # speed only
    .venv/bin/python scripts/bench_scenes.py --learn 1000  # and the classifier

Not a test: the numbers depend on the machine and on what else runs on it.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eecs498 import scenes  # noqa: E402  (after the path set-up)


def timed(label: str, fn, repeats: int) -> None:
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        best_wall, best_cpu = min(best_wall, time.perf_counter() - wall), min(best_cpu, time.process_time() - cpu)
    print(f"{label:58s} {best_wall:6.2f} s wall {best_cpu:6.2f} s CPU")


def largest_object_class(data: dict) -> torch.Tensor:
    """int64 (N,): the class of the object with the most visible pixels in each scene."""
    objects = data["instance_classes"].shape[1]
    pixels = torch.stack([(data["instances"] == k + 1).flatten(1).sum(1) for k in range(objects)], dim=1)
    return data["instance_classes"].gather(1, pixels.argmax(1, keepdim=True)).squeeze(1)


def learn(steps: int) -> None:
    torch.manual_seed(0)
    train, val = scenes.segmentation_dataset(6000, seed=0), scenes.segmentation_dataset(1000, seed=1)
    y_train, y_val = largest_object_class(train), largest_object_class(val)
    mean = train["images"].mean((0, 2, 3), keepdim=True)
    std = train["images"].std((0, 2, 3), keepdim=True)
    x_train, x_val = (train["images"] - mean) / std, (val["images"] - mean) / std

    def block(inputs: int, outputs: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(inputs, outputs, 3, padding=1), nn.BatchNorm2d(outputs), nn.ReLU())

    model = nn.Sequential(block(3, 16), nn.MaxPool2d(2), block(16, 32), nn.MaxPool2d(2), block(32, 64),
                          nn.MaxPool2d(2), block(64, 64), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(64, len(scenes.CLASS_NAMES)))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    order = torch.cat([torch.randperm(len(x_train)) for _ in range(steps * 64 // len(x_train) + 1)])
    start, cpu = time.perf_counter(), time.process_time()
    for step in range(steps):
        batch = order[64 * step:64 * (step + 1)]
        for group in optimizer.param_groups:  # decays linearly to 5%
            group["lr"] = 3e-3 * max(0.05, 1 - step / steps)
        loss = F.cross_entropy(model(x_train[batch]), y_train[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        train_accuracy = (model(x_train[:1000]).argmax(1) == y_train[:1000]).float().mean().item()
        predicted = model(x_val).argmax(1)
    chance = torch.bincount(y_val).max().item() / len(y_val)
    print(f"\nlargest object's class: {steps} steps of 64 ({steps * 64 / len(x_train):.1f} epochs) in "
          f"{time.perf_counter() - start:.0f} s wall, {time.process_time() - cpu:.0f} s CPU, "
          f"{sum(p.numel() for p in model.parameters())} parameters")
    print(f"  accuracy: train {train_accuracy:.3f}, held-out {(predicted == y_val).float().mean().item():.3f}, "
          f"chance {chance:.3f}")
    print("  held-out per class: " + ", ".join(f"{name} {(predicted[y_val == c] == c).float().mean().item():.2f}"
                                             for c, name in enumerate(scenes.CLASS_NAMES)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--learn", type=int, default=0, metavar="STEPS")
    args = parser.parse_args()
    print(f"torch threads: {torch.get_num_threads()}")
    for size in (64, 96, 112):
        timed(f"generate_scenes(5000, image_size={size})",
              lambda: scenes.generate_scenes(5000, image_size=size), args.repeats)
    timed("detection_dataset(5000)", lambda: scenes.detection_dataset(5000), args.repeats)
    timed("captioning_dataset(10000, 500, 500, image_size=112)", lambda: scenes.captioning_dataset(), 1)
    if args.learn:
        learn(args.learn)


if __name__ == "__main__":
    main()
