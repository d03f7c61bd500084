"""eecs498.reset_seed and get_device."""
from __future__ import annotations

import random

import numpy as np
import torch

from eecs498 import get_device, reset_seed


def draws(device: str = "cpu"):
    return random.random(), np.random.rand(3).tolist(), torch.rand(3, device=device).tolist()


def test_reset_seed_reproduces_every_generator(device):
    reset_seed(7)
    first = draws(device.type)
    reset_seed(7)
    assert draws(device.type) == first
    reset_seed(8)
    assert all(a != b for a, b in zip(draws(device.type), first, strict=True))


def test_get_device():
    assert get_device(prefer_cuda=False) == torch.device("cpu")
    if torch.cuda.is_available():
        assert get_device() == torch.device("cuda", torch.cuda.current_device())
    else:
        assert get_device() == torch.device("cpu")
    assert torch.zeros(1, device=get_device()).device == get_device()


def test_get_device_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert get_device() == torch.device("cpu")
