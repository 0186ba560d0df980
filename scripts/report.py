"""Collect the results.json of runs and multiruns into a markdown table and PNG plots.

Usage: python scripts/report.py logs/train [more dirs...] [--out docs/results.md] [--margins agch]
       [--plots-dir docs/figures] [--paper docs/paper_results.json] [--tasks train]

A new --out file is written whole; an existing one must hold the lines BEGIN and END (below),
and only the text between them is replaced, so the commentary of docs/results.md stays.

Rows group runs by (dataset, method, variant, bits), the variant being the result-changing
overrides beyond the experiment (src/utils/run_setting.py; "-" for the experiment as
configured); each cell is the mean ± sample std over the runs
(seeds) of the test metric of the last epoch. Variants also get a table beside the
experiment as configured, with their change paired by seed; --margins METHOD (default agch)
adds, per dataset, that method's mean minus each other method's with the standard error of the
difference. Files that cannot be used are listed with the reason and left out. Runs that
wrote curves.json also get P@k and PR plots.
"""

import argparse
import json
import math
import os
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from matplotlib.figure import Figure

from src.utils.io import write_text_atomic
from src.utils.run_setting import variant

DIRECTIONS = {"i2t": "I->T", "t2i": "T->I"}
METRICS = ("i2t_map@50", "t2i_map@50", "i2t_map@all", "t2i_map@all")
HEADERS = ("I->T mAP@50", "T->I mAP@50", "I->T mAP@all", "T->I mAP@all")
# docs/results.md keeps its hand-written text; the generated tables go between these lines
BEGIN, END = "<!-- report.py: begin -->", "<!-- report.py: end -->"
RUN_KEYS = ("dataset", "method", "code_length", "seed", "metrics")


class Skip(Exception):
    """A results.json that cannot be used, with the reason."""


@dataclass
class Run:
    """The fields of one results.json that the report uses."""

    path: Path
    dataset: str
    method: str
    bits: int
    seed: Any
    synthetic: bool
    metrics: dict[str, float]
    # result-changing overrides beyond the experiment ("" for the experiment as configured)
    variant: str
    curves: dict[str, dict[str, list[float]]] | None = field(default=None)


def load_run(path: Path, tasks: set[str] | None) -> Run:
    """Read one results.json (and curves.json beside it); raises Skip with the reason."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise Skip(f"unreadable ({type(err).__name__}: {err})") from err
    if not isinstance(data, dict):
        raise Skip("unreadable (not a JSON object)")
    missing = [key for key in RUN_KEYS if key not in data]
    missing += [
        f"metrics/test/{m}" for m in METRICS if f"test/{m}" not in (data.get("metrics") or {})
    ]
    if missing:
        raise Skip(f"missing keys: {', '.join(missing)}")
    if tasks is not None and data.get("task_name") not in tasks:
        raise Skip(f"task {data.get('task_name')!r} not in --tasks")
    metrics = {m: data["metrics"][f"test/{m}"] for m in METRICS}
    bad = [
        m for m, v in metrics.items() if not isinstance(v, (int, float)) or not math.isfinite(v)
    ]
    if bad:
        raise Skip(f"non-finite metrics: {', '.join(f'test/{m}' for m in bad)}")
    return Run(
        path=path,
        dataset=str(data["dataset"]),
        method=str(data["method"]),
        bits=int(data["code_length"]),
        seed=data["seed"],
        synthetic=bool(data.get("synthetic", False)),
        metrics={m: float(v) for m, v in metrics.items()},
        variant=variant(data.get("overrides")),
        curves=load_curves(path.with_name("curves.json")),
    )


def load_curves(path: Path) -> dict[str, dict[str, list[float]]] | None:
    """The last-epoch test curves of curves.json, or None when absent or unreadable."""
    try:
        return json.loads(path.read_text())["test"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def collect(dirs: Iterable[Path], tasks: set[str] | None) -> tuple[list[Run], list[str]]:
    """Every usable run under `dirs` (recursively), and a line per skipped file."""
    runs, skipped = [], []
    paths = sorted({p.resolve() for d in dirs for p in Path(d).rglob("results.json")})
    for path in paths:
        try:
            runs.append(load_run(path, tasks))
        except Skip as reason:
            skipped.append(f"{path}: {reason}")
    return runs, skipped


Key = tuple[str, str, str, int]  # dataset, method, variant, bits


def group(runs: list[Run]) -> dict[Key, list[Run]]:
    """Runs by (dataset, method, variant, bits), in that sort order."""
    groups: dict[Key, list[Run]] = defaultdict(list)
    for run in runs:
        groups[(run.dataset, run.method, run.variant, run.bits)].append(run)
    return dict(sorted(groups.items()))


def configured(groups: dict[Key, list[Run]]) -> dict[Key, list[Run]]:
    """The rows of the experiments as configured (no ablation or other variant)."""
    return {key: runs for key, runs in groups.items() if not key[2]}


def mean_std(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (ddof 1; None for a single run)."""
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), float(array.std(ddof=1)) if array.size > 1 else None


def cell(values: list[float]) -> str:
    mean, std = mean_std(values)
    return f"{mean:.4f}" if std is None else f"{mean:.4f} ± {std:.4f}"


def markdown(groups: dict[Key, list[Run]], sources: list[str], n_skipped: int) -> str:
    """The results table with a title, its sources and a plain warning for synthetic data."""
    lines = ["## All runs", ""]
    lines.append(f"Generated by `scripts/report.py` from {', '.join(f'`{s}`' for s in sources)}.")
    lines.append(
        "Test metrics of the last epoch; mean ± sample std over the runs (seeds) of a row; "
        f"{n_skipped} results.json skipped (listed by the script)."
    )
    lines.append(
        "`variant`: the result-changing overrides beyond the experiment, shared by every run of "
        "the row (`-`: the experiment as configured)."
    )
    if any(run.synthetic for runs in groups.values() for run in runs):
        lines += ["", "**Rows marked SYNTHETIC use generated data: they are not benchmarks.**"]
    header = ("dataset", "method", "variant", "bits", *HEADERS, "seeds", "n runs")
    lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (dataset, method, var, bits), runs in groups.items():
        name = f"{dataset} (SYNTHETIC)" if any(r.synthetic for r in runs) else dataset
        cells = [cell([r.metrics[m] for r in runs]) for m in METRICS]
        seeds = ", ".join(str(s) for s in sorted({r.seed for r in runs}, key=str))
        shown = f"`{var}`" if var else "-"
        row = [name, method, shown, str(bits), *cells, seeds, str(len(runs))]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def load_paper(path: Path | None) -> dict[str, Any]:
    """The paper's numbers (see docs/paper_results.json), or {} without --paper."""
    if path is None:
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise SystemExit(f"error: {path}: unreadable paper numbers ({err})") from err


def code_columns(groups: dict[Key, list[Run]], dataset: str) -> list[tuple[str, int]]:
    """The (direction, bits) columns of a dataset's per-code-length tables, in order."""
    bits = sorted({key[3] for key in groups if key[0] == dataset})
    return [(d, b) for d in DIRECTIONS for b in bits]


def map50(groups: dict[Key, list[Run]], dataset: str, method: str, d: str, b: int) -> list[float]:
    """mAP@50 in direction ``d`` of the runs of the experiment as configured, one per seed."""
    return [r.metrics[f"{d}_map@50"] for r in groups.get((dataset, method, "", b), [])]


def bits_tables(groups: dict[Key, list[Run]], paper: dict[str, Any]) -> str:
    """Per dataset: mAP@50 with a column per direction and code length, a row per method
    (the experiments as configured), the paper's rows beside them, and which measured method
    is highest in each column."""
    groups = configured(groups)
    lines = []
    for dataset in sorted({key[0] for key in groups}):
        columns = code_columns(groups, dataset)
        header = ["method", *(f"{DIRECTIONS[d]} {b}" for d, b in columns)]
        lines += [f"### {dataset}: mAP@50 (test, last epoch; mean ± std over seeds)", ""]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        means: dict[str, dict[tuple[str, int], float]] = {}
        for method in sorted({key[1] for key in groups if key[0] == dataset}):
            row, means[method] = [method], {}
            for d, b in columns:
                values = map50(groups, dataset, method, d, b)
                row.append(f"{cell(values)} (n={len(values)})" if values else "")
                if values:
                    means[method][(d, b)] = mean_std(values)[0]
            lines.append("| " + " | ".join(row) + " |")
        entry = paper.get(dataset, {})
        for method, numbers in sorted(entry.get("methods", {}).items()):
            label = f"{method} (paper, {entry.get('features', 'its features')})"
            row = [label]
            for d, b in columns:
                value = numbers.get(d, {}).get(str(b))
                row.append("" if value is None else f"{value:.3f}")
            lines.append("| " + " | ".join(row) + " |")
        best = []
        for column in columns:
            scored = {m: v[column] for m, v in means.items() if column in v}
            complete = len(scored) == len(means)  # a winner only among all the methods
            best.append(max(scored, key=scored.get) if complete else "(not all run)")
        lines += ["| highest measured | " + " | ".join(best) + " |", ""]
    return "\n".join(lines)


def reading(diff: float, se: float) -> str:
    """The reading of a difference ``diff`` with standard error ``se``: "above" or "below"
    beyond two standard errors, else "within 2 SE"."""
    return "above" if diff > 2 * se else "below" if diff < -2 * se else "within 2 SE"


def margin_tables(groups: dict[Key, list[Run]], lead: str) -> str:
    """Per dataset with ``lead`` and another method (experiments as configured): for each
    direction and code length, mean(lead) - mean(other) of mAP@50 with the standard error of
    that difference, sqrt(s_lead^2 / n_lead + s_other^2 / n_other), and a reading: "above" or
    "below" beyond two standard errors, "within 2 SE" inside them, "one seed" when either side
    has a single run (no spread to compare with). Two standard errors are a rough guide at three
    seeds, not a significance test."""
    groups = configured(groups)
    lines = []
    for dataset in sorted({key[0] for key in groups}):
        methods = sorted({key[1] for key in groups if key[0] == dataset})
        if lead not in methods or len(methods) < 2:
            continue
        columns = code_columns(groups, dataset)
        header = ["against", *(f"{DIRECTIONS[d]} {b}" for d, b in columns)]
        lines += [f"### {dataset}: {lead} minus each other method, mAP@50", ""]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for other in (m for m in methods if m != lead):
            row = [other]
            for d, b in columns:
                a, o = map50(groups, dataset, lead, d, b), map50(groups, dataset, other, d, b)
                if not a or not o:
                    row.append("not run")
                    continue
                (mean_a, std_a), (mean_o, std_o) = mean_std(a), mean_std(o)
                diff = mean_a - mean_o
                if std_a is None or std_o is None:
                    row.append(f"{diff:+.4f} (one seed)")
                    continue
                se = math.sqrt(std_a**2 / len(a) + std_o**2 / len(o))
                row.append(f"{diff:+.4f} ± {se:.4f} ({reading(diff, se)})")
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    return "\n".join(lines)


def ablation_tables(groups: dict[Key, list[Run]]) -> str:
    """Per (dataset, method, bits) that has variants: mAP@50 of the experiment as configured
    and of each variant, and each variant's change paired by seed (variant minus configured,
    over the seeds both ran; unpaired seeds count in the means but not in the change). With two
    or more pairs the change is given with its standard error, std(changes) / sqrt(n), and the
    reading of :func:`reading`; at two or three seeds that is a rough guide, not a test."""
    lines = []
    for dataset, method, bits in sorted({(k[0], k[1], k[3]) for k in groups if k[2]}):
        base = {run.seed: run for run in groups.get((dataset, method, "", bits), [])}
        header = ["variant", "I->T mAP@50", "T->I mAP@50", "I->T change", "T->I change", "seeds"]
        lines += [f"### {dataset}, {method}, {bits} bits", ""]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        variants = [("", list(base.values()))] + [
            (key[2], runs)
            for key, runs in groups.items()
            if key[:2] == (dataset, method) and key[3] == bits and key[2]
        ]
        for name, runs in variants:
            row = [f"`{name}`" if name else "- (as configured)"]
            row += [
                cell([r.metrics[f"{d}_map@50"] for r in runs]) if runs else "not run"
                for d in DIRECTIONS
            ]
            paired = [r for r in runs if r.seed in base]
            for d in DIRECTIONS:
                m = f"{d}_map@50"
                changes = [r.metrics[m] - base[r.seed].metrics[m] for r in paired]
                if not name:
                    row.append("")
                elif not changes:
                    row.append("no shared seed")
                else:
                    mean, std = mean_std(changes)
                    if std is None:
                        row.append(f"{mean:+.4f} (n=1)")
                        continue
                    se = std / math.sqrt(len(changes))
                    row.append(f"{mean:+.4f} ± {se:.4f} (n={len(changes)}, {reading(mean, se)})")
            row.append(", ".join(str(s) for s in sorted({r.seed for r in runs}, key=str)))
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    return "\n".join(lines)


def plot_map_vs_bits(groups: dict[Key, list[Run]], out_dir: Path) -> list[Path]:
    """One PNG per dataset: mAP@50 against bits, I->T and T->I panels, a line per method."""
    written = []
    groups = configured(groups)
    for dataset in sorted({key[0] for key in groups}):
        figure = Figure(figsize=(9, 3.6), layout="constrained")
        for ax, (d, label) in zip(figure.subplots(1, 2), DIRECTIONS.items()):
            for method in sorted({k[1] for k in groups if k[0] == dataset}):
                keys = sorted(k for k in groups if k[:2] == (dataset, method))
                stats = [mean_std([r.metrics[f"{d}_map@50"] for r in groups[k]]) for k in keys]
                bits = [k[3] for k in keys]
                errors = [s or 0.0 for _, s in stats]
                ax.errorbar(
                    bits, [m for m, _ in stats], yerr=errors, marker="o", capsize=3, label=method
                )
            ax.set(xscale="log", xlabel="bits", ylabel="mAP@50", title=f"{dataset}: {label}")
            ticks = sorted({k[3] for k in groups if k[0] == dataset})
            ax.set_xticks(ticks)
            ax.set_xticklabels([str(b) for b in ticks])
            ax.grid(alpha=0.3)
            ax.legend()
        written.append(save(figure, out_dir / f"map50_{dataset}.png"))
    return written


def mean_curve(runs: list[Run], direction: str, key: str) -> np.ndarray | None:
    """Pointwise mean of one curve over the runs that saved it with the same length."""
    curves = [r.curves[direction][key] for r in runs if r.curves and direction in r.curves]
    if not curves or len({len(c) for c in curves}) != 1:
        return None
    return np.mean(np.asarray(curves, dtype=np.float64), axis=0)


def plot_curves(groups: dict[Key, list[Run]], out_dir: Path) -> list[Path]:
    """Per dataset and bits with saved curves: P@k and PR panels per direction, a line per
    method."""
    written = []
    groups = configured(groups)
    for dataset, bits in sorted({(k[0], k[3]) for k in groups}):
        keys = [k for k in groups if (k[0], k[3]) == (dataset, bits)]
        if not any(r.curves for k in keys for r in groups[k]):
            continue
        figure = Figure(figsize=(9, 7), layout="constrained")
        axes = figure.subplots(2, 2)
        for col, (d, label) in enumerate(DIRECTIONS.items()):
            for key in keys:
                runs = groups[key]
                ks, pk = mean_curve(runs, d, "ks"), mean_curve(runs, d, "p@k")
                if ks is not None and pk is not None:
                    axes[0, col].plot(ks, pk, marker=".", label=key[1])
                rec, prec = mean_curve(runs, d, "pr_recall"), mean_curve(runs, d, "pr_precision")
                if rec is not None and prec is not None:
                    found = rec > 0  # radii that retrieve no relevant item have no precision
                    axes[1, col].plot(rec[found], prec[found], marker=".", label=key[1])
            axes[0, col].set(xscale="log", xlabel="k", ylabel="precision@k", title=f"{label}: P@k")
            axes[1, col].set(xlabel="recall", ylabel="precision", title=f"{label}: PR")
            for ax in axes[:, col]:
                ax.grid(alpha=0.3)
                ax.legend()
        figure.suptitle(f"{dataset}, {bits} bits (test, last epoch; mean over seeds)")
        written.append(save(figure, out_dir / f"curves_{dataset}_{bits}bits.png"))
    return written


def save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dirs", nargs="+", type=Path, help="folders searched for results.json")
    parser.add_argument("--out", type=Path, default=Path("docs/results.md"), help="markdown file")
    parser.add_argument("--plots-dir", type=Path, default=Path("docs/figures"), help="PNG folder")
    parser.add_argument(
        "--paper", type=Path, default=None, help="JSON of the paper's numbers, shown beside"
    )
    parser.add_argument(
        "--margins",
        default="agch",
        metavar="METHOD",
        help="method compared with each other one, per cell ('' for none; default agch)",
    )
    parser.add_argument(
        "--tasks", nargs="*", default=["train"], help="task_name values kept (none: all)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Write the table and the plots; exit status 1 when no run could be used."""
    args = parse_args(argv)
    runs, skipped = collect(args.dirs, set(args.tasks) if args.tasks else None)
    for line in skipped:
        print(f"skipped {line}")
    if not runs:
        print(
            "error: no usable results.json under " + ", ".join(map(str, args.dirs)),
            file=sys.stderr,
        )
        return 1
    try:
        old = args.out.read_text() if args.out.is_file() else None
        if old is not None and not (BEGIN in old and END in old.split(BEGIN, 1)[1]):
            raise ValueError(f"has no {BEGIN} ... {END} lines to put the tables between")
    except (OSError, UnicodeDecodeError, ValueError) as err:
        print(f"error: {args.out}: {err}; choose another --out", file=sys.stderr)
        return 1
    groups = group(runs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    plots = plot_map_vs_bits(groups, args.plots_dir) + plot_curves(groups, args.plots_dir)
    text = markdown(groups, [str(d) for d in args.dirs], len(skipped))
    text += "\n## mAP@50 against code length\n\n" + bits_tables(groups, load_paper(args.paper))
    margins = margin_tables(groups, args.margins) if args.margins else ""
    if margins:
        text += f"\n## {args.margins} against the other methods (difference of means ± SE)\n\n"
        text += margins
    if any(key[2] for key in groups):
        text += "\n## Ablations and other variants (mAP@50, paired by seed)\n\n"
        text += ablation_tables(groups)
    links = [f"![{p.stem}]({os.path.relpath(p, args.out.parent)})" for p in plots]
    block = text + "\n## Plots\n\n" + "\n\n".join(links) + "\n"
    if old is None:
        new = f"# Results\n\n{BEGIN}\n{block}{END}\n"
    else:  # hand-written text around the markers stays as it is
        head, rest = old.split(BEGIN, 1)
        new = f"{head}{BEGIN}\n{block}{END}{rest.split(END, 1)[1]}"
    write_text_atomic(args.out, new)
    print(
        f"{len(runs)} runs in {len(groups)} rows -> {args.out}; "
        f"{len(plots)} plots in {args.plots_dir}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
