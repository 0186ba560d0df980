"""Checks that need the data or the machine, made after the configuration's own
(src/utils/config_rules.py) and before any training: a run that would train or evaluate
nothing, and a preset that cannot run on this machine, are refused with one `ConfigError`."""

from __future__ import annotations

import math

from omegaconf import DictConfig, OmegaConf

from src.utils.errors import ConfigError
from src.utils.machine_checks import check_machine, world_size
from src.utils.metric_names import validates
from src.utils.warmup_checks import check_warmup_in_run


def n_batches(n_items: int, batch_size: int, drop_last: bool) -> int:
    """Batches of ``batch_size`` from ``n_items`` (the last incomplete one dropped or kept)."""
    return n_items // batch_size if drop_last else math.ceil(n_items / batch_size)


def limited(batches: int, limit: float | int) -> int:
    """Batches Lightning runs under ``limit_*_batches``: a whole number caps them, a fraction
    (a float) keeps ``int(batches * limit)`` (lightning.pytorch.loops.utilities)."""
    return min(batches, limit) if isinstance(limit, int) else int(batches * limit)


def effective_limits(trainer: DictConfig) -> dict[str, tuple[float | int, str]]:
    """(limit, the key that set it) of the "train", "val" and "test" loops as Lightning applies
    them (``_init_debugging_flags``, lightning/pytorch/trainer/setup.py): ``fast_dev_run=n``
    (true: 1) runs n batches of each loop, ``overfit_batches > 0`` replaces the train and
    validation limits (and wins over fast_dev_run's for them), else ``limit_<stage>_batches``
    (null: all batches, 1.0)."""
    limits: dict[str, tuple[float | int, str]] = {}
    for stage in ("train", "val", "test"):
        value = trainer.get(f"limit_{stage}_batches")
        limits[stage] = (1.0 if value is None else value, f"trainer.limit_{stage}_batches")
    fast, overfit = trainer.get("fast_dev_run") or 0, trainer.get("overfit_batches") or 0
    if fast:
        for stage in ("test",) if overfit else ("train", "val", "test"):
            limits[stage] = (int(fast), "trainer.fast_dev_run")
    if overfit:
        for stage in ("train", "val"):
            limits[stage] = (overfit, "trainer.overfit_batches")
    return limits


def value_source(key: str) -> str:
    """Where ``key``'s value came from, for a message: the command-line override that set it,
    else the ``experiment=``/``debug=`` preset whose file sets it, else the configuration
    (Hydra's run config; "the configuration" when a check runs without Hydra)."""
    import yaml
    from hydra.core.hydra_config import HydraConfig

    from src.utils.suggest import CONFIGS

    if not HydraConfig.initialized():
        return "from the configuration"
    hydra = HydraConfig.get()
    from src.utils.key_sources import command_line

    for override in command_line():
        if override.lstrip("+~").split("=")[0] == key:
            return f"set on the command line: {override}"
    for group in ("debug", "experiment"):
        choice = hydra.runtime.choices.get(group)
        path = CONFIGS / group / f"{choice}.yaml"
        tree = (
            yaml.safe_load(path.read_text(encoding="utf-8")) if choice and path.is_file() else {}
        )
        if OmegaConf.select(OmegaConf.create(tree or {}), key) is not None:
            return f"set by the {group}={choice} preset"
    return "from the configuration"


def check_trains_something(cfg: DictConfig, sizes: dict[str, int]) -> None:
    """Refuse a run whose training loop would run no batch: a batch size above the training
    pairs of a process (zero batches), or a train limit (`effective_limits`: limit_train_batches
    or overfit_batches) that rounds to 0 batches; then the epoch's batches against the
    validation interval (`check_val_interval`) and the warm-up (`check_warmup_in_run`)."""
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
    limit, key = effective_limits(trainer)["train"]
    if limited(full, limit) == full:  # the last batch is formed
        check_last_batch(cfg, pairs)
    if limited(full, limit) == 0:
        raise ConfigError(
            f"{key}: {limit} ({value_source(key)}) of {full} training batches is 0 batches, "
            "nothing would be trained; expected a larger fraction or a whole number of batches"
        )
    check_val_interval(trainer, limited(full, limit))
    check_warmup_in_run(cfg, limited(full, limit))  # trainer.max_steps inside the warm-up


def check_last_batch(cfg: DictConfig, pairs: int) -> None:
    """Refuse ``data.drop_last=false`` when the epoch's last batch would hold 1 training pair
    (``pairs`` of a process, a remainder of 1 after ``data.batch_size``): the degenerate
    similarity graph that ``data.batch_size >= 2`` exists to prevent (trial 8 T10:
    batch_size=999 of 1000 pairs trained a 1-item batch). A closed-form method only collects
    its batches (src/models/closed_form.py) and is not refused."""
    from hydra.utils import get_class

    from src.models.closed_form import ClosedFormModule

    data = cfg.data
    if data.get("drop_last", True) or pairs % data.batch_size != 1:
        return
    target = OmegaConf.select(cfg, "model._target_", default=None)
    if target is not None and issubclass(get_class(str(target)), ClosedFormModule):
        return
    sizes = sorted(range(2, pairs + 1), key=lambda b: (abs(b - data.batch_size), b))
    other = next((b for b in sizes if pairs % b != 1), None)
    instead = f" or data.batch_size={other}" if other is not None else ""
    raise ConfigError(
        f"data.drop_last: false with data.batch_size {data.batch_size} and {pairs} training "
        "pairs leaves a last batch of 1 pair, a degenerate similarity graph (why "
        f"data.batch_size >= 2); expected data.drop_last=true{instead}"
    )


def check_val_interval(trainer: DictConfig, batches: int) -> None:
    """Refuse a ``trainer.val_check_interval`` that Lightning refuses once it knows the data
    (`FitLoop.setup_data`, lightning/pytorch/loops/fit_loop.py; `DataConnector.on_trainer_init`):
    a whole number above the ``batches`` an epoch trains (after the train limit) while
    validation runs by epochs and is on, or a fraction with ``check_val_every_n_epoch=null``
    (which counts batches across epochs), or a whole number above all the batches
    ``max_epochs`` epochs train when it is (no validation would ever run). Its own rule
    (src/utils/lightning_rules.py) has refused 0, fractions outside (0, 1] and time strings.
    Raises ConfigError."""
    interval = trainer.get("val_check_interval")
    if interval is None or trainer.get("fast_dev_run"):  # fast_dev_run validates each epoch
        return
    by_epochs = trainer.get("check_val_every_n_epoch", 1) is not None
    if isinstance(interval, float) and not by_epochs:
        raise ConfigError(
            f"trainer.val_check_interval: {interval} is a fraction of an epoch, and "
            "trainer.check_val_every_n_epoch is null (validation counted in batches across "
            "epochs); expected a whole number of batches >= 1, or check_val_every_n_epoch >= 1"
        )
    val_limit = effective_limits(trainer)["val"][0]
    if isinstance(interval, int) and by_epochs and val_limit != 0 and interval > batches:
        raise ConfigError(
            f"trainer.val_check_interval: {interval} ({value_source('trainer.val_check_interval')}"
            f") is more than the {batches} training batches of an epoch; expected at most "
            f"{batches} (or a fraction in (0, 1] of the epoch; check_val_every_n_epoch=null "
            "counts batches across epochs)"
        )
    epochs = trainer.get("max_epochs")
    if isinstance(interval, int) and not by_epochs and val_limit != 0 and epochs not in (None, -1):
        if interval > batches * epochs:  # counted across epochs: the first check never comes
            raise ConfigError(
                f"trainer.val_check_interval: {interval} with check_val_every_n_epoch=null "
                f"validates after every {interval} training batches counted across epochs, and "
                f"trainer.max_epochs={epochs} trains {batches * epochs} ({batches} an epoch): "
                f"no validation would run; expected at most {batches * epochs}, or more epochs"
            )


def check_evaluates_something(cfg: DictConfig, sizes: dict[str, int], stages: tuple) -> None:
    """Refuse a limit (`effective_limits`) that leaves a loader of an evaluation set with 0
    batches: a fraction that rounds one to 0 (Lightning stops with a traceback then), or a
    test limit of 0 in a run that tests (it would record a run without any test metric). A
    validation limit of 0 turns validation off, on purpose."""
    loaders = {"val": ("val_query", "val_retrieval"), "test": ("query", "retrieval")}
    limits = effective_limits(cfg.trainer)
    for stage in stages:
        limit, key = limits[stage]
        if limit == 0 and stage == "val":
            continue
        if limit == 0:
            raise ConfigError(
                f"{key}: {limit} runs no test batch, nothing would be tested (results.json "
                "would hold no test metric); expected a limit above 0"
            )
        for split in loaders[stage]:
            batches = n_batches(sizes[split], cfg.data.eval_batch_size, drop_last=False)
            if batches == 0:
                raise ConfigError(
                    f"data: the {split} set of this store is empty, nothing to {stage} on; "
                    f"expected at least 1 item in it"
                )
            if limited(batches, limit) == 0:
                raise ConfigError(
                    f"{key}: {limit} ({value_source(key)}) of the {batches} batches of the "
                    f"{split} set is 0 batches, this data is too small for it; expected 1.0 "
                    f"(all batches) or a whole number of batches ({key}=1)"
                )


def check_validation_sets(cfg: DictConfig, sizes: dict[str, int], topk: int | None) -> None:
    """The validation retrieval set (after ``data.val_retrieval_limit``) must hold at least
    ``model.eval_topk`` items (val/map@k is another metric below it) and more than
    1 / ``model.collapse_threshold`` (below that even one code shared by every item is a
    distinct fraction above the threshold; one item is an all-ties ranking, recorded as a
    collapse: src/models/collapse.py). Raises ConfigError naming the limit when it is set."""
    n = sizes["val_retrieval"]
    threshold = OmegaConf.select(cfg, "model.collapse_threshold", default=None)
    detector = math.floor(1 / threshold) + 1 if threshold else 1
    needed = max(topk or 1, detector)
    if n >= needed:
        return
    limit = OmegaConf.select(cfg, "data.val_retrieval_limit", default=None)
    key = "data.val_retrieval_limit" if limit is not None else "data"
    why = [f"model.eval_topk is {topk}"] if topk else []
    if threshold:
        why.append(f"the collapse detector needs more than 1 / collapse_threshold {threshold}")
    raise ConfigError(
        f"{key}: {n} validation retrieval items, expected at least {needed} ({'; '.join(why)}); "
        + ("raise it or set it to null" if limit is not None else "use more validation data")
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


def check_at_the_door(cfg: DictConfig) -> None:
    """What train.py and eval.py check before anything is read or made, the same for both:
    every value by its rule (`check_config`) and the trainer against this machine
    (`check_machine`). Raises ConfigError."""
    from src.utils.config_rules import check_config

    check_config(cfg)
    check_machine(cfg.trainer)


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
    validating = bool(cfg.get("train")) and validates(cfg)
    stages = (("val",) if validating else ()) + (("test",) if cfg.get("test", True) else ())
    check_evaluates_something(cfg, sizes, stages)
    if topk is not None:
        check_topk(topk, sizes, topk_from)
    if validating:
        check_validation_sets(cfg, sizes, topk)
