"""The headline table of the bench (issue 24): every method at every code length, per dataset.

One table per dataset (per store where a dataset has runs of several, src/report/stores.py):
a row per (code length, method), a column per direction and metric (test mAP@50 and mAP@all,
last epoch), each cell the mean ± standard error (sample std / sqrt(n)) over the row's n seeds;
the highest mean of each code length in each column in bold (ties: every method whose mean,
as shown to 4 decimals, equals it; marked only where two or more methods ran that code length);
a cell of another number of seeds than most rows of its table says so (``(n=k)``); a method
not run at a code length "not run". Only the official runs of the experiments as configured,
at their configured epochs (the rows that the code-length tables use: no ablation or other
variant, no held-out run, no run of another training length). The time per run is the median
over the row's runs of results.json ``timing.total_s`` (src/utils/timing.py; a resumed run,
which timed only its own part, is left out), the machines named below the table.
"""

from __future__ import annotations

import math
import statistics

from src.report.runs import DIRECTIONS, METRICS, Key, Run, configured

DIGITS = 4  # decimals shown; ties for the best are judged on the numbers as shown
COLUMNS = [f"{DIRECTIONS[m[:3]]} {m[4:].replace('map', 'mAP')}" for m in METRICS]
NOTE = (
    "Official protocol runs of each experiment as configured "
    "(`python src/train.py experiment=<dataset>_<method>_<bits>bit seed=<s>`: no "
    "result-changing override, the official training split, the configured epochs), test "
    "metrics of the last epoch. Each cell: mean ± standard error (sample std / sqrt(n)) over the "
    "n seeds of its row; one seed has no error; a cell whose n differs from that of most rows "
    "of its table says `(n=k)`. **Bold**: the highest mean of that code length in that column "
    "(ties: every method with the same mean to 4 decimals); a bold cell may be level with "
    "others within noise (the margin tables below give 95 % intervals). Time per run: the "
    "median wall-clock time of the row's runs (results.json `timing.total_s`; resumed runs "
    "left out), on the machines named under each table. A method without an official run on a "
    "dataset has no rows.\n\n"
)


def mean_se(values: list[float]) -> tuple[float, float | None]:
    """Mean and standard error of the mean (sample std with n - 1, over sqrt(n)); None for
    a single value."""
    mean = math.fsum(values) / len(values)
    if len(values) < 2:
        return mean, None
    var = math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(var / len(values))


def shown(value: float) -> str:
    """A mean or an error as the table shows it."""
    return f"{value:.{DIGITS}f}"


def metric_cell(values: list[float], best: bool, usual: int) -> str:
    """``mean ± se`` (bold when ``best``), ``(n=k)`` when k is not the ``usual`` count."""
    if not values:
        return "not run"
    mean, se = mean_se(values)
    text = shown(mean) if se is None else f"{shown(mean)} ± {shown(se)}"
    text = f"**{text}**" if best else text
    return text + (f" (n={len(values)})" if len(values) != usual else "")


def usual_count(counts: list[int]) -> int:
    """The most frequent of ``counts`` (runs per row), the larger of equally frequent ones.

    >>> usual_count([3, 3, 5, 1]), usual_count([1, 2])
    (3, 2)
    """
    return max(set(counts), key=lambda n: (counts.count(n), n))


def best_methods(cells: dict[str, list[float]]) -> set[str]:
    """The methods whose shown mean is the highest of ``cells`` (method -> values of one code
    length and column); none where fewer than two methods ran."""
    means = {m: shown(mean_se(v)[0]) for m, v in cells.items() if v}
    if len(means) < 2:
        return set()
    top = max(float(s) for s in means.values())
    return {m for m, s in means.items() if float(s) == top}


def duration(seconds: float) -> str:
    """Seconds in the unit that reads best: "42 s", "12.5 min", "1.52 h"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.2f} h"


def time_cell(runs: list[Run]) -> str:
    """The median time per run of ``runs`` that recorded a whole run's time, with how many
    did when not all; "not recorded" when none did."""
    times = [r.time_s for r in runs if r.time_s is not None]
    if not times:
        return "not recorded" if runs else ""
    counted = "" if len(times) == len(runs) else f" ({len(times)} of {len(runs)} runs)"
    return duration(statistics.median(times)) + counted


def headline_table(groups: dict[Key, list[Run]], dataset: str) -> list[str]:
    """The markdown lines of ``dataset``'s table (``groups``: rows as configured)."""
    keys = [k for k in groups if k[0] == dataset]
    methods, bits = sorted({k[1] for k in keys}), sorted({k[3] for k in keys})
    usual = usual_count([len(groups[k]) for k in keys])
    runs_of = {(m, b): groups.get((dataset, m, "", b), []) for m in methods for b in bits}
    synthetic = any(r.synthetic for k in keys for r in groups[k])
    lines = [f"### {dataset}" + (" (SYNTHETIC: generated data, not a benchmark)" * synthetic)]
    header = ["bits", "method", *COLUMNS, "n (seeds)", "time per run"]
    lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for b in bits:
        values = {
            m: {x: [r.metrics[x] for r in runs_of[(m, b)]] for x in METRICS} for m in methods
        }
        best = {x: best_methods({m: values[m][x] for m in methods}) for x in METRICS}
        for m in methods:
            runs = runs_of[(m, b)]
            seeds = ", ".join(str(s) for s in sorted({r.seed for r in runs}, key=str))
            row = [str(b), m, *(metric_cell(values[m][x], m in best[x], usual) for x in METRICS)]
            row += [f"{len(runs)} ({seeds})" if runs else "0", time_cell(runs)]
            lines.append("| " + " | ".join(row) + " |")
    machines = sorted({r.machine for k in keys for r in groups[k] if r.machine})
    timed = "Timed on: " + "; ".join(machines) + "." if machines else "No run recorded its time."
    return lines + ["", timed, ""]


def headline_tables(groups: dict[Key, list[Run]]) -> str:
    """The headline section (markdown) of the official runs ``groups`` of the configured
    epochs: :data:`NOTE` and a table per dataset; "" when no row is an experiment as
    configured."""
    groups = configured(groups)
    if not groups:
        return ""
    text = "## Headline: every method at every code length\n\n" + NOTE
    for dataset in sorted({k[0] for k in groups}):
        text += "\n".join(headline_table(groups, dataset)) + "\n"
    return text
