"""Hamming-ranking retrieval metrics of the protocol (docs/method.md, evaluation), exact.

Relevance: a retrieval item is relevant to a query when they share at least one label (label
forms: `src.metrics.inputs`). Ranking: by Hamming distance d = (c - b_q . b_r) / 2. Distances
take only c + 1 values, so ties are everywhere; two tie rules are offered:

- ``ties="stable"``: equal distances are ordered by retrieval index, so results do not depend
  on the sort algorithm, the library version or the device;
- ``ties="average"``: the expected value over all orders inside each tie group, in closed form
  (`src.metrics.tie_average`).

A hand-computed example: one query (label 0) and four items at distances 0, 2, 1, 0, the first
one irrelevant. Stable order: items 0, 3, 2, 1 with relevance 0, 1, 1, 1, so
AP@all = (1/2 + 2/3 + 3/4) / 3 and AP@2 = (1/2) / 1.

>>> import torch
>>> bq = torch.tensor([[1, 1]])
>>> br = torch.tensor([[1, 1], [-1, -1], [1, -1], [1, 1]])
>>> lq, lr = torch.tensor([0]), torch.tensor([1, 0, 0, 0])
>>> hamming_distance(bq, br)
tensor([[0, 2, 1, 0]], dtype=torch.int32)
>>> round(mean_average_precision(bq, br, lq, lr), 6), round((1 / 2 + 2 / 3 + 3 / 4) / 3, 6)
(0.638889, 0.638889)
>>> mean_average_precision(bq, br, lq, lr, topk=2)
0.5

With ties averaged, the relevant item of the tie group {0, 3} is at position 1 or 2 with equal
chance: AP@all = ((1 + 1/2) / 2 + 2/3 + 3/4) / 3 and AP@2 = (1 + 1/2) / 2.

>>> round(mean_average_precision(bq, br, lq, lr, ties="average"), 6)
0.722222
>>> round(mean_average_precision(bq, br, lq, lr, topk=2, ties="average"), 6)
0.75

P@k with k above the retrieval size N is the precision over the N items: it is named p@N.

>>> precision_at_k(bq, br, lq, lr, ks=(1, 2, 9)), precision_at_k(bq, br, lq, lr, (1,), "average")
(tensor([0.0000, 0.5000, 0.7500]), tensor([0.5000]))
>>> effective_ks((1, 2, 9, 12), 4)
[1, 2, 4]
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

from src.metrics import fused, ranking
from src.metrics.chunk_metrics import (
    average_chunk,
    finish,
    fused_chunk,
    pr_sums,
    ranked_metrics,
)
from src.metrics.inputs import ArrayLike, check_code_pair, check_label_pair, in_float32

TIES = ("stable", "average")
# The P@k cut-offs of the protocol (configs/model/*.yaml use the same list, tested).
DEFAULT_KS = (1, 100, 500, 1000, 2000, 3000, 4000, 5000)
DEFAULT_MEMORY_BUDGET_MB = 256
# Bytes per (query, item) pair that a chunk keeps: 8-bit distances and relevance (the tiles of
# the product and the row groups of the ranking add a few MiB: `src.metrics.ranking`).
_BYTES_PER_PAIR = 2
# The first K items of the stable order come from `ranking.stable_topk` up to this K, from
# the full counting sort above it (where the selection stops paying).
_TOPK_LIMIT = 1024
# On the CPU with numba installed (the [fast] extra) the compiled kernels of
# `src.metrics.kernels` rank each query row (tests set this False to run the numpy path).
USE_KERNELS = True
# Query rows per call of the kernels: their buffers are one row of nr items; what grows with
# the rows is the output, 16 bytes per distance value per row when the counts are asked for.
_KERNEL_ROWS = 4096


def effective_ks(ks: Sequence[int], n: int) -> list[int]:
    """The cut-offs actually used on n retrieval items: each k capped at n, sorted, unique.

    ValueError unless every k is a positive integer.
    """
    if any(isinstance(k, bool) or int(k) != k or int(k) < 1 for k in ks):
        raise ValueError(f"ks: expected positive integers, got {list(ks)}")
    return sorted({min(int(k), n) for k in ks})


@in_float32
def hamming_distance(query_codes: ArrayLike, retrieval_codes: ArrayLike) -> Tensor:
    """Exact Hamming distances int32 [nq, nr] of codes [nq, c], [nr, c] in {-1, +1}.

    d = (c - b_q . b_r) / 2 (docs/method.md); ValueError for codes outside {-1, +1}, of another
    rank or of different lengths.
    """
    Bq, Br = check_code_pair(query_codes, retrieval_codes)
    return ranking.distances(Bq, Br).to(torch.int32)


def _inputs(query_codes, retrieval_codes, query_labels, retrieval_labels):
    Bq, Br = check_code_pair(query_codes, retrieval_codes)
    nq, nr = Bq.shape[0], Br.shape[0]
    if nq == 0 or nr == 0:
        raise ValueError(f"query_codes, retrieval_codes: expected rows, got {nq} and {nr}")
    Lq, Lr = check_label_pair(query_labels, retrieval_labels, nq, nr, Bq.device)
    return Bq, Br, Lq, Lr


def _stable_chunk(work, sl, k, map_all, ks, pr_curve) -> Iterator[dict[str, Tensor]]:
    """Stable-tie metrics of the query rows `sl`, per row group (outputs: `evaluate_retrieval`).

    The first K <= `_TOPK_LIMIT` items come from `ranking.stable_topk`; mAP over the whole
    set and larger K from the counting-sort order of the 8-bit distances.
    """
    Lq, Lr, c = work.Lq[sl], work.Lr, work.c
    nr = Lr.shape[0]
    K = max([k or 0, *ks])
    D = work.distances(sl)  # (q, nr) uint8
    full = map_all or K > _TOPK_LIMIT
    R = work.relevance(sl) if full or pr_curve else None  # (q, nr) bool
    for g in ranking.row_groups(D.shape[0], nr):
        out = {"pr": pr_sums(*ranking.bucket_counts(D[g], R[g], c))} if pr_curve else {}
        if full:
            rel = R[g].gather(1, ranking.stable_order(D[g]).to(R.device))  # (g, nr) ranked
        elif K:
            rel = ranking.top_relevance(Lq[g], Lr, ranking.stable_topk(D[g], K))  # (g, K)
        if full or K:
            out.update(ranked_metrics(rel, k, map_all, ks))
        ranking.release_free_memory()  # bounds the resident memory (ranking's docstring)
        yield out


@in_float32
def evaluate_retrieval(
    query_codes: ArrayLike,
    retrieval_codes: ArrayLike,
    query_labels: ArrayLike,
    retrieval_labels: ArrayLike,
    *,
    topk: int | None = 50,
    map_all: bool = True,
    ks: Sequence[int] = (),
    pr_curve: bool = False,
    ties: str = "stable",
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
) -> dict[str, Tensor]:
    """All metrics of one retrieval direction in one chunked pass over the queries.

    Codes [nq, c], [nr, c] in {-1, +1}; labels multi-hot [n, L] or class ids [n]
    (`src.metrics.inputs`). Returns (only those asked for) ``map@{topk}`` and ``map@all``
    (0-dim float64), ``ks`` (the `effective_ks`, int64) with ``p@k`` (len(ks),) float64, and
    ``pr_precision``, ``pr_recall`` (c + 1,) float64 at Hamming radius 0..c (see
    `precision_recall_curve`). Computed in float32 and exact integers whatever the autocast
    state. ValueError for bad codes, labels, ``ties``, ``topk`` or ``ks``.
    """
    if ties not in TIES:
        raise ValueError(f"ties: expected one of {TIES}, got {ties!r}")
    if topk is not None and (isinstance(topk, bool) or int(topk) != topk or topk < 1):
        raise ValueError(f"topk: expected a positive integer or None, got {topk!r}")
    Bq, Br, Lq, Lr = _inputs(query_codes, retrieval_codes, query_labels, retrieval_labels)
    nr = Br.shape[0]
    k = None if topk is None else min(int(topk), nr)
    ks_used = effective_ks(ks, nr)
    acc: dict[str, list[Tensor]] = {}
    if USE_KERNELS and fused.usable(Bq):  # rows of nr items, counts of c + 1 values
        work = fused.FusedWork(Bq, Br, Lq, Lr)  # packed codes and label bits
        rows = max(1, min(_KERNEL_ROWS, int(memory_budget_mb * 2**20 // (16 * Br.shape[1] + 16))))
        chunk = functools.partial(fused_chunk, ties=ties)
    else:
        chunk = _stable_chunk if ties == "stable" else average_chunk
        rows = ranking.chunk_rows(nr, memory_budget_mb, _BYTES_PER_PAIR)
        work = ranking.ChunkWork(Bq, Br, Lq, Lr, rows)  # packed codes, reused buffers
    for sl in ranking.query_chunks(Bq.shape[0], rows):
        for part in chunk(work, sl, k, map_all, ks_used, pr_curve):
            for key, value in part.items():
                acc.setdefault(key, []).append(value)
    return finish(acc, topk, ks_used)


def mean_average_precision(
    query_codes: ArrayLike,
    retrieval_codes: ArrayLike,
    query_labels: ArrayLike,
    retrieval_labels: ArrayLike,
    topk: int | None = None,
    ties: str = "stable",
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
) -> float:
    """mAP of Hamming ranking: over the whole retrieval set (topk=None) or the protocol's mAP@k.

    topk=None: AP normalised by all relevant items of the query. topk=k: AP = mean over the
    relevant items found in the top k of (rank among the relevant / position), normalised by
    those found; k above the retrieval size means the whole set. A query with no relevant item
    (in the top k) gives 0 and still counts in the mean. Inputs and errors: `evaluate_retrieval`.
    """
    res = evaluate_retrieval(
        query_codes, retrieval_codes, query_labels, retrieval_labels, topk=topk,
        map_all=topk is None, ties=ties, memory_budget_mb=memory_budget_mb,
    )  # fmt: skip
    return float(res["map@all" if topk is None else f"map@{topk}"])


def precision_at_k(
    query_codes: ArrayLike,
    retrieval_codes: ArrayLike,
    query_labels: ArrayLike,
    retrieval_labels: ArrayLike,
    ks: Sequence[int],
    ties: str = "stable",
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
) -> Tensor:
    """Mean over queries of the fraction of relevant items in the top k, float32 (len(ks),),
    one value per k asked for; k above the retrieval size N gives the precision over the N
    items. ties="average" gives the expected precision over random orders inside tie groups.
    Inputs and errors: `evaluate_retrieval`."""
    res = evaluate_retrieval(
        query_codes, retrieval_codes, query_labels, retrieval_labels, topk=None,
        map_all=False, ks=ks, ties=ties, memory_budget_mb=memory_budget_mb,
    )  # fmt: skip
    used = res["ks"].tolist()  # each k capped at N; the largest is min(max(ks), N)
    return res["p@k"][[used.index(min(int(k), used[-1])) for k in ks]].float()


def precision_recall_curve(
    query_codes: ArrayLike,
    retrieval_codes: ArrayLike,
    query_labels: ArrayLike,
    retrieval_labels: ArrayLike,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
) -> tuple[Tensor, Tensor]:
    """Precision and recall (c + 1,) float32 of Hamming-ball retrieval at radius r = 0..c.

    Items with distance <= r are retrieved; both curves are means over queries, as in the
    DCMH/DJSRH-era evaluation code, with its conventions made explicit: precision at r is
    averaged over the queries that retrieved at least one item at r (an empty retrieval has no
    precision), recall over the queries that have at least one relevant item. Ties do not arise.
    Inputs and errors: `evaluate_retrieval`.
    """
    res = evaluate_retrieval(
        query_codes, retrieval_codes, query_labels, retrieval_labels, topk=None,
        map_all=False, pr_curve=True, memory_budget_mb=memory_budget_mb,
    )  # fmt: skip
    return res["pr_precision"].float(), res["pr_recall"].float()
