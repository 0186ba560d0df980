"""What every cross-modal hashing method of the project shares: input standardisation, the
evaluation protocol (docs/method.md) and the code-collapse detector.

A method subclasses `CrossModalHashingModule`, builds its networks, implements
`continuous_codes` (the test-time branches) and its own training; validation and testing
encode the query and retrieval sets with sign (Eq. (1): sign(0) = -1) and log ``val/...`` and
``test/...`` through `CrossModalRetrievalMetric`, identically for every method.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor

from src.metrics.retrieval import CrossModalRetrievalMetric
from src.utils.errors import TrainingError

Batch = tuple[Tensor, Tensor, Tensor, Tensor]


def sign_codes(B: Tensor) -> Tensor:
    """Binary codes (n, c) float32 in {-1, +1} of real codes B (n, c): the paper's Eq. (1),
    sign(x) = +1 for x > 0 and -1 for x <= 0 (never 0). Every method binarises with it."""
    return torch.where(B > 0, 1.0, -1.0).float()


def code_statistics(codes: Tensor) -> tuple[float, float]:
    """(fraction of distinct codes, bit balance) of codes (n, c) in {-1, +1}.

    Bit balance is 1 - mean_k |mean_i b_ik|: 1 when every bit splits the items in half, 0 when
    every bit is constant.
    """
    distinct = torch.unique(codes, dim=0).shape[0] / codes.shape[0]
    balance = 1.0 - codes.float().mean(dim=0).abs().mean().item()
    return float(distinct), float(balance)


# checkpoint entry naming the LightningModule class (a plain string: weights_only loading works)
MODULE_CLASS_KEY = "module_class"


class CrossModalHashingModule(L.LightningModule):
    """Base of the hashing methods: standardised inputs, sign codes, retrieval evaluation."""

    # each method sets its config name (configs/model/<name>.yaml)
    method_name: str = ""

    def __init__(
        self,
        image_dim: int,
        text_dim: int,
        eval_topk: int = 50,
        eval_ks: Sequence[int] = (1, 100, 500, 1000),
        eval_ties: str = "stable",
        collapse_threshold: float = 0.05,
        stop_on_collapse: bool = False,
    ) -> None:
        super().__init__()
        # Encoder input standardisation (train-split statistics, saved in the checkpoint).
        self.register_buffer("image_mean", torch.zeros(image_dim))
        self.register_buffer("image_std", torch.ones(image_dim))
        self.register_buffer("text_mean", torch.zeros(text_dim))
        self.register_buffer("text_std", torch.ones(text_dim))
        metric_args = dict(topk=eval_topk, ks=tuple(eval_ks), ties=eval_ties)
        self.val_metric = CrossModalRetrievalMetric(**metric_args)
        self.test_metric = CrossModalRetrievalMetric(**metric_args)
        self.collapse_threshold = collapse_threshold
        self.stop_on_collapse = stop_on_collapse
        self._epoch_codes: list[tuple[Tensor, Tensor]] = []

    # ----------------------------------------------------------------------------- encoding
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Name the module class, so that eval.py rebuilds the right method."""
        checkpoint[MODULE_CLASS_KEY] = f"{type(self).__module__}.{type(self).__qualname__}"

    def set_input_stats(self, stats: dict[str, np.ndarray | Tensor]) -> None:
        """Copy the train-split feature means and standard deviations into the buffers."""
        for key in ("image_mean", "image_std", "text_mean", "text_std"):
            value = torch.as_tensor(np.asarray(stats[key]), dtype=torch.float32)
            getattr(self, key).copy_(value)

    def standardise(self, x_v: Tensor, x_t: Tensor) -> tuple[Tensor, Tensor]:
        """(x - train mean) / train std per modality, x_v (m, Dv), x_t (m, Dt)."""
        return (x_v - self.image_mean) / self.image_std, (x_t - self.text_mean) / self.text_std

    def continuous_codes(self, x_v: Tensor, x_t: Tensor) -> tuple[Tensor, Tensor]:
        """The test-time branches: real-valued codes (m, c) of the image and the text."""
        raise NotImplementedError

    @torch.no_grad()
    def encode(self, x_v: Tensor, x_t: Tensor) -> tuple[Tensor, Tensor]:
        """Hash codes of raw features: sign of `continuous_codes`, each (m, c) in {-1, +1}."""
        B_v, B_t = self.continuous_codes(x_v, x_t)
        return sign_codes(B_v), sign_codes(B_t)

    # ---------------------------------------------------------------------- collapse check
    def record_codes(self, B_v: Tensor, B_t: Tensor) -> None:
        """Keep the sign codes of a training batch for the end-of-epoch collapse check."""
        self._epoch_codes.append((sign_codes(B_v.detach()), sign_codes(B_t.detach())))

    def on_train_epoch_start(self) -> None:
        self._epoch_codes = []

    def bit_means(self) -> dict[str, Tensor]:
        """Per-bit mean (c,) of this epoch's training codes per modality: 0 for a balanced bit,
        +-1 for a constant one. Callbacks read it in on_train_epoch_end, which Lightning runs
        before this module's hook clears the codes; empty when no batch was recorded."""
        if not self._epoch_codes:
            return {}
        return {
            name: torch.cat([c[i] for c in self._epoch_codes]).mean(dim=0)
            for i, name in enumerate(("image", "text"))
        }

    def on_train_epoch_end(self) -> None:
        """Per-epoch bit balance and distinct-code fraction of the training codes; warns (or
        stops, with ``stop_on_collapse``) when the codes collapse."""
        if not self._epoch_codes:
            return
        for i, name in enumerate(("image", "text")):
            codes = torch.cat([c[i] for c in self._epoch_codes])  # (n_train, c)
            distinct, balance = code_statistics(codes)
            self.log(f"train/distinct_codes_{name}", distinct)
            self.log(f"train/bit_balance_{name}", balance)
            if distinct < self.collapse_threshold:
                self._report_collapse(name, codes.shape[0], distinct, balance)
        self._epoch_codes = []

    def _report_collapse(self, name: str, n: int, distinct: float, balance: float) -> None:
        message = (
            f"code collapse at epoch {self.current_epoch}: {name} codes take "
            f"{round(distinct * n)} distinct values for {n} training items (fraction "
            f"{distinct:.4f} < collapse_threshold {self.collapse_threshold}), bit balance "
            f"{balance:.3f}; lower the loss weights or the learning rates"
        )
        if self.stop_on_collapse:
            raise TrainingError(message)
        rank_zero_warn(message)

    # --------------------------------------------------------------------------- evaluation
    def _eval_step(self, metric: CrossModalRetrievalMetric, batch: Batch, idx: int) -> None:
        x_v, x_t, index, label = batch
        b_v, b_t = self.encode(x_v, x_t)
        metric.update(b_v, b_t, label, index, split="query" if idx == 0 else "retrieval")

    def validation_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._eval_step(self.val_metric, batch, dataloader_idx)

    def test_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._eval_step(self.test_metric, batch, dataloader_idx)

    def _log_metric(self, metric: CrossModalRetrievalMetric, prefix: str) -> None:
        results = metric.compute()
        metric.reset()
        for name, value in results.items():
            self.log(f"{prefix}/{name}", float(value), add_dataloader_idx=False)

    def on_validation_epoch_end(self) -> None:
        self._log_metric(self.val_metric, "val")

    def on_test_epoch_end(self) -> None:
        self._log_metric(self.test_metric, "test")
