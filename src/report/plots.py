"""The PNG figures of a report: mAP@50 against the code length (with the paper's numbers
beside the measured ones), and P@k and precision-recall curves.

Every figure is written atomically (src/utils/io.py): a failed write leaves no partial PNG.
"""

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

from src.report.runs import DIRECTIONS, Key, Run, configured, mean_std
from src.report.stores import file_tag
from src.utils.io import atomic_path


def paper_points(paper: dict[str, Any], dataset: str, method: str, d: str) -> dict[int, float]:
    """{bits: mAP@50} the paper reports for ``method`` on ``dataset`` in direction ``d``."""
    numbers = paper.get(dataset, {}).get("methods", {}).get(method, {}).get(d, {})
    return {int(bits): float(value) for bits, value in numbers.items()}


def code_length_axis(ax: Axes, bits: list[int]) -> None:
    """A log2 x axis with a tick and a plain label at each code length and no minor ticks
    (matplotlib's log axis would label minor ticks such as 2x10^1 between them)."""
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(bits))
    ax.xaxis.set_major_formatter(lambda value, _: f"{value:g}")
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())


def map_vs_bits_figure(
    groups: dict[Key, list[Run]], dataset: str, paper: dict[str, Any]
) -> Figure:
    """mAP@50 against bits on ``dataset``: an I->T and a T->I panel, a solid line per
    measured method (experiments as configured; error bars: std over seeds) and a dashed one
    of the same colour per method the paper reports on ``dataset``."""
    groups = configured(groups)
    figure = Figure(figsize=(9, 3.6), layout="constrained")
    measured = sorted({k[1] for k in groups if k[0] == dataset})
    reported = sorted(paper.get(dataset, {}).get("methods", {}))
    colours = {m: f"C{i}" for i, m in enumerate(dict.fromkeys(measured + reported))}
    for ax, (d, label) in zip(figure.subplots(1, 2), DIRECTIONS.items()):
        lengths = set()
        for method in measured:
            keys = sorted(k for k in groups if k[:2] == (dataset, method))
            stats = [mean_std([r.metrics[f"{d}_map@50"] for r in groups[k]]) for k in keys]
            bits = [k[3] for k in keys]
            lengths.update(bits)
            means, errors = [m for m, _ in stats], [s or 0.0 for _, s in stats]
            ax.errorbar(
                bits,
                means,
                yerr=errors,
                marker="o",
                capsize=3,
                label=method,
                color=colours[method],
            )
        for method in reported:
            points = paper_points(paper, dataset, method, d)
            if points:
                lengths.update(points)
                ax.plot(
                    list(points),
                    list(points.values()),
                    linestyle="--",
                    marker="s",
                    fillstyle="none",
                    color=colours[method],
                    label=f"{method} (paper)",
                )
        code_length_axis(ax, sorted(lengths))
        ax.set(xlabel="bits", ylabel="mAP@50", title=f"{dataset}: {label}")
        ax.grid(alpha=0.3)
        ax.legend()
    return figure


def length_tags(epochs: int | None) -> tuple[str, str]:
    """(file name suffix, title suffix) of the runs of ``epochs`` epochs chosen on the command
    line (src/report/protocols.py); empty for the configured epochs."""
    return ("", "") if epochs is None else (f"_{epochs}epochs", f", {epochs} epochs")


def plot_map_vs_bits(
    groups: dict[Key, list[Run]],
    out_dir: Path,
    paper: dict[str, Any] | None = None,
    epochs: int | None = None,
    draw: bool = True,
) -> list[Path]:
    """One PNG per dataset, ``out_dir/map50_<dataset>.png`` (`map_vs_bits_figure`); for runs
    of ``epochs`` epochs chosen on the command line, ``map50_<dataset>_<epochs>epochs.png``,
    the epochs in the title. Without ``draw``, only the paths it would write."""
    suffix, note = length_tags(epochs)
    written = []
    for dataset in sorted({key[0] for key in configured(groups)}):
        written.append(out_dir / f"map50_{file_tag(dataset)}{suffix}.png")
        if draw:
            figure = map_vs_bits_figure(groups, dataset, paper or {})
            if note:
                figure.suptitle(f"{dataset}{note} (trainer.max_epochs={epochs})")
            save(figure, written[-1])
    return written


def mean_curve(runs: list[Run], direction: str, key: str) -> np.ndarray | None:
    """Pointwise mean of one curve over the runs that saved it with the same length."""
    curves = [r.curves[direction][key] for r in runs if r.curves and direction in r.curves]
    if not curves or len({len(c) for c in curves}) != 1:
        return None
    return np.mean(np.asarray(curves, dtype=np.float64), axis=0)


def curves_figure(groups: dict[Key, list[Run]], keys: list[Key]) -> Figure:
    """P@k (top) and PR (bottom) panels per direction, a line per row of ``keys``."""
    figure = Figure(figsize=(9, 7), layout="constrained")
    axes = figure.subplots(2, 2)
    # one colour per method in every figure (its place among all methods of the report)
    colours = {m: f"C{i}" for i, m in enumerate(sorted({k[1] for k in groups}))}
    for col, (d, label) in enumerate(DIRECTIONS.items()):
        for key in keys:
            runs = groups[key]
            style = {"marker": ".", "color": colours[key[1]], "label": f"{key[1]} (n={len(runs)})"}
            ks, pk = mean_curve(runs, d, "ks"), mean_curve(runs, d, "p@k")
            if ks is not None and pk is not None:
                axes[0, col].plot(ks, pk, **style)
            rec, prec = mean_curve(runs, d, "pr_recall"), mean_curve(runs, d, "pr_precision")
            if rec is not None and prec is not None:
                found = rec > 0  # radii that retrieve no relevant item have no precision
                axes[1, col].plot(rec[found], prec[found], **style)
        axes[0, col].set(xscale="log", xlabel="k", ylabel="precision@k", title=f"{label}: P@k")
        axes[1, col].set(xlabel="recall", ylabel="precision", title=f"{label}: PR")
        for ax in axes[:, col]:
            ax.grid(alpha=0.3)
            ax.legend()
    return figure


def plot_curves(
    groups: dict[Key, list[Run]], out_dir: Path, epochs: int | None = None, draw: bool = True
) -> list[Path]:
    """Per dataset and bits with saved curves (experiments as configured): one PNG,
    ``out_dir/curves_<dataset>_<bits>bits.png`` (`curves_figure`); for runs of ``epochs``
    epochs chosen on the command line, ``..._<bits>bits_<epochs>epochs.png``. Without
    ``draw``, only the paths it would write."""
    suffix, note = length_tags(epochs)
    written = []
    groups = configured(groups)
    for dataset, bits in sorted({(k[0], k[3]) for k in groups}):
        keys = [k for k in groups if (k[0], k[3]) == (dataset, bits)]
        if not any(r.curves for k in keys for r in groups[k]):
            continue
        written.append(out_dir / f"curves_{file_tag(dataset)}_{bits}bits{suffix}.png")
        if draw:
            figure = curves_figure(groups, keys)
            figure.suptitle(f"{dataset}, {bits} bits{note} (test, last epoch; mean over seeds)")
            save(figure, written[-1])
    return written


def save(figure: Figure, path: Path) -> Path:
    """Write ``figure`` as a PNG at ``path`` atomically (its folder made if missing)."""
    with atomic_path(path, key="--plots-dir", parents=True) as tmp:
        figure.savefig(tmp, dpi=100, format="png")
    return path
