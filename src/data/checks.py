"""Checks of the arrays that go into a feature store (docs/data.md), block by block.

Values are checked as they will be used, after the cast to the store's dtype: a float64
1e300 that float32 turns into +Inf is an error, not a warning. Errors name the source file,
key and row when the array knows where it came from (`src.data.sources`), else the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from src.data.sources import locate, origin
from src.utils.errors import DataError

REQUIRED_SPLITS = ("train", "query", "retrieval")
OPTIONAL_SPLITS = ("val",)
FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_shape(array: Any, path: object, key: str, n_rows: int | None, like: str) -> None:
    """Rank 2, non-empty, ``n_rows`` rows (those of ``like``); errors name the array's source
    file and key when it has one (`src.data.sources.origin`), else ``path [key]``."""
    where = origin(array, path, key)
    if getattr(array, "ndim", None) != 2:
        shape = getattr(array, "shape", None)
        raise DataError(*where, f"expected a 2-D array [N, D], got shape {shape}")
    if n_rows is not None and array.shape[0] != n_rows:
        raise DataError(*where, f"expected {n_rows} rows (as {like}), got {array.shape[0]}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise DataError(*where, f"expected a non-empty array, got shape {array.shape}")
    dtype = np.dtype(array.dtype)
    if not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)):
        if dtype != bool:
            raise DataError(*where, f"expected a real numeric array, got {dtype}")


def _first_bad_row(bad: np.ndarray) -> int | None:
    """Index of the first row of a boolean [B, D] mask with a True, None when none."""
    rows = np.flatnonzero(bad.any(axis=1))
    return int(rows[0]) if rows.size else None


def check_finite_block(block: np.ndarray, path: object, key: str, rows: np.ndarray) -> None:
    """A block of feature rows (store row ``rows[i]`` is ``block[i]``) holds no NaN/Inf."""
    bad = _first_bad_row(~np.isfinite(block)) if block.dtype.kind == "f" else None
    if bad is not None:
        raise DataError(path, key, f"expected finite values, found NaN/Inf in row {rows[bad]}")


def _label_problem(block: np.ndarray) -> tuple[int, str] | None:
    """(row in ``block``, message with ``{row}``) of the first bad label row, else None."""
    bad = _first_bad_row(~np.isin(block, (0, 1)))
    if bad is not None:
        value = block[bad][~np.isin(block[bad], (0, 1))][0]
        return bad, f"expected a multi-hot 0/1 matrix, row {{row}} holds {value}"
    empty = _first_bad_row(block.sum(axis=1, keepdims=True) == 0)
    if empty is not None:
        return empty, "expected at least one label per row, row {row} has none"
    return None


def check_label_block(block: np.ndarray, path: object, rows: np.ndarray) -> None:
    """A block of label rows (store row ``rows[i]`` is ``block[i]``) is multi-hot 0/1 with at
    least one label per row."""
    problem = _label_problem(block)
    if problem is not None:
        raise DataError(path, "label", problem[1].format(row=rows[problem[0]]))


def checked_features(raw: np.ndarray, source: Any, path: object, key: str, start: int) -> Any:
    """``raw`` cast to float32, then checked as it will be used: a finite value that the cast
    makes infinite (|x| > 3.4e38) and a NaN/Inf are errors naming the source row."""
    with np.errstate(over="ignore", invalid="ignore"):
        block = raw.astype(np.float32)  # (B, D)
    bad = _first_bad_row(~np.isfinite(block))
    if bad is None:
        return block
    col = int(np.flatnonzero(~np.isfinite(block[bad]))[0])
    value = raw[bad, col]
    file, name, row = locate(source, path, key, start + bad)
    if np.isfinite(value):
        fits = f"values that fit float32 (|x| <= {FLOAT32_MAX:.4g})"
        raise DataError(file, name, f"expected {fits}, row {row} holds {value:g} (column {col})")
    raise DataError(file, name, f"expected finite values, found NaN/Inf in row {row}")


def checked_labels(raw: np.ndarray, source: Any, path: object, key: str, start: int) -> Any:
    """``raw`` checked multi-hot 0/1 with a label per row (before the cast), then uint8."""
    problem = _label_problem(raw)
    if problem is not None:
        file, name, row = locate(source, path, key, start + problem[0])
        raise DataError(file, name, problem[1].format(row=row))
    return raw.astype(np.uint8)


def check_splits(splits: Mapping[str, Any], path: object, n_items: int) -> dict[str, np.ndarray]:
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
