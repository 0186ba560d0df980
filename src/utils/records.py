"""Run records: what a run writes about itself, assembled in one place.

``results.json`` (identity of the run: task, dataset as the store names it and the store's
feature widths, method, code length, seed, commit, command, overrides, variant, settings; its
status; the final metrics; the checkpoints; src/train.py adds its wall-clock ``timing``,
src/utils/timing.py), ``curves.json`` (the test P@k and precision-recall curves) and the
HPARAMS entry of TensorBoard. src/train.py and src/eval.py call ``write_run_records`` once at
the end of a run, and a sweep job that fails calls ``write_failed_record``.
"""

from __future__ import annotations

import contextlib
import math
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lightning import Trainer
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf

from src.data.preflight import chosen_option, store_dataset
from src.data.store import validate_store
from src.utils.jsonio import write_json
from src.utils.metric_names import missing_metrics
from src.utils.pylogger import RankedLogger
from src.utils.run_setting import result_settings, variant

# a run that computed every metric the protocol expects; one that failed; one that ended
# without some of them (``error`` says which): never tabled or archived
COMPLETED, FAILED, INCOMPLETE = "completed", "failed", "incomplete"
log = RankedLogger(__name__, rank_zero_only=True)


def git_commit(cwd: str | os.PathLike | None = None) -> str:
    """The commit id of the checkout holding `cwd` (default: this file), or "unknown"."""
    where = Path(cwd) if cwd is not None else Path(__file__).resolve().parent
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() or "unknown"


def scalar_metrics(metrics: Mapping[str, Any], prefixes: tuple[str, ...]) -> dict[str, float]:
    """The 0-dim logged metrics whose names start with one of `prefixes`, as floats."""
    out = {}
    for name, value in metrics.items():
        if name.startswith(prefixes) and getattr(value, "numel", lambda: 1)() == 1:
            out[name] = float(value)
    return dict(sorted(out.items()))


def data_fields(datamodule: Any) -> dict[str, Any]:
    """The data fields of results.json: ``dataset`` as the store names it (its header's
    ``dataset`` attribute, checked against the ``data=`` choice by ``store_dataset``),
    ``synthetic``, ``val_mode`` (data.val_mode, docs/data.md) and the store's identity beyond
    its path: ``image_dim`` and ``text_dim`` (its feature widths, so that the report never
    averages runs of two stores of one dataset, e.g. news bags of 1,000 and 4,000 words) and
    its ``feature_extractor`` attribute (docs/data.md). The store is checked against the
    fingerprint of the run's first read (StoreChanged), as every read of it."""
    reading = getattr(datamodule, "reading", contextlib.nullcontext)
    with reading():
        info = validate_store(datamodule.path, check_values=False)
    extractor = info.attrs.get("feature_extractor")
    return {
        "dataset": store_dataset(datamodule.path, info.attrs),
        "synthetic": bool(datamodule.is_synthetic or info.synthetic),
        "val_mode": getattr(datamodule, "val_mode", None),
        "image_dim": int(info.image_dim),
        "text_dim": int(info.text_dim),
        "feature_extractor": str(extractor) if extractor not in (None, "") else None,
    }


def run_info(cfg: DictConfig, data: Mapping[str, Any], commit: str) -> dict[str, Any]:
    """The identifying fields of results.json: task, data, method, seed, commit, command.

    `data`: ``data_fields``; `commit`: the checkout's commit, read when the run started
    (``git_commit``).
    """
    model_cfg = cfg.get("model") or {}
    target = model_cfg.get("_target_", "") if model_cfg else ""
    from src.utils.key_sources import command_line

    overrides = command_line()
    return {
        "task_name": cfg.get("task_name"),
        "dataset": data.get("dataset"),
        "synthetic": data.get("synthetic"),
        "method": chosen_option("model") or target.rsplit(".", 1)[-1] or None,
        "code_length": model_cfg.get("code_length") if model_cfg else None,
        "seed": cfg.get("seed"),
        "val_mode": data.get("val_mode"),
        # the store's feature widths and extractor (None in a failed run's record)
        "image_dim": data.get("image_dim"),
        "text_dim": data.get("text_dim"),
        "feature_extractor": data.get("feature_extractor"),
        "git_commit": commit,
        "command": " ".join(sys.argv),
        "overrides": overrides,
        "variant": variant(overrides),
        # the resolved values the numbers depend on (src/report/drift.py compares them)
        "settings": result_settings(cfg),
    }


def checkpoint_files(folder: str | os.PathLike | None) -> dict[str, dict[str, Any]]:
    """What the checkpoint folder holds, by file name: ``{"bytes": n}`` for a file,
    ``{"link_to": name}`` for a link (one copy of two equal checkpoints)."""
    if folder is None or not Path(folder).is_dir():
        return {}
    files: dict[str, dict[str, Any]] = {}
    for path in sorted(Path(folder).iterdir()):
        if path.is_symlink():
            files[path.name] = {"link_to": os.readlink(path)}
        elif path.is_file():
            files[path.name] = {"bytes": path.stat().st_size}
    return files


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


def write_run_records(
    cfg: DictConfig,
    trainer: Trainer,
    run: Mapping[str, Any],
    fields: Mapping[str, Any],
    curves: list[Any],
    expected: Iterable[str] = (),
    partial: str | None = None,
) -> None:
    """Write results.json and curves.json into the run directory and the HPARAMS entry.

    `run`: ``run_info``; `fields`: ``metrics`` (and ``best_metrics``, checkpoint paths...);
    `curves`: the test curves of each ``trainer.test`` call, in order (the last epoch, then
    the best checkpoint when it was tested too); `expected`: the metric names the protocol
    expects (`src.utils.metric_names.expected_metrics`). The status is "completed" only when
    each of them is there and finite, else "incomplete" with an ``error`` naming what is
    missing (`record_status`), or with ``partial`` as its error when the metrics cover only
    part of a split (`src.utils.coverage.partial_coverage`). Rank zero only writes.
    """
    if not trainer.is_global_zero:
        return
    out = Path(cfg.paths.output_dir)
    metrics = {**fields.get("metrics", {}), **(fields.get("best_metrics") or {})}
    status = record_status(metrics, expected, partial) | collapse_flag(metrics)
    if status["status"] != COMPLETED:
        line = f"warning: {out / 'results.json'}: status {status['status']}: {status['error']}"
        log.warning(line)
        print(
            line, file=sys.stderr, flush=True
        )  # beside the run's other warnings, not only the log
    write_json(out / "results.json", {**run, **status, **fields})
    if curves:
        write_json(out / "curves.json", dict(zip(("test", "best/test"), curves)))
    log_hparams_with_metrics(trainer, cfg, run, metrics)


def record_status(
    metrics: Mapping[str, Any], expected: Iterable[str], partial: str | None = None
) -> dict[str, str]:
    """``{"status": "completed"}`` when every name of ``expected`` is in ``metrics`` and
    finite and the metrics cover whole splits (``partial`` None), else ``{"status":
    "incomplete", "error": <partial first, then which are missing or not finite>}``:
    ``partial`` (a loop or the training cut short) is the cause when both apply."""
    problems = missing_metrics(metrics, expected)
    missing = "expected metrics missing or not finite: " + ", ".join(problems) if problems else ""
    if partial:  # the cause first: a cut-short loop also leaves metrics out
        return {"status": INCOMPLETE, "error": partial + (f"; {missing}" if missing else "")}
    return {"status": INCOMPLETE, "error": missing} if missing else {"status": COMPLETED}


def collapse_flag(metrics: Mapping[str, Any]) -> dict[str, str]:
    """``{"collapsed": <what>}`` when a test's codes collapsed (``test/collapsed`` or
    ``best/test/collapsed`` 1: src/models/collapse.py), beside the status, else {}: a
    collapsed model is a real (bad) model, evaluated and flagged, never a clean result."""
    flagged = [key for key in ("test/collapsed", "best/test/collapsed") if metrics.get(key) == 1]
    if not flagged:
        return {}
    parts = []
    for key in flagged:
        stage = key.rsplit("/", 1)[0]
        for name in ("image", "text"):
            value = metrics.get(f"{stage}/distinct_{name}", float("nan"))
            parts.append(f"{stage}/distinct_{name} {value:.4f}")
    return {"collapsed": f"{', '.join(flagged)}: test codes collapsed ({', '.join(parts)})"}


def write_failed_record(cfg: DictConfig, error: str, commit: str) -> None:
    """results.json of a run that failed: its identity, ``status: failed`` and why."""
    # the store may never have been read: the data as configured, synthetic unknown
    run = run_info(cfg, {"dataset": chosen_option("data")}, commit)
    payload = {**run, "status": FAILED, "error": error, "metrics": {}}
    write_json(Path(cfg.paths.output_dir, "results.json"), payload)
