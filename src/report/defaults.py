"""How the runs as configured today differ from the same experiments' runs under earlier
defaults, paired by seed.

A row whose variant is a pure drift (src/report/drift.py: its settings differ from today's
composition only by defaults that changed since) holds today's experiment under its old
defaults, so a seed's two runs differ by those defaults alone and their difference is a paired
change, like an ablation's.
"""

from src.report.runs import DIRECTIONS, Key, Run
from src.report.tables import getter, paired_change


def defaults_tables(groups: dict[Key, list[Run]]) -> str:
    """Per (dataset, method, drift) with runs under earlier defaults: one row per direction,
    one column per code length those runs have, each cell the test mAP@50 of the runs as
    configured minus the runs with ``drift``, paired by seed (:func:`paired_change`: the mean
    change ± std(changes) / sqrt(n) and its reading; "not run" where no run as configured
    exists). Markdown; empty when no row is a pure drift."""
    pure = sorted({key[:3] for key, runs in groups.items() if key[2] and key[2] == runs[0].drift})
    lines = []
    for dataset, method, drift in pure:
        bits = sorted({key[3] for key in groups if key[:3] == (dataset, method, drift)})
        header = ["direction", *(f"{b} bits" for b in bits)]
        lines += [f"### {dataset}, {method}: as configured minus the runs with `{drift}`", ""]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for d, name in DIRECTIONS.items():
            row, value = [name], getter("metrics", f"{d}_map@50")
            for b in bits:
                now = groups.get((dataset, method, "", b), [])
                old = {run.seed: run for run in groups[(dataset, method, drift, b)]}
                row.append(paired_change(now, old, value) if now else "not run")
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    return "\n".join(lines)
