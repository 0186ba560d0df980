"""Retrieval metrics of the evaluation protocol (docs/method.md): the functional core
(`functional`, `ranking`, `tie_average`, checked inputs in `inputs`) and the stateful
torchmetrics wrapper (`retrieval`)."""

from src.metrics.functional import (
    DEFAULT_KS,
    effective_ks,
    evaluate_retrieval,
    hamming_distance,
    mean_average_precision,
    precision_at_k,
    precision_recall_curve,
)
from src.metrics.retrieval import CrossModalRetrievalMetric

__all__ = [
    "DEFAULT_KS",
    "CrossModalRetrievalMetric",
    "effective_ks",
    "evaluate_retrieval",
    "hamming_distance",
    "mean_average_precision",
    "precision_at_k",
    "precision_recall_curve",
]
