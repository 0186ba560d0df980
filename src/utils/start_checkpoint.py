"""The checkpoint a run of train.py starts from (``ckpt_path``), checked at the door before
any data is read or generated: a damaged or finished file, a weights-only file given to
resume, a resume under other data or trainer settings, missing or inconsistent resume state
(src/utils/resume_state.py). Split from src/train.py; raises ConfigError or DataError."""

from __future__ import annotations

from omegaconf import DictConfig

from src.utils.checkpoints import check_resumable, read_checkpoint
from src.utils.commands import eval_command, train_command
from src.utils.resume_checks import check_same_run_settings
from src.utils.trained_data import check_trained_data
from src.utils.resume_state import check_batches, check_checkpoint_paths, check_resume_pieces


def check_start_checkpoint(cfg: DictConfig) -> None:
    """A bad or finished checkpoint, or a resume with other data or trainer settings, is
    refused before any data is read or generated (ConfigError, DataError)."""
    if cfg.get("ckpt_path"):
        checkpoint, path, train = read_checkpoint(cfg.ckpt_path), cfg.ckpt_path, cfg.get("train")
        if train:  # every piece a resume restores (a weights-only file named as one), and
            check_resume_pieces(path, checkpoint)  # epochs its batches can make, before the
            check_batches(path, checkpoint)  # "finished" check believes them
        check_trained_data(cfg, checkpoint, path)  # synthetic against real data, said so
        check_same_run_settings(cfg, checkpoint, path)
        if train:
            check_resumable(path, cfg.trainer.get("max_epochs"), lambda n: finished_advice(cfg, n))
            check_checkpoint_paths(path, checkpoint)


def finished_advice(cfg: DictConfig, done: int) -> str:
    """What to run instead of resuming a checkpoint that finished its epochs: the commands
    that train on (one epoch more; any number above ``done``) or test it."""
    extend = train_command(cfg.ckpt_path, trainer__max_epochs=done + 1)
    return f"train on with: {extend} (any trainer.max_epochs above {done}); or test it with: " + (
        eval_command(cfg, cfg.ckpt_path)
    )
