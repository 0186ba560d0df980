"""The image side of the MIRFlickr/NUS-WIDE converters: a feature file, or raw images that
go through CNN feature extraction first (src/data/extract.py, imported only then: it needs torch).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from src.data.matlab import open_mat
from src.utils.errors import DataError

# the networks of feature extraction (src/data/backbones.py) and their output widths; here,
# where no torch is imported, so that the command-line tools can list them cheaply
FC7_ARCHS = ("alexnet", "vgg19")
LITE_ARCHS = ("efficientnet_lite0",)
ARCHS = FC7_ARCHS + LITE_ARCHS
FEATURE_DIMS = {"alexnet": 4096, "vgg19": 4096, "efficientnet_lite0": 1280}
# "auto": bf16 autocast on CUDA, fp32 elsewhere
PRECISIONS = ("auto", "fp32", "bf16")

if TYPE_CHECKING:  # extract imports torch: only raw images need it
    from src.data.extract import ExtractOptions


def image_file_path(
    source: Path, feature_file: str, raw_file: str, image_file: str | None
) -> Path:
    """The image file: the one named, else the feature file, else the raw images."""
    if image_file is not None:
        return source / image_file
    for name in (feature_file, raw_file):
        if (source / name).is_file():
            return source / name
    raise DataError(
        source / feature_file,
        None,
        f"file not found (nor raw images {raw_file}); expected one of them in --source, or "
        "name the image file with --image-file FILE (and its key with --image-key KEY)",
    )


@contextlib.contextmanager
def image_features(
    path: Path, key: str, n_items: int, out: Path, extract: ExtractOptions | None
) -> Iterator[tuple[Any, str, list[Path]]]:
    """Yield (features [N, D] array-like, extractor description, files read). Raw images
    ([N, 3, H, W] uint8) go through CNN feature extraction first, into a resumable cache beside
    ``out``; the cache is reused when complete."""
    with open_mat(path, key, expected_rows=n_items) as array:
        if array.ndim != 4:
            yield array, f"file:{path.name}[{key}]", [path]
            return
        from src.data.extract import ExtractOptions

        extract = extract or ExtractOptions()
        layer = "fc7" if extract.arch in FC7_ARCHS else "pooled"
        cache = out.with_name(f"{out.stem}-{extract.arch}-{layer}.npy")
        if not cache.is_file():
            _extract_array(array, f"{path.name}[{key}]", cache, extract)
    with open_mat(cache, "features", expected_rows=n_items) as features:
        yield features, f"{extract.describe()} of {path.name}[{key}]", [path]


def _extract_array(array: Any, name: str, cache: Path, extract: ExtractOptions) -> None:
    from src.data.extract import ArrayImages, build_model, extract_features

    images = ArrayImages(array, name)
    model = build_model(extract.arch, extract.weights)
    device, precision = extract.resolved()
    tag = f"{name}|{extract.describe()}"
    extract_features(images, model, cache, extract.batch_size, device, tag, precision)
