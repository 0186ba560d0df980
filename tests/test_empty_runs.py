"""A run that computed nothing is not "completed", and every metric name is checked before
training (issue 22, third trial): batch limits that leave a phase with no batch are refused in
train.py and eval.py alike; results.json says "incomplete" when a metric the protocol expects
is missing or not finite, and the report and the archive skip it; a checkpoint monitor or
optimized_metric that the run never logs is refused before any epoch."""

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from omegaconf import OmegaConf

from report_runs import load_script, result, write

from src.report.runs import Skip, load_run
from src.report.schema import record_problem
from src.utils.errors import ConfigError
from src.utils.metric_names import check_metric_names, expected_metrics
from src.utils.records import record_status, write_run_records
from src.utils.run_checks import check_run

SIZES = {"train": 160, "query": 40, "retrieval": 260, "val_query": 40, "val_retrieval": 160}


class Metric:
    def __init__(self, topk, ks, compute_map_all) -> None:
        self.topk, self.ks, self.compute_map_all = topk, ks, compute_map_all


def listed(metric: Metric, n: int, stage: str) -> set[str]:
    """The names a test/validation of ``metric`` over ``n`` retrieval items logs, written out
    from src/metrics/retrieval.py's ``compute`` (a plain listing)."""
    names = set()
    for kind in ([f"map@{metric.topk}"] if metric.topk else []) + (
        ["map@all"] if metric.compute_map_all else []
    ):
        names |= {f"{stage}/{kind}", f"{stage}/i2t_{kind}", f"{stage}/t2i_{kind}"}
    return names | {f"{stage}/{d}_p@{min(k, n)}" for k in metric.ks for d in ("i2t", "t2i")}


def random_model(rng: np.random.Generator) -> SimpleNamespace:
    topk = [None, 10, 50][int(rng.integers(0, 3))]
    ks = sorted({int(k) for k in rng.integers(1, 400, size=int(rng.integers(1, 4)))})
    metric = Metric(topk, ks, bool(rng.integers(0, 2)) or topk is None)
    return SimpleNamespace(val_metric=metric, test_metric=metric)


def test_a_record_is_completed_only_with_every_expected_metric() -> None:
    """20 generated metric settings and stages: all expected metrics finite -> "completed";
    each one removed, NaN, infinite or a string in turn -> "incomplete" naming it."""
    rng = np.random.default_rng(27)
    for _ in range(20):
        model = random_model(rng)
        stages = [["test"], ["test", "best/test"], ["val"]][int(rng.integers(0, 3))]
        expected = expected_metrics(model, SIZES, stages)
        plain = set()
        for stage in stages:
            n = SIZES["val_retrieval" if stage == "val" else "retrieval"]
            plain |= listed(model.test_metric, n, stage)
        assert set(expected) == plain
        metrics = {name: float(rng.uniform(0, 1)) for name in expected}
        metrics |= {"train/loss": 1.0, "val/collapsed": 0.0}
        assert record_status(metrics, expected) == {"status": "completed"}
        for name in expected:
            for bad in (None, math.nan, math.inf, -math.inf, "0.5"):
                changed = dict(metrics)
                changed.pop(name) if bad is None else changed.__setitem__(name, bad)
                status = record_status(changed, expected)
                assert status["status"] == "incomplete" and name in status["error"], (name, bad)


def test_an_incomplete_record_is_written_and_never_tabled_or_archived(tmp_path: Path) -> None:
    """write_run_records with each expected metric of a run missing in turn: results.json says
    "incomplete" with the name; the schema accepts it, the report skips it, the archive
    does not take it."""
    archive = load_script("archive_results")
    expected = ["test/i2t_map@50", "test/t2i_map@50", "test/i2t_map@all", "test/t2i_map@all"]
    trainer = SimpleNamespace(is_global_zero=True, loggers=[])
    for index, name in enumerate(expected):
        run_dir = tmp_path / f"run{index}"
        run_dir.mkdir()
        cfg = OmegaConf.create({"paths": {"output_dir": str(run_dir)}, "model": {}})
        metrics = {m: 0.5 for m in expected if m != name}
        run = {k: v for k, v in result("agch", 32, 0).items() if k != "metrics"}
        write_run_records(cfg, trainer, run, {"metrics": metrics}, [], expected)
        record = json.loads((run_dir / "results.json").read_text())
        assert record["status"] == "incomplete" and f"{name} (missing)" in record["error"]
        assert record_problem(record) is None
        with pytest.raises(Skip, match="status incomplete"):
            load_run(run_dir / "results.json", None)
        target, why = archive.target_of(run_dir, tmp_path / "archive")
        assert target is None and "incomplete" in why
    complete = write(tmp_path / "full" / "results.json", result("agch", 32, 0, status="completed"))
    assert load_run(complete, None).bits == 32


def lightning_limit(trainer: dict, stage: str) -> float | int:
    """The batch limit Lightning applies to a stage, read off Trainer's debugging flags
    (lightning/pytorch/trainer/setup.py) written out as a table of cases."""
    fast, overfit = trainer["fast_dev_run"], trainer["overfit_batches"]
    if overfit and stage in ("train", "val"):
        return overfit
    if fast:
        return 1 if fast is True else fast
    value = trainer[f"limit_{stage}_batches"]
    return 1.0 if value is None else value


def batches_run(n_items: int, batch: int, drop_last: bool, limit: float | int) -> int:
    """Batches a loader runs, counted by walking the items."""
    chunks = [list(range(n_items))[i : i + batch] for i in range(0, n_items, batch)]
    full = len([c for c in chunks if len(c) == batch or not drop_last])
    return int(full * limit) if isinstance(limit, float) else min(full, limit)


LIMITS = [None, 0, 0.0, 0.01, 0.1, 0.5, 1.0, 1, 2]


def test_a_phase_left_without_a_batch_is_refused_in_both_scripts() -> None:
    """300 generated trainer settings (limits, fast_dev_run, overfit_batches, batch sizes)
    for a training run and for eval.py (no train key): refused with one trainer./data. line
    exactly when a loader of a phase that runs would have no batch, or the test would run
    none (a test limit of 0 recorded "completed" with empty metrics)."""
    rng = np.random.default_rng(271)
    refused = 0
    for case in range(300):
        pick = lambda options: options[int(rng.integers(0, len(options)))]  # noqa: E731
        trainer = {f"limit_{s}_batches": pick(LIMITS) for s in ("train", "val", "test")}
        trainer |= {"fast_dev_run": pick([False, 0, True, 1, 3]), "overfit_batches": 0}
        trainer["overfit_batches"] = pick([0, 0.0, 0, 1, 0.01, 2])
        data = {"batch_size": pick([8, 32, 64]), "eval_batch_size": pick([16, 64, 1024])}
        cfg = {"data": {**data, "drop_last": True}, "trainer": {**trainer, "max_epochs": 3}}
        eval_py = case % 3 == 0
        if not eval_py:
            cfg |= {"train": True, "test": bool(rng.integers(0, 2))}
        phases = {"test": ("query", "retrieval")}
        if not eval_py:
            phases |= {"train": ("train",), "val": ("val_query", "val_retrieval")}
            if not cfg["test"]:
                phases.pop("test")
        empty = False
        for phase, splits in phases.items():
            limit = lightning_limit(trainer, phase)
            if phase == "val" and limit == 0:
                continue  # validation turned off
            for split in splits:
                batch = data["batch_size"] if phase == "train" else data["eval_batch_size"]
                drop = phase == "train"
                empty |= batches_run(SIZES[split], batch, drop, limit) == 0 or limit == 0
        config = OmegaConf.create(cfg)
        if not empty:
            check_run(config, SIZES, topk=50)
            continue
        refused += 1
        with pytest.raises(ConfigError) as error:
            check_run(config, SIZES, topk=50)
        assert str(error.value).startswith(("trainer.", "data.batch_size: ")), str(error.value)
        assert "\n" not in str(error.value)
    assert refused > 60


def test_every_metric_name_of_the_configuration_is_checked_before_training() -> None:
    """Generated names for optimized_metric, the checkpoint's monitor and an early-stopping
    monitor: accepted exactly when each is null or a validation metric the run logs (a plain
    listing); any name refused, naming its key, when the run never validates."""
    rng = np.random.default_rng(272)
    for _ in range(40):
        model = random_model(rng)
        n = int(rng.integers(5, 300))
        logged = listed(model.val_metric, n, "val") | {"val/collapsed", "val/objective"}
        pool = [*sorted(logged), "val/nonexistent", "test/map@50", "train/loss", "val/map@7"]
        names = {
            "optimized_metric": pool[int(rng.integers(0, len(pool)))],
            "callbacks.model_checkpoint.monitor": pool[int(rng.integers(0, len(pool)))],
            "callbacks.early_stopping.monitor": [None, *pool][int(rng.integers(0, len(pool)))],
        }
        cfg = OmegaConf.create({"train": True, "trainer": {"max_epochs": 3}, "callbacks": {}})
        cfg.optimized_metric = names["optimized_metric"]
        for key in ("model_checkpoint", "early_stopping"):
            cfg.callbacks[key] = {"_target_": "x.Y", "monitor": names[f"callbacks.{key}.monitor"]}
        bad = [k for k, v in names.items() if v is not None and v not in logged]
        if not bad:
            check_metric_names(cfg, model, {"val_retrieval": n})
            cfg.trainer.limit_val_batches = 0
            bad = ["optimized_metric"]
        with pytest.raises(ConfigError) as error:
            check_metric_names(cfg, model, {"val_retrieval": n})
        assert str(error.value).startswith(f"{bad[0]}: "), (names, str(error.value))
