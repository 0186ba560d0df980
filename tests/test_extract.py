"""Feature extraction: image enumeration, preprocessing, resume bookkeeping (with a fake
model, no torchvision), and the fc7 network where torchvision imports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from src.data.extract import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ArrayImages,
    FileImages,
    extract_features,
    fc7_model,
    list_images,
)
from src.utils.errors import AGCHError, DataError


def _torchvision_error() -> str | None:
    try:
        import torchvision  # noqa: F401
    except Exception as exc:  # CUDA wheels fail with RuntimeError/OSError on CPU machines
        return f"torchvision cannot be imported here ({type(exc).__name__}: {exc})"
    return None


def _save_image(path: Path, size: tuple[int, int] = (8, 6)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (10, 20, 30)).save(path)


def test_list_images_folder(tmp_path: Path) -> None:
    for name in ("b.jpg", "a/c.PNG", "a/notes.txt", "d.bmp"):
        if name.endswith(".txt"):
            (tmp_path / name).write_text("not an image")
        else:
            _save_image(tmp_path / name)
    assert list_images(tmp_path) == [tmp_path / "a/c.PNG", tmp_path / "b.jpg", tmp_path / "d.bmp"]


def test_list_images_list_file(tmp_path: Path) -> None:
    _save_image(tmp_path / "img" / "x.jpg")
    _save_image(tmp_path / "img" / "y.jpg")
    listing = tmp_path / "images.txt"
    listing.write_text("img/y.jpg\n\nimg/x.jpg\n")
    assert list_images(listing) == [tmp_path / "img/y.jpg", tmp_path / "img/x.jpg"]
    listing.write_text("img/y.jpg\nimg/z.jpg\n")
    with pytest.raises(DataError, match=r"images\.txt \[line 2\]: image file not found"):
        list_images(listing)


def test_list_images_empty_or_missing(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no image files"):
        list_images(tmp_path)
    with pytest.raises(DataError, match="not found"):
        list_images(tmp_path / "absent")


def test_file_preprocessing_resize_and_centre_crop(tmp_path: Path) -> None:
    # 512 x 256: the shorter side is already 256, so only the centre crop acts:
    # columns 144..367 remain; red = column // 2, so the first kept column has red 72.
    red = np.tile((np.arange(512) // 2).astype(np.uint8), (256, 1))  # (H, W)
    pixels = np.stack([red, np.zeros_like(red), np.full_like(red, 7)], axis=2)  # (H, W, 3)
    Image.fromarray(pixels).save(tmp_path / "wide.png")
    crop = FileImages.load(tmp_path / "wide.png")
    assert crop.shape == (3, 224, 224)
    assert crop[0, 0, 0] == 72 and crop[0, 0, 223] == (144 + 223) // 2
    assert (crop[2] == 7).all()


class _CountingModel:
    """Per-channel mean as the 'features'; counts calls and can fail on a given call."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.calls, self.fail_on = 0, fail_on

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.fail_on:
            raise KeyboardInterrupt
        return batch.mean(dim=(2, 3))  # (B, 3)


def _expected(array: np.ndarray) -> np.ndarray:
    pixels = array.astype(np.float64) / 255.0
    mean, std = np.array(IMAGENET_MEAN), np.array(IMAGENET_STD)
    return ((pixels.mean(axis=(2, 3)) - mean) / std).astype(np.float32)  # (N, 3)


def test_resume_after_interruption(tmp_path: Path) -> None:
    array = np.random.default_rng(0).integers(0, 256, (10, 3, 4, 4), dtype=np.uint8)
    out = tmp_path / "feats.npy"
    with pytest.raises(KeyboardInterrupt):
        extract_features(ArrayImages(array), _CountingModel(fail_on=3), out, 3, "cpu", "t")
    assert not out.exists()
    assert json.loads((tmp_path / "feats.npy.progress.json").read_text())["done"] == 6
    model = _CountingModel()
    extract_features(ArrayImages(array), model, out, 3, "cpu", "t")
    assert model.calls == 2  # rows 6..8 and 9 only
    np.testing.assert_allclose(np.load(out), _expected(array), rtol=1e-5, atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feats.npy"]


def test_other_run_does_not_resume(tmp_path: Path) -> None:
    array = np.random.default_rng(1).integers(0, 256, (7, 3, 2, 2), dtype=np.uint8)
    out = tmp_path / "feats.npy"
    with pytest.raises(KeyboardInterrupt):
        extract_features(ArrayImages(array), _CountingModel(fail_on=2), out, 2, "cpu", "a")
    model = _CountingModel()
    extract_features(ArrayImages(array), model, out, 2, "cpu", "b")
    assert model.calls == 4  # a different tag starts over
    np.testing.assert_allclose(np.load(out), _expected(array), rtol=1e-5, atol=1e-6)


def test_array_images_need_three_channels() -> None:
    with pytest.raises(DataError, match=r"\[N, 3, H, W\]"):
        ArrayImages(np.zeros((2, 224, 224, 3), dtype=np.uint8))


def test_fc7_without_torchvision_is_one_clear_error() -> None:
    if _torchvision_error() is None:
        pytest.skip("torchvision imports here; the error path cannot be reached")
    with pytest.raises(AGCHError, match="torchvision cannot be imported"):
        fc7_model("alexnet")


def test_fc7_alexnet_local_weights(tmp_path: Path) -> None:
    reason = _torchvision_error()
    if reason is not None:
        pytest.skip(reason)
    import torchvision

    torch.save(torchvision.models.alexnet(weights=None).state_dict(), tmp_path / "w.pt")
    model = fc7_model("alexnet", tmp_path / "w.pt")
    images = np.random.default_rng(2).integers(0, 256, (3, 3, 224, 224), dtype=np.uint8)
    out = extract_features(ArrayImages(images), model, tmp_path / "f.npy", 2, "cpu")
    features = np.load(out)
    assert features.shape == (3, 4096) and (features >= 0).all()  # after fc7's ReLU
