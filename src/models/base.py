"""What every cross-modal hashing method of the project shares: the constructor's checks and
hyper-parameters, the encoder inputs, binarisation (Eq. (1)), the non-finite-loss error, the
code-collapse detectors and the evaluation protocol (docs/method.md).

A method subclasses `CrossModalHashingModule`, declares its hyper-parameter ``RULES``,
passes its constructor's arguments (``dict(locals())``) to this constructor, builds its
networks, implements `normalised_codes` (the test-time branches) and its own training;
validation and testing encode the query and retrieval sets with `sign_codes` and log
``val/...`` and ``test/...`` through `CrossModalRetrievalMetric`, identically for every method.
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor

from src.metrics.retrieval import CrossModalRetrievalMetric
from src.models.checks import Derived, check_eval_hparams, check_rules
from src.models.collapse import COLLAPSED_SCORE, code_statistics, computed_collapse
from src.models.finite_codes import finite_codes
from src.utils.errors import TrainingError
from src.utils.split_record import SPLITS_KEY
from src.utils.store_digest import STORE_KEY

Batch = tuple[Tensor, Tensor, Tensor, Tensor]

# checkpoint entry naming the LightningModule class (a plain string: weights_only loading works)
MODULE_CLASS_KEY = "module_class"
# checkpoint entry holding the run's resolved settings (src.utils.resume_checks.run_settings)
RUN_SETTINGS_KEY = "run_settings"
# encoder inputs (docs/model.md, "Encoder inputs"); text_norm None follows input_norm
INPUT_NORMS = ("standardize", "none")
TEXT_NORMS = (None, "standardize", "none", "l2", "rms")
# |val mAP - all-ties mAP| at or below this in both directions is a collapsed validation
ALL_TIES_TOLERANCE = 0.005


class HealthSpec(NamedTuple):
    """A trainable module watched by `src.callbacks.health.TrainingHealth`: the module, the
    names of the loss terms that depend on it (as `accumulate_terms` receives them) and of its
    code diagnostics (mean pairwise cosine of its codes in a batch)."""

    module: torch.nn.Module
    terms: tuple[str, ...] = ()
    diagnostics: tuple[str, ...] = ()


def sign_codes(B: Tensor) -> Tensor:
    """Binary codes (n, c) float32 in {-1, +1} of real codes B (n, c): the paper's Eq. (1),
    sign(x) = +1 for x > 0 and -1 for x <= 0 (never 0). Every method binarises with it."""
    return torch.where(B > 0, 1.0, -1.0).float()


class CrossModalHashingModule(L.LightningModule):
    """Base of the hashing methods: checked hyper-parameters, encoder inputs, sign codes,
    collapse detection, retrieval evaluation."""

    method_name: str = ""  # each method's config name (configs/model/<name>.yaml)
    # `check_rules` arguments for the method's own keys (the evaluation keys are always checked)
    RULES: ClassVar[dict[str, Any]] = {}
    DERIVED: ClassVar[tuple[Derived, ...]] = ()  # constants of its floats (models/derived.py)
    STEPS_PER_BATCH: ClassVar[int | None] = None  # optimiser steps a batch (warmup_checks.py)
    # hyper-parameters sizing its networks, checked against memory (src/utils/memory_need.py)
    SIZE_KEYS: ClassVar[tuple[str, ...]] = ("code_length",)

    def __init__(self, hp: dict[str, Any]) -> None:
        """``hp``: the subclass constructor's arguments. Raises `ConfigError` (one line naming
        the key) for an impossible value; saves them as the hyper-parameters."""
        super().__init__()
        hp = {k: v for k, v in hp.items() if k not in ("self", "__class__")}
        check_eval_hparams(hp)
        check_rules(hp, **self.RULES, derived=self.DERIVED)
        hp["eval_ks"] = [int(k) for k in hp["eval_ks"]]  # plain list: no OmegaConf in checkpoints
        self.save_hyperparameters(hp)
        self.automatic_optimization = False
        # Encoder input statistics (train split), saved in the checkpoint.
        for modality, dim in (("image", hp["image_dim"]), ("text", hp["text_dim"])):
            self.register_buffer(f"{modality}_mean", torch.zeros(dim))
            self.register_buffer(f"{modality}_std", torch.ones(dim))
        metric_args = dict(topk=hp["eval_topk"], ks=tuple(hp["eval_ks"]), ties=hp["eval_ties"])
        self.val_metric = CrossModalRetrievalMetric(**metric_args)
        self.test_metric = CrossModalRetrievalMetric(**metric_args)
        self._epoch_codes: list[tuple[Tensor, Tensor]] = []
        self._term_names: tuple[str, ...] = ()
        self._term_sums: Tensor | None = None  # (n_terms,) float32, sum of term * batch size
        self._term_count = 0
        self.run_settings: dict[str, Any] | None = None  # src.utils.resume_checks.run_settings
        self.data_splits: dict[str, Any] | None = None  # src.utils.split_record.split_record
        self.store_digest: str | None = None  # src.utils.store_digest.store_digest

    @classmethod
    def working_elements(cls, hp: dict[str, Any]) -> int:
        """float64 elements a fit holds beyond weights, gradients, optimiser states: none."""
        return 0

    # ----------------------------------------------------------------------------- encoding
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Name the module class, so that eval.py rebuilds the right method, and keep the run's
        settings (``run_settings``, set by src/train.py), which a resume must match
        (`src.utils.resume_checks`)."""
        checkpoint[MODULE_CLASS_KEY] = f"{type(self).__module__}.{type(self).__qualname__}"
        if self.run_settings is not None:
            checkpoint[RUN_SETTINGS_KEY] = self.run_settings
        if self.data_splits is not None:  # the splits trained on (src/utils/split_record.py)
            checkpoint[SPLITS_KEY] = self.data_splits
        if self.store_digest is not None:  # the store's content (src/utils/store_digest.py)
            checkpoint[STORE_KEY] = self.store_digest

    def set_input_stats(self, stats: dict[str, np.ndarray | Tensor]) -> None:
        """Copy the train-split feature means and standard deviations into the buffers."""
        for key in ("image_mean", "image_std", "text_mean", "text_std"):
            value = torch.as_tensor(np.asarray(stats[key]), dtype=torch.float32)
            getattr(self, key).copy_(value)

    def normalise_inputs(self, x_v: Tensor, x_t: Tensor) -> tuple[Tensor, Tensor]:
        """Encoder inputs from raw features x_v (m, Dv), x_t (m, Dt): ``input_norm``
        "standardize" ((x - train mean) / train std) or "none" for both modalities; the text
        by ``text_norm`` when set ("l2": each row divided by its L2 norm; "rms": by its root
        mean square ||x|| / sqrt(Dt), so rows have norm sqrt(Dt) like standardised ones)."""
        image_mode = self.hparams.get("input_norm", "standardize")
        text_mode = self.hparams.get("text_norm") or image_mode
        if image_mode == "standardize":
            x_v = (x_v - self.image_mean) / self.image_std
        if text_mode == "standardize":
            x_t = (x_t - self.text_mean) / self.text_std
        elif text_mode in ("l2", "rms"):
            x_t = F.normalize(x_t, dim=1)  # (m, Dt), unit rows
            x_t = x_t * x_t.shape[1] ** 0.5 if text_mode == "rms" else x_t
        return x_v, x_t

    def continuous_codes(self, x_v: Tensor, x_t: Tensor) -> tuple[Tensor, Tensor]:
        """Real-valued codes (m, c) of raw features: `normalised_codes` of `normalise_inputs`."""
        return self.normalised_codes(*self.normalise_inputs(x_v, x_t))

    def normalised_codes(self, x_v: Tensor, x_t: Tensor) -> tuple[Tensor, Tensor]:
        """Real-valued codes (m, c) of encoder inputs (`normalise_inputs`); each method's."""
        raise NotImplementedError

    def forward(self, x_v: Tensor, x_t: Tensor) -> tuple[Tensor, Tensor]:
        """Continuous codes (m, c) of the image and the text (`continuous_codes`)."""
        return self.continuous_codes(x_v, x_t)

    @torch.no_grad()
    def encode(self, x_v: Tensor, x_t: Tensor) -> tuple[Tensor, Tensor]:
        """Hash codes of raw features: sign of `continuous_codes`, each (m, c) in {-1, +1};
        `NonFiniteCodes` when the normalised inputs, an activation or the real codes are not all
        finite (`src.models.finite_codes`)."""
        B_v, B_t = finite_codes(self, *self.normalise_inputs(x_v, x_t))
        return sign_codes(B_v), sign_codes(B_t)

    # ----------------------------------------------------------------------------- training
    def check_finite(self, terms: dict[str, Tensor], phase: str = "") -> None:
        """Raise a one-line `TrainingError` when the total ``terms["L"]`` is not finite, naming
        the phase (if any), epoch, global step and the non-finite terms. The checkpoint callback
        (`EpochEndCheckpoint.on_exception`, else src/train.py) adds the last good checkpoint
        once it has written its pending best file (`src.utils.last_good.last_good_words`)."""
        if torch.isfinite(terms["L"]):
            return
        bad = [k for k, v in terms.items() if k != "L" and not torch.isfinite(v)] or ["L"]
        where = f" in phase {phase}" if phase else ""
        raise TrainingError(
            f"non-finite loss{where} at epoch {self.current_epoch}, global step "
            f"{self.global_step}: term {', '.join(bad)}; training stopped"
        )

    # ---------------------------------------------------------------------- collapse check
    def record_codes(self, B_v: Tensor, B_t: Tensor) -> None:
        """Keep the sign codes of a training batch for the end-of-epoch collapse check."""
        self._epoch_codes.append((sign_codes(B_v.detach()), sign_codes(B_t.detach())))

    def on_train_epoch_start(self) -> None:
        self._epoch_codes = []
        self._term_names, self._term_sums, self._term_count = (), None, 0

    def accumulate_terms(self, terms: dict[str, Tensor], batch_size: int) -> None:
        """Add a batch's loss terms (0-dim tensors) times its size to the epoch sums (detached,
        on the terms' device, no synchronisation). `on_train_epoch_end` logs each as
        ``train/<name>``: the batch-size-weighted epoch mean that
        ``self.log(..., on_epoch=True, batch_size=m)`` gives, without Lightning's cost per call
        (one result-collection update per term and batch)."""
        values = torch.stack([v.detach().float() for v in terms.values()]) * batch_size  # (n,)
        if self._term_sums is None:
            self._term_names, self._term_sums = tuple(terms), values
        else:
            if tuple(terms) != self._term_names:
                raise ValueError(f"loss terms {tuple(terms)} != {self._term_names}")
            self._term_sums = self._term_sums + values
        self._term_count += batch_size

    def term_means(self) -> dict[str, float]:
        """This epoch's batch-size-weighted means of the accumulated terms so far (empty
        before the first batch). Callbacks read them in on_train_epoch_end, before this
        module's hook logs and clears them."""
        if self._term_sums is None or self._term_count == 0:
            return {}
        means = (self._term_sums / self._term_count).tolist()
        return dict(zip(self._term_names, means))

    def health_modules(self) -> dict[str, HealthSpec]:
        """The trainable modules that `TrainingHealth` watches, by name. Default: every child
        module with trainable parameters, without loss terms; methods name their own."""
        return {
            name: HealthSpec(child)
            for name, child in self.named_children()
            if any(p.requires_grad for p in child.parameters())
        }

    def _log_term_means(self) -> None:
        if self._term_sums is None or self._term_count == 0:
            return
        means = self._term_sums / self._term_count  # (n_terms,)
        for name, value in zip(self._term_names, means):
            self.log(f"train/{name}", value)
        self._term_names, self._term_sums, self._term_count = (), None, 0

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
        """The epoch means of the accumulated loss terms (`accumulate_terms`); per-epoch bit
        balance and distinct-code fraction of the training codes; warns (or stops, with
        ``stop_on_collapse``) when the codes collapse."""
        self._log_term_means()
        if not self._epoch_codes:
            return
        for i, name in enumerate(("image", "text")):
            codes = torch.cat([c[i] for c in self._epoch_codes])  # (n_train, c)
            distinct, balance = code_statistics(codes)
            self.log(f"train/distinct_codes_{name}", distinct)
            self.log(f"train/bit_balance_{name}", balance)
            if distinct < self.hparams.collapse_threshold:
                self._report_collapse(name, codes.shape[0], distinct, balance)
        self._epoch_codes = []

    def _report_collapse(self, name: str, n: int, distinct: float, balance: float) -> None:
        message = (
            f"code collapse at epoch {self.current_epoch}: {name} codes take "
            f"{round(distinct * n)} distinct values for {n} training items (fraction "
            f"{distinct:.4f} < collapse_threshold {self.hparams.collapse_threshold}), bit "
            f"balance {balance:.3f}; lower the loss weights or the learning rates"
        )
        if self.hparams.stop_on_collapse:
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

    def _log_results(self, results: dict[str, Tensor | float], prefix: str) -> None:
        for name, value in results.items():
            self.log(f"{prefix}/{name}", float(value), add_dataloader_idx=False)

    def on_validation_epoch_end(self) -> None:
        """``val/...`` metrics, ``val/collapsed`` (0 or 1) and ``val/objective``: the mean
        mAP@k of both directions, or COLLAPSED_SCORE (-1) when the validation codes collapsed
        (`src.models.collapse.validation_collapse`), so a search never picks a collapse."""
        results, report = computed_collapse(self.val_metric, self.hparams, ALL_TIES_TOLERANCE)
        if report.collapsed:
            rank_zero_warn(
                f"validation codes collapsed at epoch {self.current_epoch}: {report.reason}"
            )
        k = self.hparams.eval_topk
        objective = COLLAPSED_SCORE if report.collapsed else float(results[f"map@{k}"])
        self._log_results(
            results | {"collapsed": float(report.collapsed), "objective": objective}, "val"
        )

    def on_test_epoch_end(self) -> None:
        """``test/...`` metrics, ``test/collapsed`` (0 or 1) and each modality's fraction of
        distinct retrieval codes (``test/distinct_image``, ``test/distinct_text``): the
        validation's collapse check on the test codes, with one warning line (ninth trial:
        a zeroed hash layer's one code evaluated as "completed" without a word)."""
        results, report = computed_collapse(self.test_metric, self.hparams, ALL_TIES_TOLERANCE)
        if report.collapsed:
            rank_zero_warn(f"test codes collapsed: {report.reason}")
        extra = {f"distinct_{name}": value for name, value in report.distinct.items()}
        self._log_results(results | {"collapsed": float(report.collapsed), **extra}, "test")
