"""The metric names a run logs, known before any work: every metric name a configuration gives
(``optimized_metric``, the ``monitor`` of any callback) is checked against them before training,
and results.json is "completed" only when the metrics the protocol expects are all there and
finite (src/utils/records.py).

Names: `CrossModalRetrievalMetric.compute` (src/metrics/retrieval.py) under ``val/`` or
``test/`` -- ``map@<eval_topk>``, ``map@all`` and their ``i2t_``/``t2i_`` directions, and
``i2t_p@k``/``t2i_p@k`` for every k actually used (`effective_ks`) -- plus ``val/collapsed``
and ``val/objective`` (`CrossModalHashingModule.on_validation_epoch_end`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from omegaconf import DictConfig

from src.utils.errors import ConfigError


def retrieval_metric_names(metric: Any, n_retrieval: int, stage: str) -> set[str]:
    """The names ``<stage>/...`` that a test or validation of ``metric`` (its ``topk``,
    ``ks``, ``compute_map_all``) over ``n_retrieval`` items logs, without the validation's
    ``collapsed``/``objective``."""
    from src.metrics.functional import effective_ks

    kinds = [f"map@{metric.topk}"] if metric.topk is not None else []
    kinds += ["map@all"] if metric.compute_map_all else []
    names = {f"{d}{kind}" for kind in kinds for d in ("", "i2t_", "t2i_")}
    names |= {f"{d}_p@{k}" for k in effective_ks(metric.ks, n_retrieval) for d in ("i2t", "t2i")}
    return {f"{stage}/{name}" for name in names}


def validation_metrics(metric: Any, n_retrieval: int) -> set[str]:
    """The names a validation logs: `retrieval_metric_names` under ``val/``, and
    ``val/collapsed``, ``val/objective``."""
    return retrieval_metric_names(metric, n_retrieval, "val") | {"val/collapsed", "val/objective"}


def validates(cfg: DictConfig) -> bool:
    """Whether a training run validates at least once: validation not turned off
    (``trainer.limit_val_batches=0``) and ``check_val_every_n_epoch`` within ``max_epochs``
    (``fast_dev_run`` validates its one epoch)."""
    trainer = cfg.get("trainer") or {}
    if trainer.get("fast_dev_run"):
        return True
    if trainer.get("limit_val_batches") == 0 and not trainer.get("overfit_batches"):
        return False
    return (trainer.get("check_val_every_n_epoch") or 1) <= (trainer.get("max_epochs") or 1)


def named_metrics(cfg: DictConfig) -> dict[str, str]:
    """Every metric name the configuration gives, by key: ``optimized_metric`` and the
    ``monitor`` of every configured callback (model checkpoint, early stopping...)."""
    names = {}
    if cfg.get("optimized_metric") is not None:
        names["optimized_metric"] = cfg.optimized_metric
    callbacks = cfg.get("callbacks") or {}
    for name, node in callbacks.items():
        if isinstance(node, Mapping) and node.get("monitor") is not None:
            names[f"callbacks.{name}.monitor"] = node.get("monitor")
    return names


def check_metric_names(cfg: DictConfig, model: Any, sizes: Mapping[str, int]) -> None:
    """Each of `named_metrics` must be a metric that this training run's validation logs
    (`validation_metrics` of the model's ``val_metric`` over ``sizes["val_retrieval"]``):
    refused before training (a misspelt checkpoint monitor stopped the run with a traceback
    after its first epoch, a misspelt optimized_metric after the whole training). Raises
    ConfigError naming the key; nothing is checked for a run that does not train."""
    metric = getattr(model, "val_metric", None)
    names = named_metrics(cfg)
    if not names or not cfg.get("train") or metric is None:
        return
    if not validates(cfg):  # one line naming every key to change together
        (first, name), *others = names.items()
        also = "".join(f", as is {key} {other!r}" for key, other in others)
        nulls = " ".join(f"{key}=null" for key in names)
        raise ConfigError(
            f"{first}: {name!r} is a validation metric{also}, and this run never validates "
            f"(trainer.limit_val_batches or check_val_every_n_epoch); expected null for "
            f"{'each' if others else 'it'}: set {nulls}"
        )
    for key, name in names.items():
        logged = validation_metrics(metric, sizes["val_retrieval"])
        if name not in logged:
            raise ConfigError(
                f"{key}: expected a validation metric this run logs (one of "
                f"{sorted(logged)}) or null, got {name!r}"
            )


def recorded_stages(cfg: DictConfig, best_tested: bool = False) -> list[str]:
    """The stages whose metrics a run's results.json must hold: "test" (and "best/test" when
    ``best_tested``) for a run that tests (eval.py, whose configuration has no ``test`` key,
    always does); "val" for a training run with ``test=false`` that validates; none for one
    that only trains."""
    if cfg.get("test", True):
        return ["test", "best/test"] if best_tested else ["test"]
    return ["val"] if cfg.get("train") and validates(cfg) else []


def expected_metrics(model: Any, sizes: Mapping[str, int], stages: Iterable[str]) -> list[str]:
    """The metrics the protocol expects a run to record: for each of ``stages`` ("test",
    "best/test", or "val" for a run that only validates) the names of
    `retrieval_metric_names` of the model's ``test_metric`` (``val_metric`` for "val") over
    that stage's retrieval set, sorted."""
    names: set[str] = set()
    for stage in stages:
        metric = model.val_metric if stage == "val" else model.test_metric
        n = sizes["val_retrieval" if stage == "val" else "retrieval"]
        names |= retrieval_metric_names(metric, n, stage)
    return sorted(names)


def missing_metrics(metrics: Mapping[str, Any], expected: Iterable[str]) -> list[str]:
    """Each name of ``expected`` that ``metrics`` lacks or holds as a non-finite or
    non-numeric value, with why ("test/map@50 (missing)", "test/map@all (nan)")."""
    problems = []
    for name in expected:
        value = metrics.get(name)
        if value is None:
            problems.append(f"{name} (missing)")
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"{name} (not a number: {value!r})")
        elif not math.isfinite(value):
            problems.append(f"{name} ({value})")
    return problems
