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

from src.data.sources import SourceRows, reading
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


def _v5_end(path: Path) -> tuple[int, int]:
    """(end of the last complete top-level element, file size) of a MATLAB v5 file: the
    128-byte header, then elements of an 8-byte tag (type, byte count) and their data,
    matrices padded to 8 bytes. A cut file ends inside an element."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        header = handle.read(128)
        order = "<" if header[126:128] == b"IM" else ">"
        end = 128
        while end + 8 <= size:
            handle.seek(end)
            kind, nbytes = np.frombuffer(handle.read(8), dtype=f"{order}u4")
            step = 8 + int(nbytes)
            if kind == 14:  # miMATRIX (uncompressed) is padded to 8 bytes
                step += -int(nbytes) % 8
            if end + step > size:
                break
            end += step
    return end, size


def _whos(path: Path, key: str) -> dict[str, tuple]:
    """{name: shape} of a complete MATLAB v5 file, read from its headers only."""
    with reading(path, key, "a MATLAB v5 or v7.3 file"):
        shapes = {name: tuple(shape) for name, shape, _ in scipy.io.whosmat(str(path))}
        end, size = _v5_end(path)
    if end != size:
        raise DataError(
            path,
            key,
            f"expected a complete MATLAB v5 file; it ends ({size} bytes) inside the element "
            f"that starts at byte {end} (a truncated copy: copy it again)",
        )
    return shapes


def _missing_key(path: Path, key: str, keys: list[str]) -> DataError:
    return DataError(
        path, key, f"key not found; expected one of the file's arrays: {keys or 'it holds none'}"
    )


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
    names = _whos(path, key)
    if key not in names:
        raise _missing_key(path, key, sorted(names))
    with reading(path, key, "a complete MATLAB v5 array"):
        array = np.asarray(scipy.io.loadmat(str(path), variable_names=[key])[key])
    if not np.issubdtype(array.dtype, np.number) and array.dtype != bool:
        raise DataError(path, key, f"expected a numeric array, got {array.dtype}")
    stored = array.T if array.ndim == 2 else None
    return _orient(array, path, key, expected_rows, stored)


def _h5_dataset(h5: h5py.File, path: Path, key: str) -> h5py.Dataset:
    if key not in h5 or not isinstance(h5[key], h5py.Dataset):
        raise _missing_key(path, key, sorted(k for k in h5 if not k.startswith("#")))
    dataset = h5[key]
    if dataset.ndim == 0:
        raise DataError(path, key, "expected an array with items on one axis, got a scalar")
    if not np.issubdtype(dataset.dtype, np.number):
        raise DataError(path, key, f"expected a numeric array, got {dataset.dtype}")
    return dataset


def _load_npy(path: Path, key: str) -> np.ndarray:
    with reading(path, key, "a complete .npy array"):
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    if array.ndim == 0:
        raise DataError(path, key, "expected an array with items on the first axis, got a scalar")
    if not np.issubdtype(array.dtype, np.number) and array.dtype != bool:
        raise DataError(path, key, f"expected a numeric array, got {array.dtype}")
    return array


@contextlib.contextmanager
def _open_h5(path: Path, key: str) -> Iterator[h5py.File]:
    with reading(path, key, "a MATLAB v7.3 (HDF5) file"):
        h5 = h5py.File(path, "r")
    with h5:
        yield h5


@contextlib.contextmanager
def open_mat(
    path: str | os.PathLike, key: str, expected_rows: int | None = None
) -> Iterator[SourceRows]:
    """Yield ``key`` of ``path`` as `SourceRows` (items on the first axis), lazily where the
    file allows: v7.3 files through a `ReversedRows` view (or the dataset itself when it is
    stored items first), readable in row blocks while the context is open; v5 files loaded;
    ``.npy`` files memory-mapped (``key`` is then only named in messages). Any read failure
    is a `DataError` naming ``path [key]``.
    """
    path = Path(path)
    _check_file(path, key)
    if path.suffix == ".npy":
        array = _orient(_load_npy(path, key), path, key, expected_rows, None)
        yield SourceRows(array, path, key)
        return
    with reading(path, key, "a MATLAB v5 or v7.3 file"):
        is_hdf5 = h5py.is_hdf5(path)
    if not is_hdf5:
        yield SourceRows(_load_v5(path, key, expected_rows), path, key)
        return
    with _open_h5(path, key) as h5:
        dataset = _h5_dataset(h5, path, key)
        with reading(path, key, "a readable MATLAB v7.3 array"):
            view = _orient(ReversedRows(dataset), path, key, expected_rows, dataset)
        yield SourceRows(view, path, key)


def load_mat(path: str | os.PathLike, key: str, expected_rows: int | None = None) -> np.ndarray:
    """Load ``key`` of a MATLAB v5/v7.3 file (or ``.npy``) whole, items on the first axis."""
    with open_mat(path, key, expected_rows) as array:
        return array[:]


def array_shape(path: str | os.PathLike, key: str) -> tuple[tuple[int, ...], bool]:
    """(shape in MATLAB orientation, whether the file may hold it transposed) of ``key``,
    read without loading the values (`src.data.sources.agree_on_items` takes both)."""
    path = Path(path)
    _check_file(path, key)
    if path.suffix == ".npy":
        return tuple(_load_npy(path, key).shape), False
    with reading(path, key, "a MATLAB v5 or v7.3 file"):
        is_hdf5 = h5py.is_hdf5(path)
    if not is_hdf5:
        shapes = _whos(path, key)
        if key not in shapes:
            raise _missing_key(path, key, sorted(shapes))
        return tuple(shapes[key]), True
    with _open_h5(path, key) as h5:
        return tuple(reversed(_h5_dataset(h5, path, key).shape)), True
