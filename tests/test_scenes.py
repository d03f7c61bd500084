"""eecs498.scenes: the synthetic scenes a5 (captions), a7 (detection) and a8 (segmentation) share.

The geometry checks use a painter written here from the documented shape definitions, pixel by
pixel in plain Python, independent of the module's vectorised rasteriser.
"""
from __future__ import annotations

import hashlib
import math
import re

import pytest
import torch

from eecs498 import scenes
from eecs498.scenes import (CLASS_NAMES, COLOR_NAMES, HELDOUT_PAIRS, SIZE_NAMES, caption_references,
                            caption_vocabulary, captioning_dataset, decode_captions, detection_dataset,
                            encode_captions, generate_scenes, relation, segmentation_dataset)

FIELDS = list(scenes.Scenes.__dataclass_fields__)


@pytest.fixture(scope="module")
def crowded():
    """Scenes with many objects, so that occlusion and dropping are common."""
    return generate_scenes(60, seed=3, num_objects=(3, 6))


@pytest.fixture(scope="module")
def captions():
    return captioning_dataset(300, 200, 60, seed=1, image_size=64)


def digest(batch: scenes.Scenes) -> str:
    h = hashlib.sha256()
    for name in FIELDS:
        values = getattr(batch, name).numpy()
        h.update(values.astype(values.dtype.newbyteorder("<")).tobytes())  # the same on any byte order
    return h.hexdigest()


def test_shapes_dtypes_and_padding():
    batch = generate_scenes(12, seed=0, image_size=(48, 64), num_objects=(2, 5))
    n, m = 12, 5
    assert len(batch) == n
    assert batch.images.dtype == torch.uint8 and batch.images.shape == (n, 3, 48, 64)
    for name in ("semantic", "instances"):
        assert getattr(batch, name).dtype == torch.uint8 and getattr(batch, name).shape == (n, 48, 64)
    for name, dtype, shape in (("classes", torch.int64, (n, m)), ("colors", torch.int64, (n, m)),
                               ("sizes", torch.int64, (n, m)), ("boxes", torch.float32, (n, m, 4)),
                               ("visible", torch.float32, (n, m)), ("centers", torch.float32, (n, m, 2)),
                               ("radii", torch.float32, (n, m)), ("flipped", torch.bool, (n, m)),
                               ("num_objects", torch.int64, (n,)), ("num_dropped", torch.int64, (n,)),
                               ("choices", torch.int64, (n,))):
        value = getattr(batch, name)
        assert value.dtype == dtype and value.shape == shape, name
    assert ((batch.num_objects >= 1) & (batch.num_objects <= m)).all()
    assert (batch.num_objects + batch.num_dropped >= 2).all() and (batch.num_objects + batch.num_dropped <= m).all()
    real = torch.arange(m)[None] < batch.num_objects[:, None]
    for name in ("classes", "colors", "sizes", "visible", "radii"):
        value = getattr(batch, name)
        assert (value[~real] == -1).all() and (value[real] >= 0).all(), name
    assert (batch.boxes[~real] == -1).all() and not batch.flipped[~real].any()
    assert (batch.classes[real] < len(CLASS_NAMES)).all() and (batch.colors[real] < len(COLOR_NAMES)).all()
    assert (batch.sizes[real] < len(SIZE_NAMES)).all()
    assert int(batch.instances.max()) <= m and int(batch.semantic.max()) <= len(CLASS_NAMES)
    assert batch.masks(0).shape == (int(batch.num_objects[0]), 48, 64) and batch.masks(0).dtype == torch.bool
    assert set(batch.objects(0)[0]) == {"class", "color", "size", "box"}
    empty = generate_scenes(0)
    assert empty.images.shape == (0, 3, 64, 64) and empty.boxes.shape == (0, 4, 4)


def test_same_seed_same_bytes_other_seed_other_scenes(monkeypatch):
    first = generate_scenes(10, seed=7)
    assert digest(first) == digest(generate_scenes(10, seed=7))
    other = generate_scenes(10, seed=8)
    assert not torch.equal(first.images, other.images) and not torch.equal(first.boxes, other.boxes)
    # Scene i depends on (seed, i) only: the same in a longer run and when made in other chunks.
    monkeypatch.setattr(scenes, "_CHUNK_PIXELS", 3 * 4 * 64 * 64)  # three scenes a chunk
    longer = generate_scenes(25, seed=7)
    assert digest(longer._select(torch.arange(10))) == digest(first)


def test_bytes_pinned():
    """The same bytes on every machine and library version: a change here changes every dataset
    made from the scenes, and the references recorded with them."""
    assert digest(generate_scenes(6, seed=123, image_size=40)) == PINNED_SCENES
    data = captioning_dataset(4, 2, 2, seed=5, image_size=32)
    assert [decode_captions(c, data["idx_to_word"]) for c in data["train_captions"]] == PINNED_CAPTIONS


PINNED_SCENES = "977c38afe24cc120adfedd09fb45f4884ea0bed62e1b23934f12a85602e0d598"
PINNED_CAPTIONS = ["there is a large orange circle left of a medium orange triangle",
                   "there is a medium purple circle above a little yellow circle",
                   "a medium orange circle is above a large red circle",
                   "there is a medium red ring under a large yellow triangle"]


def test_boxes_tightly_bound_the_visible_masks(crowded):
    for i in range(len(crowded)):
        masks = crowded.masks(i)
        assert masks.any(2).any(1).all(), "every kept object shows"
        for k, mask in enumerate(masks):
            rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
            expected = [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
            assert crowded.boxes[i, k].tolist() == [float(v) for v in expected]


def test_semantic_map_agrees_with_instances_and_classes(crowded):
    for i in range(len(crowded)):
        inst, sem = crowded.instances[i].long(), crowded.semantic[i].long()
        lookup = torch.cat([torch.zeros(1, dtype=torch.int64), crowded.classes[i] + 1])
        assert torch.equal(sem, lookup[inst])
        assert int(inst.max()) == int(crowded.num_objects[i])  # ids 1..n, each object visible


def inside(name: str, dx: int, dy: int, r: int, flipped: bool) -> bool:
    """The documented shapes, in quarter pixels from the centre, radius r."""
    if name == "circle":
        return dx * dx + dy * dy <= r * r
    if name == "square":
        return 8 * abs(dx) <= 7 * r and 8 * abs(dy) <= 7 * r
    if name == "triangle":
        dy = -dy if flipped else dy
        return 4 * dy <= 3 * r and 7 * abs(dx) <= 4 * (dy + r)
    if name == "ring":
        return 121 * r * r <= 400 * (dx * dx + dy * dy) <= 400 * r * r
    return (abs(dx) <= r and 8 * abs(dy) <= 3 * r) or (abs(dy) <= r and 8 * abs(dx) <= 3 * r)


def paint(batch: scenes.Scenes, i: int):
    """The instance map and the full area of each kept object, painted bottom to top."""
    height, width = batch.instances.shape[1:]
    instance_map = [[0] * width for _ in range(height)]
    areas = []
    for k in range(int(batch.num_objects[i])):
        name = CLASS_NAMES[int(batch.classes[i, k])]
        cx, cy = (int(v * 4) for v in batch.centers[i, k].tolist())
        r, flipped = int(batch.radii[i, k] * 4), bool(batch.flipped[i, k])
        area = 0
        for row in range(height):
            for col in range(width):
                if inside(name, 4 * col + 2 - cx, 4 * row + 2 - cy, r, flipped):
                    instance_map[row][col] = k + 1
                    area += 1
        areas.append(area)
    return torch.tensor(instance_map), areas


def test_occlusion_matches_an_independent_painter(crowded):
    occluded = 0
    for i in range(0, len(crowded), 3):
        instance_map, areas = paint(crowded, i)
        assert torch.equal(instance_map, crowded.instances[i].long()), f"scene {i}"
        for k, area in enumerate(areas):
            shown = int((instance_map == k + 1).sum())
            assert crowded.visible[i, k].item() == pytest.approx(shown / area, abs=1e-6)
            occluded += shown < area
    assert occluded >= 10, "objects really hide each other"


def test_shapes_have_their_documented_areas(crowded):
    ratio = {"circle": math.pi, "square": 4 * 0.875 ** 2, "triangle": 1.75, "ring": math.pi * (1 - 0.55 ** 2),
             "cross": 2 * 2 * 0.75 - 0.75 ** 2}
    for i in range(0, len(crowded), 5):
        _, areas = paint(crowded, i)
        for k, area in enumerate(areas):
            r = float(crowded.radii[i, k])
            expected = ratio[CLASS_NAMES[int(crowded.classes[i, k])]] * r * r
            assert area == pytest.approx(expected, rel=0.2)


def test_objects_hidden_beyond_the_threshold_are_dropped():
    default = generate_scenes(200, seed=11, num_objects=(3, 6))
    assert (default.visible[torch.arange(6)[None] < default.num_objects[:, None]] >= 0.5).all()
    assert int(default.num_dropped.sum()) >= 20 and ((default.visible > 0) & (default.visible < 0.9)).any()
    lenient = generate_scenes(200, seed=11, num_objects=(3, 6), min_visible=0.0)
    strict = generate_scenes(200, seed=11, num_objects=(3, 6), min_visible=1.0)
    assert lenient.num_dropped.sum() < default.num_dropped.sum() < strict.num_dropped.sum()
    real = torch.arange(6)[None] < strict.num_objects[:, None]
    assert (strict.visible[real] == 1).all(), "min_visible=1 keeps only unhidden objects"
    # The object on top always shows whole, so it is never dropped.
    assert (strict.num_objects >= 1).all()


def test_class_colour_and_size_roughly_balanced():
    batch = generate_scenes(1500, seed=2)
    real = torch.arange(4)[None] < batch.num_objects[:, None]
    for values, count in ((batch.classes, len(CLASS_NAMES)), (batch.colors, len(COLOR_NAMES)),
                          (batch.sizes, len(SIZE_NAMES))):
        histogram = torch.bincount(values[real], minlength=count).float()
        assert (histogram / histogram.mean() - 1).abs().max() < 0.2, histogram
    assert torch.bincount(batch.num_objects + batch.num_dropped, minlength=5)[1:].min() > 300


def test_exclude_removes_colour_shape_pairs():
    batch = generate_scenes(300, seed=4, exclude=HELDOUT_PAIRS)
    pairs = {(o["color"], o["class"]) for i in range(len(batch)) for o in batch.objects(i)}
    assert not pairs & set(HELDOUT_PAIRS)
    assert {c for c, _ in pairs} == set(COLOR_NAMES) and {s for _, s in pairs} == set(CLASS_NAMES)
    with pytest.raises(ValueError, match="unknown"):
        generate_scenes(1, exclude=[("pink", "circle")])
    with pytest.raises(ValueError, match="no colour for circle"):
        generate_scenes(1, exclude=[(c, "circle") for c in COLOR_NAMES])


def test_bad_options_raise():
    for options in ({"image_size": 8}, {"num_objects": (0, 3)}, {"num_objects": (3, 2)}, {"min_visible": 1.5}):
        with pytest.raises(ValueError):
            generate_scenes(1, **options)
    with pytest.raises(ValueError, match="seed"):
        generate_scenes(1, seed=-1)


def test_detection_dataset_and_the_course_item_format():
    data = detection_dataset(20, seed=5)
    images, boxes, batch = data["images"], data["boxes"], data["scenes"]
    assert images.dtype == torch.float32 and images.shape == (20, 3, 64, 64)
    assert 0 <= images.min() and images.max() <= 1
    assert torch.equal(images, batch.images.float() / 255)
    assert boxes.dtype == torch.float32 and boxes.shape == (20, 40, 5)
    for i in range(20):
        n = int(batch.num_objects[i])
        assert torch.equal(boxes[i, :n, :4], batch.boxes[i, :n])
        assert torch.equal(boxes[i, :n, 4], batch.classes[i, :n].float())
        assert (boxes[i, n:] == -1).all()
    assert data["class_names"] == CLASS_NAMES and data["idx_to_class"][2] == "triangle"
    assert detection_dataset(3, seed=5, dtype=torch.uint8)["images"].dtype == torch.uint8
    with pytest.raises(ValueError, match="max_boxes"):
        detection_dataset(1, max_boxes=2)

    dataset = scenes.SceneDetectionDataset(6, seed=5, image_size=32)
    name, image, gt_boxes = dataset[4]
    assert name == "scene-5-000004.jpg" and image.shape == (3, 32, 32) and gt_boxes.shape == (40, 5)
    assert dataset.class_to_idx["ring"] == 3 and dataset.idx_to_class[3] == "ring"
    mean, std = torch.tensor(scenes.IMAGENET_MEAN), torch.tensor(scenes.IMAGENET_STD)
    raw = scenes.SceneDetectionDataset(6, seed=5, image_size=32, normalize=False)[4][1]
    assert torch.allclose(image, (raw - mean[:, None, None]) / std[:, None, None])
    names, images, gt = next(iter(torch.utils.data.DataLoader(dataset, batch_size=3)))
    assert list(names)[:2] == ["scene-5-000000.jpg", "scene-5-000001.jpg"]
    assert images.shape == (3, 3, 32, 32) and gt.shape == (3, 40, 5)


def test_segmentation_dataset():
    data = segmentation_dataset(8, seed=5)
    batch = data["scenes"]
    assert data["semantic"].dtype == torch.int64 and data["semantic"].shape == (8, 64, 64)
    assert data["instances"].dtype == torch.int64 and torch.equal(data["instances"], batch.instances.long())
    assert torch.equal(data["semantic"], batch.semantic.long()) and torch.equal(data["instance_classes"], batch.classes)
    assert data["class_names"] == ["background"] + CLASS_NAMES
    assert torch.equal(data["images"], detection_dataset(8, seed=5)["images"]), "the same scenes as detection"


def test_relation():
    assert relation([0, 0, 10, 10], [12, 5, 20, 15]) == "left"
    assert relation([12, 5, 20, 15], [0, 0, 10, 10]) == "right"
    assert relation([0, 0, 10, 10], [5, 10, 9, 20]) == "above"
    assert relation([5, 10, 9, 20], [0, 0, 10, 10]) == "below"
    assert relation([0, 0, 10, 10], [10, 10, 20, 20]) is None  # diagonal
    assert relation([0, 0, 10, 10], [5, 5, 20, 20]) is None  # overlapping


WORD_RELATIONS = {"left": "left", "right": "right", "above": "above", "over": "above",
                  "below": "below", "under": "below"}
CAPTION = re.compile(r"^(?:there is )?a (\w+) (\w+) (\w+) (?:is )?(?:to the )?(left|right|above|over|below|under)"
                     r"(?: of)? a (\w+) (\w+) (\w+)$")
SIZE_WORD = {"small": "small", "little": "small", "medium": "medium", "large": "large", "big": "large"}


def holds(where: str, a, b) -> bool:
    """Box a is ``where`` of box b: apart along one axis, overlapping along the other."""
    rows_overlap, cols_overlap = a[1] < b[3] and b[1] < a[3], a[0] < b[2] and b[0] < a[2]
    return {"left": a[2] <= b[0] and rows_overlap, "right": b[2] <= a[0] and rows_overlap,
            "above": a[3] <= b[1] and cols_overlap, "below": b[3] <= a[1] and cols_overlap}[where]


def test_captions_are_true_of_the_scenes(captions):
    for split in ("train", "val", "test"):
        words = captions["idx_to_word"]
        for caption, references, objects in zip(captions[f"{split}_captions"], captions[f"{split}_references"],
                                                captions[f"{split}_objects"]):
            text = decode_captions(caption, words)
            assert text in references and len(set(references)) == len(references)
            for reference in references:
                match = CAPTION.match(reference)
                assert match, reference
                size_a, color_a, shape_a, where, size_b, color_b, shape_b = match.groups()
                described = [(SIZE_WORD[size_a], color_a, shape_a), (SIZE_WORD[size_b], color_b, shape_b)]
                present = [(o["size"], o["color"], o["class"]) for o in objects]
                assert sorted(described) == sorted(present), "mentions exactly the two objects present"
                # Two objects may look alike: the caption is true when some reading of it is.
                readings = [(objects[first]["box"], objects[1 - first]["box"]) for first in (0, 1)
                            if (present[first], present[1 - first]) == tuple(described)]
                assert any(holds(WORD_RELATIONS[where], a, b) for a, b in readings), (reference, objects)


def test_caption_wording_varies(captions):
    texts = [decode_captions(c, captions["idx_to_word"]) for c in captions["train_captions"]]
    assert sum(t.startswith("there is") for t in texts) > 50
    assert sum(t.startswith("a ") and " is " in t for t in texts) > 50
    for phrase in ("to the left of", "right of", "over", "under", "little", "big"):
        assert any(phrase in t for t in texts), phrase
    relations = [WORD_RELATIONS[CAPTION.match(t).group(4)] for t in texts]
    assert min(relations.count(r) for r in ("left", "right", "above", "below")) > 40


def test_vocabulary_and_encoding_round_trip(captions):
    idx_to_word, word_to_idx = caption_vocabulary()
    assert idx_to_word[:4] == ["<NULL>", "<START>", "<END>", "<UNK>"]
    assert all(word_to_idx[w] == i for i, w in enumerate(idx_to_word)) and len(word_to_idx) == len(idx_to_word)
    assert captions["vocab"] == {"idx_to_token": idx_to_word, "token_to_idx": word_to_idx}
    assert captions["idx_to_word"] == idx_to_word and captions["word_to_idx"] == word_to_idx
    tokens = captions["train_captions"]
    assert tokens.dtype == torch.int64 and tokens.shape == (300, 17)
    assert (tokens[:, 0] == 1).all() and ((tokens == 2).sum(1) == 1).all()
    ends = (tokens == 2).int().argmax(1)
    after = torch.arange(17)[None] > ends[:, None]
    assert (tokens[after] == 0).all() and (tokens[~after] != 0).all() and not (tokens == 3).any()
    texts = decode_captions(tokens, idx_to_word)
    assert torch.equal(encode_captions(texts, word_to_idx), tokens)
    assert decode_captions(tokens[0], idx_to_word) == texts[0]
    odd = encode_captions(["a pink circle"], word_to_idx, max_length=6)
    assert odd.tolist() == [[1, word_to_idx["a"], 3, word_to_idx["circle"], 2, 0]]
    with pytest.raises(ValueError, match="has 5 words"):
        encode_captions(["a b c d e"], word_to_idx, max_length=6)


def test_heldout_compositions_only_outside_training(captions):
    heldout = set(HELDOUT_PAIRS)
    assert captions["heldout_pairs"] == list(HELDOUT_PAIRS)
    train_pairs = {(o["color"], o["class"]) for objects in captions["train_objects"] for o in objects}
    assert not train_pairs & heldout
    train_text = " ".join(r for refs in captions["train_references"] for r in refs)
    assert not any(f"{color} {shape}" in train_text for color, shape in heldout)
    for split in ("val", "test"):
        novel = torch.tensor([any((o["color"], o["class"]) in heldout for o in objects)
                              for objects in captions[f"{split}_objects"]])
        assert torch.equal(novel, captions[f"{split}_novel"])
    assert 0.15 < captions["val_novel"].float().mean() < 0.5
    seen = {(o["color"], o["class"]) for objects in captions["val_objects"] for o in objects}
    assert heldout <= seen, "every held-out pair is there to be tested"


def test_captioning_dataset_shape_and_determinism(captions):
    assert captions["train_images"].dtype == torch.uint8 and captions["train_images"].shape == (300, 3, 64, 64)
    assert captions["val_images"].shape == (200, 3, 64, 64) and captions["test_captions"].shape == (60, 17)
    assert not torch.equal(captions["val_images"][:60], captions["test_images"])
    again = captioning_dataset(100, 20, 10, seed=1, image_size=64)
    for split, n in (("train", 100), ("val", 20), ("test", 10)):  # a prefix of the larger set
        assert torch.equal(again[f"{split}_images"], captions[f"{split}_images"][:n])
        assert torch.equal(again[f"{split}_captions"], captions[f"{split}_captions"][:n])
    assert not torch.equal(captioning_dataset(10, 1, 1, seed=2, image_size=64)["train_images"],
                           captions["train_images"][:10])
