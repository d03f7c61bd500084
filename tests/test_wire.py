"""The sandbox's wire format: faithful round trips, and refusal of anything malformed or oversized."""
from __future__ import annotations

import json
import math
import pickle

import pytest
import torch

from autograder.child.wire import MAGIC, WireError, decode, encode


def roundtrip(value):
    return decode(encode(value))


def test_plain_data_roundtrips_with_types():
    value = {"none": None, "t": True, "i": -(2**70), "f": 1.5, "c": 1 + 2j, "s": "héllo", "b": b"\x00\xff",
             "list": [1, [2.0, "x"]], "tuple": (1, (2,)), 3: "int key", (1, "a"): "tuple key",
             "dtype": torch.float64}
    back = roundtrip(value)
    assert back == value
    assert type(back["tuple"]) is tuple and type(back["list"]) is list and type(back["i"]) is int


def test_special_floats_survive():
    back = roundtrip([math.inf, -math.inf, math.nan, -0.0])
    assert back[0] == math.inf and back[1] == -math.inf and math.isnan(back[2])
    assert math.copysign(1, back[3]) == -1


@pytest.mark.parametrize("dtype", [torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64,
                                   torch.float16, torch.bfloat16, torch.float32, torch.float64,
                                   torch.complex64, torch.complex128])
def test_tensors_roundtrip_every_dtype(dtype):
    x = (torch.randn(3, 4, dtype=torch.float64) * 5)
    x = x.to(dtype) if not dtype.is_complex else torch.complex(x, -x).to(dtype)
    back = roundtrip(x)
    assert back.dtype == dtype and back.shape == x.shape and torch.equal(back, x)
    assert back.eecs498_device == "cpu"


def test_views_keep_their_strides_and_values():
    base = torch.arange(60, dtype=torch.float32).reshape(3, 4, 5)
    for view in (base.transpose(0, 2), base[:, ::2, 1:], base.permute(1, 0, 2), base[1].t(),
                 torch.tensor([1.0, 2.0]).expand(4, 2)):
        back = roundtrip(view)
        assert not view.is_contiguous()
        assert back.stride() == view.stride() and torch.equal(back, view)


def test_empty_scalar_and_grad_flags():
    empty, scalar = torch.zeros(0, 3), torch.tensor(2.5, requires_grad=True)
    back_empty, back_scalar = roundtrip([empty, scalar])
    assert back_empty.shape == (0, 3) and back_scalar.shape == () and back_scalar.item() == 2.5
    assert back_scalar.requires_grad and not back_empty.requires_grad


def test_non_plain_objects_are_refused():
    class Anything:
        pass
    for value in (Anything(), {1, 2}, object(), print, torch.zeros(2).to_sparse()):
        with pytest.raises(WireError):
            encode(value)


def test_a_pickle_is_not_accepted():
    with pytest.raises(WireError, match="magic"):
        decode(pickle.dumps({"ok": True}))


def payload(header: dict, data: bytes = b"") -> bytes:
    text = json.dumps(header).encode()
    return MAGIC + len(text).to_bytes(8, "big") + text + data


@pytest.mark.parametrize("bad", [
    b"",
    MAGIC + (10**12).to_bytes(8, "big") + b"{}",                                  # header past the end
    payload({"value": ["none"], "blobs": [], "extra": 1}),                       # unknown key
    payload({"value": ["eval", "os.system('x')"], "blobs": []}),                 # unknown tag
    payload({"value": ["int", "1" * 5000], "blobs": []}),                        # giant int
    payload({"value": ["bytes", 0], "blobs": [[0, 100]]}, b"abc"),               # blob past the end
    payload({"value": ["dict", [[["list", []], ["none"]]]], "blobs": []}),        # unhashable key
    payload({"value": ["tensor", {"dtype": "object", "shape": [1], "stride": [1], "span": 1,
                                  "device": "cpu", "requires_grad": False, "blob": 0}]}, b"x"),
])
def test_malformed_payloads_raise_wire_error(bad):
    with pytest.raises(WireError):
        decode(bad)


def test_tensor_whose_strides_reach_past_its_bytes_is_refused():
    spec = {"dtype": "float32", "shape": [1000, 1000], "stride": [1000, 1], "span": 2, "device": "cpu",
            "requires_grad": False, "blob": 0}
    with pytest.raises(WireError, match="past|match"):
        decode(payload({"value": ["tensor", spec], "blobs": [[0, 8]]}, b"\x00" * 8))


def test_deep_nesting_and_size_limits():
    deep: list = []
    for _ in range(200):
        deep = [deep]
    with pytest.raises(WireError, match="nested"):
        encode(deep)
    nested = ["list", []]
    for _ in range(200):
        nested = ["list", [nested]]
    with pytest.raises(WireError):
        decode(payload({"value": nested, "blobs": []}))
    with pytest.raises(WireError, match="exceeds"):
        decode(encode(torch.zeros(1000)), max_bytes=1000)


def test_a_view_that_claims_more_elements_than_the_cap_is_refused():
    """A stride-0 view of one number can claim a billion elements in a few bytes: the grader would
    blow its memory materialising it."""
    huge = torch.zeros(1).expand(2**30)
    with pytest.raises(WireError, match="tensor elements"):
        decode(encode(huge))
    small = torch.zeros(1).expand(1000)
    assert torch.equal(roundtrip(small), small)
