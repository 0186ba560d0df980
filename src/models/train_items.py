"""What the methods that keep state per training item share (DGCPN's graph, UCCH's memory
bank): the rows of the train split a fit iterates, the position of a batch's rows among them,
and the per-epoch random generator that a resumed run replays."""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torch import Tensor

from src.utils.errors import ConfigError

# odd 64-bit constant (the golden ratio's): spreads the per-epoch seeds
_SEED_STRIDE = 0x9E3779B97F4A7C15


def fit_train_rows(trainer: L.Trainer, what: str) -> np.ndarray:
    """The store rows (n,) int64, sorted, of the datamodule's train split (without the
    held-out validation queries under ``data.val_mode=heldout``). Raises ConfigError naming
    ``what`` (e.g. "DGCPN builds its graph") when the fit has no such datamodule."""
    dm = getattr(trainer, "datamodule", None)
    if dm is None or "train" not in getattr(dm, "splits", {}):
        raise ConfigError(f"{what} over the train split: expected a fit with a datamodule")
    return np.sort(np.asarray(dm.splits["train"], dtype=np.int64))


def row_positions(rows: Tensor, index: Tensor, what: str) -> Tensor:
    """Positions (m,) int64 of the store rows ``index`` (m,) in the sorted ``rows`` (n,), on
    rows' device. Raises ValueError naming ``what`` when a row of index is not in rows."""
    index = index.to(rows.device)
    pos = torch.searchsorted(rows, index).clamp_max(rows.numel() - 1)  # (m,)
    if not torch.equal(rows[pos], index):
        raise ValueError(f"a training batch holds rows outside {what}")
    return pos


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A CPU generator seeded from (``seed``, ``epoch``) alone: a run resumed at an epoch
    draws what the uninterrupted run drew in it, on any device."""
    return torch.Generator().manual_seed((int(seed) + epoch * _SEED_STRIDE) % 2**63)
