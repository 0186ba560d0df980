"""The training-health table of a report: each trained module's final figures beside the
results (src/callbacks/health.py writes them into results.json as ``health/<module>/<figure>``).

Per row (dataset, method, variant, bits) whose runs carry the figures, one line per module:
the mean over seeds of ``weight_change`` (relative distance from the initial weights),
``own_loss_ratio`` (the module's own loss terms at the last epoch over the first) and
``pairwise_cos`` (mean pairwise cosine of its codes in a batch), each with its range over the
seeds, and a note naming the seeds in which the module moved less than ``min_change`` (the
callback's default warning threshold, 1 %): a module that did not learn is visible beside the
numbers it produced.
"""

from __future__ import annotations

from src.report.runs import Key, Run

FIGURES = ("weight_change", "own_loss_ratio", "pairwise_cos")
MIN_CHANGE = 0.01  # configs/callbacks/training_health.yaml: min_weight_change


def _summary(values: list[float]) -> str:
    """ "mean" for one value, "mean (min-max)" for several, 4 decimals."""
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f"{mean:.4f}"
    return f"{mean:.4f} ({min(values):.4f}-{max(values):.4f})"


def _module_row(module: str, runs: list[Run], min_change: float) -> str:
    """One table line for ``module`` over the ``runs`` that recorded it."""
    cells = [f"`{module}`"]
    for figure in FIGURES:
        values = [r.health[f"{module}/{figure}"] for r in runs if f"{module}/{figure}" in r.health]
        cells.append(_summary(values) if values else "-")
    still = [
        str(r.seed)
        for r in runs
        if r.health.get(f"{module}/weight_change", min_change) < min_change
    ]
    cells.append(f"moved < {min_change:.0%} in seed {', '.join(still)}" if still else "")
    return "| " + " | ".join(cells) + " |"


def health_tables(groups: dict[Key, list[Run]], min_change: float = MIN_CHANGE) -> str:
    """Markdown: per row of ``groups`` with any health figure, a table of its modules (sorted)
    with the mean and range over seeds of each figure and the seeds where the module's
    weight change is below ``min_change``; "" when no run recorded health figures."""
    lines = []
    for key in sorted(groups, key=lambda k: (k[0], k[1], k[2], k[3])):
        runs = [r for r in groups[key] if r.health]
        if not runs:
            continue
        dataset, method, variant, bits = key
        seeds = ", ".join(str(r.seed) for r in sorted(runs, key=lambda r: str(r.seed)))
        name = f"`{variant}`" if variant else "as configured"
        lines += [f"### {dataset}, {method}, {bits} bits, {name} (seeds {seeds})", ""]
        lines += ["| module | " + " | ".join(FIGURES) + " | note |", "|---|---|---|---|---|"]
        modules = sorted({k.split("/")[0] for r in runs for k in r.health})
        lines += [_module_row(m, runs, min_change) for m in modules]
        lines.append("")
    return "\n".join(lines)
