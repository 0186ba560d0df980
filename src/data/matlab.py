"""Read arrays from MATLAB files: v5 (scipy.io) or v7.3 (HDF5, axes stored reversed).

MATLAB writes v7.3 arrays column-major, so h5py sees an [N, D] array as [D, N]; every reader
here reverses the axes back. Some releases (NUS-WIDE's ``YAll``) store the matrix itself
transposed; ``expected_rows`` picks the orientation whose first axis has that many items.
``.npy`` files are read too (memory-mapped), since feature extraction writes them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import scipy.io

from src.utils.errors import DataError


class ReversedRows:
    """Row view of a v7.3 dataset whose items lie on its last HDF5 axis: reads item blocks
    on demand and reverses the axes on the fly, so a huge array never loads whole."""

    def __init__(self, dataset: h5py.Dataset) -> None:
        self.dataset = dataset
        self.shape = tuple(reversed(dataset.shape))
        self.ndim = dataset.ndim
        self.dtype = dataset.dtype

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: slice) -> np.ndarray:
        if not isinstance(rows, slice):
            raise TypeError("ReversedRows supports row slices only")
        block = self.dataset[(Ellipsis, rows)]  # (..., b)
        return np.ascontiguousarray(block.transpose(tuple(reversed(range(block.ndim)))))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(self[:], dtype=dtype)


def _whos(path: Path) -> list[tuple[str, tuple]]:
    return [(name, shape) for name, shape, _ in scipy.io.whosmat(str(path))]


def _missing_key(path: Path, key: str, keys: list[str]) -> DataError:
    return DataError(path, key, f"key not found; the file holds {keys or 'no arrays'}")


def _check_file(path: Path, key: str) -> None:
    if not path.is_file():
        raise DataError(path, key, "file not found (expected a MATLAB .mat file)")


def _orient(array: Any, path: Path, key: str, expected_rows: int | None, stored: Any) -> Any:
    """``array`` in MATLAB orientation; ``stored`` as it lies on disk (for the transposed
    releases). Return the one whose first axis has ``expected_rows`` items."""
    if expected_rows is None or array.shape[0] == expected_rows:
        return array
    if stored is not None and stored.shape[0] == expected_rows:
        return stored
    raise DataError(
        path,
        key,
        f"expected {expected_rows} items along the first or last axis, got shape {array.shape}",
    )


def _load_v5(path: Path, key: str, expected_rows: int | None) -> np.ndarray:
    try:
        names = [name for name, _ in _whos(path)]
    except Exception as exc:  # scipy raises several types on a non-MATLAB file
        raise DataError(path, key, f"expected a MATLAB v5 or v7.3 file, cannot read it ({exc})")
    if key not in names:
        raise _missing_key(path, key, sorted(names))
    array = np.asarray(scipy.io.loadmat(str(path), variable_names=[key])[key])
    if not np.issubdtype(array.dtype, np.number) and array.dtype != bool:
        raise DataError(path, key, f"expected a numeric array, got {array.dtype}")
    stored = array.T if array.ndim == 2 else None
    return _orient(array, path, key, expected_rows, stored)


def _h5_dataset(h5: h5py.File, path: Path, key: str) -> h5py.Dataset:
    if key not in h5 or not isinstance(h5[key], h5py.Dataset):
        raise _missing_key(path, key, sorted(k for k in h5 if not k.startswith("#")))
    dataset = h5[key]
    if not np.issubdtype(dataset.dtype, np.number):
        raise DataError(path, key, f"expected a numeric array, got {dataset.dtype}")
    return dataset


@contextlib.contextmanager
def open_mat(path: str | os.PathLike, key: str, expected_rows: int | None = None) -> Iterator[Any]:
    """Yield ``key`` of ``path`` with items on the first axis, lazily where the file allows.

    v7.3 files yield a `ReversedRows` view (or the h5py dataset itself when it is stored with
    items first), readable in row blocks while the context is open; v5 files yield the loaded
    array; ``.npy`` files a read-only memory map (``key`` is then only named in messages).
    """
    path = Path(path)
    _check_file(path, key)
    if path.suffix == ".npy":
        array = np.load(path, mmap_mode="r")
        yield _orient(array, path, key, expected_rows, None)
    elif h5py.is_hdf5(path):
        with h5py.File(path, "r") as h5:
            dataset = _h5_dataset(h5, path, key)
            yield _orient(ReversedRows(dataset), path, key, expected_rows, dataset)
    else:
        yield _load_v5(path, key, expected_rows)


def load_mat(path: str | os.PathLike, key: str, expected_rows: int | None = None) -> np.ndarray:
    """Load ``key`` of a MATLAB v5/v7.3 file (or ``.npy``) whole, items on the first axis."""
    with open_mat(path, key, expected_rows) as array:
        return np.asarray(array[:])
