"""The HDF5 feature store: one schema for every dataset (documented in docs/data.md).

Layout of a store file::

    image            float32 [N, Dv]   image features (any extractor)
    text             float32 [N, Dt]   text features (BoW, LDA, ...)
    label            uint8   [N, C]    multi-hot labels (single-label data: one-hot)
    split/train      int64   [n_train]      sorted, unique indices into N
    split/query      int64   [n_query]
    split/retrieval  int64   [n_retrieval]
    split/val        int64   [n_val]        optional; disjoint from split/query

Attributes: ``dataset``, ``source_files`` (JSON list of {path, sha256}), ``feature_extractor``,
``split_seed``, ``schema_version``, ``synthetic`` (bool).

Writing is atomic: everything goes to a temporary file beside the target, which is renamed
over the target only when the file is complete and valid.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from src.data.checks import REQUIRED_SPLITS  # noqa: F401  (re-exported for callers)
from src.data.checks import (
    check_finite_block,
    check_label_block,
    check_shape,
    check_splits,
    checked_features,
    checked_labels,
)
from src.data.sources import SourceRows, reading
from src.utils.errors import DataError
from src.utils.io_hdf5 import hdf5_writer
from src.utils.paths import classify, input_problem

SCHEMA_VERSION = 1
SCHEMA_DTYPES = {
    "image": np.dtype(np.float32),
    "text": np.dtype(np.float32),
    "label": np.dtype(np.uint8),
}
STORE_DEFAULTS = {
    "dataset": "unnamed",
    "source_files": "[]",
    "feature_extractor": "unknown",
    "split_seed": -1,
    "synthetic": False,
}
ROW_CHUNK = 8192  # rows per read/write block: bounds memory at NUS-WIDE scale


@dataclass(frozen=True)
class StoreInfo:
    """What `validate_store` found in a store file."""

    path: Path
    n_items: int
    image_dim: int
    text_dim: int
    n_classes: int
    split_sizes: dict[str, int]
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def synthetic(self) -> bool:
        return bool(self.attrs.get("synthetic", False))


def sha256_of(path: str | os.PathLike, block: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with reading(path, None, "a readable file"), open(path, "rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def source_record(paths: list[str | os.PathLike]) -> str:
    """JSON list of {path, sha256} for the source files of a store (its provenance)."""
    return json.dumps([{"path": Path(p).name, "sha256": sha256_of(p)} for p in paths])


def _copy_rows(
    h5: h5py.File, key: str, array: Any, path: object, check: Callable[[], None]
) -> None:
    """Copy ``array`` into dataset ``key`` block by block, cast and checked as it is stored."""
    checked = checked_labels if key == "label" else checked_features
    dtype = np.uint8 if key == "label" else np.float32
    dataset = h5.create_dataset(
        key, shape=array.shape, dtype=dtype, chunks=(min(array.shape[0], 256), array.shape[1])
    )
    for start in range(0, array.shape[0], ROW_CHUNK):
        raw = np.asarray(array[start : start + ROW_CHUNK])
        dataset[start : start + raw.shape[0]] = checked(raw, array, path, key, start)
        check()


def _write_contents(
    h5: h5py.File,
    path: Path,
    image: Any,
    text: Any,
    label: Any,
    splits: Mapping[str, np.ndarray],
    attrs: Mapping[str, Any],
    check: Callable[[], None],
) -> None:
    """The datasets (cast to the schema's dtypes block by block) and attributes of a store."""
    for key, array in (("image", image), ("text", text), ("label", label)):
        _copy_rows(h5, key, array, path, check)
    for name, idx in splits.items():
        h5.create_dataset(f"split/{name}", data=idx)
        check()
    h5.attrs["schema_version"] = SCHEMA_VERSION
    for key, value in {**STORE_DEFAULTS, **attrs}.items():
        h5.attrs[key] = value


def write_store(
    path: str | os.PathLike,
    image: Any,
    text: Any,
    label: Any,
    splits: Mapping[str, Any],
    attrs: Mapping[str, Any] | None = None,
) -> StoreInfo:
    """Validate and write a store atomically; return what `validate_store` reports.

    ``image``, ``text`` and ``label`` may be numpy arrays, memory maps, h5py datasets or
    `src.data.sources.SourceRows`: they are cast, checked and copied block by block (so
    nothing loads a NUS-WIDE-sized array whole), and a bad value is reported at its source
    file, key and row when the array knows them. Raises `DataError`; nothing is left behind.
    """
    path = Path(path)
    check_shape(image, path, "image", None, "image")
    n_items = image.shape[0]
    check_shape(text, path, "text", n_items, "image")
    check_shape(label, path, "label", n_items, "image")
    checked = check_splits(splits, path, n_items)
    with hdf5_writer(path, parents=True) as (h5, guard):
        _write_contents(h5, path, image, text, label, checked, attrs or {}, guard.check)
    return validate_store(path, check_values=False)


def _attr_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _store_datasets(h5: h5py.File, path: Path) -> dict[str, SourceRows]:
    """image, text, label of an open store: present, 2-D, the schema's dtypes, same rows."""
    found = {}
    for key, dtype in SCHEMA_DTYPES.items():
        if key not in h5 or not isinstance(h5[key], h5py.Dataset):
            raise DataError(
                path, key, "expected a dataset (docs/data.md gives the schema), found none"
            )
        dataset = h5[key]
        if dataset.dtype != dtype:
            raise DataError(
                path, key, f"expected dtype {dtype} (docs/data.md), got {dataset.dtype}"
            )
        found[key] = SourceRows(dataset, path, key)
        check_shape(found[key], path, key, found.get("image", dataset).shape[0], "image")
    return found


def _store_splits(h5: h5py.File, path: Path, n_items: int) -> dict[str, np.ndarray]:
    group = h5.get("split")
    if not isinstance(group, h5py.Group):
        raise DataError(
            path,
            "split",
            "missing group of split indices; expected a store of scripts/prepare_data.py",
        )
    found = {}
    for name in group:
        with reading(path, f"split/{name}", "a readable index array"):
            found[name] = np.asarray(group[name][()])
    return check_splits(found, path, n_items)


def _check_values(datasets: Mapping[str, SourceRows], path: Path) -> None:
    n_items = datasets["image"].shape[0]
    for start in range(0, n_items, ROW_CHUNK):
        rows = start + np.arange(min(ROW_CHUNK, n_items - start))
        for key in ("image", "text"):
            check_finite_block(datasets[key][start : start + ROW_CHUNK], path, key, rows)
        check_label_block(datasets["label"][start : start + ROW_CHUNK], path, rows)


def missing_store(path: Path, hint: str) -> DataError:
    """The error for a store path that is no readable file, saying truly what it is
    (`src.utils.paths.input_problem`: a folder, nothing, a loop of links, a link to a missing
    path, a device...); ``hint`` says how to make a missing one."""
    problem = input_problem(path, "file", "an HDF5 feature store file")
    if hint and classify(path).kind in ("missing", "dangling"):
        problem = f"{problem}; {hint}"
    return DataError(path, "data.path", f"expected {problem}")


def validate_store(path: str | os.PathLike, check_values: bool = True) -> StoreInfo:
    """Check a store file against the schema; raise `DataError` naming the file and key.

    ``check_values`` also scans the features for NaN/Inf and the labels for 0/1 values and
    empty rows (block by block); the shapes, dtypes and splits are always checked.
    """
    path = Path(path)
    if input_problem(path, "file") is not None:
        raise missing_store(path, "prepare it with scripts/prepare_data.py")
    with reading(path, None, "an HDF5 feature store"):
        h5 = h5py.File(path, "r")
    with h5:
        datasets = _store_datasets(h5, path)
        if check_values:
            _check_values(datasets, path)
        splits = _store_splits(h5, path, datasets["image"].shape[0])
        with reading(path, None, "readable store attributes"):
            attrs = {k: _attr_value(v) for k, v in h5.attrs.items()}
        if attrs.get("schema_version") != SCHEMA_VERSION:
            got = attrs.get("schema_version")
            raise DataError(path, "schema_version", f"expected {SCHEMA_VERSION}, got {got}")
        return StoreInfo(
            path=path,
            n_items=datasets["image"].shape[0],
            image_dim=datasets["image"].shape[1],
            text_dim=datasets["text"].shape[1],
            n_classes=datasets["label"].shape[1],
            split_sizes={k: int(v.size) for k, v in splits.items()},
            attrs=attrs,
        )


def fingerprint(path: str | os.PathLike) -> tuple[int, int, int, int]:
    """(size in bytes, modification time in ns, status-change time in ns, inode) of a store
    file. The status-change time (ctime) moves with every write and cannot be set back by a
    user, so a same-size rewrite whose modification time was restored (``touch -r``) counts."""
    stat = os.stat(path)
    return stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino


# store (real path) -> its fingerprint when `check_store_values` scanned it whole
_VALUES_CHECKED: dict[str, tuple[int, int, int, int]] = {}


def check_store_values(path: str | os.PathLike) -> StoreInfo:
    """`validate_store` with the values scanned (the pre-flight of a run, before its folder
    exists), remembered by the file's `fingerprint`, so that the run's own reads skip a second
    scan of the same unchanged file (`values_checked`). Raises DataError."""
    before = fingerprint(path)
    info = validate_store(path, check_values=True)
    if fingerprint(path) == before:
        _VALUES_CHECKED[os.path.realpath(path)] = before
    return info


def values_checked(path: str | os.PathLike) -> bool:
    """Whether `check_store_values` scanned this very file (same fingerprint) in this process."""
    try:
        return _VALUES_CHECKED.get(os.path.realpath(path)) == fingerprint(path)
    except OSError:
        return False


def read_split(path: str | os.PathLike, name: str) -> np.ndarray:
    """The sorted index array of one split (``train``, ``query``, ``retrieval``, ``val``)."""
    key = f"split/{name}"
    with reading(path, key, "an HDF5 feature store with this split"), h5py.File(path, "r") as h5:
        if key not in h5:
            raise DataError(
                path, key, "missing split; expected a store of scripts/prepare_data.py"
            )
        return h5[key][()].astype(np.int64)
