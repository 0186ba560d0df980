"""Independent per-query references of the retrieval metrics (plain loops, stable argsort),
shared by the metric tests; nothing here calls src.metrics."""

from __future__ import annotations

import numpy as np


def ref_relevance(lq: np.ndarray, Lr: np.ndarray) -> np.ndarray:
    return np.array([bool(np.any((lq > 0) & (row > 0))) for row in Lr])


def ref_ap(rel_ranked: np.ndarray, n_relevant: int | None) -> float:
    """AP of one ranking; n_relevant None means: normalise by the hits in the ranking."""
    hits, total = 0, 0.0
    for pos, is_rel in enumerate(rel_ranked, start=1):
        if is_rel:
            hits += 1
            total += hits / pos
    denom = hits if n_relevant is None else n_relevant
    return total / denom if denom > 0 else 0.0


def ref_distances(bq: np.ndarray, Br: np.ndarray) -> np.ndarray:
    return np.array([np.sum(bq != br) for br in Br])


def ref_map(Bq, Br, Lq, Lr, topk=None) -> float:
    aps = []
    for bq, lq in zip(Bq, Lq):
        rel = ref_relevance(lq, Lr)
        order = np.argsort(ref_distances(bq, Br), kind="stable")
        if topk is None:
            aps.append(ref_ap(rel[order], int(rel.sum())))
        else:
            aps.append(ref_ap(rel[order][:topk], None))
    return float(np.mean(aps))


def ref_precision_at_k(Bq, Br, Lq, Lr, ks) -> np.ndarray:
    out = np.zeros(len(ks))
    for bq, lq in zip(Bq, Lq):
        rel = ref_relevance(lq, Lr)[np.argsort(ref_distances(bq, Br), kind="stable")]
        for i, k in enumerate(ks):
            k = min(k, len(rel))
            out[i] += rel[:k].sum() / k
    return out / len(Bq)


def random_case(rng: np.random.Generator, c: int, nq: int, nr: int, multi: bool, n_cls: int):
    """Codes drawn from a small pool (many exact ties), labels with some empty rows."""
    pool = rng.choice([-1, 1], size=(max(3, nr // 4), c))
    Bq = pool[rng.integers(0, len(pool), nq)] * rng.choice([1, -1], size=(nq, c), p=[0.9, 0.1])
    Br = pool[rng.integers(0, len(pool), nr)]
    if multi:
        Lq = (rng.random((nq, n_cls)) < 0.2).astype(np.uint8)
        Lr = (rng.random((nr, n_cls)) < 0.2).astype(np.uint8)
    else:
        Lq, Lr = rng.integers(0, n_cls, nq), rng.integers(0, n_cls, nr)
    return Bq, Br, Lq, Lr


def one_hot(L: np.ndarray, n: int) -> np.ndarray:
    return np.eye(n, dtype=np.uint8)[L] if L.ndim == 1 else L
