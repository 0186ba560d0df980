"""Reading a checkpoint given on the command line: one error line naming the file when it is
not a checkpoint of this project, and how far its training went."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from src.utils.errors import ConfigError, DataError

EXPECTED = "expected a checkpoint written by src/train.py"


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint at `path` (loaded with ``weights_only=True``, memory-mapped, on the CPU).

    Raises DataError naming the file when it is missing, unreadable (random bytes, truncated,
    not a torch file) or a torch file that is not a Lightning checkpoint with hyper-parameters
    and weights (``state_dict``).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, "checkpoint not found (ckpt_path=...)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # torch raises many types for a file that is not its own
        reason = " ".join(str(exc).split())[:160]
        raise DataError(path, None, f"{EXPECTED}; cannot read it ({reason})") from exc
    if not isinstance(checkpoint, dict):
        raise DataError(path, None, f"{EXPECTED}; it holds a {type(checkpoint).__name__}")
    for key in ("state_dict", "hyper_parameters"):
        if not isinstance(checkpoint.get(key), dict):
            raise DataError(path, key, f"{EXPECTED}; this key is missing")
    return checkpoint


def epochs_done(checkpoint: dict[str, Any]) -> int:
    """Number of training epochs finished when the checkpoint was written (the loop's count
    of completed epochs; a checkpoint written at an epoch end counts that epoch)."""
    progress = checkpoint.get("loops", {}).get("fit_loop", {}).get("epoch_progress", {})
    processed = progress.get("total", {}).get("processed")
    return int(processed) if processed is not None else int(checkpoint.get("epoch", -1)) + 1


def check_resumable(path: str | os.PathLike, max_epochs: int | None) -> None:
    """Refuse to resume from a checkpoint whose run already trained ``max_epochs`` epochs: fit
    would do nothing, and the test would run on a finished model (ConfigError)."""
    done = epochs_done(read_checkpoint(path))
    if max_epochs is not None and max_epochs >= 0 and done >= max_epochs:
        raise ConfigError(
            f"ckpt_path: {path}: its run finished {done} of trainer.max_epochs={max_epochs} "
            "epochs, nothing left to train; raise trainer.max_epochs to train on, or test it "
            "with python src/eval.py ckpt_path=..."
        )
