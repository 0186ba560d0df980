"""Send the run's hyper-parameters (plain values only) to every logger."""

from typing import Any

from lightning import LightningModule, Trainer
from omegaconf import DictConfig, ListConfig, OmegaConf

from src.utils.pylogger import RankedLogger

log = RankedLogger(__name__, rank_zero_only=True)


def _plain(cfg: DictConfig, key: str) -> Any:
    """A config subtree as plain python containers, interpolations resolved (never a
    DictConfig or ListConfig: experiment tags interpolate the code length)."""
    value = cfg.get(key)
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    return value


def log_hyperparameters(
    cfg: DictConfig, model: LightningModule, trainer: Trainer, commit: str
) -> None:
    """Log the composed config, the parameter counts and the commit (read when the run
    started) to all loggers."""
    if not trainer.loggers:
        log.warning("Logger not found! Skipping hyperparameter logging...")
        return
    params = list(model.parameters())
    hparams = {key: _plain(cfg, key) for key in ("model", "data", "trainer", "callbacks")}
    hparams.update(
        {
            "model/params/total": sum(p.numel() for p in params),
            "model/params/trainable": sum(p.numel() for p in params if p.requires_grad),
            "model/params/non_trainable": sum(p.numel() for p in params if not p.requires_grad),
            "task_name": cfg.get("task_name"),
            "tags": _plain(cfg, "tags"),
            "ckpt_path": cfg.get("ckpt_path"),
            "seed": cfg.get("seed"),
            "git_commit": commit,
        }
    )
    for logger in trainer.loggers:
        logger.log_hyperparams(hparams)
