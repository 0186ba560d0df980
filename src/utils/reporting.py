"""What a run prints: the console table of test metrics."""

import re
from typing import Any, Mapping

from rich.console import Console
from rich.table import Table

DIRECTIONS = {"i2t": "I->T", "t2i": "T->I"}


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
