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

Cadence: with ``last_every_n_epochs`` = N, ``last.ckpt`` is written at the end of every N-th
epoch and of the last one (``max_epochs`` reached or the trainer told to stop), and a new
best checkpoint found in between is held in memory (its weights, as a weights-only file would
hold them) and written at the next of those epochs, so that the disk sees at most one best
file and one ``last.ckpt`` per N epochs. A 150-epoch run at the configured N = 30 writes at
most 5 x (last + best) files: docs/benchmarks.md gives the measured sizes.
"""

from __future__ import annotations

import os
from typing import Any
from pathlib import Path

import torch
from lightning import LightningModule, Trainer
from lightning.fabric.utilities.apply_func import apply_to_collection
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import Tensor

from src.callbacks.checkpoint_io import use_atomic_checkpoint_io
from src.utils.checkpoint_content import DIGEST_KEY, digest_problem, with_digest
from src.utils.checkpoints import check_archive
from src.utils.last_good import add_last_good
from src.utils.errors import DataError
from src.utils.io import atomic_path

# what a weights-only Lightning checkpoint leaves out (Trainer.save_checkpoint(weights_only=True))
TRAINING_STATE = ("optimizer_states", "lr_schedulers", "callbacks", "native_amp_scaling_state")


def drop_training_state(path: str | os.PathLike) -> bool:
    """Rewrite the checkpoint at `path` without its optimiser, scheduler and callback state
    (atomically: a temporary file beside it, then a rename), with the digest of what it keeps.
    The file is verified first (its archive checksums and digest: a damaged or edited file is
    not given a new digest; DataError). Returns False when it had none."""
    path = Path(path)
    check_archive(path)
    lazy = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    problem = digest_problem(lazy, records=[DIGEST_KEY])  # re-digested: kept as it is
    if problem is not None:
        raise DataError(path, *problem)
    if not any(key in lazy for key in TRAINING_STATE):
        return False
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    for key in TRAINING_STATE:
        checkpoint.pop(key, None)
    with atomic_path(path, key="checkpoint") as tmp, open(tmp, "wb") as file:
        torch.save(with_digest(checkpoint), file)
    return True


class EpochEndCheckpoint(ModelCheckpoint):
    """Best-by-monitor checkpoints as ModelCheckpoint, plus ``last.ckpt`` at every epoch end
    (after validation, or at the end of the training epoch when no validation ran), linked to
    the best file when both hold the same step.

    `best_weights_only`: drop the optimiser state from a best checkpoint once ``last.ckpt`` is
    a later epoch (False keeps it, e.g. to resume from the best epoch). `last_every_n_epochs`:
    write ``last.ckpt`` (and a best file found since the previous write) every N epochs and at
    the last epoch only (module docstring; 1: every epoch). Other arguments are
    ModelCheckpoint's; ``save_last`` must be a bool (the linking is this class's). ValueError
    for N < 1.
    """

    def __init__(
        self,
        *args: object,
        best_weights_only: bool = True,
        last_every_n_epochs: int = 1,
        **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)
        if self.save_last == "link":
            self.save_last = True  # Lightning's "link" would point at a stale best file
        if int(last_every_n_epochs) != last_every_n_epochs or last_every_n_epochs < 1:
            raise ValueError(
                f"last_every_n_epochs: expected an integer >= 1, got {last_every_n_epochs!r}"
            )
        self.best_weights_only = best_weights_only
        self.last_every_n_epochs = int(last_every_n_epochs)
        self._pending: tuple[str, dict] | None = None  # a best checkpoint not yet on disk
        self._stale: list[str] = []  # best files to remove once the pending one is written
        self._last_step = -1  # the global step that last.ckpt holds

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Lightning's restore, except that a state written in another folder (a copied or
        moved run) restores no best path either: Lightning keeps it alone, and the run would
        test another folder's file as its best and rewrite it weights-only (eighth trial)."""
        super().load_state_dict(state_dict)
        if state_dict.get("dirpath", self.dirpath) != self.dirpath:
            self.best_model_path = ""

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Every checkpoint of the run is written atomically beside its target (rank zero
        writes): a full disk or a kill during a save never leaves a truncated checkpoint nor
        Lightning's temporary file in /tmp; the previous one stays (`AtomicCheckpointIO`)."""
        super().setup(trainer, pl_module, stage)
        use_atomic_checkpoint_io(trainer)

    def _write_epoch(self, trainer: Trainer) -> bool:
        """Whether this epoch's end writes checkpoints: every N-th epoch and the last one."""
        epoch, last = trainer.current_epoch + 1, trainer.max_epochs
        finishing = trainer.should_stop or (last is not None and last > 0 and epoch >= last)
        return finishing or epoch % self.last_every_n_epochs == 0

    def _save_checkpoint(self, trainer: Trainer, filepath: str) -> None:
        """A best file outside the writing epochs is kept in memory (weights only) until the
        next writing epoch; everything else is written now (ModelCheckpoint's)."""
        is_last = Path(filepath).stem == self.CHECKPOINT_NAME_LAST
        if is_last or self._write_epoch(trainer) or not self.best_weights_only:
            self._pending = None  # a newer state is being written
            return super()._save_checkpoint(trainer, filepath)
        checkpoint = trainer._checkpoint_connector.dump_checkpoint(weights_only=True)
        clone = apply_to_collection(checkpoint, Tensor, lambda t: t.detach().clone())
        self._pending = (filepath, clone)  # the live weights change in the next step

    def _remove_checkpoint(self, trainer: Trainer, filepath: str) -> None:
        """Remove ``filepath`` now, or once it is safe: while a newer best is pending, or
        while last.ckpt links to it (the resume point: a resumed run removed the best file
        last.ckpt linked to and then refused to write onto the dangling link)."""
        pending = self._pending is not None and filepath != self._pending[0]
        if pending or self._is_last_target(filepath):
            self._stale.append(filepath)
        else:
            super()._remove_checkpoint(trainer, filepath)

    def _is_last_target(self, filepath: str) -> bool:
        """Whether last.ckpt is a link to ``filepath``."""
        last = self.last_model_path or os.path.join(
            self.dirpath or "", self.CHECKPOINT_NAME_LAST + self.FILE_EXTENSION
        )
        if not os.path.islink(last):
            return False
        return os.path.realpath(last) == os.path.realpath(filepath)

    def _write_pending(self, trainer: Trainer) -> None:
        """Write the pending best file, if it is still the best."""
        if self._pending is not None and self._pending[0] == self.best_model_path:
            trainer.strategy.save_checkpoint(self._pending[1], self._pending[0])
        self._pending = None

    def _remove_stale(self, trainer: Trainer) -> None:
        """Remove the stale best files, except the best and one last.ckpt links to (kept
        stale until last.ckpt points elsewhere)."""
        stale, self._stale = self._stale, []
        for path in dict.fromkeys(stale):
            if self._is_last_target(path):
                self._stale.append(path)
            elif path != self.best_model_path:
                super()._remove_checkpoint(trainer, path)

    def _flush(self, trainer: Trainer) -> None:
        """Write the pending best file (if it is still the best), then remove stale ones."""
        self._write_pending(trainer)
        self._remove_stale(trainer)

    def on_exception(
        self, trainer: Trainer, pl_module: LightningModule, exc: BaseException
    ) -> None:
        self._flush(trainer)  # the best state seen so far, also when the run fails
        super().on_exception(trainer, pl_module, exc)
        # the error line names the last good checkpoint as the disk now holds it
        add_last_good(exc, self.dirpath, getattr(trainer, "ckpt_path", None))

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """The pending best file, and last.ckpt if the run ended outside a writing epoch (e.g.
        at ``max_steps``)."""
        self._flush(trainer)
        if self.save_last and self._last_step != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer), force=True)

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

    def _save_last_checkpoint(
        self, trainer: Trainer, monitor_candidates: dict[str, Tensor], force: bool = False
    ) -> None:
        """last.ckpt at a writing epoch (or when forced), after the pending best file: a link
        to this step's top-k file, else a file of its own."""
        if not self.save_last or not (force or self._write_epoch(trainer)):
            return
        self._write_pending(trainer)
        self._last_step = trainer.global_step
        filepath = self.format_checkpoint_name(monitor_candidates, self.CHECKPOINT_NAME_LAST)
        previous, self.last_model_path = self.last_model_path, filepath
        saved = self._last_checkpoint_saved
        if self._last_global_step_saved == trainer.global_step and saved not in ("", filepath):
            self._link_checkpoint(trainer, saved, filepath)  # one copy of this step's state
        else:  # the writer renames its finished file onto the link, never through it
            self._save_checkpoint(trainer, filepath)
            self._slim_best(trainer)
        if previous and previous != filepath:
            if self._should_remove_checkpoint(trainer, previous, filepath):
                self._remove_checkpoint(trainer, previous)
        self._remove_stale(trainer)  # after last.ckpt stopped linking to an old best file

    def _slim_best(self, trainer: Trainer) -> None:
        """Drop the training state of the best file now that last.ckpt holds a later step."""
        best = self.best_model_path
        if self.best_weights_only and best and best != self.last_model_path:
            if trainer.is_global_zero and os.path.isfile(best) and not os.path.islink(best):
                drop_training_state(best)
            trainer.strategy.barrier()
