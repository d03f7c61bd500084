"""The only format that crosses the sandbox boundary: plain data and tensors, never a pickle.

``encode(value) -> bytes`` and ``decode(payload, max_bytes=...) -> value`` handle ``None``, bools,
ints, floats (NaN and infinities included), complex numbers, strings, bytes, lists, tuples, dicts
with plain keys, ``torch.dtype`` and strided ``torch.Tensor`` of the usual dtypes. The sender
turns numpy arrays into tensors and numpy scalars into Python numbers (course code returns them
where plain numbers or lists are expected). A payload is::

    MAGIC | header length (8 bytes, big-endian) | JSON header | raw tensor bytes

The JSON header holds the value as a tree of tagged nodes; each tensor node names its dtype, shape,
strides, storage span, device and ``requires_grad`` and points into the raw bytes. Views travel as
views: a transposed or expanded tensor arrives with its strides, so tests can check that student
code works on non-contiguous inputs. Decoded tensors are always on the CPU; the device they had
in the sender is kept on the tensor as ``eecs498_device`` (e.g. ``"cuda:0"``).

Decoding trusts nothing: the payload's size and the JSON header's size (:data:`MAX_HEADER_BYTES`)
are capped before anything is parsed; depth, item counts, dtypes, shapes and byte ranges are checked
against the payload, and anything else raises :class:`WireError`. The decoder copies each tensor's
bytes once and nothing else, so a reply costs the grader at most about twice its size in memory. This module is copied into the
sandbox as is, so it imports only the standard library and torch.
"""
from __future__ import annotations

import json
import math
from typing import Any

import torch

MAGIC = b"E498W1"
MAX_DEPTH = 64
MAX_ITEMS = 1_000_000
MAX_DIMS = 16
DEFAULT_MAX_BYTES = 256 * 2**20
MAX_HEADER_BYTES = 8 * 2**20  # the JSON part; tensor bytes travel outside it
MAX_ELEMENTS = 2**26  # tensor elements in one payload: a stride-0 view may claim far more than it holds

DTYPES = {
    name: getattr(torch, name)
    for name in ("bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16",
                 "float32", "float64", "complex64", "complex128")
}
DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}


class WireError(ValueError):
    """A value cannot be encoded, or a payload is not a valid encoding."""


# --------------------------------------------------------------------------------------------
# encoding


def encode(value: Any) -> bytes:
    """Serialize ``value`` (plain data and tensors) to bytes; :class:`WireError` for anything else."""
    blobs: list[bytes] = []
    tree = _encode_node(value, blobs, depth=0)
    offsets, position = [], 0
    for blob in blobs:
        offsets.append([position, len(blob)])
        position += len(blob)
    header = json.dumps({"value": tree, "blobs": offsets}, allow_nan=False,
                        separators=(",", ":")).encode()
    return MAGIC + len(header).to_bytes(8, "big") + header + b"".join(blobs)


def _encode_node(value: Any, blobs: list[bytes], depth: int) -> list:
    if depth > MAX_DEPTH:
        raise WireError(f"data nested more than {MAX_DEPTH} levels deep")
    if value is None:
        return ["none"]
    if isinstance(value, bool):
        return ["bool", value]
    if isinstance(value, int):
        return ["int", str(int(value))]
    if isinstance(value, float):
        return ["float", repr(float(value))]
    if isinstance(value, complex):
        return ["complex", repr(value.real), repr(value.imag)]
    if isinstance(value, str):
        return ["str", str(value)]
    if isinstance(value, (bytes, bytearray)):
        blobs.append(bytes(value))
        return ["bytes", len(blobs) - 1]
    if isinstance(value, torch.dtype):
        if value not in DTYPE_NAMES:
            raise WireError(f"unsupported dtype {value}")
        return ["dtype", DTYPE_NAMES[value]]
    if isinstance(value, torch.Tensor):
        return _encode_tensor(value, blobs)
    if type(value).__module__ == "numpy":  # numpy arrays travel as tensors, numpy scalars as numbers
        if hasattr(value, "shape") and getattr(value, "ndim", 0) > 0:
            try:
                return _encode_tensor(torch.as_tensor(value.copy()), blobs)
            except (TypeError, ValueError, RuntimeError) as exc:
                raise WireError(f"a numpy array of dtype {value.dtype} cannot be sent ({exc})") from None
        if hasattr(value, "item"):
            return _encode_node(value.item(), blobs, depth)
    if isinstance(value, torch.Size):
        return ["tuple", [["int", str(int(v))] for v in value]]
    if isinstance(value, (list, tuple)):
        tag = "list" if isinstance(value, list) else "tuple"
        return [tag, [_encode_node(item, blobs, depth + 1) for item in value]]
    if isinstance(value, dict):
        return ["dict", [[_encode_node(k, blobs, depth + 1), _encode_node(v, blobs, depth + 1)]
                         for k, v in value.items()]]
    raise WireError(f"a {type(value).__module__}.{type(value).__qualname__} is not plain data "
                    "(use tensors, numbers, strings, lists, tuples and dicts)")


def _encode_tensor(tensor: torch.Tensor, blobs: list[bytes]) -> list:
    if tensor.layout != torch.strided or tensor.is_quantized or tensor.device.type == "meta":
        raise WireError(f"a {tensor.layout} tensor on {tensor.device} cannot be sent; use a dense tensor")
    if tensor.dtype not in DTYPE_NAMES:
        raise WireError(f"tensors of dtype {tensor.dtype} cannot be sent")
    device = str(tensor.device)
    plain = tensor.detach()
    if plain.is_conj():
        plain = plain.resolve_conj()
    if plain.is_neg():
        plain = plain.resolve_neg()
    shape, strides = list(plain.shape), list(plain.stride())
    if plain.numel() == 0 or plain.is_contiguous():
        span = plain.contiguous().reshape(-1)
        strides = list(torch.empty(shape, device="meta").stride())
    else:  # a view: send the part of its storage it covers, and its strides
        length = 1 + sum((n - 1) * s for n, s in zip(shape, strides))
        span = plain.as_strided((length,), (1,), plain.storage_offset())
    data = span.cpu().contiguous().view(torch.uint8).numpy().tobytes() if span.numel() else b""
    blobs.append(data)
    return ["tensor", {"dtype": DTYPE_NAMES[plain.dtype], "shape": shape, "stride": strides,
                       "span": span.numel(), "device": device, "requires_grad": bool(tensor.requires_grad),
                       "blob": len(blobs) - 1}]


# --------------------------------------------------------------------------------------------
# decoding


def decode(payload: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """Parse a payload made by :func:`encode`, checking every size; :class:`WireError` if invalid."""
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise WireError("payload must be bytes")
    payload = memoryview(payload).cast("B")  # no copy of what may be hundreds of MiB
    if len(payload) > max_bytes:
        raise WireError(f"payload of {len(payload)} bytes exceeds the limit of {max_bytes}")
    if len(payload) < len(MAGIC) + 8 or bytes(payload[:len(MAGIC)]) != MAGIC:
        raise WireError("not a wire payload (bad magic)")
    header_length = int.from_bytes(payload[len(MAGIC):len(MAGIC) + 8], "big")
    start = len(MAGIC) + 8
    if header_length > len(payload) - start:
        raise WireError("header length runs past the end of the payload")
    if header_length > MAX_HEADER_BYTES:  # checked before parsing: json.loads is never given more
        raise WireError(f"header of {header_length} bytes exceeds the limit of {MAX_HEADER_BYTES}")
    try:
        header = json.loads(bytes(payload[start:start + header_length]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise WireError(f"header is not valid JSON: {exc}") from None
    if not isinstance(header, dict) or set(header) != {"value", "blobs"}:
        raise WireError("header must hold exactly 'value' and 'blobs'")
    data = payload[start + header_length:]
    blobs = _checked_blobs(header["blobs"], len(data))
    budget = [MAX_ITEMS, MAX_ELEMENTS]
    return _decode_node(header["value"], data, blobs, depth=0, budget=budget)


def _checked_blobs(offsets: Any, available: int) -> list[tuple[int, int]]:
    if not isinstance(offsets, list) or len(offsets) > MAX_ITEMS:
        raise WireError("bad blob table")
    checked = []
    for entry in offsets:
        if (not isinstance(entry, list) or len(entry) != 2
                or not all(type(v) is int and v >= 0 for v in entry) or entry[0] + entry[1] > available):
            raise WireError("blob table points outside the payload")
        checked.append((entry[0], entry[1]))
    return checked


def _decode_node(node: Any, data: memoryview, blobs: list, depth: int, budget: list[int]) -> Any:
    if depth > MAX_DEPTH:
        raise WireError(f"data nested more than {MAX_DEPTH} levels deep")
    budget[0] -= 1
    if budget[0] < 0:
        raise WireError(f"more than {MAX_ITEMS} items")
    if not isinstance(node, list) or not node or not isinstance(node[0], str):
        raise WireError("malformed node")
    tag, rest = node[0], node[1:]
    if tag == "none" and not rest:
        return None
    if tag == "bool" and len(rest) == 1 and isinstance(rest[0], bool):
        return rest[0]
    if tag == "int" and len(rest) == 1 and isinstance(rest[0], str) and len(rest[0]) <= 4300:
        try:
            return int(rest[0])
        except ValueError:
            raise WireError("malformed int") from None
    if tag == "float" and len(rest) == 1:
        return _float(rest[0])
    if tag == "complex" and len(rest) == 2:
        return complex(_float(rest[0]), _float(rest[1]))
    if tag == "str" and len(rest) == 1 and isinstance(rest[0], str):
        return rest[0]
    if tag == "bytes" and len(rest) == 1:
        start, length = _blob(rest[0], blobs)
        return bytes(data[start:start + length])
    if tag == "dtype" and len(rest) == 1 and rest[0] in DTYPES:
        return DTYPES[rest[0]]
    if tag in ("list", "tuple") and len(rest) == 1 and isinstance(rest[0], list):
        items = [_decode_node(item, data, blobs, depth + 1, budget) for item in rest[0]]
        return items if tag == "list" else tuple(items)
    if tag == "dict" and len(rest) == 1 and isinstance(rest[0], list):
        result = {}
        for pair in rest[0]:
            if not isinstance(pair, list) or len(pair) != 2:
                raise WireError("malformed dict entry")
            key = _decode_node(pair[0], data, blobs, depth + 1, budget)
            if isinstance(key, (list, dict, bytes)) or isinstance(key, torch.Tensor):
                raise WireError("dict keys must be numbers, strings or tuples")
            result[key] = _decode_node(pair[1], data, blobs, depth + 1, budget)
        return result
    if tag == "tensor" and len(rest) == 1 and isinstance(rest[0], dict):
        return _decode_tensor(rest[0], data, blobs, budget)
    raise WireError(f"malformed node {tag!r}")


def _float(text: Any) -> float:
    if not isinstance(text, str) or len(text) > 64:
        raise WireError("malformed float")
    try:
        return float(text)
    except ValueError:
        raise WireError("malformed float") from None


def _blob(index: Any, blobs: list) -> tuple[int, int]:
    if type(index) is not int or not 0 <= index < len(blobs):
        raise WireError("reference to a missing blob")
    return blobs[index]


def _decode_tensor(spec: dict, data: memoryview, blobs: list, budget: list[int]) -> torch.Tensor:
    keys = {"dtype", "shape", "stride", "span", "device", "requires_grad", "blob"}
    if set(spec) != keys or spec["dtype"] not in DTYPES:
        raise WireError("malformed tensor")
    shape, strides, span = spec["shape"], spec["stride"], spec["span"]
    if (not isinstance(shape, list) or not isinstance(strides, list) or len(shape) != len(strides)
            or len(shape) > MAX_DIMS or not all(type(v) is int and v >= 0 for v in shape + strides)
            or type(span) is not int or span < 0 or not isinstance(spec["device"], str)
            or len(spec["device"]) > 32 or not isinstance(spec["requires_grad"], bool)):
        raise WireError("malformed tensor shape")
    dtype = DTYPES[spec["dtype"]]
    start, length = _blob(spec["blob"], blobs)
    itemsize = torch.empty((), dtype=dtype).element_size()
    if length != span * itemsize:
        raise WireError("tensor data does not match its size")
    numel = math.prod(shape)
    if numel and 1 + sum((n - 1) * s for n, s in zip(shape, strides)) > span:
        raise WireError("tensor strides reach past its data")
    budget[1] -= numel
    if budget[1] < 0:
        raise WireError(f"more than {MAX_ELEMENTS} tensor elements (a view may repeat its data)")
    raw = torch.frombuffer(bytearray(data[start:start + length]), dtype=torch.uint8) \
        if length else torch.empty(0, dtype=torch.uint8)
    flat = raw != 0 if dtype == torch.bool else raw.view(dtype)  # a bool byte is exactly 0 or 1
    tensor = flat.as_strided(shape, strides) if numel else torch.empty(shape, dtype=dtype)
    if spec["requires_grad"] and (tensor.is_floating_point() or tensor.is_complex()):
        tensor.requires_grad_(True)
    tensor.eecs498_device = spec["device"]
    return tensor
