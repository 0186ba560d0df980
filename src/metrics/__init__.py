"""Retrieval metrics of the evaluation protocol (SPEC.md section 6)."""

from src.metrics.retrieval import (
    CrossModalRetrievalMetric,
    evaluate_retrieval,
    hamming_distance,
    mean_average_precision,
    precision_at_k,
    precision_recall_curve,
)

__all__ = [
    "CrossModalRetrievalMetric",
    "evaluate_retrieval",
    "hamming_distance",
    "mean_average_precision",
    "precision_at_k",
    "precision_recall_curve",
]
