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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from src.utils.errors import DataError
from src.utils.io import atomic_path

SCHEMA_VERSION = 1
REQUIRED_SPLITS = ("train", "query", "retrieval")
OPTIONAL_SPLITS = ("val",)
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
    with open(path, "rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def source_record(paths: list[str | os.PathLike]) -> str:
    """JSON list of {path, sha256} for the source files of a store (its provenance)."""
    return json.dumps([{"path": Path(p).name, "sha256": sha256_of(p)} for p in paths])


def _check_matrix(array: Any, path: object, key: str, n_rows: int | None) -> None:
    """Rank 2, the expected number of rows, finite values (checked block by block)."""
    if getattr(array, "ndim", None) != 2:
        shape = getattr(array, "shape", None)
        raise DataError(path, key, f"expected a 2-D array [N, D], got shape {shape}")
    if n_rows is not None and array.shape[0] != n_rows:
        raise DataError(path, key, f"expected {n_rows} rows (as in 'image'), got {array.shape[0]}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise DataError(path, key, f"expected a non-empty array, got shape {array.shape}")
    for start in range(0, array.shape[0], ROW_CHUNK):
        block = np.asarray(array[start : start + ROW_CHUNK])
        check_finite_block(block, path, key, start + np.arange(block.shape[0]))


def check_finite_block(block: np.ndarray, path: object, key: str, rows: np.ndarray) -> None:
    """A block of feature rows (store row ``rows[i]`` is ``block[i]``) holds no NaN/Inf."""
    if np.issubdtype(block.dtype, np.floating) and not np.isfinite(block).all():
        bad = rows[int(np.argwhere(~np.isfinite(block))[0, 0])]
        raise DataError(path, key, f"expected finite values, found NaN/Inf in row {bad}")


def check_label_block(block: np.ndarray, path: object, rows: np.ndarray) -> None:
    """A block of label rows (store row ``rows[i]`` is ``block[i]``) is multi-hot 0/1 with at
    least one label per row."""
    if not np.isin(block, (0, 1)).all():
        raise DataError(path, "label", "expected a multi-hot 0/1 matrix")
    empty = np.flatnonzero(block.sum(axis=1) == 0)
    if empty.size:
        raise DataError(
            path, "label", f"expected at least one label per row, row {rows[empty[0]]} has none"
        )


def _check_labels(label: Any, path: object, n_rows: int) -> None:
    _check_matrix(label, path, "label", n_rows)
    for start in range(0, label.shape[0], ROW_CHUNK):
        block = np.asarray(label[start : start + ROW_CHUNK])
        check_label_block(block, path, start + np.arange(block.shape[0]))


def _check_splits(splits: Mapping[str, Any], path: object, n_items: int) -> dict[str, np.ndarray]:
    """Required splits present, sorted unique int indices in range, query disjoint from
    train and val."""
    out: dict[str, np.ndarray] = {}
    for name in REQUIRED_SPLITS + OPTIONAL_SPLITS:
        key = f"split/{name}"
        if name not in splits or splits[name] is None:
            if name in REQUIRED_SPLITS:
                raise DataError(path, key, "expected a split index array, found none")
            continue
        idx = np.asarray(splits[name])
        if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
            raise DataError(
                path,
                key,
                f"expected a non-empty 1-D integer array, got {idx.dtype}" f" {idx.shape}",
            )
        if idx.min() < 0 or idx.max() >= n_items:
            raise DataError(
                path,
                key,
                f"expected indices in [0, {n_items}), got " f"[{idx.min()}, {idx.max()}]",
            )
        if np.any(np.diff(idx) <= 0):
            raise DataError(path, key, "expected sorted, unique indices")
        out[name] = idx.astype(np.int64)
    for other in ("train", "val"):
        if other in out:
            overlap = np.intersect1d(out["query"], out[other])
            if overlap.size:
                raise DataError(
                    path,
                    "split/query",
                    f"expected no overlap with split/{other}, "
                    f"{overlap.size} shared items (first: {overlap[0]})",
                )
    unknown = set(splits) - set(REQUIRED_SPLITS + OPTIONAL_SPLITS)
    if unknown:
        raise DataError(
            path,
            f"split/{sorted(unknown)[0]}",
            "unknown split name, expected one " f"of {REQUIRED_SPLITS + OPTIONAL_SPLITS}",
        )
    return out


def _copy_rows(h5: h5py.File, key: str, array: Any, dtype: np.dtype) -> None:
    dataset = h5.create_dataset(
        key, shape=array.shape, dtype=dtype, chunks=(min(array.shape[0], 256), array.shape[1])
    )
    for start in range(0, array.shape[0], ROW_CHUNK):
        dataset[start : start + ROW_CHUNK] = np.asarray(
            array[start : start + ROW_CHUNK], dtype=dtype
        )


def _write_contents(
    h5: h5py.File,
    image: Any,
    text: Any,
    label: Any,
    splits: Mapping[str, np.ndarray],
    attrs: Mapping[str, Any],
) -> None:
    """The datasets (cast to the schema's dtypes block by block) and attributes of a store."""
    _copy_rows(h5, "image", image, np.dtype(np.float32))
    _copy_rows(h5, "text", text, np.dtype(np.float32))
    _copy_rows(h5, "label", label, np.dtype(np.uint8))
    for name, idx in splits.items():
        h5.create_dataset(f"split/{name}", data=idx)
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

    ``image``, ``text`` and ``label`` may be numpy arrays, memory maps or h5py datasets: they
    are validated and copied block by block, so nothing loads a NUS-WIDE-sized array whole.
    """
    path = Path(path)
    _check_matrix(image, path, "image", None)
    n_items = image.shape[0]
    _check_matrix(text, path, "text", n_items)
    _check_labels(label, path, n_items)
    checked = _check_splits(splits, path, n_items)
    with atomic_path(path, parents=True) as tmp, h5py.File(tmp, "w") as h5:
        _write_contents(h5, image, text, label, checked, attrs or {})
    return validate_store(path, check_values=False)


def _attr_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def validate_store(path: str | os.PathLike, check_values: bool = True) -> StoreInfo:
    """Check a store file against the schema; raise `DataError` naming the file and key.

    ``check_values`` also scans the features for NaN/Inf and the labels for empty rows (block
    by block); the shapes, dtypes and splits are always checked.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, "file not found (prepare it with scripts/prepare_data.py)")
    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise DataError(path, None, f"expected an HDF5 feature store, cannot open it ({exc})")
    with h5:
        for key in ("image", "text", "label"):
            if key not in h5 or not isinstance(h5[key], h5py.Dataset):
                raise DataError(path, key, "missing dataset (see docs/data.md for the schema)")
        image, text, label = h5["image"], h5["text"], h5["label"]
        for key, dataset in (("image", image), ("text", text), ("label", label)):
            if dataset.ndim != 2:
                raise DataError(path, key, f"expected a 2-D array [N, D], got {dataset.shape}")
        n_items = image.shape[0]
        if check_values:
            _check_matrix(image, path, "image", None)
            _check_matrix(text, path, "text", n_items)
            _check_labels(label, path, n_items)
        else:
            for key, dataset in (("text", text), ("label", label)):
                if dataset.shape[0] != n_items:
                    raise DataError(
                        path,
                        key,
                        f"expected {n_items} rows (as in 'image'), " f"got {dataset.shape[0]}",
                    )
        group = h5.get("split")
        if not isinstance(group, h5py.Group):
            raise DataError(path, "split", "missing group of split indices")
        splits = _check_splits({k: group[k][()] for k in group}, path, n_items)
        attrs = {k: _attr_value(v) for k, v in h5.attrs.items()}
        if attrs.get("schema_version") != SCHEMA_VERSION:
            raise DataError(
                path,
                "schema_version",
                f"expected {SCHEMA_VERSION}, got " f"{attrs.get('schema_version')}",
            )
        return StoreInfo(
            path=path,
            n_items=n_items,
            image_dim=image.shape[1],
            text_dim=text.shape[1],
            n_classes=label.shape[1],
            split_sizes={k: int(v.size) for k, v in splits.items()},
            attrs=attrs,
        )


def read_split(path: str | os.PathLike, name: str) -> np.ndarray:
    """The sorted index array of one split (``train``, ``query``, ``retrieval``, ``val``)."""
    with h5py.File(path, "r") as h5:
        key = f"split/{name}"
        if key not in h5:
            raise DataError(path, key, "missing split")
        return h5[key][()].astype(np.int64)
