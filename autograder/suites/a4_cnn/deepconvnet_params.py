"""Which of a student's DeepConvNet parameters is which (grader side, shared by the suite's files).

The course prescribes the names of ``ThreeLayerConvNet``'s parameters (``W1``, ``b1``, ... ``b3``)
but not those of ``DeepConvNet``: its students write ``W1``/``b1``/``gamma1``/``beta1``, ``W0``,
``W_1``, ``g1``, ``bn_1_gamma``... The grader needs to know which tensor is the weight, the bias,
the batchnorm scale and shift of which layer: to give a network fixed parameters, to read its
gradients, and to run a submitted checkpoint. :func:`resolve` reads that from the names — a layer
number (counted from 0 or from 1) and a word saying the role — and :func:`canonical_names` lists
the names this suite uses for them (``W1`` ... ``WL``, ``b1`` ... ``bL``, ``gamma1``, ``beta1`` ...).

Loaded by file path from the suite's test files (it is not a test module itself).
"""
from __future__ import annotations

import re
from typing import Iterable


def canonical_names(num_conv: int, batchnorm: bool) -> list[str]:
    """This suite's names of the parameters of a DeepConvNet with ``num_conv`` convolutions."""
    names = []
    for i in range(1, num_conv + 1):
        names += [f"W{i}", f"b{i}"] + ([f"gamma{i}", f"beta{i}"] if batchnorm else [])
    return names + [f"W{num_conv + 1}", f"b{num_conv + 1}"]


def role_of(name: str) -> str | None:
    """``W``, ``b``, ``gamma`` or ``beta`` from the letters of a parameter's name (None: unknown)."""
    letters = re.sub(r"[^a-z]", "", name.lower())
    if "beta" in letters or "shift" in letters:
        return "beta"
    if "gamma" in letters or "scale" in letters or letters == "g":
        return "gamma"
    if letters == "b" or "bias" in letters:
        return "b"
    if letters == "w" or "weight" in letters:
        return "W"
    if letters.endswith("w"):  # conv_w1, fc_w
        return "W"
    if letters.endswith("b"):  # conv_b1
        return "b"
    return None


def resolve(names: Iterable[str], num_conv: int, batchnorm: bool) -> dict[str, str] | None:
    """This suite's name -> the student's name of every parameter, or None when the student's names
    do not say it unambiguously (each needs a role word and a layer number, all layers counted from
    the same start)."""
    names = list(names)
    expected = canonical_names(num_conv, batchnorm)
    if set(names) == set(expected):
        return {name: name for name in expected}
    parsed = []
    for name in names:
        digits = re.findall(r"\d+", str(name))
        role = role_of(str(name))
        if not digits or role is None:
            return None
        parsed.append((name, role, int(digits[-1])))
    if not parsed:
        return None
    offset = 1 if min(index for _, _, index in parsed) == 0 else 0
    mapping = {}
    for name, role, index in parsed:
        key = f"{role}{index + offset}"
        if key in mapping:
            return None
        mapping[key] = name
    return mapping if set(mapping) == set(expected) else None


def unresolved_message(what: str, names: Iterable[str], num_conv: int, batchnorm: bool) -> str:
    """The sentence for parameters whose names cannot be read."""
    shown = sorted(map(str, names))
    expected = canonical_names(num_conv, batchnorm)
    return (f"{what} has the parameters {shown}; expected {len(expected)} of them ({', '.join(expected)}, or the "
            "same with other names that say the layer number and the role: a weight W, a bias b"
            + (", a batchnorm scale gamma and shift beta" if batchnorm else "") + ")")
