"""Lightning's checkpoint writer, with the project's atomic write instead of Lightning's.

Lightning 2.6's ``TorchCheckpointIO`` serialises a checkpoint into memory, then writes it
through an fsspec transaction: a temporary file made by ``tempfile.mkstemp()`` in the system
temp folder (``$TMPDIR``, /tmp), moved onto the target when complete. kill -9 during the write
leaves that file in /tmp for ever (nothing names it as the run's), and where /tmp is another
file system the move is a copy, so a kill during it also leaves a partial checkpoint under the
final name. `AtomicCheckpointIO` writes beside the target instead (`src.utils.io.atomic_path`:
a temporary name that holds the writer's process id, so the next save removes a dead writer's
leftover; fsync; rename), and a full disk is one error line naming the checkpoint.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch import Trainer

from src.utils.checkpoint_content import with_digest
from src.utils.io import atomic_path


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose ``save_checkpoint`` writes atomically beside the target.

    The checkpoint is written with ``torch.save`` into a Python file object, so that a failed
    write (ENOSPC, EDQUOT, EFBIG) reaches Python as an OSError with its errno, which
    `atomic_path` turns into a `DataError` naming the checkpoint (torch's own file writer
    reports only "file write failed"), with the project's content digest
    (`src.utils.checkpoint_content.with_digest`) that every load verifies. Loading is
    Lightning's.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None
    ) -> None:
        """Write ``checkpoint`` to ``path`` (its folder made if missing); the previous file
        stays whole until the new one is complete. TypeError for ``storage_options`` (as
        Lightning's). Raises DataError for a full disk or an unusable path."""
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} does not take storage_options")
        with atomic_path(path, key="checkpoint", parents=True) as tmp, open(tmp, "wb") as file:
            torch.save(with_digest(checkpoint), file)


def use_atomic_checkpoint_io(trainer: Trainer) -> None:
    """Give the trainer's strategy an `AtomicCheckpointIO` in place of Lightning's default
    ``TorchCheckpointIO`` (a writer of another kind, e.g. asynchronous, is left alone)."""
    strategy = trainer.strategy
    if type(strategy.checkpoint_io) is TorchCheckpointIO:
        strategy.checkpoint_io = AtomicCheckpointIO()
