"""Synthetic scenes of coloured shapes, shared by captioning (a5), detection (a7) and segmentation (a8).

Each scene is an RGB image of a few objects (a circle, square, triangle, ring or cross; one of six
colours; small, medium or large) on a textured, noisy background. Objects are drawn in order, later
ones on top, so they occlude each other; an object whose visible part is less than ``min_visible``
of its area is left out of the scene altogether (not drawn, not annotated), so every annotated
object is really there to be seen. For every object the scene records its class, colour, size and
the box and mask of its VISIBLE part; for the whole scene a semantic class map and an instance map.

Determinism: scene ``i`` of seed ``s`` depends on ``(s, i)`` and the options only, is the same
whether 10 or 10,000 scenes are made, and is byte-identical on every machine. Random numbers are
PCG64's raw 64-bit outputs (a stream NumPy keeps stable) mapped to integers by this module; shapes
are rasterised with integer arithmetic at quarter-pixel resolution, without antialiasing, and the
background's interpolation is exact integer arithmetic too (carried in float64, which holds it
exactly), so no pixel depends on a library's rounding.

Builders:
    generate_scenes(num_scenes, seed)   -> Scenes: everything above, padded per-object tensors
    detection_dataset(num_images, seed) -> dict: images, boxes (N, 40, 5) padded with -1
    SceneDetectionDataset(...)          -> the course's VOC2007DetectionTiny item format
    segmentation_dataset(num_images, seed) -> dict: images, semantic and instance maps
    captioning_dataset(...)             -> dict in the course's coco.pt shape, with held-out
                                           colour-shape pairs that training never shows

Coordinates: pixel ``(row, col)`` covers ``[col, col+1) x [row, row+1)``; a box ``(x1, y1, x2, y2)``
is ``x1 = first column, y1 = first row, x2 = last column + 1, y2 = last row + 1`` of the visible
mask, so its width times height is the area it covers (torchvision's ``masks_to_boxes`` gives
``x2 = last column``).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import torch

__all__ = [
    "CLASS_NAMES", "COLOR_NAMES", "SIZE_NAMES", "SEGMENTATION_CLASS_NAMES", "HELDOUT_PAIRS",
    "Scenes", "generate_scenes", "detection_dataset", "SceneDetectionDataset", "segmentation_dataset",
    "captioning_dataset", "caption_vocabulary", "scene_caption", "caption_references", "relation",
    "encode_captions", "decode_captions",
]

CLASS_NAMES = ["circle", "square", "triangle", "ring", "cross"]
COLOR_NAMES = ["red", "orange", "yellow", "green", "blue", "purple"]
SIZE_NAMES = ["small", "medium", "large"]
# Semantic map value v names SEGMENTATION_CLASS_NAMES[v]: 0 is background, class c is c + 1.
SEGMENTATION_CLASS_NAMES = ["background"] + CLASS_NAMES
# Mean RGB of each colour; every object's colour is jittered around it.
COLOR_RGB = ((215, 40, 40), (245, 140, 30), (230, 210, 40), (40, 170, 60), (40, 90, 225), (150, 60, 200))
# Radius of each size (shape extent from its centre), per mille of min(H, W), inclusive ranges.
SIZE_RADII = ((65, 85), (115, 140), (175, 205))
# (colour, shape) pairs the captioning training split never shows; every colour but orange and
# every shape still appears in training with other partners.
HELDOUT_PAIRS = (("green", "circle"), ("purple", "square"), ("red", "triangle"),
                 ("yellow", "ring"), ("blue", "cross"))

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_SUB = 4  # geometry is in quarter pixels: pixel (i, j) has its centre at (4j + 2, 4i + 2)
_COLOR_JITTER = 20  # per channel, uniform in [-20, 20]
_PIXEL_NOISE = 10  # per pixel and channel, uniform in [-10, 10], objects included
_TEXTURE = ((4, 45), (10, 18))  # background: (grid size, amplitude) of two bilinear noise octaves
_STREAMS = {"scenes": 0, "caption_train": 1, "caption_val": 2, "caption_test": 3}  # independent streams
_PER_OBJECT = 10  # raw draws per object slot: class, colour, size, radius, x, y, flip, 3 jitters
_CHUNK_PIXELS = 2 ** 21  # scenes are made in chunks of about this many mask pixels (M per scene)
_PER_SCENE = 7  # raw draws per scene before the objects: count, choices, layout, level, 3 tints


@dataclass
class Scenes:
    """A batch of N scenes; per-object tensors are padded to M = the most objects a scene may hold.

    Objects of scene ``i`` are ``0 .. num_objects[i] - 1`` in drawing order (later ones on top);
    object ``k`` is ``k + 1`` in the instance map. Padding is -1 in every per-object tensor.

    Attributes:
        images: uint8 (N, 3, H, W) RGB.
        semantic: uint8 (N, H, W); 0 background, ``class + 1`` elsewhere (SEGMENTATION_CLASS_NAMES).
        instances: uint8 (N, H, W); 0 background, ``k + 1`` where object k is visible.
            (uint8 to keep big sets small; ``segmentation_dataset`` gives both as int64.)
        num_objects: int64 (N,) objects kept in each scene.
        classes, colors, sizes: int64 (N, M) indices into CLASS_NAMES, COLOR_NAMES, SIZE_NAMES.
        boxes: float32 (N, M, 4) x1, y1, x2, y2 of the visible part (module docstring).
        visible: float32 (N, M) visible fraction of each object's area, in [min_visible, 1].
        centers: float32 (N, M, 2) x, y of the shape's centre in pixels (multiples of 1/4).
        radii: float32 (N, M) the shape's extent from its centre in pixels (multiples of 1/4).
        flipped: bool (N, M) a triangle points down (other shapes ignore it); False in padding.
        num_dropped: int64 (N,) objects left out because too little of them would show.
        choices: int64 (N,) a random number per scene that captions use to pick their wording.
    """

    images: torch.Tensor
    semantic: torch.Tensor
    instances: torch.Tensor
    num_objects: torch.Tensor
    classes: torch.Tensor
    colors: torch.Tensor
    sizes: torch.Tensor
    boxes: torch.Tensor
    visible: torch.Tensor
    centers: torch.Tensor
    radii: torch.Tensor
    flipped: torch.Tensor
    num_dropped: torch.Tensor
    choices: torch.Tensor

    def __len__(self) -> int:
        return self.images.shape[0]

    def masks(self, index: int) -> torch.Tensor:
        """bool (num_objects[index], H, W): the visible mask of each object of one scene."""
        ids = torch.arange(1, int(self.num_objects[index]) + 1)
        return self.instances[index][None] == ids[:, None, None]

    def objects(self, index: int) -> list[dict]:
        """One scene's objects as dicts: ``class``, ``color``, ``size`` (names), ``box`` (4 floats)."""
        return [{"class": CLASS_NAMES[int(self.classes[index, k])],
                 "color": COLOR_NAMES[int(self.colors[index, k])],
                 "size": SIZE_NAMES[int(self.sizes[index, k])],
                 "box": self.boxes[index, k].tolist()}
                for k in range(int(self.num_objects[index]))]

    def _select(self, keep: torch.Tensor) -> Scenes:
        return Scenes(**{name: getattr(self, name)[keep] for name in self.__dataclass_fields__})


def generate_scenes(num_scenes: int, seed: int = 0, *, image_size: int | tuple[int, int] = 64,
                    num_objects: tuple[int, int] = (1, 4), min_visible: float = 0.5,
                    exclude: Iterable[tuple[str, str]] = ()) -> Scenes:
    """``num_scenes`` scenes of seed ``seed`` (see ``Scenes`` for what each holds).

    Args:
        image_size: H = W, or (H, W); at least 16.
        num_objects: (fewest, most) objects drawn per scene, uniform; the most is M, the padding.
            Objects hidden beyond ``min_visible`` are then left out, so a scene may keep fewer.
        min_visible: an object is kept when at least this fraction of its area shows (and > 0).
        exclude: (colour, shape) name pairs never drawn, e.g. ``HELDOUT_PAIRS``.
    """
    return _generate(num_scenes, seed, "scenes", image_size, num_objects, min_visible, exclude)


def _generate(num_scenes, seed, stream, image_size, num_objects, min_visible, exclude, *,
              start=0, pairs=False) -> Scenes:
    """Scenes ``start .. start + num_scenes - 1`` of a stream; ``pairs`` places two objects side by
    side or one above the other (for captions) instead of anywhere."""
    height, width = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    fewest, most = num_objects
    if min(height, width) < 16:
        raise ValueError(f"image_size must be at least 16 pixels, got {image_size}")
    if not 1 <= fewest <= most <= 255:
        raise ValueError(f"num_objects must be (fewest, most) with 1 <= fewest <= most <= 255, got {num_objects}")
    if not 0 <= min_visible <= 1:
        raise ValueError(f"min_visible must be in [0, 1], got {min_visible}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    allowed = _allowed_colors(exclude)
    out = {name: np.zeros((num_scenes,) + shape, dtype=dtype)
           for name, (shape, dtype) in _fields(height, width, most).items()}
    chunk = max(1, _CHUNK_PIXELS // (most * height * width))
    for first in range(0, num_scenes, chunk):
        stop = min(first + chunk, num_scenes)
        part = _generate_chunk(seed, _STREAMS[stream], start + first, start + stop, (height, width),
                               fewest, most, min_visible, allowed, pairs)
        for name, values in part.items():
            out[name][first:stop] = values
    return Scenes(**{name: torch.from_numpy(values) for name, values in out.items()})


def _fields(height: int, width: int, most: int) -> dict:
    """Each field of Scenes: (shape after N, NumPy dtype)."""
    maps, per_object = (height, width), (most,)
    return {"images": ((3, height, width), np.uint8), "semantic": (maps, np.uint8), "instances": (maps, np.uint8),
            "num_objects": ((), np.int64), "classes": (per_object, np.int64), "colors": (per_object, np.int64),
            "sizes": (per_object, np.int64), "boxes": ((most, 4), np.float32), "visible": (per_object, np.float32),
            "centers": ((most, 2), np.float32), "radii": (per_object, np.float32), "flipped": (per_object, bool),
            "num_dropped": ((), np.int64), "choices": ((), np.int64)}


def _allowed_colors(exclude) -> list[list[int]]:
    allowed = [list(range(len(COLOR_NAMES))) for _ in CLASS_NAMES]
    for color, shape in exclude:
        if color not in COLOR_NAMES or shape not in CLASS_NAMES:
            raise ValueError(f"unknown (colour, shape) pair {(color, shape)!r}; colours are {COLOR_NAMES}, "
                             f"shapes {CLASS_NAMES}")
        if COLOR_NAMES.index(color) in allowed[CLASS_NAMES.index(shape)]:
            allowed[CLASS_NAMES.index(shape)].remove(COLOR_NAMES.index(color))
    for shape, colors in zip(CLASS_NAMES, allowed):
        if not colors:
            raise ValueError(f"exclude leaves no colour for {shape}")
    return allowed


def _draws(seed: int, stream: int, index: int, count: int) -> np.ndarray:
    """uint64 (count,): the raw outputs of the PCG64 stream of one scene."""
    return np.random.PCG64(np.random.SeedSequence([int(seed), stream, index])).random_raw(count)


def _generate_chunk(seed, stream, first, stop, size, fewest, most, min_visible, allowed, pairs) -> dict:
    """Scenes ``first .. stop - 1`` as NumPy arrays named like the fields of Scenes.

    NumPy throughout: its integer and boolean kernels are several times faster than torch's here.
    """
    height, width = size
    n = stop - first
    num_texture = sum(3 * grid * grid for grid, _ in _TEXTURE)
    num_params = _PER_SCENE + _PER_OBJECT * most + num_texture
    num_noise = -(-3 * height * width // 8)  # eight noise bytes per raw draw
    raw = np.zeros((n, num_params + num_noise), dtype=np.uint64)
    for row, index in enumerate(range(first, stop)):
        raw[row] = _draws(seed, stream, index, num_params + num_noise)
    # Parameters use the top 53 bits (non-negative int64); noise uses all eight bytes of its draws,
    # read little-endian whatever the machine.
    params = (raw[:, :num_params] >> np.uint64(11)).astype(np.int64)
    noise_bytes = raw[:, num_params:].astype("<u8").view(np.uint8)[:, :3 * height * width]
    noise = ((noise_bytes.astype(np.int16) * (2 * _PIXEL_NOISE + 1)) >> 8) - _PIXEL_NOISE

    count = fewest + params[:, 0] % (most - fewest + 1)
    choices, layout = params[:, 1], params[:, 2]
    level = 60 + params[:, 3] % 131
    tint = params[:, 4:7] % 41 - 20
    obj = params[:, _PER_SCENE:_PER_SCENE + _PER_OBJECT * most].reshape(n, most, _PER_OBJECT)
    texture = params[:, _PER_SCENE + _PER_OBJECT * most:]

    # Objects, one slot each; slot k < count[i] is drawn.
    classes = obj[..., 0] % len(CLASS_NAMES)
    table = np.array([colors + [colors[0]] * (len(COLOR_NAMES) - len(colors)) for colors in allowed])
    num_allowed = np.array([len(colors) for colors in allowed])
    colors = table[classes, obj[..., 1] % num_allowed[classes]]
    sizes = obj[..., 2] % len(SIZE_NAMES)
    low, high = np.array(SIZE_RADII).T[:, sizes]
    per_mille = low + obj[..., 3] % (high - low + 1)
    radius = np.maximum((per_mille * min(height, width) * _SUB + 500) // 1000, _SUB)  # quarter pixels
    cx = radius + obj[..., 4] % (_SUB * width - 2 * radius + 1)
    cy = radius + obj[..., 5] % (_SUB * height - 2 * radius + 1)
    if pairs:
        _place_pairs(cx, cy, radius, obj[..., 4], obj[..., 5], layout, height, width)
    flipped = obj[..., 6] % 2 == 1
    jitter = obj[..., 7:10] % (2 * _COLOR_JITTER + 1) - _COLOR_JITTER
    drawn = np.arange(most)[None] < count[:, None]

    full = np.zeros((n, most, height, width), dtype=bool)
    full[drawn] = _rasterise(classes[drawn], cx[drawn], cy[drawn], radius[drawn], flipped[drawn],
                             height, width)
    area = np.count_nonzero(full.reshape(n, most, height * width), axis=2)

    # Occlusion, top object first: an object is kept when enough of it shows past the kept ones
    # above it; one left out is not drawn, so it hides nothing below it. ``full`` becomes the
    # visible masks of the kept objects.
    covered = np.zeros((n, height, width), dtype=bool)
    keep = np.zeros((n, most), dtype=bool)
    visible_count = np.zeros((n, most), dtype=np.int64)
    for k in reversed(range(most)):
        shows = full[:, k] & ~covered
        shown = np.count_nonzero(shows.reshape(n, height * width), axis=1)
        keep[:, k] = drawn[:, k] & (shown > 0) & (shown >= min_visible * area[:, k])
        covered |= full[:, k] & keep[:, k, None, None]
        full[:, k] = shows & keep[:, k, None, None]
        visible_count[:, k] = shown
    rows, cols = full.any(3), full.any(2)  # (n, M, H), (n, M, W)

    # Pixels: the background texture, then each object's colour where it shows; maps alike.
    rank = np.cumsum(keep, axis=1) - 1  # kept objects are renumbered 0 .. num_objects - 1
    rgb = np.array(COLOR_RGB)[colors] + jitter  # (n, M, 3)
    image = (level[:, None] + tint).astype(np.int16)[:, :, None, None] + _texture(texture, n, height, width)
    semantic = np.zeros((n, height, width), dtype=np.uint8)
    instances = np.zeros((n, height, width), dtype=np.uint8)
    for k in range(most):
        where = full[:, k]
        for channel in range(3):
            np.copyto(image[:, channel], rgb[:, k, channel, None, None].astype(np.int16), where=where)
        np.copyto(semantic, (classes[:, k, None, None] + 1).astype(np.uint8), where=where)
        np.copyto(instances, (rank[:, k, None, None] + 1).astype(np.uint8), where=where)
    image = np.clip(image + noise.reshape(n, 3, height, width), 0, 255).astype(np.uint8)

    x1, y1 = cols.argmax(2), rows.argmax(2)
    x2, y2 = width - cols[..., ::-1].argmax(2), height - rows[..., ::-1].argmax(2)
    boxes = np.stack([x1, y1, x2, y2], axis=2).astype(np.float32)
    fraction = visible_count.astype(np.float32) / np.maximum(area, 1).astype(np.float32)
    centers = np.stack([cx, cy], axis=2).astype(np.float32) / _SUB

    def packed(values: np.ndarray, fill) -> np.ndarray:
        out = np.full((n, most) + values.shape[2:], fill, dtype=values.dtype)
        out[np.nonzero(keep)[0], rank[keep]] = values[keep]
        return out

    return dict(images=image, semantic=semantic, instances=instances, num_objects=keep.sum(1),
                classes=packed(classes, -1), colors=packed(colors, -1), sizes=packed(sizes, -1),
                boxes=packed(boxes, -1.0), visible=packed(fraction, -1.0), centers=packed(centers, -1.0),
                radii=packed(radius.astype(np.float32) / _SUB, -1.0), flipped=packed(flipped, False),
                num_dropped=(drawn & ~keep).sum(1), choices=choices)


def _place_pairs(cx, cy, radius, draw_x, draw_y, layout, height, width) -> None:
    """Move objects 0 and 1 (in place, quarter pixels) apart along one axis, at least two pixels
    between their extents, and close along the other (centres within half the smaller radius).

    ``layout`` picks the axis (bit 0) and which object comes first (bit 1); ``draw_x``/``draw_y``
    (n, M) are the objects' raw position draws.
    """
    vertical, swap = layout % 2 == 1, (layout // 2) % 2 == 1
    gap = 2 * _SUB
    length, breadth = np.where(vertical, _SUB * height, _SUB * width), np.where(vertical, _SUB * width, _SUB * height)
    first, second = np.where(swap, 1, 0), np.where(swap, 0, 1)
    rows = np.arange(len(layout))
    r1, r2 = radius[rows, first], radius[rows, second]
    slack = np.maximum(length - 2 * r1 - 2 * r2 - gap, 0)
    a, b = draw_x[:, 0] % (slack + 1), draw_x[:, 1] % (slack + 1)
    a, b = np.minimum(a, b), np.maximum(a, b)
    along_first, along_second = r1 + a, 2 * r1 + gap + r2 + b
    reach = np.minimum(r1, r2) // 2
    across_first = r1 + draw_y[:, 0] % (breadth - 2 * r1 + 1)
    across_second = np.clip(across_first - reach + draw_y[:, 1] % (2 * reach + 1), r2, breadth - r2)
    for slot, along_value, across_value in ((first, along_first, across_first),
                                            (second, along_second, across_second)):
        cx[rows, slot] = np.where(vertical, across_value, along_value)
        cy[rows, slot] = np.where(vertical, along_value, across_value)


def _rasterise(classes, cx, cy, r, flipped, height, width) -> np.ndarray:
    """bool (n, H, W): the full masks of n shapes (quarter-pixel integer centres and radii (n,))."""
    x = (_SUB * np.arange(width) + _SUB // 2)[None, None, :]
    y = (_SUB * np.arange(height) + _SUB // 2)[None, :, None]
    masks = np.zeros((len(classes), height, width), dtype=bool)
    for c, name in enumerate(CLASS_NAMES):
        pick = classes == c
        if not pick.any():
            continue
        dx, dy = x - cx[pick, None, None], y - cy[pick, None, None]
        rr = r[pick, None, None]
        if name == "circle":
            mask = dx * dx + dy * dy <= rr * rr
        elif name == "square":  # half side 7/8 of the radius: about the circle's area
            mask = (8 * np.abs(dx) <= 7 * rr) & (8 * np.abs(dy) <= 7 * rr)
        elif name == "triangle":  # apex r above the centre, base 3r/4 below, half base r
            dy = np.where(flipped[pick, None, None], -dy, dy)
            mask = (4 * dy <= 3 * rr) & (7 * np.abs(dx) <= 4 * (dy + rr))
        elif name == "ring":  # inner radius 0.55 r
            d2 = dx * dx + dy * dy
            mask = (d2 <= rr * rr) & (400 * d2 >= 121 * rr * rr)
        else:  # cross: two bars of half length r and half width 3r/8
            long_x, long_y = np.abs(dx) <= rr, np.abs(dy) <= rr
            thin_x, thin_y = 8 * np.abs(dx) <= 3 * rr, 8 * np.abs(dy) <= 3 * rr
            mask = (long_x & thin_y) | (long_y & thin_x)
        masks[pick] = mask
    return masks


def _texture(values: np.ndarray, n: int, height: int, width: int) -> np.ndarray:
    """int16 (n, 3, H, W): the sum of the bilinearly upsampled noise octaves, in exact integers.

    The interpolation is two matrix products with integer weights; float64 holds every partial sum
    exactly (all are integers below 2**53), so the result does not depend on the summation order.
    """
    total = np.zeros((n * 3, height, width), dtype=np.float64)
    offset = 0
    for grid, amplitude in _TEXTURE:
        g = values[:, offset:offset + 3 * grid * grid] % (2 * amplitude + 1) - amplitude
        offset += 3 * grid * grid
        across = g.reshape(n * 3 * grid, grid).astype(np.float64) @ _lerp_weights(grid, width).T
        total += _lerp_weights(grid, height) @ across.reshape(n * 3, grid, width)
    texture = total.astype(np.int64) // (4 * height * width)  # both weights sum to 2 * size
    return texture.astype(np.int16).reshape(n, 3, height, width)


def _lerp_weights(num: int, size: int) -> np.ndarray:
    """float64 (size, num) integer weights of linear interpolation from ``num`` grid points to
    ``size`` pixel centres, each row summing to 2 * size."""
    pos = (2 * np.arange(size) + 1) * (num - 1)  # a pixel centre's grid position, times 2 * size
    low = np.minimum(pos // (2 * size), num - 2)
    weights = np.zeros((size, num), dtype=np.int64)
    weights[np.arange(size), low] = 2 * size - (pos - low * 2 * size)
    weights[np.arange(size), low + 1] = pos - low * 2 * size
    return weights.astype(np.float64)


# ------------------------------------------------------------------------------------------------
# Detection and segmentation


def _images(images: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return images if dtype == torch.uint8 else images.to(dtype).div_(255)


def detection_dataset(num_images: int, seed: int = 0, *, image_size: int | tuple[int, int] = 64,
                      num_objects: tuple[int, int] = (1, 4), min_visible: float = 0.5,
                      max_boxes: int = 40, dtype: torch.dtype = torch.float32) -> dict:
    """Scenes for a detector, padded the way the course's detection code pads VOC.

    Use different seeds for the training and evaluation sets (each seed is an independent set).

    Returns:
        dict with ``images`` (N, 3, H, W) of ``dtype``: floats in [0, 1], or the bytes for
        torch.uint8; ``boxes`` float32 (N, max_boxes, 5) with rows x1, y1, x2, y2, class (an
        index into ``class_names``), padding rows all -1; ``class_names``; ``idx_to_class``
        {index: name}; ``scenes``, the ``Scenes`` they came from.
    """
    scenes = _generate(num_images, seed, "scenes", image_size, num_objects, min_visible, ())
    most = scenes.classes.shape[1]
    if max_boxes < most:
        raise ValueError(f"max_boxes={max_boxes} is fewer than the {most} objects a scene may hold")
    boxes = torch.full((num_images, max_boxes, 5), -1.0)
    boxes[:, :most, :4] = scenes.boxes
    boxes[:, :most, 4] = scenes.classes.float()
    return {"images": _images(scenes.images, dtype), "boxes": boxes, "class_names": list(CLASS_NAMES),
            "idx_to_class": dict(enumerate(CLASS_NAMES)), "scenes": scenes}


class SceneDetectionDataset(torch.utils.data.Dataset):
    """Scenes in the item format of the course's ``VOC2007DetectionTiny``, for its DataLoaders.

    Item ``i`` is ``(name, image, gt_boxes)``: ``name`` a string like ``"scene-0-000007.jpg"`` (a name
    for the course's result files, not a file), ``image`` float32 (3, H, W), the pixels in [0, 1]
    then, when ``normalize`` (the course's way), less the ImageNet mean and over its std, and
    ``gt_boxes`` float32 (max_num_instances, 5) as in ``detection_dataset``. ``class_to_idx`` and
    ``idx_to_class`` as the course's.
    """

    def __init__(self, num_images: int, seed: int = 0, *, image_size: int | tuple[int, int] = 64,
                 normalize: bool = True, max_num_instances: int = 40, **scene_options):
        super().__init__()
        data = detection_dataset(num_images, seed, image_size=image_size, max_boxes=max_num_instances,
                                 dtype=torch.uint8, **scene_options)
        self.images, self.boxes, self.seed, self.normalize = data["images"], data["boxes"], seed, normalize
        self.idx_to_class = data["idx_to_class"]
        self.class_to_idx = {name: index for index, name in self.idx_to_class.items()}

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int):
        image = self.images[index].float().div_(255)
        if self.normalize:
            image = (image - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None]
        return f"scene-{self.seed}-{index:06d}.jpg", image, self.boxes[index].clone()


def segmentation_dataset(num_images: int, seed: int = 0, *, image_size: int | tuple[int, int] = 64,
                         num_objects: tuple[int, int] = (1, 4), min_visible: float = 0.5,
                         dtype: torch.dtype = torch.float32) -> dict:
    """Scenes for semantic and instance segmentation (the same scenes as ``detection_dataset``).

    Returns:
        dict with ``images`` (N, 3, H, W) as in ``detection_dataset``; ``semantic`` int64 (N, H, W),
        0 background and ``class + 1`` on objects (names in ``class_names``, background first);
        ``instances`` int64 (N, H, W), 0 background and ``k + 1`` on object k; ``instance_classes``
        int64 (N, M), the class (``CLASS_NAMES`` index) of object k, -1 padding; ``scenes``.
    """
    scenes = _generate(num_images, seed, "scenes", image_size, num_objects, min_visible, ())
    return {"images": _images(scenes.images, dtype), "semantic": scenes.semantic.long(),
            "instances": scenes.instances.long(),
            "instance_classes": scenes.classes, "class_names": list(SEGMENTATION_CLASS_NAMES),
            "scenes": scenes}


# ------------------------------------------------------------------------------------------------
# Captions

_SIZE_WORDS = (("small", "little"), ("medium",), ("large", "big"))
_RELATION_WORDS = {"left": ("left of", "to the left of"), "right": ("right of", "to the right of"),
                   "above": ("above", "over"), "below": ("below", "under")}
_CONVERSE = {"left": "right", "right": "left", "above": "below", "below": "above"}
_PAIR_TEMPLATES = ("a {a} {rel} a {b}", "there is a {a} {rel} a {b}", "a {a} is {rel} a {b}")
_SINGLE_TEMPLATES = ("a {a}", "there is a {a}")
_SPECIAL_TOKENS = ["<NULL>", "<START>", "<END>", "<UNK>"]


def relation(box_a: Sequence[float], box_b: Sequence[float]) -> str | None:
    """Where box A is relative to box B: "left", "right", "above", "below", or None when unclear.

    "left" means A lies entirely left of B (``a.x2 <= b.x1``) and their rows overlap (they are side
    by side, not diagonal); the others alike. Boxes are (x1, y1, x2, y2).
    """
    ax1, ay1, ax2, ay2 = (float(v) for v in box_a)
    bx1, by1, bx2, by2 = (float(v) for v in box_b)
    rows_overlap, cols_overlap = ay1 < by2 and by1 < ay2, ax1 < bx2 and bx1 < ax2
    if rows_overlap and ax2 <= bx1:
        return "left"
    if rows_overlap and bx2 <= ax1:
        return "right"
    if cols_overlap and ay2 <= by1:
        return "above"
    if cols_overlap and by2 <= ay1:
        return "below"
    return None


def caption_references(scenes: Scenes, index: int) -> list[str]:
    """Every caption that describes scene ``index`` correctly, in a fixed order.

    A scene with one object: each single-object template and size synonym ("a small red circle",
    "there is a little red circle", ...). With two objects side by side or one above the other: each
    pair template, ordering, relation phrase and size synonym ("a small red circle left of a big
    blue ring", "a big blue ring is to the right of a small red circle", ...).

    Raises:
        ValueError: the scene has more than two objects, or two with no clear relation.
    """
    objects = scenes.objects(index)

    def phrases(obj: dict) -> list[str]:
        return [f"{size} {obj['color']} {obj['class']}" for size in _SIZE_WORDS[SIZE_NAMES.index(obj["size"])]]

    if len(objects) == 1:
        return [template.format(a=a) for template in _SINGLE_TEMPLATES for a in phrases(objects[0])]
    if len(objects) == 2:
        where = relation(objects[0]["box"], objects[1]["box"])
        if where is not None:
            return [template.format(a=a, rel=rel, b=b)
                    for first, second, side in ((0, 1, where), (1, 0, _CONVERSE[where]))
                    for template in _PAIR_TEMPLATES for rel in _RELATION_WORDS[side]
                    for a, b in itertools.product(phrases(objects[first]), phrases(objects[second]))]
    raise ValueError(f"scene {index} has {len(objects)} objects without a clear relation: no caption")


def scene_caption(scenes: Scenes, index: int) -> str:
    """The training caption of scene ``index``: one of ``caption_references``, chosen by its seed."""
    references = caption_references(scenes, index)
    return references[int(scenes.choices[index]) % len(references)]


def _captionable(scenes: Scenes) -> torch.Tensor:
    ok = [int(scenes.num_objects[i]) == 2
          and relation(scenes.boxes[i, 0].tolist(), scenes.boxes[i, 1].tolist()) is not None
          for i in range(len(scenes))]
    return torch.tensor(ok, dtype=torch.bool)


def caption_vocabulary() -> tuple[list[str], dict[str, int]]:
    """``idx_to_word`` (list) and ``word_to_idx`` (dict): ``<NULL>`` 0, ``<START>`` 1, ``<END>`` 2,
    ``<UNK>`` 3, then every word the captions use, sorted."""
    texts = list(_PAIR_TEMPLATES + _SINGLE_TEMPLATES) + [w for words in _RELATION_WORDS.values() for w in words]
    words = {word for text in texts for word in text.split() if not word.startswith("{")}
    words |= {w for words in _SIZE_WORDS for w in words} | set(COLOR_NAMES) | set(CLASS_NAMES)
    idx_to_word = _SPECIAL_TOKENS + sorted(words)
    return idx_to_word, {word: index for index, word in enumerate(idx_to_word)}


def encode_captions(captions: Sequence[str], word_to_idx: dict[str, int], max_length: int = 17) -> torch.Tensor:
    """int64 (N, max_length): ``<START>``, the words (``<UNK>`` for unknown ones), ``<END>``, then
    ``<NULL>`` padding. Raises ValueError when a caption has more than ``max_length - 2`` words."""
    out = torch.full((len(captions), max_length), word_to_idx["<NULL>"], dtype=torch.int64)
    for row, caption in enumerate(captions):
        words = caption.split()
        if len(words) > max_length - 2:
            raise ValueError(f"caption {caption!r} has {len(words)} words; max_length={max_length} holds "
                             f"{max_length - 2} besides <START> and <END>")
        tokens = [word_to_idx["<START>"]] + [word_to_idx.get(w, word_to_idx["<UNK>"]) for w in words]
        out[row, :len(words) + 2] = torch.tensor(tokens + [word_to_idx["<END>"]])
    return out


def decode_captions(captions: torch.Tensor, idx_to_word: Sequence[str]) -> str | list[str]:
    """The words of (N, T) token tensors (or one (T,) tensor -> one string), stopping at ``<END>``
    and leaving out ``<NULL>``, ``<START>`` and ``<END>`` (the course's helper keeps the last two)."""
    rows = captions[None] if captions.dim() == 1 else captions
    sentences = []
    for row in rows.tolist():
        words = []
        for token in row:
            word = idx_to_word[token]
            if word == "<END>":
                break
            if word not in ("<NULL>", "<START>"):
                words.append(word)
        sentences.append(" ".join(words))
    return sentences[0] if captions.dim() == 1 else sentences


def _caption_scenes(num_scenes, seed, stream, image_size, exclude) -> Scenes:
    """The first ``num_scenes`` two-object scenes of a stream whose objects have a clear relation
    (placed so nearly all do; the few that do not are skipped)."""
    parts, start, total = [], 0, 0
    while total < num_scenes:
        batch = num_scenes - total + max(16, (num_scenes - total) // 20)
        candidates = _generate(batch, seed, stream, image_size, (2, 2), 0.5, exclude, start=start, pairs=True)
        parts.append(candidates._select(_captionable(candidates)))
        total += len(parts[-1])
        start += batch
    return Scenes(**{name: torch.cat([getattr(part, name) for part in parts])[:num_scenes]
                     for name in Scenes.__dataclass_fields__})


def captioning_dataset(num_train: int = 10000, num_val: int = 500, num_test: int = 500, seed: int = 0, *,
                       image_size: int | tuple[int, int] = 112, max_length: int = 17,
                       heldout: Iterable[tuple[str, str]] = HELDOUT_PAIRS) -> dict:
    """Two-object scenes with captions, in the shape of the course's ``coco.pt`` data dict.

    Each scene holds two objects side by side or one above the other, captioned with a random
    (seeded) choice among ``caption_references``. The training split never shows a (colour, shape)
    pair of ``heldout`` (in any image or caption); validation and test draw every pair, so about
    30% of their scenes hold one (``*_novel``): a model that memorises training captions fails there.

    Returns:
        dict with, for each split in train, val, test: ``{split}_images`` uint8 (N, 3, H, W),
        ``{split}_captions`` int64 (N, max_length) (``encode_captions``), ``{split}_references`` (N
        lists of every correct caption, for exact match and BLEU), ``{split}_novel`` bool (N,);
        ``vocab`` {``idx_to_token``, ``token_to_idx``} as in coco.pt, the same as ``idx_to_word`` and
        ``word_to_idx``; ``heldout_pairs``; ``{split}_objects`` (N lists of the two objects' dicts,
        ``Scenes.objects``).
    """
    heldout = [tuple(pair) for pair in heldout]
    idx_to_word, word_to_idx = caption_vocabulary()
    data = {}
    for split, count in (("train", num_train), ("val", num_val), ("test", num_test)):
        scenes = _caption_scenes(count, seed, f"caption_{split}", image_size,
                                 heldout if split == "train" else ())
        pairs = [[(COLOR_NAMES[int(c)], CLASS_NAMES[int(k)]) for c, k in zip(colors[:n], classes[:n])]
                 for colors, classes, n in zip(scenes.colors, scenes.classes, scenes.num_objects)]
        data[f"{split}_images"] = scenes.images
        data[f"{split}_captions"] = encode_captions([scene_caption(scenes, i) for i in range(count)],
                                                    word_to_idx, max_length)
        data[f"{split}_references"] = [caption_references(scenes, i) for i in range(count)]
        data[f"{split}_novel"] = torch.tensor([any(p in heldout for p in ps) for ps in pairs], dtype=torch.bool)
        data[f"{split}_objects"] = [scenes.objects(i) for i in range(count)]
    data["vocab"] = {"idx_to_token": idx_to_word, "token_to_idx": word_to_idx}
    data["idx_to_word"], data["word_to_idx"] = idx_to_word, word_to_idx
    data["heldout_pairs"] = heldout
    return data
