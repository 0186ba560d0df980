"""Per-chunk metric sums of `src.metrics.functional.evaluate_retrieval` and their reduction.

A chunk of query rows yields per-query values (AP@k, AP over the whole set, hits at each k) and
per-radius sums of the Hamming-ball precision/recall curve; `finish` averages them over all
queries. Stable-tie values come from relevance in rank order (`ranked_metrics`), tie-averaged
ones from the counts per distance value in closed form (`src.metrics.tie_average`), and the
compiled path's from `src.metrics.fused` (`fused_chunk`).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from src.metrics import ranking, tie_average


def ranked_metrics(rel: Tensor, k: int | None, map_all: bool, ks: list[int]) -> dict:
    """AP@k, AP over the whole set and hits at each of `ks`, per query, from relevance (q, n)
    bool in stable rank order (n = nr when `map_all`, else n >= k and every k of `ks`)."""
    out: dict[str, Tensor] = {}
    ends = ([k] if k else []) + ([rel.shape[1]] if map_all else [])
    sums, found, hits = ranking.ranked_sums(rel, ends, ks)
    if k:
        out["ap_k"] = sums[:, 0] / found[:, 0].clamp(min=1)
    if map_all:
        out["ap_all"] = sums[:, -1] / found[:, -1].clamp(min=1)
    if ks:
        out["hits"] = hits  # (q, len(ks))
    return out


def average_chunk(work, sl, k, map_all, ks, pr_curve) -> Iterator[dict[str, Tensor]]:
    """Tie-averaged metrics of the query rows `sl`, from the per-distance counts."""
    D, R = work.distances(sl), work.relevance(sl)  # (q, nr) uint8, bool
    yield average_metrics(ranking.bucket_counts(D, R, work.c), k, map_all, ks, pr_curve)


def average_metrics(counts: tuple[Tensor, Tensor], k, map_all, ks, pr_curve) -> dict:
    """Tie-averaged metrics from the counts n, r (q, c + 1) float64 per distance value."""
    out: dict[str, Tensor] = {}
    if k:
        out["ap_k"] = tie_average.expected_ap(*counts, k)
    if map_all:
        out["ap_all"] = tie_average.expected_ap(*counts, None)
    if ks:
        out["hits"] = torch.stack([tie_average.expected_hits(*counts, x) for x in ks], 1)
    if pr_curve:
        out["pr"] = pr_sums(*counts)
    return out


def fused_chunk(work, sl, k, map_all, ks, pr_curve, ties) -> Iterator[dict[str, Tensor]]:
    """Metrics of the query rows `sl` from the compiled kernels (`src.metrics.fused`)."""
    if ties == "average":
        yield average_metrics(work.rank(sl, None, False, [], True)[1], k, map_all, ks, pr_curve)
        return
    out, counts = work.rank(sl, k, map_all, ks, pr_curve)
    if counts is not None:
        out["pr"] = pr_sums(*counts)
    yield out


def pr_sums(n: Tensor, r: Tensor) -> Tensor:
    """Per radius (4, c + 1): sum of precision, queries that retrieved something, sum of recall,
    queries with a relevant item, from the bucket counts n, r (q, c + 1)."""
    retrieved, hits = n.cumsum(1), r.cumsum(1)  # (q, c + 1)
    n_rel = hits[:, -1:]  # (q, 1) relevant items of each query
    some, has_rel = retrieved > 0, (n_rel > 0).expand_as(hits)
    precision = torch.where(some, hits / retrieved.clamp(min=1), torch.zeros_like(hits))
    recall = torch.where(has_rel, hits / n_rel.clamp(min=1), torch.zeros_like(hits))
    return torch.stack([precision.sum(0), some.sum(0), recall.sum(0), has_rel.sum(0)]).double()


def finish(acc: dict[str, list[Tensor]], topk, ks: list[int]) -> dict[str, Tensor]:
    """The outputs of `src.metrics.functional.evaluate_retrieval` from the chunks' values
    ``acc`` (per key, the chunks' tensors in query order): means over all queries of AP@k
    (``map@{topk}``) and AP (``map@all``), 0-dim float64; ``ks`` int64 and ``p@k`` (len(ks),)
    float64; the precision/recall curves (c + 1,) from the per-radius sums."""
    out: dict[str, Tensor] = {}
    if "ap_k" in acc:
        out[f"map@{topk}"] = torch.cat(acc["ap_k"]).mean()
    if "ap_all" in acc:
        out["map@all"] = torch.cat(acc["ap_all"]).mean()
    if "hits" in acc:
        k = torch.tensor(ks, dtype=torch.float64, device=acc["hits"][0].device)
        out["ks"] = torch.tensor(ks, dtype=torch.int64)
        out["p@k"] = (torch.cat(acc["hits"]) / k).mean(0)
    if "pr" in acc:
        s = torch.stack(acc["pr"]).sum(0)  # (4, c + 1)
        out["pr_precision"] = s[0] / s[1].clamp(min=1)
        out["pr_recall"] = s[2] / s[3].clamp(min=1)
    return out
