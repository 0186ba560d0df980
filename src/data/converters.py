"""Converters from the files users download to the HDF5 feature store (docs/data.md).

Each converter reads its sources (lazily where they can be huge), builds the split of its
protocol, and calls `write_store`, which validates and writes atomically.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from src.data.matlab import load_mat, open_mat
from src.data.splits import (
    MIRFLICKR_SIZES,
    NUSWIDE_SIZES,
    LabelSplitSizes,
    djsrh_split,
    official_split,
    random_split,
    val_split,
)
from src.data.store import StoreInfo, source_record, write_store
from src.utils.errors import DataError

if TYPE_CHECKING:  # extract imports torch: only raw images need it
    from src.data.extract import ExtractOptions

WIKI_CLASSES = 10
UCI_CLASSES = 10


def _source_dir(source: str | os.PathLike) -> Path:
    source = Path(source)
    if not source.is_dir():
        raise DataError(source, None, "source folder not found")
    return source


def _one_hot(classes: np.ndarray, n_classes: int, path: object, key: str) -> np.ndarray:
    """Class ids 1..n_classes -> one-hot uint8 [N, n_classes]."""
    classes = np.asarray(classes).reshape(-1).astype(np.int64)
    if classes.size and (classes.min() < 1 or classes.max() > n_classes):
        raise DataError(
            path, key, f"expected classes 1..{n_classes}, got {classes.min()}..{classes.max()}"
        )
    label = np.zeros((classes.size, n_classes), dtype=np.uint8)  # (N, C)
    label[np.arange(classes.size), classes - 1] = 1
    return label


def _read_list_classes(path: Path) -> np.ndarray:
    """Class column of a Wiki ``*_txt_img_cat.list`` (text_id, image_id, class per line)."""
    if not path.is_file():
        raise DataError(path, None, "file not found (expected text_id image_id class lines)")
    classes = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3 or not fields[2].isdigit():
            raise DataError(path, f"line {number}", "expected 'text_id image_id class'")
        classes.append(int(fields[2]))
    return np.asarray(classes, dtype=np.int64)  # (N,)


def _with_val(splits: dict[str, np.ndarray], seed: int, val_size: int | None) -> dict:
    return {**splits, "val": val_split(splits, seed, val_size)}


def convert_wiki(
    source: str | os.PathLike, out: str | os.PathLike, seed: int = 0, val_size: int | None = None
) -> StoreInfo:
    """Wiki release: rows = the 2,173 train then the 693 test pairs; query = test,
    retrieval = train = the train pairs."""
    source = _source_dir(source)
    mat = source / "raw_features.mat"
    lists = [source / "trainset_txt_img_cat.list", source / "testset_txt_img_cat.list"]
    parts = {}
    for part, list_path in zip(("tr", "te"), lists):
        classes = _read_list_classes(list_path)
        image = load_mat(mat, f"I_{part}", expected_rows=classes.size)
        text = load_mat(mat, f"T_{part}", expected_rows=classes.size)
        parts[part] = (image, text, _one_hot(classes, WIKI_CLASSES, list_path, "class"))
    n_train, n_test = parts["tr"][0].shape[0], parts["te"][0].shape[0]
    image, text, label = (np.concatenate([a, b]) for a, b in zip(parts["tr"], parts["te"]))
    attrs = {
        "dataset": "wiki",
        "source_files": source_record([mat, *lists]),
        "feature_extractor": "wiki-release: 128-d SIFT BoVW / 10-d LDA",
        "split_seed": seed,
        "synthetic": False,
    }
    splits = _with_val(official_split(n_train, n_test), seed, val_size)
    return write_store(out, image, text, label, splits, attrs)


def convert_uci(
    source: str | os.PathLike, out: str | os.PathLike, seed: int = 0, val_size: int | None = None
) -> StoreInfo:
    """UCI handwritten digits (uci_all.mat): image = I (Fourier), text = T (Karhunen-Loeve);
    rows = the 1,500 train then the 500 test rows; query = test, retrieval = train."""
    mat = _source_dir(source) / "uci_all.mat"
    parts = {}
    for part in ("tr", "te"):
        classes = load_mat(mat, f"L_{part}").reshape(-1)
        image = load_mat(mat, f"I_{part}", expected_rows=classes.size)
        text = load_mat(mat, f"T_{part}", expected_rows=classes.size)
        parts[part] = (image, text, _one_hot(classes, UCI_CLASSES, mat, f"L_{part}"))
    n_train, n_test = parts["tr"][0].shape[0], parts["te"][0].shape[0]
    image, text, label = (np.concatenate([a, b]) for a, b in zip(parts["tr"], parts["te"]))
    attrs = {
        "dataset": "uci",
        "source_files": source_record([mat]),
        "feature_extractor": "uci-release: 76-d Fourier coefficients / 64-d Karhunen-Loeve",
        "split_seed": seed,
        "synthetic": False,
    }
    splits = _with_val(official_split(n_train, n_test), seed, val_size)
    return write_store(out, image, text, label, splits, attrs)


def _load_labels(path: Path, key: str) -> np.ndarray:
    """Multi-hot labels [N, C]: items outnumber classes, which fixes the orientation."""
    label = load_mat(path, key)
    if label.ndim != 2:
        raise DataError(path, key, f"expected a 2-D label matrix [N, C], got {label.shape}")
    return label.T if label.shape[0] < label.shape[1] else label


def _image_path(source: Path, feature_file: str, raw_file: str, image_file: str | None) -> Path:
    """The image file: the one named, else the feature file, else the raw images."""
    if image_file is not None:
        return source / image_file
    for name in (feature_file, raw_file):
        if (source / name).is_file():
            return source / name
    raise DataError(
        source / feature_file, None, f"file not found (nor raw images {raw_file}); expected one"
    )


@contextlib.contextmanager
def _image_features(
    path: Path, key: str, n_items: int, out: Path, extract: ExtractOptions | None
) -> Iterator[tuple[Any, str, list[Path]]]:
    """Yield (features [N, D] array-like, extractor description, files read). Raw images
    ([N, 3, H, W] uint8) go through fc7 extraction first, into a resumable cache beside
    ``out``; the cache is reused when complete."""
    with open_mat(path, key, expected_rows=n_items) as array:
        if array.ndim != 4:
            yield array, f"file:{path.name}[{key}]", [path]
            return
        from src.data.extract import ExtractOptions

        extract = extract or ExtractOptions()
        cache = out.with_name(f"{out.stem}-{extract.arch}-fc7.npy")
        if not cache.is_file():
            _extract_array(array, f"{path.name}[{key}]", cache, extract)
    with open_mat(cache, "features", expected_rows=n_items) as features:
        yield features, f"{extract.describe()} of {path.name}[{key}]", [path]


def _extract_array(array: Any, name: str, cache: Path, extract: ExtractOptions) -> None:
    from src.data.extract import ArrayImages, extract_features, fc7_model

    images = ArrayImages(array, name)
    model = fc7_model(extract.arch, extract.weights)
    tag = f"{name}|{extract.describe()}"
    extract_features(images, model, cache, extract.batch_size, extract.device, tag)


def _convert_labelled(
    dataset: str,
    out: Path,
    files: tuple[Path, Path, Path],
    keys: tuple[str, str, str],
    sizes: LabelSplitSizes,
    seed: int,
    val_size: int | None,
    extract: ExtractOptions | None,
) -> StoreInfo:
    """MIRFlickr/NUS-WIDE layout: LAll, YAll and XAll (features) or IAll (raw images)."""
    image_path, text_path, label_path = files
    image_key, text_key, label_key = keys
    label = _load_labels(label_path, label_key)
    n_items = label.shape[0]
    splits = _with_val(djsrh_split(label, sizes, seed), seed, val_size)
    with (
        open_mat(text_path, text_key, expected_rows=n_items) as text,
        _image_features(image_path, image_key, n_items, out, extract) as (image, how, read),
    ):
        attrs = {
            "dataset": dataset,
            "source_files": source_record([*read, text_path, label_path]),
            "feature_extractor": how,
            "split_seed": seed,
            "synthetic": False,
        }
        return write_store(out, image, text, label, splits, attrs)


def _labelled_files(
    source: Path, prefix: str, feature_file: str, image_file: str | None, image_key: str | None
) -> tuple[tuple[Path, Path, Path], tuple[str, str, str]]:
    """Image, text and label files of the MIRFlickr/NUS-WIDE layout, with their keys."""
    raw_file = f"{prefix}-iall.mat"
    image_path = _image_path(source, feature_file, raw_file, image_file)
    if image_key is None:
        image_key = "IAll" if image_path.name == raw_file else "XAll"
    files = (image_path, source / f"{prefix}-yall.mat", source / f"{prefix}-lall.mat")
    return files, (image_key, "YAll", "LAll")


def convert_mirflickr(
    source: str | os.PathLike,
    out: str | os.PathLike,
    seed: int = 0,
    val_size: int | None = None,
    image_file: str | None = None,
    image_key: str | None = None,
    sizes: LabelSplitSizes = MIRFLICKR_SIZES,
    extract: ExtractOptions | None = None,
) -> StoreInfo:
    """MIRFlickr-25K (20,015 pairs): DJSRH split 2,000 query / 5,000 train / 18,015
    retrieval. Image side: ``image_file`` (key ``image_key``), else
    mirflickr25k-iall-vgg.mat [XAll], else raw images mirflickr25k-iall.mat [IAll]."""
    source = _source_dir(source)
    files, keys = _labelled_files(
        source, "mirflickr25k", "mirflickr25k-iall-vgg.mat", image_file, image_key
    )
    return _convert_labelled("mirflickr", Path(out), files, keys, sizes, seed, val_size, extract)


def convert_nuswide(
    source: str | os.PathLike,
    out: str | os.PathLike,
    seed: int = 0,
    val_size: int | None = None,
    image_file: str | None = None,
    image_key: str | None = None,
    sizes: LabelSplitSizes = NUSWIDE_SIZES,
    extract: ExtractOptions | None = None,
) -> StoreInfo:
    """NUS-WIDE, 10 concepts (186,577 pairs): DJSRH split with 200/500 per label, 2,000 /
    5,000 / 184,577; nus-wide-tc10-{xall-vgg or iall, yall, lall}.mat, read in row blocks."""
    source = _source_dir(source)
    files, keys = _labelled_files(
        source, "nus-wide-tc10", "nus-wide-tc10-xall-vgg.mat", image_file, image_key
    )
    return _convert_labelled("nuswide", Path(out), files, keys, sizes, seed, val_size, extract)


def _labels_from(array: np.ndarray, path: object) -> np.ndarray:
    """Multi-hot [N, C] as given, or class ids [N] (any integers) -> one-hot."""
    if array.ndim == 2 and array.shape[1] > 1:
        return array
    ids = np.asarray(array).reshape(-1)
    if not np.issubdtype(ids.dtype, np.integer):
        raise DataError(path, "labels", f"expected integer class ids, got {ids.dtype}")
    _, codes = np.unique(ids, return_inverse=True)
    return _one_hot(codes + 1, int(codes.max()) + 1, path, "labels")


def convert_arrays(
    image: str | os.PathLike,
    text: str | os.PathLike,
    labels: str | os.PathLike,
    out: str | os.PathLike,
    query_size: int = 2000,
    train_size: int = 5000,
    seed: int = 0,
    val_size: int | None = None,
    dataset: str = "arrays",
) -> StoreInfo:
    """Any paired dataset as .npy files: image [N, Dv], text [N, Dt], labels multi-hot
    [N, C] or class ids [N]; random split (queries, train from the rest, retrieval = all but
    the queries)."""
    paths = [Path(image), Path(text), Path(labels)]
    for path, key in zip(paths, ("image", "text", "labels")):
        if not path.is_file():
            raise DataError(path, key, "file not found (expected a .npy array)")
    label = _labels_from(np.load(paths[2]), paths[2])
    n_items = label.shape[0]
    splits = _with_val(random_split(n_items, query_size, train_size, seed), seed, val_size)
    attrs = {
        "dataset": dataset,
        "source_files": source_record(paths),
        "feature_extractor": f"file:{paths[0].name}",
        "split_seed": seed,
        "synthetic": False,
    }
    image_rows, text_rows = np.load(paths[0], mmap_mode="r"), np.load(paths[1], mmap_mode="r")
    return write_store(out, image_rows, text_rows, label, splits, attrs)
