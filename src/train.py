"""Train AGCH, test the last epoch (the paper's protocol) and the best checkpoint, write
results.json. Usage: python src/train.py [experiment=...] [key=value ...]"""

import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the root, before rootutils
from src.utils.startup import quiet_start  # noqa: E402  (standard library only)

if __name__ == "__main__":  # the command, not a test importing it: its signals stay its own
    quiet_start()  # Ctrl-C or SIGTERM while rootutils, torch and Lightning load: one line, 130

import rootutils  # noqa: E402

rootutils.setup_root(__file__, indicator="pyproject.toml", pythonpath=True)

# torch's CPU allocator: large blocks 2 MiB-aligned and backed by transparent huge pages, so
# the freshly allocated GCN gradients of each step fault in 512 times fewer pages; read once
# at torch's first allocation, so set before torch is imported (an environment value wins).
# Weights stay bit-identical (benchmarks/bench_train.py allocator; docs/benchmarks.md).
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

import hydra  # noqa: E402
import lightning as L  # noqa: E402
import torch  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from src.callbacks.curves import CurveRecorder  # noqa: E402  (the root must be on sys.path)
from src.utils import (  # noqa: E402
    RankedLogger,
    TrainingError,
    extras,
    get_metric_value,
    instantiate_callbacks,
    instantiate_loggers,
    log_hyperparameters,
    task_wrapper,
)
from src.utils.checkpoints import (  # noqa: E402
    check_checkpoint_fits,
    check_finite_weights,
    read_checkpoint,
)
from src.utils.memory_need import check_memory  # noqa: E402
from src.utils.last_good import last_good_words, names_last_good  # noqa: E402
from src.utils.resume_records import check_resume_records  # noqa: E402
from src.utils.split_record import check_same_splits, split_record  # noqa: E402
from src.utils.resume_checks import (  # noqa: E402
    check_same_settings,
    run_settings,
)
from src.utils.resume_state import check_resume_fits  # noqa: E402
from src.utils.run_dir_guard import work_starts  # noqa: E402
from src.utils.start_checkpoint import check_start_checkpoint  # noqa: E402
from src.utils.store_digest import check_same_store, store_digest  # noqa: E402
from src.utils.errors import DataError, StoreChanged  # noqa: E402
from src.utils.instantiators import build  # noqa: E402
from src.utils.jobs import fit_started, resume_hint, run_cli, run_job  # noqa: E402
from src.utils.rendezvous import watch_rendezvous  # noqa: E402
from src.utils.records import (  # noqa: E402
    checkpoint_files,
    data_fields,
    git_commit,
    run_info,
    scalar_metrics,
    write_run_records,
)
from src.utils.reporting import print_metrics_table, table_title  # noqa: E402
from src.utils.metric_names import (  # noqa: E402
    check_metric_names,
    expected_metrics,
    recorded_stages,
    validates,
)
from src.utils.coverage import partial_coverage, partial_training  # noqa: E402
from src.utils.run_checks import check_at_the_door, check_run  # noqa: E402
from src.utils.run_dirs import register_resolvers  # noqa: E402
from src.utils.timing import RunClock  # noqa: E402

log = RankedLogger(__name__, rank_zero_only=True)
register_resolvers()


def _fit(cfg: DictConfig, trainer: L.Trainer, model: L.LightningModule, datamodule: Any) -> None:
    """trainer.fit; a TrainingError (non-finite loss) names the last good checkpoint."""
    fit_started()  # from here a refused or interrupted run keeps its folder
    try:
        trainer.fit(model=model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    except (TrainingError, StoreChanged, DataError) as err:  # a non-finite loss, a changed
        # store, a full disk: the last good checkpoint is kept, name it (unless the checkpoint
        # callback has, once it wrote its pending best file)
        if names_last_good(err) and not isinstance(err, StoreChanged):
            raise
        raise naming_last_good(err, cfg, trainer) from err
    except ARITHMETIC_FAULTS as err:  # Python's float arithmetic overflowed or divided by 0
        raise naming_last_good(arithmetic_fault(err, trainer), cfg, trainer) from err


# what a value overflowing inside a step raises (a Python float's ``x ** 2``, ``1 / 0``, numpy
# under errstate): the same stop as a non-finite loss (trial 9, fault 9)
ARITHMETIC_FAULTS = (OverflowError, FloatingPointError, ZeroDivisionError)


def arithmetic_fault(err: BaseException, trainer: L.Trainer) -> TrainingError:
    """``err`` as a non-finite loss's one line: where it happened and what overflowed."""
    return TrainingError(
        f"a value overflowed at epoch {trainer.current_epoch}, global step "
        f"{trainer.global_step} ({type(err).__name__}: {err}); training stopped: check the "
        "model's scale settings"
    )


def naming_last_good(err: Exception, cfg: DictConfig, trainer: L.Trainer) -> TrainingError:
    """``err`` with the run's last good checkpoint named as the disk holds it
    (`last_good_words`: the latest intact one of the checkpoint folder or the checkpoint the
    run resumed from), or the truth that there is none; for a changed store also the command
    that goes on once it is restored (`resume_hint`)."""
    text = str(err)
    if not names_last_good(err):
        callback = trainer.checkpoint_callback
        folder = getattr(callback, "dirpath", None) if callback else None
        text += f"; {last_good_words(folder, cfg.get('ckpt_path'), cfg=cfg)}"
    if isinstance(err, StoreChanged):  # the last good checkpoint is named once (trial 8 S10)
        text += f"; once it is restored, {resume_hint(cfg, named=True)}"
    return TrainingError(text)


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
    if start is None:
        check_finite_weights(model)
    trainer.test(model, datamodule=datamodule, ckpt_path=start, weights_only=True, verbose=False)
    last = scalar_metrics(trainer.callback_metrics, ("test/",))
    if best is None:
        return last, None
    log.info(f"Testing the best checkpoint too: {best}")
    read_checkpoint(best)  # whole and finite, as any checkpoint a number comes from
    trainer.test(model, datamodule=datamodule, ckpt_path=best, weights_only=True, verbose=False)
    best_metrics = scalar_metrics(trainer.callback_metrics, ("test/",))
    return last, {f"best/{name}": value for name, value in best_metrics.items()}


def _build(
    cfg: DictConfig, curves: CurveRecorder
) -> tuple[Any, dict[str, Any], L.LightningModule, L.Trainer]:
    """The run's datamodule, its data fields for results.json, the model and the trainer
    (with the configured callbacks and `curves`, always on: curves.json whatever they are)."""
    log.info(f"Instantiating datamodule <{cfg.data._target_}>")
    datamodule = hydra.utils.instantiate(cfg.data)
    topk = cfg.model.get("eval_topk")
    # a synthetic store to (re)make is checked before it replaces data.path; any store is
    # checked before any work
    datamodule.prepare_data(accept=lambda sizes: check_run(cfg, sizes, topk))
    image_dim, text_dim = datamodule.feature_dims()
    check_run(cfg, datamodule.split_sizes(), topk)
    datamodule.setup("fit" if cfg.get("train") else "test")  # the store's values, before any
    data = data_fields(datamodule)  # file is written (fit's own setup finds it done)
    log.info(f"Instantiating model <{cfg.model._target_}>")
    model = hydra.utils.instantiate(cfg.model, image_dim=image_dim, text_dim=text_dim)
    model.run_settings = run_settings(cfg)  # saved in every checkpoint; a resume must match
    model.data_splits = split_record(datamodule.splits) if datamodule.splits else None
    model.store_digest = store_digest(datamodule.path)  # its content, checked by eval.py
    check_metric_names(cfg, model, datamodule.split_sizes())  # monitors, optimized_metric
    saved = read_checkpoint(cfg.ckpt_path) if cfg.get("ckpt_path") else None  # verified once
    if saved is not None:  # refused before the trainer prints anything: another method,
        check_checkpoint_fits(model, cfg.ckpt_path)  # code length or width than it was trained
        # with, or other settings; a resumed run restores the input statistics from it
        check_same_settings(cfg, model, saved, cfg.ckpt_path)
    else:
        model.set_input_stats(datamodule.train_statistics())
    callbacks = [*instantiate_callbacks(cfg.get("callbacks")), curves]
    if saved is not None and cfg.get("train"):  # a resume: the records its checks need
        # (none skipped), the same splits, then its
        check_resume_records(saved, cfg.ckpt_path, model, callbacks)  # optimisers', callbacks'
        if model.data_splits is not None:
            check_same_splits(saved, model.data_splits, datamodule.path, cfg.ckpt_path)
        check_same_store(saved, datamodule.path, cfg.ckpt_path, other=False)
        check_resume_fits(model, callbacks, cfg.ckpt_path)
    loggers = instantiate_loggers(cfg.get("logger"))
    log.info(f"Instantiating trainer <{cfg.trainer._target_}>")
    trainer = build(cfg.trainer, "trainer", callbacks=callbacks, logger=loggers)
    watch_rendezvous(trainer, cfg)  # a signal ends the wait for the other processes
    return datamodule, data, model, trainer


@task_wrapper
def train(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fit and test the model; returns (metrics by logged name, the objects built)."""
    clock = RunClock()  # results.json's timing: from here to its writing
    commit = git_commit()  # now: a commit made while a long run trains is not its code
    if cfg.get("seed") is not None:
        # Lightning's own "Seed set to" line goes to stderr, before any error line
        L.seed_everything(cfg.seed, workers=True, verbose=False)
        log.info(f"Seed set to {cfg.seed}")
    check_start_checkpoint(cfg)
    curves = CurveRecorder()
    datamodule, data, model, trainer = _build(cfg, curves)
    work_starts()  # checked: an error from here on keeps the run folder as the run leaves it
    log_hyperparameters(cfg, model, trainer, commit)
    best_path, last_path, cut = None, None, None
    if cfg.get("train"):
        with clock.phase("fit"):
            _fit(cfg, trainer, model, datamodule)
        best_path, last_path = _checkpoints(trainer)
        cut = partial_training(cfg, trainer)  # now: a test afterwards drops the train loader
    metrics = scalar_metrics(trainer.callback_metrics, ("val/", "train/", "health/"))
    best_metrics = None
    if cfg.get("test"):
        # a best checkpoint chosen on validation queries the model trained on is not tested
        chosen_on_heldout = getattr(datamodule, "val_is_heldout", True)
        tested_best = best_path if chosen_on_heldout else None
        try:
            with clock.phase("test"):
                test_metrics, best_metrics = _test(cfg, trainer, model, datamodule, tested_best)
        except StoreChanged as err:  # no number of another store; the checkpoints stay
            raise naming_last_good(err, cfg, trainer) from err
        metrics.update(test_metrics)
    run = run_info(cfg, data, commit)
    fields = {
        "metrics": metrics,
        "best_metrics": best_metrics,
        "best_ckpt_path": best_path,
        "last_ckpt_path": last_path,
        "checkpoint_files": checkpoint_files(Path(last_path).parent if last_path else None),
        "timing": clock.record(trainer, resumed=bool(cfg.get("ckpt_path"))),
    }
    sizes = datamodule.split_sizes()
    expected = expected_metrics(model, sizes, recorded_stages(cfg, best_metrics is not None))
    covered = ["test"] if cfg.get("test") else []
    covered += ["val"] if cfg.get("train") and validates(cfg) else []
    partial = cut or partial_coverage(cfg, sizes, datamodule.eval_batch_size, covered)
    write_run_records(cfg, trainer, run, fields, curves.curves, expected, partial)
    if trainer.is_global_zero:
        _print_tables(run, metrics, best_metrics)
    objects = {"cfg": cfg, "datamodule": datamodule, "model": model, "trainer": trainer}
    return metrics, {**objects, "cut": cut}


def _print_tables(
    run: dict[str, Any], metrics: dict[str, float], best_metrics: dict[str, float] | None
) -> None:
    """The test tables: the last epoch, and the best checkpoint when it was tested too."""
    if any(name.startswith("test/") for name in metrics):
        print_metrics_table(metrics, "test", table_title("Test, last epoch", run))
    if best_metrics:
        print_metrics_table(best_metrics, "best/test", table_title("Test, best checkpoint", run))


def train_door(cfg: DictConfig) -> None:
    """What a run of train.py checks before any work (a sweep: each job before the first
    runs): every value and the machine (`check_at_the_door`), the checkpoint it starts from."""
    check_at_the_door(cfg)
    check_memory(cfg)  # the model, its gradients and optimiser states fit in memory
    check_start_checkpoint(cfg)


def _train_job(cfg: DictConfig) -> float | None:
    """Train and return the metric a sweeper optimises (a validation one, never a test one)."""
    train_door(cfg)
    extras(cfg)
    metrics, objects = train(cfg)
    return get_metric_value(metrics, cfg.get("optimized_metric"), objects.get("cut"))


@hydra.main(version_base="1.3", config_path="../configs", config_name="train.yaml")
def main(cfg: DictConfig) -> float | None:
    """Command-line entry: one `error:` line and exit 2 for user errors; in a sweep a failed
    job is recorded and the others run (src/utils/jobs.py)."""
    return run_job(cfg, _train_job)


if __name__ == "__main__":
    run_cli(main, train_door)
