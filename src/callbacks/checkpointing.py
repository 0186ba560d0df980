"""ModelCheckpoint whose ``last.ckpt`` holds the state at the end of every epoch, stored once.

Lightning 2.6 writes ``last.ckpt`` only in a step where a top-k checkpoint was also written
("save_last: saves a last.ckpt copy whenever a checkpoint file gets saved"). With a monitored
metric, ``last.ckpt`` then stays at the best epoch: resuming from it silently repeats epochs,
evaluating it evaluates the best epoch, and after a non-finite loss it is not the last good
state. This subclass also writes ``last.ckpt`` when no top-k file was written.

Disk: when the epoch's best checkpoint is also the last state, ``last.ckpt`` is a symbolic link
to it (a copy where the file system has no links), not a second file of the same bytes. The
optimiser state, which only resuming needs, stays in ``last.ckpt``; a best checkpoint that is
no longer the last keeps the weights only (``best_weights_only``, the default).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from lightning import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import Tensor

from src.utils.io import atomic_path

# what a weights-only Lightning checkpoint leaves out (Trainer.save_checkpoint(weights_only=True))
TRAINING_STATE = ("optimizer_states", "lr_schedulers", "callbacks", "native_amp_scaling_state")


def drop_training_state(path: str | os.PathLike) -> bool:
    """Rewrite the checkpoint at `path` without its optimiser, scheduler and callback state
    (atomically: a temporary file beside it, then a rename). Returns False when it had none."""
    path = Path(path)
    lazy = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    if not any(key in lazy for key in TRAINING_STATE):
        return False
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    for key in TRAINING_STATE:
        checkpoint.pop(key, None)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(checkpoint, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return True


class EpochEndCheckpoint(ModelCheckpoint):
    """Best-by-monitor checkpoints as ModelCheckpoint, plus ``last.ckpt`` at every epoch end
    (after validation, or at the end of the training epoch when no validation ran), linked to
    the best file when both hold the same step.

    `best_weights_only`: drop the optimiser state from a best checkpoint once ``last.ckpt`` is
    a later epoch (False keeps it, e.g. to resume from the best epoch). Other arguments are
    ModelCheckpoint's; ``save_last`` must be a bool (the linking is this class's).
    """

    def __init__(self, *args: object, best_weights_only: bool = True, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        if self.save_last == "link":
            self.save_last = True  # Lightning's "link" would point at a stale best file
        self.best_weights_only = best_weights_only

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        # when the parent saves at the training epoch end (which follows the epoch's
        # validation), saving here first would make it skip that epoch's top-k check
        if not self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_missing(trainer)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        self._save_last_if_missing(trainer)

    def _save_last_if_missing(self, trainer: Trainer) -> None:
        # the parent's skip test includes "this step is already on disk" (a top-k save at this
        # step wrote last.ckpt beside it)
        if not self.save_last or self._should_skip_saving_checkpoint(trainer):
            return
        self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def _save_checkpoint(self, trainer: Trainer, filepath: str) -> None:
        """Lightning's save, written atomically on rank zero (`src.utils.io.atomic_path`: a
        temporary file beside the target, renamed onto it when complete), so that a full disk
        or a kill during a save never leaves a truncated checkpoint; the previous one stays."""
        if not trainer.is_global_zero:  # writes nothing, but takes part in the barrier
            return super()._save_checkpoint(trainer, filepath)
        with atomic_path(filepath, key="checkpoint", parents=True) as tmp:
            super()._save_checkpoint(trainer, str(tmp))
        self._last_checkpoint_saved = filepath  # the parent recorded the temporary name

    def _save_last_checkpoint(
        self, trainer: Trainer, monitor_candidates: dict[str, Tensor]
    ) -> None:
        """last.ckpt: a link to this step's top-k file, else a file of its own."""
        if not self.save_last:
            return
        filepath = self.format_checkpoint_name(monitor_candidates, self.CHECKPOINT_NAME_LAST)
        previous, self.last_model_path = self.last_model_path, filepath
        saved = self._last_checkpoint_saved
        if self._last_global_step_saved == trainer.global_step and saved not in ("", filepath):
            self._link_checkpoint(trainer, saved, filepath)  # one copy of this step's state
        else:
            if trainer.is_global_zero and os.path.islink(filepath):
                os.remove(filepath)  # writing through the link would overwrite the best file
            self._save_checkpoint(trainer, filepath)
            self._slim_best(trainer)
        if previous and previous != filepath:
            if self._should_remove_checkpoint(trainer, previous, filepath):
                self._remove_checkpoint(trainer, previous)

    def _slim_best(self, trainer: Trainer) -> None:
        """Drop the training state of the best file now that last.ckpt holds a later step."""
        best = self.best_model_path
        if self.best_weights_only and best and best != self.last_model_path:
            if trainer.is_global_zero and os.path.isfile(best) and not os.path.islink(best):
                drop_training_state(best)
            trainer.strategy.barrier()
