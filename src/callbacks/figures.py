"""TensorBoard figures of the evaluation (P@k and precision-recall curves of I->T and T->I)
and histograms of the per-bit balance of the training codes. (curves.json is written from
src/callbacks/curves.py, whatever the callbacks configured.)

Figures are drawn on `matplotlib.figure.Figure` objects rendered by the Agg canvas, so no
display and no pyplot backend is needed.
"""

from typing import Any

from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import TensorBoardLogger
from matplotlib.figure import Figure

from src.callbacks.curves import Curves, plain_curves

DIRECTIONS = {"i2t": "I->T", "t2i": "T->I"}


def line_figure(
    series: dict[str, tuple[list[float], list[float]]],
    xlabel: str,
    ylabel: str,
    title: str,
    logx: bool = False,
) -> Figure:
    """One axis with a line per label; series maps label -> (x, y)."""
    figure = Figure(figsize=(4.5, 3.5), dpi=100, layout="constrained")
    ax = figure.subplots()
    for label, (x, y) in series.items():
        ax.plot(x, y, marker=".", label=label)
    if logx:
        ax.set_xscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    return figure


def pr_points(curve: dict[str, list[float]]) -> tuple[list[float], list[float]]:
    """(recall, precision) of the Hamming radii that retrieve a relevant item (the others
    have no meaningful precision)."""
    pairs = [(r, p) for r, p in zip(curve["pr_recall"], curve["pr_precision"]) if r > 0]
    return [r for r, _ in pairs], [p for _, p in pairs]


def curve_figures(curves: Curves, title: str) -> dict[str, Figure]:
    """The P@k and the PR figure ("p@k", "pr") of both directions."""
    pk = {DIRECTIONS[d]: (c["ks"], c["p@k"]) for d, c in curves.items()}
    pr = {DIRECTIONS[d]: pr_points(c) for d, c in curves.items()}
    return {
        "p@k": line_figure(pk, "k", "precision@k", f"{title}: P@k", logx=True),
        "pr": line_figure(pr, "recall", "precision", f"{title}: PR (Hamming radius)"),
    }


def tensorboard_writer(trainer: Trainer) -> Any:
    """The SummaryWriter of the first TensorBoardLogger, or None without one."""
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            return logger.experiment
    return None


class RetrievalFigures(Callback):
    """P@k and PR figures per evaluation, bit-balance histograms per epoch."""

    def __init__(self, validation: bool = True, histograms: bool = True) -> None:
        self.validation = validation
        self.histograms = histograms

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        writer = tensorboard_writer(trainer)
        if not (self.histograms and trainer.is_global_zero and writer is not None):
            return
        bit_means = getattr(pl_module, "bit_means", None)  # CrossModalHashingModule's
        if bit_means is None:
            return
        # codes of rank zero's shard under DDP: a sample of the epoch's codes
        for name, means in bit_means().items():
            writer.add_histogram(f"train/bit_mean_{name}", means, trainer.global_step)

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        metric = getattr(pl_module, "val_metric", None)
        if trainer.sanity_checking or not self.validation or metric is None:
            return
        if tensorboard_writer(trainer) is not None:  # the same on every rank
            self._draw(trainer, plain_curves(metric.curves()), "val")

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        metric = getattr(pl_module, "test_metric", None)
        if metric is None:
            return
        if tensorboard_writer(trainer) is not None:  # the same on every rank
            # every rank computes: curves() gathers the rows across processes
            self._draw(trainer, plain_curves(metric.curves()), "test")

    @staticmethod
    def _draw(trainer: Trainer, curves: Curves, prefix: str) -> None:
        writer = tensorboard_writer(trainer)
        if writer is None or not trainer.is_global_zero:
            return
        for name, figure in curve_figures(curves, prefix).items():
            writer.add_figure(f"{prefix}/curve_{name}", figure, trainer.global_step, close=True)
