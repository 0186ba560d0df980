"""Train AGCH, test the last epoch (the paper's protocol) and the best checkpoint, write
results.json. Usage: python src/train.py [experiment=...] [key=value ...]"""

from pathlib import Path
from typing import Any

import hydra
import lightning as L
import rootutils
import torch
from omegaconf import DictConfig

rootutils.setup_root(__file__, indicator="pyproject.toml", pythonpath=True)

from src.utils import (  # noqa: E402  (the root must be on sys.path first)
    RankedLogger,
    TrainingError,
    extras,
    get_metric_value,
    instantiate_callbacks,
    instantiate_loggers,
    log_hyperparameters,
    task_wrapper,
    write_results_json,
)
from src.utils.errors import one_line_errors  # noqa: E402
from src.utils.reporting import (  # noqa: E402
    print_metrics_table,
    run_info,
    scalar_metrics,
    table_title,
)
from src.utils.tb_figures import kept_test_curves  # noqa: E402
from src.utils.tb_hparams import log_hparams_with_metrics  # noqa: E402
from src.utils.utils import git_commit  # noqa: E402

log = RankedLogger(__name__, rank_zero_only=True)


def _fit(cfg: DictConfig, trainer: L.Trainer, model: L.LightningModule, datamodule: Any) -> None:
    """trainer.fit; a TrainingError (non-finite loss) names the last good checkpoint."""
    try:
        trainer.fit(model=model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    except TrainingError as err:
        if "checkpoint:" in str(err):  # the model already named it
            raise
        callback = trainer.checkpoint_callback
        last = getattr(callback, "last_model_path", "") if callback else ""
        found = bool(last) and Path(last).is_file()
        where = f"last good checkpoint: {last}" if found else "no checkpoint was written yet"
        raise TrainingError(f"{err}; {where}") from err


def _checkpoints(trainer: L.Trainer) -> tuple[str | None, str | None]:
    """(best, last) checkpoint paths of this fit; best is None when it holds the last weights.

    Read right after fit: testing a checkpoint restores the callback's state from it.
    """
    callback = trainer.checkpoint_callback
    best = getattr(callback, "best_model_path", "") if callback else ""
    last = getattr(callback, "last_model_path", "") if callback else ""
    last = last if last and Path(last).is_file() else None
    if not best or not Path(best).is_file():
        return None, last
    saved = torch.load(best, map_location="cpu", weights_only=True, mmap=True)
    return (None if saved.get("global_step") == trainer.global_step else best), last


def _test(
    cfg: DictConfig,
    trainer: L.Trainer,
    model: L.LightningModule,
    datamodule: Any,
    best: str | None,
) -> tuple[dict[str, float], dict[str, float] | None]:
    """Test the last-epoch weights, then the best checkpoint if it differs (`best/test/...`).

    Without training, the weights of `ckpt_path` are tested.
    """
    start = None if cfg.get("train") else cfg.get("ckpt_path")
    trainer.test(model, datamodule=datamodule, ckpt_path=start, weights_only=True, verbose=False)
    last = scalar_metrics(trainer.callback_metrics, ("test/",))
    if best is None:
        return last, None
    log.info(f"Testing the best checkpoint too: {best}")
    trainer.test(model, datamodule=datamodule, ckpt_path=best, weights_only=True, verbose=False)
    best_metrics = scalar_metrics(trainer.callback_metrics, ("test/",))
    return last, {f"best/{name}": value for name, value in best_metrics.items()}


@task_wrapper
def train(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fit and test the model; returns (metrics by logged name, the objects built)."""
    commit = git_commit()  # now: a commit made while a long run trains is not its code
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    log.info(f"Instantiating datamodule <{cfg.data._target_}>")
    datamodule = hydra.utils.instantiate(cfg.data)
    image_dim, text_dim = datamodule.feature_dims()
    log.info(f"Instantiating model <{cfg.model._target_}>")
    model = hydra.utils.instantiate(cfg.model, image_dim=image_dim, text_dim=text_dim)
    if not cfg.get("ckpt_path"):  # a resumed run restores the statistics from its checkpoint
        model.set_input_stats(datamodule.train_statistics())
    callbacks = instantiate_callbacks(cfg.get("callbacks"))
    loggers = instantiate_loggers(cfg.get("logger"))
    log.info(f"Instantiating trainer <{cfg.trainer._target_}>")
    trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers)
    objects = {"cfg": cfg, "datamodule": datamodule, "model": model, "trainer": trainer}
    log_hyperparameters(cfg, model, trainer, commit)

    best_path, last_path = None, None
    if cfg.get("train"):
        _fit(cfg, trainer, model, datamodule)
        best_path, last_path = _checkpoints(trainer)
    metrics = scalar_metrics(trainer.callback_metrics, ("val/", "train/"))
    best_metrics = None
    if cfg.get("test"):
        # a best checkpoint chosen on validation queries the model trained on is not tested
        chosen_on_heldout = getattr(datamodule, "val_is_heldout", True)
        tested_best = best_path if chosen_on_heldout else None
        test_metrics, best_metrics = _test(cfg, trainer, model, datamodule, tested_best)
        metrics.update(test_metrics)
    if trainer.is_global_zero:
        paths = {"best_ckpt_path": best_path, "last_ckpt_path": last_path}
        _report(cfg, trainer, datamodule, metrics, best_metrics, paths, commit)
    return metrics, objects


def _report(
    cfg: DictConfig,
    trainer: L.Trainer,
    datamodule: Any,
    metrics: dict[str, float],
    best_metrics: dict[str, float] | None,
    ckpt_paths: dict[str, str | None],
    commit: str,
) -> None:
    """Write results.json (and curves.json) into the run directory, the HPARAMS entry of
    TensorBoard, and print the test tables."""
    run = run_info(cfg, datamodule, commit)
    payload = {**run, "metrics": metrics, "best_metrics": best_metrics, **ckpt_paths}
    write_results_json(Path(cfg.paths.output_dir, "results.json"), payload)
    curves = kept_test_curves(trainer)  # last epoch, then the best checkpoint if tested
    if curves:
        named = dict(zip(("test", "best/test"), curves))
        write_results_json(Path(cfg.paths.output_dir, "curves.json"), named)
    log_hparams_with_metrics(trainer, cfg, run, {**metrics, **(best_metrics or {})})
    if any(name.startswith("test/") for name in metrics):
        print_metrics_table(metrics, "test", table_title("Test, last epoch", run))
    if best_metrics:
        print_metrics_table(best_metrics, "best/test", table_title("Test, best checkpoint", run))


@hydra.main(version_base="1.3", config_path="../configs", config_name="train.yaml")
def main(cfg: DictConfig) -> float | None:
    """Command-line entry: one `error:` line and exit 2 for user errors."""
    with one_line_errors():
        extras(cfg)
        metrics, _ = train(cfg)
        # sweepers optimise a validation metric, never a test one
        return get_metric_value(metrics, cfg.get("optimized_metric"))


if __name__ == "__main__":
    main()
