"""Checks that need the data or the machine, made after the configuration's own
(src/utils/config_rules.py) and before any training: a run that would train or evaluate
nothing, and a preset that cannot run on this machine, are refused with one `ConfigError`."""

from __future__ import annotations

import math
from typing import Any

import torch
from omegaconf import DictConfig

from src.utils.errors import ConfigError

GPU_ACCELERATORS = ("gpu", "cuda")


def n_batches(n_items: int, batch_size: int, drop_last: bool) -> int:
    """Batches of ``batch_size`` from ``n_items`` (the last incomplete one dropped or kept)."""
    return n_items // batch_size if drop_last else math.ceil(n_items / batch_size)


def limited(batches: int, limit: float | int) -> int:
    """Batches Lightning runs under ``limit_*_batches``: a whole number caps them, a fraction
    (a float) keeps ``int(batches * limit)`` (lightning.pytorch.loops.utilities)."""
    return min(batches, limit) if isinstance(limit, int) else int(batches * limit)


def world_size(trainer: DictConfig) -> int:
    """Processes the trainer config starts (devices x nodes; 1 for "auto")."""
    devices = trainer.get("devices", 1)
    return (devices if isinstance(devices, int) and devices > 0 else 1) * trainer.get(
        "num_nodes", 1
    )


def check_trains_something(cfg: DictConfig, sizes: dict[str, int]) -> None:
    """Refuse a run whose training loop would run no batch: a batch size above the training
    pairs of a process (zero batches), or a limit_train_batches fraction that rounds to 0."""
    data, trainer = cfg.data, cfg.trainer
    processes = world_size(trainer)
    pairs = sizes["train"] // processes
    full = n_batches(pairs, data.batch_size, data.get("drop_last", True))
    if full == 0:
        where = f" per process ({processes})" if processes > 1 else ""
        raise ConfigError(
            f"data.batch_size: {data.batch_size} is more than the {pairs} training pairs{where}: "
            "0 training batches, nothing would be trained; lower data.batch_size (or use more "
            "training data)"
        )
    limit = trainer.get("limit_train_batches")
    if limit is not None and limited(full, limit) == 0:
        raise ConfigError(
            f"trainer.limit_train_batches: {limit} of {full} training batches is 0 batches, "
            "nothing would be trained; raise it (or give a whole number of batches)"
        )


def check_evaluates_something(cfg: DictConfig, sizes: dict[str, int], stages: tuple) -> None:
    """Refuse a limit_val_batches / limit_test_batches fraction that rounds a loader of the
    evaluation sets to 0 batches (Lightning stops with a traceback then)."""
    loaders = {"val": ("val_query", "val_retrieval"), "test": ("query", "retrieval")}
    for stage in stages:
        limit = cfg.trainer.get(f"limit_{stage}_batches")
        if limit is None or limit == 0:  # 0 turns the stage off, on purpose
            continue
        for split in loaders[stage]:
            batches = n_batches(sizes[split], cfg.data.eval_batch_size, drop_last=False)
            if batches and limited(batches, limit) == 0:
                raise ConfigError(
                    f"trainer.limit_{stage}_batches: {limit} of the {batches} batches of the "
                    f"{split} set is 0 batches; this data is too small for the preset, use 1.0"
                )


def check_topk(topk: int, sizes: dict[str, int], source: str | None = None) -> None:
    """The mAP cut-off cannot exceed the retrieval set (a silently different metric).
    ``source``: the checkpoint the value was read from (eval.py), named in the message: the
    user did not set it, and the remedy is other data, not another value."""
    if topk <= sizes["retrieval"]:
        return
    if source is None:
        raise ConfigError(
            f"model.eval_topk: {topk} is more than the {sizes['retrieval']} retrieval items; "
            f"expected at most {sizes['retrieval']}"
        )
    raise ConfigError(
        f"model.eval_topk: {topk}, the value saved in the checkpoint {source} (eval.py "
        f"evaluates with the checkpoint's), is more than the {sizes['retrieval']} retrieval "
        f"items of this data; expected data with at least {topk} retrieval items (the data "
        "the checkpoint was trained on)"
    )


def check_machine(trainer: DictConfig) -> None:
    """Refuse a trainer preset this machine cannot run: a GPU accelerator (trainer=gpu/ddp)
    without a visible CUDA GPU, "mps" without an Apple GPU, more GPUs than there are, float16
    mixed precision on a CPU."""
    accelerator = str(trainer.get("accelerator", "auto"))
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    devices = trainer.get("devices", 1)
    if accelerator in GPU_ACCELERATORS and gpus == 0:
        raise ConfigError(
            f"trainer.accelerator: {accelerator!r} needs a CUDA GPU and none is visible here; "
            "use trainer=cpu (or trainer=ddp_sim for several CPU processes)"
        )
    if accelerator in GPU_ACCELERATORS and isinstance(devices, int) and devices > gpus:
        raise ConfigError(
            f"trainer.devices: {devices} GPUs asked for, {gpus} visible here; expected at most "
            f"{gpus}"
        )
    if accelerator == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(
            "trainer.accelerator: 'mps' needs an Apple GPU (Metal) and none is available "
            "here; use trainer=cpu"
        )
    on_cpu = accelerator == "cpu" or (accelerator == "auto" and gpus == 0)
    if on_cpu and str(trainer.get("precision")) in ("16", "16-mixed", "16-true"):
        raise ConfigError(
            f"trainer.precision: {trainer.precision!r} needs a GPU; on a CPU use 32-true or "
            "bf16-mixed"
        )


def validation_metrics(metric: Any, n_retrieval: int) -> set[str]:
    """The names a validation logs (`CrossModalRetrievalMetric.compute` under ``val/``, and
    ``val/collapsed``, ``val/objective`` of `CrossModalHashingModule.on_validation_epoch_end`)
    for a metric with ``topk``, ``ks``, ``compute_map_all`` and ``n_retrieval`` items."""
    from src.metrics.functional import effective_ks

    kinds = [f"map@{metric.topk}"] if metric.topk is not None else []
    kinds += ["map@all"] if metric.compute_map_all else []
    names = {"collapsed", "objective"}
    names |= {f"{d}{kind}" for kind in kinds for d in ("", "i2t_", "t2i_")}
    names |= {f"{d}_p@{k}" for k in effective_ks(metric.ks, n_retrieval) for d in ("i2t", "t2i")}
    return {f"val/{name}" for name in names}


def check_optimized_metric(cfg: DictConfig, model: Any, sizes: dict[str, int]) -> None:
    """``optimized_metric`` (what a sweeper optimises, read after training) must be a metric
    that this run's validation logs: refused before training, not after it."""
    name = cfg.get("optimized_metric")
    metric = getattr(model, "val_metric", None)
    if name is None or not cfg.get("train") or metric is None:
        return
    trainer = cfg.trainer
    if trainer.get("limit_val_batches") == 0 or (trainer.get("check_val_every_n_epoch") or 1) > (
        trainer.get("max_epochs") or 1
    ):
        raise ConfigError(
            f"optimized_metric: {name!r} is a validation metric and this run never validates "
            "(trainer.limit_val_batches or check_val_every_n_epoch); set optimized_metric=null"
        )
    names = validation_metrics(metric, sizes["val_retrieval"])
    if name not in names:
        raise ConfigError(
            f"optimized_metric: expected a validation metric this run logs (one of "
            f"{sorted(names)}), got {name!r}"
        )


def check_tests_a_checkpoint(cfg: DictConfig) -> None:
    """train.py with ``train=false`` tests the weights of ``ckpt_path``: refuse it without a
    checkpoint (the untrained model would be tested and recorded as a completed run) or with
    ``test=false`` as well (nothing would run). Raises ConfigError."""
    if not cfg.get("test"):
        raise ConfigError("train, test: both false: expected at least one of them true")
    if not cfg.get("ckpt_path"):
        raise ConfigError(
            "ckpt_path: train=false tests a checkpoint: expected ckpt_path=<a .ckpt file> "
            "(without one the untrained model would be tested); or src/eval.py ckpt_path=..."
        )


def check_run(
    cfg: DictConfig, sizes: dict[str, int], topk: int | None, topk_from: str | None = None
) -> None:
    """Every check of this module for a run of train.py (``cfg.train``/``cfg.test``) or
    eval.py (test only; ``topk_from``: the checkpoint that ``topk`` comes from)."""
    if cfg.get("train"):
        check_trains_something(cfg, sizes)
    elif "train" in cfg:  # train.py without training
        check_tests_a_checkpoint(cfg)
    stages = (("val",) if cfg.get("train") else ()) + (("test",) if cfg.get("test", True) else ())
    check_evaluates_something(cfg, sizes, stages)
    if topk is not None:
        check_topk(topk, sizes, topk_from)
