"""The last good checkpoint of a run, true to the disk: which checkpoints of a folder are whole
and finite (`good_checkpoints`), and what an error line says of the latest one
(`last_good_words`), so that a run stopped by a fault names the file it can resume from."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from src.utils.checkpoints import epochs_done, read_checkpoint
from src.utils.errors import DataError

if TYPE_CHECKING:
    from omegaconf import DictConfig


@dataclass(frozen=True)
class GoodCheckpoint:
    """A checkpoint on disk that `read_checkpoint` accepts (whole and finite)."""

    path: Path
    step: int  # the trainer's global step it holds
    epochs: int  # training epochs finished (`epochs_done`)
    resumable: bool  # holds the optimiser state (a best file slimmed to weights does not)


def good_checkpoints(folder: str | os.PathLike | None, *also: object) -> list[GoodCheckpoint]:
    """The checkpoints among ``folder/*.ckpt`` and the paths ``also`` (e.g. the one a run
    resumed from; None and "" are skipped) that pass `read_checkpoint`, the latest training
    state first (by global step; a ``last.ckpt`` before a file of the same step). A damaged,
    truncated or non-finite file is left out: it is no good checkpoint."""
    paths = sorted(Path(folder).glob("*.ckpt")) if folder and Path(folder).is_dir() else []
    paths += [Path(str(p)) for p in also if p]
    good: dict[str, GoodCheckpoint] = {}
    for path in paths:
        try:
            checkpoint = read_checkpoint(path)
        except (DataError, OSError):
            continue
        found = GoodCheckpoint(
            path,
            int(checkpoint.get("global_step", -1)),
            epochs_done(checkpoint),
            "optimizer_states" in checkpoint,
        )
        good.setdefault(os.path.realpath(path), found)
        if path.name == "last.ckpt":  # the name a resume command gives
            good[os.path.realpath(path)] = found
    return sorted(good.values(), key=lambda g: (g.step, g.path.name == "last.ckpt"), reverse=True)


def last_good_words(
    folder: str | os.PathLike | None, *also: object, cfg: DictConfig | None = None
) -> str:
    """What an error line says of the run's last good checkpoint, true to the disk: the latest
    `good_checkpoints` entry (``last good checkpoint: <path>``; a weights-only one says so and
    names the latest resumable one, if any), else that no checkpoint was written or that none
    on disk is intact. A weights-only one comes with the whole command that tests it
    (`eval_command` of ``cfg``, else of the command line: trial 8 S10 said "ckpt_path=...")."""
    from omegaconf import OmegaConf

    from src.utils.commands import eval_command

    good = good_checkpoints(folder, *also)
    if not good:
        any_file = (
            folder is not None and Path(folder).is_dir() and any(Path(folder).glob("*.ckpt"))
        )
        if any_file:
            return "no intact checkpoint on disk (each fails its check); nothing to resume from"
        return "no checkpoint was written yet"
    latest = good[0]
    if latest.resumable:
        return f"last good checkpoint: {latest.path}"
    resumable = next((g for g in good if g.resumable), None)
    then = (
        f"resume from {resumable.path} (after epoch {resumable.epochs})"
        if resumable
        else "no resumable checkpoint"
    )
    return (
        f"last good checkpoint: {latest.path} (weights only, after epoch {latest.epochs}: "
        f"test it with: {eval_command(cfg or OmegaConf.create({}), latest.path)}; {then})"
    )


# how `last_good_words` begins, in each of its cases
LAST_GOOD_WORDS = (
    "last good checkpoint: ",
    "no checkpoint was written yet",
    "no intact checkpoint",
)


def names_last_good(exc: BaseException) -> bool:
    """Whether the message of ``exc`` already names the last good checkpoint."""
    return any(words in str(exc) for words in LAST_GOOD_WORDS)


def add_last_good(exc: BaseException, folder: str | os.PathLike | None, *also: object) -> None:
    """Append `last_good_words` to the message of a project error ``exc`` (in place) that
    does not name the last good checkpoint yet; other exceptions are left alone."""
    from src.utils.errors import AGCHError

    if isinstance(exc, AGCHError) and not names_last_good(exc):
        exc.args = (f"{exc}; {last_good_words(folder, *also)}",)
