"""Per-feature statistics of the rows a model trains on, which standardise every method's
inputs (docs/data.md): mean and population std in float64, read in row blocks so memory stays
bounded at NUS-WIDE scale."""

from __future__ import annotations

import h5py
import numpy as np

from src.data.loading import iter_row_blocks

STD_EPS = 1e-6  # a feature whose std on the train rows is below this gets std 1


def feature_statistics(h5: h5py.File, rows: np.ndarray) -> dict[str, np.ndarray]:
    """``image_mean``, ``image_std``, ``text_mean``, ``text_std``: float32 (Dv,) / (Dt,) over
    the store rows ``rows`` (int64, sorted) of the open store ``h5``.

    Features constant on those rows (std < STD_EPS, e.g. a tag no train item has) get std 1, so
    standardising never divides by (almost) zero.
    """
    sums: dict[str, np.ndarray] = {}
    for _, image, text, _ in iter_row_blocks(h5, rows):
        for key, block in (("image", image), ("text", text)):
            block = block.astype(np.float64)
            sums[key] = sums.get(key, 0.0) + block.sum(axis=0)
            sums[key + "_sq"] = sums.get(key + "_sq", 0.0) + np.square(block).sum(axis=0)
    stats = {}
    for key in ("image", "text"):
        mean = sums[key] / rows.size
        std = np.sqrt(np.maximum(sums[key + "_sq"] / rows.size - np.square(mean), 0.0))
        stats[f"{key}_mean"] = mean.astype(np.float32)
        stats[f"{key}_std"] = np.where(std < STD_EPS, 1.0, std).astype(np.float32)
    return stats
