"""Reading store rows for training and evaluation: the in-memory feature cache, the streamed
dataset, the (seed, epoch) train sampler and the batches held on the accelerator.

Batches are ``(image, text, index, label)``: float32 image (m, Dv), float32 text (m, Dt), int64
store row index (m,), float32 multi-hot label (m, C). Reads are per batch or per row block, so
memory stays bounded at NUS-WIDE scale when the cache is off.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch.utils.data import BatchSampler, Dataset, Sampler

from src.data import store
from src.data.store import fingerprint  # noqa: F401  (re-exported for callers)
from src.utils.errors import DataError, StoreChanged

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def read_rows(h5: h5py.File, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image, text and label of sorted unique store rows: one fancy-index read per key."""
    return h5["image"][rows], h5["text"][rows], h5["label"][rows]


def iter_row_blocks(
    h5: h5py.File, rows: np.ndarray
) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """(offset into ``rows``, image, text, label) for blocks of at most ROW_CHUNK sorted rows."""
    for start in range(0, rows.size, store.ROW_CHUNK):
        yield start, *read_rows(h5, rows[start : start + store.ROW_CHUNK])


def read_features(path: str | os.PathLike, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Image (n, Dv) and text (n, Dt) features, float32, of sorted unique store rows (n,) in
    their order, read in row blocks (the training graph of DGCPN is built from them)."""
    with h5py.File(path, "r") as h5:
        blocks = [(image, text) for _, image, text, _ in iter_row_blocks(h5, rows)]
    image = np.concatenate([b[0] for b in blocks]).astype(np.float32)  # (n, Dv)
    text = np.concatenate([b[1] for b in blocks]).astype(np.float32)  # (n, Dt)
    return torch.from_numpy(image), torch.from_numpy(text)


class FeatureCache:
    """The features of a sorted set of store rows, held as tensors (loaded once, in blocks).

    ``check_values`` checks each block as it is read (finite features, 0/1 labels with one
    label or more per row: the checks of ``validate_store``), so that a store is read once, not
    once to validate and once to cache. Whatever ``check_values``, a feature that overflows a
    half-precision ``dtype`` (float16 past 65504) is an error naming the row, not a silent inf.
    """

    def __init__(
        self, path: Path, rows: np.ndarray, dtype: torch.dtype, check_values: bool = False
    ) -> None:
        self.rows = rows
        self.index = torch.from_numpy(rows)  # (n,)
        with h5py.File(path, "r") as h5:
            n, dim_v, dim_t = rows.size, h5["image"].shape[1], h5["text"].shape[1]
            self.image = torch.empty((n, dim_v), dtype=dtype)  # (n, Dv)
            self.text = torch.empty((n, dim_t), dtype=dtype)  # (n, Dt)
            self.label = torch.empty((n, h5["label"].shape[1]), dtype=torch.uint8)  # (n, C)
            for start, image, text, label in iter_row_blocks(h5, rows):
                end = start + image.shape[0]
                block_rows = rows[start:end]
                if check_values:
                    store.check_finite_block(image, path, "image", block_rows)
                    store.check_finite_block(text, path, "text", block_rows)
                    store.check_label_block(label, path, block_rows)
                self.image[start:end] = torch.from_numpy(image)
                self.text[start:end] = torch.from_numpy(text)
                self.label[start:end] = torch.from_numpy(label)
                if dtype != torch.float32:  # the cast, not the file, made it inf
                    for key, cached in (("image", self.image), ("text", self.text)):
                        finite = torch.isfinite(cached[start:end]).all(dim=1).numpy()  # (m,)
                        if not finite.all():
                            raise DataError(
                                path,
                                key,
                                f"expected values that fit data.cache_dtype={dtype}, row "
                                f"{block_rows[np.argmin(finite)]} overflows it (use float32)",
                            )

    def positions(self, rows: np.ndarray) -> torch.Tensor:
        """Positions in the cache of store rows that it holds."""
        return torch.from_numpy(np.searchsorted(self.rows, rows))

    def batch(self, positions: torch.Tensor) -> Batch:
        """The batch of the cached rows at ``positions``, features cast to float32."""
        return (
            self.image[positions].float(),
            self.text[positions].float(),
            self.index[positions],
            self.label[positions].float(),
        )


def check_unchanged(path: Path, expected: tuple[int, ...]) -> None:
    """Raise StoreChanged when the store's `fingerprint` differs from the one taken when the
    run first read it: rows read now could come from another or a truncated file."""
    try:
        now = fingerprint(path)
    except OSError:
        now = None
    if now != expected:
        raise StoreChanged(
            f"{path}: the feature store changed while the run read it (size, modification "
            f"time, change time or inode {expected} became {now}); the run stopped before "
            "using what it read: restore the store"
        )


class StoreRows(Dataset):
    """Some rows of a store, fetched a batch at a time (`__getitems__` takes a position list).

    Without a cache the rows stream from the file: one h5py handle per process, opened on the
    first read (after a worker fork) and never pickled.
    """

    def __init__(
        self,
        path: Path,
        rows: np.ndarray,
        cache: FeatureCache | None,
        expected: tuple[int, ...] | None = None,
    ) -> None:
        """``expected``: the store's `fingerprint` when the run validated it (default: now);
        streamed reads check it (`check_unchanged`)."""
        self.path = path
        self.rows = rows
        self.cache = cache
        self._cache_positions = cache.positions(rows) if cache is not None else None
        self._h5: h5py.File | None = None
        self._pid: int | None = None
        self.fingerprint = (expected or fingerprint(path)) if cache is None else None

    def __len__(self) -> int:
        return self.rows.size

    def __getitems__(self, positions: list[int]) -> Batch:
        if self._cache_positions is not None:
            return self.cache.batch(self._cache_positions[positions])
        return self._read(self.rows[positions])

    def __getstate__(self) -> dict[str, Any]:
        return self.__dict__ | {"_h5": None, "_pid": None}

    def _file(self) -> h5py.File:
        # A handle inherited through fork is unsafe to use: reopen in each process.
        if self._h5 is None or self._pid != os.getpid():
            self._h5, self._pid = h5py.File(self.path, "r"), os.getpid()
        return self._h5

    def _read(self, rows: np.ndarray) -> Batch:
        """Read the rows in one sorted fancy-index read per key, then restore their order."""
        check_unchanged(self.path, self.fingerprint)  # every streamed read, in every worker
        order = np.argsort(rows, kind="stable")
        image, text, label = read_rows(self._file(), rows[order])
        inverse = np.empty_like(order)
        inverse[order] = np.arange(order.size)
        return (
            torch.from_numpy(image[inverse]),  # (m, Dv)
            torch.from_numpy(text[inverse]),  # (m, Dt)
            torch.from_numpy(rows.astype(np.int64)),  # (m,)
            torch.from_numpy(label[inverse].astype(np.float32)),  # (m, C)
        )


def whole_batch(batch: Batch) -> Batch:
    """Collate function: `StoreRows.__getitems__` already returns a whole batch."""
    return batch


class EpochSampler(Sampler[int]):
    """Shuffled positions whose order depends on (seed, epoch) alone; shards across ranks.

    Epoch e uses ``torch.randperm(n, generator=torch.Generator().manual_seed(seed + e))``; rank r
    of w takes the strided slice ``perm[r::w]`` cut to n // w items, so the ranks get disjoint
    slices of equal length. Lightning's fit loop calls `set_epoch`.
    """

    def __init__(self, n: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.n, self.seed, self.rank, self.world_size = n, seed, rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n // self.world_size

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        perm = torch.randperm(self.n, generator=generator)
        return iter(perm[self.rank :: self.world_size][: len(self)].tolist())


class DeviceBatches:
    """Train batches drawn by index from tensors held on the accelerator (no workers).

    Exposes ``sampler`` so that Lightning's fit loop finds and calls its `set_epoch`.
    """

    def __init__(
        self, cache: FeatureCache, rows: np.ndarray, batches: BatchSampler, device: torch.device
    ) -> None:
        self.batches = batches
        self.sampler = batches.sampler
        positions = cache.positions(rows)
        self.image = cache.image[positions].to(device)  # (n, Dv)
        self.text = cache.text[positions].to(device)  # (n, Dt)
        self.index = torch.from_numpy(rows).to(device)  # (n,)
        self.label = cache.label[positions].to(device)  # (n, C)

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[Batch]:
        for positions in self.batches:
            at = torch.tensor(positions, device=self.index.device)
            yield (
                self.image[at].float(),
                self.text[at].float(),
                self.index[at],
                self.label[at].float(),
            )
