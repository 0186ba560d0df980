"""Did training cover the configured schedule? A run whose training the trainer cut short
(a debugging run, a per-epoch batch limit, overfitting a few batches, max_steps or max_time
before max_epochs, an interrupt) describes another model than its configuration: it is
recorded "incomplete" (src/utils/records.py), never tabled, whatever its metrics.

The evaluation side of the same question, `partial_coverage`: did each evaluation loop see
every batch of its query and retrieval sets?
"""

from __future__ import annotations

import math
from typing import Any

from lightning.pytorch.callbacks import EarlyStopping
from omegaconf import DictConfig

from src.utils.run_checks import effective_limits, limited, n_batches, world_size


def _stopped_early(trainer: Any) -> bool:
    """True when an EarlyStopping callback ended the fit (a schedule the user chose)."""
    return any(
        isinstance(callback, EarlyStopping) and callback.stopped_epoch > 0
        for callback in getattr(trainer, "callbacks", [])
    )


def _batches_per_epoch(trainer: Any) -> tuple[int, int] | None:
    """(batches a training epoch ran, batches the train loader holds), or None when the
    loader has no length (nothing to compare). Raises RuntimeError when the trainer holds no
    train loader (``trainer.test`` drops it: call this after ``fit``, before any test)."""
    loader = trainer.train_dataloader
    if loader is None:
        raise RuntimeError(
            "partial_training: the trainer holds no train loader (call it after fit)"
        )
    try:
        full = len(loader)
    except TypeError:
        return None
    return int(trainer.num_training_batches), int(full)


def _cut_by(cfg: DictConfig, trainer: Any) -> str:
    """The keys that can end a fit before max_epochs, as set in this run."""
    keys = [
        f"trainer.{key}={cfg.trainer.get(key)}"
        for key in ("max_steps", "max_time")
        if cfg.trainer.get(key) not in (None, -1)
    ]
    if getattr(trainer, "interrupted", False):
        keys.append("an interrupt")
    return ", ".join(keys) or "the trainer"


def partial_training(cfg: DictConfig, trainer: Any) -> str | None:
    """Why the fit that ``trainer`` (a lightning ``Trainer``, after ``fit``) ran covered less
    than ``cfg.trainer``'s schedule, or None when it covered it all.

    Incomplete: ``fast_dev_run`` (a debugging run), ``overfit_batches`` > 0 (the same few
    batches every epoch, validated on training data), an epoch that ran fewer batches than
    the train loader holds (``limit_train_batches``), and fewer training batches in all
    (``fit_loop``'s completed batches, restored on resume) than ``max_epochs`` epochs hold,
    unless an EarlyStopping callback ended the fit. ``max_epochs`` null or -1 (the schedule
    is max_steps/max_time) is not compared. Returns one sentence naming the key. Call it
    right after ``fit``: a ``test`` drops the trainer's train loader (RuntimeError then)."""
    limits = effective_limits(cfg.trainer)
    fast = cfg.trainer.get("fast_dev_run")
    if fast:
        return f"trainer.fast_dev_run={fast}: a debugging run of a few batches, not the schedule"
    overfit = cfg.trainer.get("overfit_batches") or 0
    if overfit:
        return (
            f"trainer.overfit_batches={overfit}: every epoch trained on the same batches "
            "(and validated on them), not on the train set"
        )
    per_epoch = _batches_per_epoch(trainer)
    if per_epoch is None:
        return None
    ran, full = per_epoch
    if ran < full:
        limit, key = limits["train"]
        return f"{key}={limit}: each training epoch ran {ran} of the {full} training batches"
    max_epochs = cfg.trainer.get("max_epochs")
    done = int(trainer.fit_loop.epoch_loop.batch_progress.total.completed)
    if max_epochs in (None, -1) or _stopped_early(trainer) or done >= ran * max_epochs:
        return None
    return (
        f"training stopped after {done} of the {ran * max_epochs} training batches of "
        f"trainer.max_epochs={max_epochs} epochs (cut by {_cut_by(cfg, trainer)})"
    )


COVERED_SPLITS = {"test": ("query", "retrieval"), "val": ("val_query", "val_retrieval")}


def partial_coverage(
    cfg: DictConfig, sizes: dict[str, int], eval_batch_size: int, stages: list[str]
) -> str | None:
    """Why a run's ``stages`` ("test", "val") covered only part of their query or retrieval
    set under the trainer's batch limits (`effective_limits`: e.g. ``limit_test_batches=0.5``,
    ``debug=limit``), or None when each loop saw every batch. Such metrics are computed over
    a subset, not the protocol's sets: the run is recorded "incomplete", never tabled.
    `sizes`: items per split (`AGCHDataModule.split_sizes`); each process evaluates every
    ``world_size``-th row, so rank 0 holds ``ceil(n / world_size)`` of them."""
    limits, processes = effective_limits(cfg.trainer), world_size(cfg.trainer)
    for stage in stages:
        limit, key = limits[stage]
        for split in COVERED_SPLITS[stage]:
            full = n_batches(math.ceil(sizes[split] / processes), eval_batch_size, False)
            ran = limited(full, limit)
            if 0 < ran < full:
                return (
                    f"{key}={limit}: the {stage} loop covered {ran} of {full} batches of the "
                    f"{split} set; its metrics are not over the protocol's sets"
                )
    return None
