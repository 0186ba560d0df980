"""What a run reports: the results.json payload and the console table of test metrics."""

import re
import sys
from typing import Any, Mapping

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

DIRECTIONS = {"i2t": "I->T", "t2i": "T->I"}


def scalar_metrics(metrics: Mapping[str, Any], prefixes: tuple[str, ...]) -> dict[str, float]:
    """The 0-dim logged metrics whose names start with one of `prefixes`, as floats."""
    out = {}
    for name, value in metrics.items():
        if name.startswith(prefixes) and getattr(value, "numel", lambda: 1)() == 1:
            out[name] = float(value)
    return dict(sorted(out.items()))


def _choice(group: str) -> str | None:
    """The option chosen for a config group in this Hydra run (None outside a Hydra run)."""
    if not HydraConfig.initialized():
        return None
    return HydraConfig.get().runtime.choices.get(group)


def run_info(cfg: DictConfig, datamodule: Any, commit: str) -> dict[str, Any]:
    """The identifying fields of results.json: task, data, method, seed, commit, command.

    `commit`: the checkout's commit, read when the run started (`git_commit`).
    """
    info = getattr(datamodule, "info", None)
    attrs = getattr(info, "attrs", None) or {}
    model_cfg = cfg.get("model") or {}
    target = model_cfg.get("_target_", "") if model_cfg else ""
    overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    return {
        "task_name": cfg.get("task_name"),
        "dataset": _choice("data") or attrs.get("dataset"),
        "synthetic": bool(datamodule.is_synthetic),
        "method": _choice("model") or target.rsplit(".", 1)[-1] or None,
        "code_length": model_cfg.get("code_length") if model_cfg else None,
        "seed": cfg.get("seed"),
        "val_mode": getattr(datamodule, "val_mode", None),  # data.val_mode (docs/data.md)
        "git_commit": commit,
        "command": " ".join(sys.argv),
        "overrides": overrides,
    }


def _natural(name: str) -> tuple:
    """Sort key that orders p@100 before p@1000 and map@50 before map@all."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def _table_rows(metrics: Mapping[str, float], prefix: str) -> list[tuple[str, str, str, str]]:
    """(metric, I->T, T->I, mean) rows from names like test/i2t_map@50 and test/map@50."""
    pattern = re.compile(rf"^{re.escape(prefix)}/(i2t|t2i)_(.+)$")
    table: dict[str, dict[str, float]] = {}
    for name, value in metrics.items():
        match = pattern.match(name)
        if match:
            table.setdefault(match.group(2), {})[match.group(1)] = value
    rows = []
    for metric, values in sorted(table.items(), key=lambda item: _natural(item[0])):
        mean = metrics.get(f"{prefix}/{metric}")
        cells = [f"{values[d]:.4f}" if d in values else "-" for d in DIRECTIONS]
        rows.append((metric, *cells, "-" if mean is None else f"{mean:.4f}"))
    return rows


def print_metrics_table(metrics: Mapping[str, float], prefix: str, title: str) -> None:
    """Print the I->T / T->I table of the metrics under `prefix` (e.g. "test")."""
    table = Table(title=title)
    for column in ("metric", *DIRECTIONS.values(), "mean"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for row in _table_rows(metrics, prefix):
        table.add_row(*row)
    Console().print(table)


def table_title(what: str, run: Mapping[str, Any]) -> str:
    """Title naming the data and code length; it starts with a warning for synthetic data."""
    bits = f", {run['code_length']} bits" if run.get("code_length") else ""
    title = f"{what}, {run.get('dataset')}{bits}"
    if run.get("synthetic"):
        title = f"SYNTHETIC data, not a benchmark: {title}"
    return title
