"""Converters from the files users download to the HDF5 feature store (docs/data.md).

Each converter reads its sources (lazily where they can be huge), builds the split of its
protocol, and calls `write_store`, which validates and writes atomically.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from src.data.checks import checked_labels
from src.data.images import image_features, image_file_path
from src.data.matlab import array_shape, load_mat, open_mat
from src.data.sources import SourceRows, StackedRows, agree_on_items, read_list_classes
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
from src.utils.errors import ConfigError, DataError
from src.utils.io import check_output_path
from src.utils.outputs import check_apart
from src.utils.paths import input_problem

if TYPE_CHECKING:  # extract imports torch: only raw images need it
    from src.data.extract import ExtractOptions

WIKI_CLASSES = 10
UCI_CLASSES = 10


def _source_dir(source: str | os.PathLike) -> Path:
    """``source`` (--source) as a readable folder; else a DataError saying what it is
    (src/utils/paths.py `input_problem`: missing, a dangling link, a file...)."""
    problem = input_problem(source, "dir", "the release's folder (--source DIR, as downloaded)")
    if problem is not None:
        raise DataError(source, None, f"expected {problem}")
    return Path(source)


def _one_hot(classes: Any, n_classes: int, path: object, key: str) -> np.ndarray:
    """Class ids 1..n_classes [N] (any numeric dtype holding whole numbers) -> one-hot
    uint8 [N, n_classes]; a value that is not one of them names its row (from 0)."""
    values = np.asarray(classes).reshape(-1)
    if not (np.issubdtype(values.dtype, np.number) or values.dtype == bool):
        raise DataError(path, key, f"expected class ids 1..{n_classes}, got {values.dtype}")
    with np.errstate(invalid="ignore"):
        good = np.isin(values, np.arange(1, n_classes + 1))
    if not good.all():
        row = int(np.flatnonzero(~good)[0])
        raise DataError(
            path, key, f"expected class ids 1..{n_classes}, row {row} holds {values[row]}"
        )
    label = np.zeros((values.size, n_classes), dtype=np.uint8)  # (N, C)
    label[np.arange(values.size), values.astype(np.int64) - 1] = 1
    return label


def _with_val(splits: dict[str, np.ndarray], seed: int, val_size: int | None) -> dict:
    return {**splits, "val": val_split(splits, seed, val_size)}


def _check_out(out: str | os.PathLike, inputs: list[Path]) -> Path:
    """The output path, checked before any work: a file can be made there and it is none
    of the inputs (even through a link)."""
    out = check_output_path(out)
    check_apart(out, inputs, "--out")
    return out


def _official_parts(
    stack: contextlib.ExitStack,
    mat: Path,
    labels: dict[str, tuple[Any, object, str]],
    n_classes: int,
) -> tuple[StackedRows, StackedRows, np.ndarray, dict]:
    """Wiki/UCI: per part ('tr', 'te') the class ids and I_<part>, T_<part> of ``mat``,
    paired by `agree_on_items`; returns image and text (train rows then test rows), the
    one-hot labels and the official split."""
    images, texts, onehots = [], [], []
    for part, (classes, where, key) in labels.items():
        entries = [(where, key, classes.shape, False)]
        entries += [(mat, f"{m}_{part}", *array_shape(mat, f"{m}_{part}")) for m in "IT"]
        n_items = agree_on_items(entries)
        images.append(stack.enter_context(open_mat(mat, f"I_{part}", n_items)))
        texts.append(stack.enter_context(open_mat(mat, f"T_{part}", n_items)))
        onehots.append(_one_hot(classes, n_classes, where, key))
    splits = official_split(len(images[0]), len(images[1]))
    return StackedRows(images), StackedRows(texts), np.concatenate(onehots), splits


def convert_wiki(
    source: str | os.PathLike, out: str | os.PathLike, seed: int = 0, val_size: int | None = None
) -> StoreInfo:
    """Wiki release: rows = the 2,173 train then the 693 test pairs; query = test,
    retrieval = train = the train pairs."""
    source = _source_dir(source)
    mat = source / "raw_features.mat"
    lists = [source / "trainset_txt_img_cat.list", source / "testset_txt_img_cat.list"]
    out = _check_out(out, [mat, *lists])
    labels = {
        part: (read_list_classes(path, WIKI_CLASSES), path, "class")
        for part, path in zip(("tr", "te"), lists)
    }
    with contextlib.ExitStack() as stack:
        image, text, label, splits = _official_parts(stack, mat, labels, WIKI_CLASSES)
        attrs = {
            "dataset": "wiki",
            "source_files": source_record([mat, *lists]),
            "feature_extractor": "wiki-release: 128-d SIFT BoVW / 10-d LDA",
            "split_seed": seed,
            "synthetic": False,
        }
        return write_store(out, image, text, label, _with_val(splits, seed, val_size), attrs)


def convert_uci(
    source: str | os.PathLike, out: str | os.PathLike, seed: int = 0, val_size: int | None = None
) -> StoreInfo:
    """UCI handwritten digits (uci_all.mat): image = I (Fourier), text = T (Karhunen-Loeve);
    rows = the 1,500 train then the 500 test rows; query = test, retrieval = train."""
    mat = _source_dir(source) / "uci_all.mat"
    out = _check_out(out, [mat])
    labels = {}
    for part in ("tr", "te"):
        classes = load_mat(mat, f"L_{part}")
        if classes.ndim != 2 or min(classes.shape) != 1:
            raise DataError(
                mat, f"L_{part}", f"expected a vector of class ids, got {classes.shape}"
            )
        labels[part] = (classes.reshape(-1), mat, f"L_{part}")
    with contextlib.ExitStack() as stack:
        image, text, label, splits = _official_parts(stack, mat, labels, UCI_CLASSES)
        attrs = {
            "dataset": "uci",
            "source_files": source_record([mat]),
            "feature_extractor": "uci-release: 76-d Fourier coefficients / 64-d Karhunen-Loeve",
            "split_seed": seed,
            "synthetic": False,
        }
        return write_store(out, image, text, label, _with_val(splits, seed, val_size), attrs)


def _load_labels(path: Path, key: str, n_items: int) -> SourceRows:
    """Multi-hot labels [N, C] in the orientation with ``n_items`` rows."""
    label = load_mat(path, key, expected_rows=n_items)
    if label.ndim != 2:
        raise DataError(path, key, f"expected a 2-D label matrix [N, C], got {label.shape}")
    rows = SourceRows(label, path, key)
    checked_labels(label, rows, path, key, 0)  # before the split is drawn from them
    return rows


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
    out = _check_out(out, list(files))
    named = ((label_path, label_key), (text_path, text_key), (image_path, image_key))
    n_items = agree_on_items([(p, k, *array_shape(p, k)) for p, k in named])
    label = _load_labels(label_path, label_key, n_items)
    splits = _with_val(djsrh_split(label[:], sizes, seed), seed, val_size)
    with (
        open_mat(text_path, text_key, expected_rows=n_items) as text,
        image_features(image_path, image_key, n_items, out, extract) as (image, how, read),
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
    image_path = image_file_path(source, feature_file, raw_file, image_file)
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


def _labels_from(path: Path, n_items: int) -> Any:
    """Multi-hot [N, C] as given, or class ids [N] / [N, 1] (whole numbers) -> one-hot in
    sorted order of the ids."""
    with open_mat(path, "labels", expected_rows=n_items) as array:
        if array.ndim == 2 and array.shape[1] > 1:
            rows = SourceRows(array[:], path, "labels")
            checked_labels(rows[:], rows, path, "labels", 0)
            return rows
        ids = array[:].reshape(-1)
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
    out = _check_out(out, paths)
    keys = ("labels", "text", "image")
    n_items = agree_on_items([(p, k, *array_shape(p, k)) for p, k in zip(paths[::-1], keys)])
    if query_size + train_size > n_items:
        raise ConfigError(
            f"--query-size {query_size} + --train-size {train_size}: expected at most the "
            f"{n_items} items of {paths[2]}"
        )
    label = _labels_from(paths[2], n_items)
    splits = _with_val(random_split(n_items, query_size, train_size, seed), seed, val_size)
    attrs = {
        "dataset": dataset,
        "source_files": source_record(paths),
        "feature_extractor": f"file:{paths[0].name}",
        "split_seed": seed,
        "synthetic": False,
    }
    with open_mat(paths[0], "image") as image_rows, open_mat(paths[1], "text") as text_rows:
        return write_store(out, image_rows, text_rows, label, splits, attrs)
