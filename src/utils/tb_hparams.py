"""The run's hyper-parameters with its final metrics in TensorBoard's HPARAMS tab."""

import math
from typing import Any, Mapping

from lightning import Trainer
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf


def flat_hparams(cfg: DictConfig, run: Mapping[str, Any]) -> dict[str, Any]:
    """Plain values that tell runs apart: data, method, seed, epochs and every model value."""
    model = OmegaConf.to_container(cfg.model, resolve=True) if cfg.get("model") else {}
    params = {f"model/{key}": value for key, value in model.items() if not key.startswith("_")}
    trainer = cfg.get("trainer") or {}
    return {
        "dataset": run.get("dataset"),
        "synthetic": run.get("synthetic"),
        "method": run.get("method"),
        "seed": run.get("seed"),
        "trainer/max_epochs": trainer.get("max_epochs"),
        **params,
    }


def log_hparams_with_metrics(
    trainer: Trainer, cfg: DictConfig, run: Mapping[str, Any], metrics: Mapping[str, float]
) -> None:
    """Write the HPARAMS entry of every TensorBoardLogger, with the final mAP metrics.

    The metrics go under ``hparams/<name>`` (written at step 0), so that the val/ and test/
    curves keep only the points logged during training.
    """
    loggers = [logger for logger in trainer.loggers if isinstance(logger, TensorBoardLogger)]
    final = {
        f"hparams/{name}": value
        for name, value in metrics.items()
        if "map@" in name and math.isfinite(value)
    }
    for logger in loggers:
        logger.log_hyperparams(flat_hparams(cfg, run), metrics=final)
        # testing closed the writer; this flushes and closes the file just written
        logger.finalize("success")
