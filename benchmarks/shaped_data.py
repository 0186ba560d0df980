"""Benchmark data in the shapes of the paper's data sets, written as feature stores.

Nothing here is a benchmark data set: the image features are always generated (stand-ins),
the MIRFlickr-shaped text is the real 1,386-d tag matrix ``YAll`` of MIRFlickr-25K when the
file is found (else generated tags), and every result that uses them says which.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from src.data.matlab import load_mat
from src.data.store import write_store

REPO = Path(__file__).resolve().parents[1]
# where the real tags are looked for: the shared data folder, or a copy carried to a GPU
# machine in the git-ignored data/ folder (benchmarks/gpu_check.sh)
TAG_FILES = (
    REPO.parent / "shared/data/mirflickr/mirflickr25k-yall.mat",
    REPO / "data/mirflickr25k-yall.mat",
)


@dataclass(frozen=True)
class Shape:
    """Sizes of a training set: train pairs, feature widths, classes."""

    name: str
    n_train: int
    image_dim: int
    text_dim: int
    n_classes: int


WIKI = Shape("wiki", 2173, 128, 10, 10)  # 128-d SIFT BoVW, 10-d LDA topics
MIRFLICKR = Shape("mirflickr", 5000, 4096, 1386, 24)  # 4096-d fc7, 1,386 tags


def find_tags() -> Path | None:
    """The MIRFlickr-25K tag file (YAll, 20,015 x 1,386 uint8) if present."""
    return next((p for p in TAG_FILES if p.is_file()), None)


def _text(rng: np.random.Generator, shape: Shape, n: int, tags: Path | None) -> np.ndarray:
    """(n, Dt) float32: real tags (first n rows of YAll), generated tags, or topic vectors."""
    if shape.name == "mirflickr" and tags is not None:
        return load_mat(tags, "YAll")[:n].astype(np.float32)
    if shape.name == "mirflickr":  # about 5 tags per item, as in YAll; at least one
        text = rng.random((n, shape.text_dim)) < 5 / shape.text_dim
        text[np.arange(n), rng.integers(0, shape.text_dim, n)] = True
        return text.astype(np.float32)
    topics = rng.dirichlet(np.ones(shape.text_dim), size=n)  # (n, Dt), LDA-like proportions
    return topics.astype(np.float32)


def make_store(path: Path, shape: Shape, n_train: int, n_query: int = 100, seed: int = 0) -> str:
    """Write a store of ``n_train`` train and ``n_query`` query pairs in ``shape``'s widths.

    Image features are non-negative stand-ins (ReLU of Gaussians for 4096-d fc7-like features,
    normalised histograms for 128-d BoVW-like ones). Returns a description of the data for the
    report.
    """
    rng = np.random.default_rng(seed)
    n = n_train + n_query
    if shape.image_dim > 1000:
        image = np.maximum(rng.standard_normal((n, shape.image_dim), dtype=np.float32), 0)
    else:
        image = rng.random((n, shape.image_dim), dtype=np.float32)
        image /= image.sum(axis=1, keepdims=True)  # (n, Dv), rows sum to 1
    tags = find_tags() if shape.name == "mirflickr" else None
    text = _text(rng, shape, n, tags)
    label = np.zeros((n, shape.n_classes), dtype=np.uint8)
    label[np.arange(n), rng.integers(0, shape.n_classes, n)] = 1  # (n, C), unused in training
    splits = {
        "train": np.arange(n_train),
        "query": np.arange(n_train, n),
        "retrieval": np.arange(n_train),
    }
    write_store(path, image, text, label, splits, {"dataset": f"{shape.name}-shaped"})
    what = "real MIRFlickr-25K tags (YAll)" if tags is not None else "generated text"
    return f"{shape.name}-shaped: generated stand-in image features, {what}"


def retrieval_codes(
    n_query: int, n_retrieval: int, bits: int, n_classes: int, seed: int = 0
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Random codes in {-1, +1}, query (nq, c) and retrieval (nr, c) float32, and multi-hot
    labels (1-3 classes per item) float32 (nq, C), (nr, C)."""
    g = torch.Generator().manual_seed(seed)
    n = n_query + n_retrieval
    codes = torch.randint(0, 2, (n, bits), generator=g).float() * 2 - 1  # (n, c)
    label = torch.zeros(n, n_classes)  # (n, C)
    for _ in range(3):
        label[torch.arange(n), torch.randint(0, n_classes, (n,), generator=g)] = 1.0
    return codes[:n_query], codes[n_query:], label[:n_query], label[n_query:]


class GeneratedRows:
    """A (n, d) float32 matrix generated on read, block by block from (seed, block number), so
    that a NUS-WIDE-sized store is written without ever holding it in memory. ``kind``:
    ``"relu"`` (dense non-negative, fc7-like) or ``"tags"`` (sparse binary, at least one)."""

    ndim = 2
    dtype = np.dtype(np.float32)
    block = 8192

    def __init__(self, n: int, d: int, kind: str, seed: int = 0) -> None:
        self.shape, self.kind, self.seed = (n, d), kind, seed

    def _block(self, b: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, b])
        rows = min(self.block, self.shape[0] - b * self.block)
        if self.kind == "relu":
            return np.maximum(rng.standard_normal((rows, self.shape[1]), dtype=np.float32), 0)
        tags = rng.random((rows, self.shape[1]), dtype=np.float32) < 5 / self.shape[1]
        tags[np.arange(rows), rng.integers(0, self.shape[1], rows)] = True
        return tags.astype(np.float32)  # (rows, d)

    def __getitem__(self, key: slice) -> np.ndarray:
        start, stop, _ = key.indices(self.shape[0])
        if stop <= start:
            return np.empty((0, self.shape[1]), dtype=np.float32)
        first, last = start // self.block, (stop - 1) // self.block
        rows = np.concatenate([self._block(b) for b in range(first, last + 1)])
        return rows[start - first * self.block : stop - first * self.block]


def nus_store(path: Path, n_items: int = 186577, n_query: int = 2000, n_train: int = 10500) -> int:
    """A NUS-WIDE-sized store (4096-d image, 1,000-d tags, 10 classes; generated), written
    block by block; returns its size in bytes. Query: the first ``n_query`` rows; retrieval:
    the rest; train: the first ``n_train`` retrieval rows."""
    rng = np.random.default_rng(0)
    label = np.zeros((n_items, 10), dtype=np.uint8)
    label[np.arange(n_items), rng.integers(0, 10, n_items)] = 1  # (n, 10)
    splits = {
        "query": np.arange(n_query),
        "retrieval": np.arange(n_query, n_items),
        "train": np.arange(n_query, n_query + n_train),
    }
    image, text = GeneratedRows(n_items, 4096, "relu"), GeneratedRows(n_items, 1000, "tags", 1)
    write_store(path, image, text, label, splits, {"dataset": "nus-wide-shaped"})
    return path.stat().st_size
