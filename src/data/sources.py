"""Arrays read from source files, which know where they came from.

Everything that reads a user's file goes through `reading`, which turns any failure of the
reading library (a truncated MATLAB file, a cut HDF5 file, an empty ``.npy``) into a
`DataError` naming the file and the key, and through `SourceRows`, whose row blocks are read
on demand with the same guarantee. `SourceRows.locate` and `StackedRows.locate` map a row of
the store being written back to the source file, key and row, so that a bad value is reported
where the user can find it (``raw_features.mat [I_te]: ... row 5``), not in the store that was
never written.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from src.utils.errors import AGCHError, DataError


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@contextlib.contextmanager
def reading(path: object, key: str | None, what: str = "a readable array") -> Iterator[None]:
    """Turn any error raised while reading ``path [key]`` into a `DataError` saying that
    ``what`` was expected. Project errors and interrupts pass through unchanged."""
    try:
        yield
    except AGCHError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # every reader raises its own types: OSError, ValueError, ...
        raise DataError(path, key, f"expected {what}, cannot read it ({_reason(exc)})") from exc


Location = tuple[object, str, int]


class SourceRows:
    """Row blocks of one array of a source file ([N, ...], items on the first axis).

    ``rows`` is anything that reads ``rows[a:b]`` (numpy array, memory map, h5py dataset,
    `src.data.matlab.ReversedRows`); read errors become `DataError` naming ``path [key]``.
    """

    def __init__(self, rows: Any, path: object, key: str) -> None:
        self.rows = rows
        self.path = path
        self.key = key
        self.shape = tuple(rows.shape)
        self.ndim = len(self.shape)
        self.dtype = np.dtype(rows.dtype)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: slice) -> np.ndarray:
        if not isinstance(rows, slice):
            raise TypeError("SourceRows supports row slices only")
        with reading(self.path, self.key, f"rows {rows.start}..{rows.stop} of a readable array"):
            return np.asarray(self.rows[rows])

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(self[:], dtype=dtype)

    def locate(self, row: int) -> Location:
        """(source file, key, row in that array) of row ``row``."""
        return self.path, self.key, int(row)


class StackedRows:
    """Several `SourceRows` one after the other (Wiki/UCI: train rows then test rows)."""

    def __init__(self, parts: Sequence[SourceRows]) -> None:
        first = parts[0]
        for part in parts[1:]:
            if part.shape[1:] != first.shape[1:]:
                raise DataError(
                    part.path,
                    part.key,
                    f"expected rows of shape {first.shape[1:]} as in [{first.key}], "
                    f"got {part.shape[1:]}",
                )
        self.parts = list(parts)
        self.starts = np.cumsum([0] + [len(p) for p in parts])  # (P + 1,)
        self.shape = (int(self.starts[-1]), *first.shape[1:])
        self.ndim = len(self.shape)
        self.dtype = np.result_type(*(p.dtype for p in parts))

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: slice) -> np.ndarray:
        start, stop, _ = rows.indices(self.shape[0])
        blocks = []
        for part, first in zip(self.parts, self.starts[:-1]):
            lo, hi = max(start - first, 0), min(stop - first, len(part))
            if lo < hi:
                blocks.append(np.asarray(part[lo:hi], dtype=self.dtype))
        if not blocks:
            return np.empty((0, *self.shape[1:]), dtype=self.dtype)
        return np.concatenate(blocks)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(self[:], dtype=dtype)

    def locate(self, row: int) -> Location:
        index = int(np.searchsorted(self.starts, row, side="right")) - 1
        return self.parts[index].locate(row - int(self.starts[index]))


def locate(array: Any, default_path: object, key: str, row: int) -> Location:
    """Where row ``row`` of ``array`` comes from: its source when it knows, else the store."""
    if hasattr(array, "locate"):
        return array.locate(row)
    return default_path, key, int(row)


def origin(array: Any, default_path: object, key: str) -> tuple[object, str]:
    """(file, key) ``array`` was read from (the first part of a stack), else the defaults."""
    part = array.parts[0] if isinstance(array, StackedRows) else array
    if isinstance(part, SourceRows):
        return part.path, part.key
    return default_path, key


Entry = tuple[object, str, tuple[int, ...], bool]


def agree_on_items(entries: Sequence[Entry]) -> int:
    """The item count of arrays that must pair row for row, by majority.

    ``entries``: (file, key, shape, either_end) per array, the labels first; ``either_end``
    says that the file may hold the array transposed (MATLAB), so the count may be its last
    axis. The count that two or more arrays allow wins (the first array's on a tie); the
    array that does not allow it is the one named in the `DataError`, so a wrong label
    matrix names the label key, not the image key.
    """
    options = [
        {shape[0], shape[-1]} if either and shape else set(shape[:1])
        for _, _, shape, either in entries
    ]
    ordered = [n for allowed in options for n in sorted(allowed)]
    agreed = [n for n in ordered if sum(n in allowed for allowed in options) >= 2]
    n_items = agreed[0] if agreed else (ordered[0] if ordered else 0)
    for (path, key, shape, either), allowed in zip(entries, options):
        if n_items not in allowed:
            others = ", ".join(f"[{k}]" for p, k, s, e in entries if k != key)
            axis = "along the first or last axis" if either else "on the first axis"
            raise DataError(
                path, key, f"expected {n_items} rows (items {axis}, as {others}), got {shape}"
            )
    return n_items


def read_list_classes(path: Path, n_classes: int) -> np.ndarray:
    """Class column of a Wiki ``*_txt_img_cat.list`` (``text_id image_id class`` per line,
    class 1..n_classes) -> int64 [N]. Errors name the file and the line."""
    if not path.is_file():
        raise DataError(path, None, "file not found (expected text_id image_id class lines)")
    with reading(path, None, "a UTF-8 text file of 'text_id image_id class' lines"):
        lines = path.read_text(encoding="utf-8").splitlines()
    classes = []
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3 or not re.fullmatch("[0-9]+", fields[2]):  # not str.isdigit: '²'
            raise DataError(path, f"line {number}", "expected 'text_id image_id class'")
        if not 1 <= int(fields[2]) <= n_classes:
            raise DataError(path, f"line {number}", f"expected a class in 1..{n_classes}")
        classes.append(int(fields[2]))
    return np.asarray(classes, dtype=np.int64)  # (N,)
