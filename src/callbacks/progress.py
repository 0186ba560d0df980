"""Progress display: a rich bar on a terminal, plain per-epoch lines in CI and SLURM logs."""

import sys
import time
from importlib.util import find_spec

import lightning as L
from lightning.pytorch.callbacks import ProgressBar, RichProgressBar


def _is_main_metric(name: str) -> bool:
    """The metrics worth a line: losses and the headline mAP@50 values."""
    return name.endswith("loss") or "map@50" in name


def _format_metrics(metrics: dict, prefixes: tuple[str, ...]) -> str:
    parts = [
        f"{name} {float(value):.4f}"
        for name, value in sorted(metrics.items())
        if name.startswith(prefixes) and _is_main_metric(name)
    ]
    return " | ".join(parts)


class PlainProgressBar(ProgressBar):
    """One plain line per epoch and per evaluation, no carriage returns (log-file friendly)."""

    def __init__(self) -> None:
        super().__init__()
        self._enabled = True
        self._fit_start = 0.0
        self._epoch_start = 0.0

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def _emit(self, line: str) -> None:
        if self._enabled:
            print(line, flush=True)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._fit_start = time.monotonic()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epoch_start = time.monotonic()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Lightning runs the epoch's validation before this hook, so val metrics are current.
        now = time.monotonic()
        head = (
            f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs} | "
            f"batches {self.total_train_batches} | step {trainer.global_step} | "
            f"{now - self._epoch_start:.1f}s (total {now - self._fit_start:.1f}s)"
        )
        metrics = _format_metrics(trainer.callback_metrics, ("train/", "val/"))
        self._emit(f"{head} | {metrics}" if metrics else head)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # During fit the epoch line reports validation; print here for trainer.validate() only.
        if trainer.state.fn != "validate":
            return
        self._emit(f"validation | {_format_metrics(trainer.callback_metrics, ('val/',))}")

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._emit(f"test | {_format_metrics(trainer.callback_metrics, ('test/',))}")


def auto_progress_bar(refresh_rate: int = 1) -> ProgressBar:
    """RichProgressBar when stdout is a terminal and rich is installed, else PlainProgressBar."""
    if sys.stdout.isatty() and find_spec("rich") is not None:
        return RichProgressBar(refresh_rate=refresh_rate)
    return PlainProgressBar()
