"""ModelCheckpoint whose ``last.ckpt`` holds the state at the end of every epoch.

Lightning 2.6 writes ``last.ckpt`` only in a step where a top-k checkpoint was also written
("save_last: saves a last.ckpt copy whenever a checkpoint file gets saved"). With a monitored
metric, ``last.ckpt`` then stays at the best epoch: resuming from it silently repeats epochs,
evaluating it evaluates the best epoch, and after a non-finite loss it is not the last good
state. This subclass also writes ``last.ckpt`` when no top-k file was written.
"""

from __future__ import annotations

from lightning import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint


class EpochEndCheckpoint(ModelCheckpoint):
    """Best-by-monitor checkpoints as ModelCheckpoint, plus ``last.ckpt`` at every epoch end
    (after validation, or at the end of the training epoch when no validation ran)."""

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
