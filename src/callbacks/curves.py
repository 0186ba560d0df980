"""The test curves of a run (P@k and precision-recall of I->T and T->I), kept for curves.json.

Always on: src/train.py and src/eval.py add it themselves, so curves.json does not depend on
the configured callbacks (``callbacks=none`` still writes it) nor on a logger.
"""

from typing import Any

from lightning import Callback, LightningModule, Trainer

Curves = dict[str, dict[str, list[float]]]


def plain_curves(curves: dict[str, dict[str, Any]]) -> Curves:
    """`CrossModalRetrievalMetric.curves()` as lists of floats (JSON-ready)."""
    return {
        direction: {
            key: [float(v) for v in value.reshape(-1).tolist()] for key, value in d.items()
        }
        for direction, d in curves.items()
    }


class CurveRecorder(Callback):
    """Keeps the test curves of each ``trainer.test`` call, in order (train.py tests the last
    epoch, then the best checkpoint when it is another epoch)."""

    def __init__(self) -> None:
        self.curves: list[Curves] = []

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        metric = getattr(pl_module, "test_metric", None)  # CrossModalHashingModule's
        if metric is None:
            return
        # every rank computes: curves() gathers the rows across processes
        self.curves.append(plain_curves(metric.curves()))
