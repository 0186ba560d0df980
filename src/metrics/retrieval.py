"""Hamming-ranking retrieval metrics of the protocol (SPEC.md section 6), vectorised and exact.

Relevance: a retrieval item is relevant to a query when they share at least one label.
Ranking: by Hamming distance d = (c - b_q . b_r) / 2. Distances take only c + 1 values, so ties
are everywhere; two tie rules are offered:

- ``ties="stable"``: equal distances are ordered by retrieval index (a stable sort), so results
  do not depend on the sort algorithm, the library version or the CPU.
- ``ties="average"``: the expected value over all orders inside each tie group, in closed form
  (see `_expected_ap`).

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
>>> precision_at_k(bq, br, lq, lr, ks=(1, 2, 9)), precision_at_k(bq, br, lq, lr, (1,), "average")
(tensor([0.0000, 0.5000, 0.7500]), tensor([0.5000]))
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

TIES = ("stable", "average")
DEFAULT_MEMORY_BUDGET_MB = 256
# Peak bytes per (query, item) pair of a chunk: float distances, float label products,
# relevance, sort keys/orders and the cumulative sums over the ranking (measured in
# benchmarks/bench_metrics.py; the full stable sort of mAP@all is the largest).
_BYTES_PER_PAIR = 40

ArrayLike = Tensor | np.ndarray | Sequence


def _as_tensor(x: ArrayLike, device: torch.device | None = None) -> Tensor:
    t = x if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x))
    return t.to(device) if device is not None else t


def _codes(B: ArrayLike, device: torch.device | None = None) -> Tensor:
    """Codes as float32 [n, c] with entries in {-1, +1}; raises ValueError otherwise."""
    B = _as_tensor(B, device).detach().to(torch.float32)
    if B.dim() != 2:
        raise ValueError(f"codes must be 2-D [n, c], got shape {tuple(B.shape)}")
    if not bool(((B == 1) | (B == -1)).all()):
        raise ValueError("codes must take values in {-1, +1} (for {0, 1} bits pass 2 * b - 1)")
    return B


def _labels(query_labels: ArrayLike, retrieval_labels: ArrayLike, device: torch.device):
    """Multi-hot float32 label matrices [nq, C] and [nr, C]; 1-D class ids become one-hot."""
    Lq, Lr = _as_tensor(query_labels, device), _as_tensor(retrieval_labels, device)
    if Lq.dim() == 1 and Lr.dim() == 1:
        n_classes = int(max(Lq.max(), Lr.max())) + 1
        Lq = torch.nn.functional.one_hot(Lq.long(), n_classes)
        Lr = torch.nn.functional.one_hot(Lr.long(), n_classes)
    if Lq.dim() != 2 or Lr.dim() != 2 or Lq.shape[1] != Lr.shape[1]:
        raise ValueError(
            f"labels must be both 1-D class ids or both [n, C] multi-hot with one C, got "
            f"shapes {tuple(Lq.shape)} and {tuple(Lr.shape)}"
        )
    return Lq.to(torch.float32), Lr.to(torch.float32)


def _inputs(query_codes, retrieval_codes, query_labels, retrieval_labels):
    Bq = _codes(query_codes)
    Br = _codes(retrieval_codes, Bq.device)
    if Bq.shape[1] != Br.shape[1]:
        raise ValueError(f"code lengths differ: {Bq.shape[1]} and {Br.shape[1]}")
    Lq, Lr = _labels(query_labels, retrieval_labels, Bq.device)
    if Lq.shape[0] != Bq.shape[0] or Lr.shape[0] != Br.shape[0]:
        raise ValueError("codes and labels must have the same number of rows")
    return Bq, Br, Lq, Lr


def _distance(Bq: Tensor, Br: Tensor) -> Tensor:
    """Hamming distances as float32 (q, nr), exact.

    Every partial sum of products of +-1 values is an integer far below 2^24, so a float32
    matmul is exact; on the benchmark CPU (AVX2) it is about 50x faster than XOR of packed
    64-bit words with a byte popcount table (benchmarks/bench_metrics.py measures both).
    """
    c = Bq.shape[1]
    return torch.addmm(Bq.new_tensor(c / 2), Bq, Br.T, alpha=-0.5)  # (q, nr)


def hamming_distance(query_codes: ArrayLike, retrieval_codes: ArrayLike) -> Tensor:
    """Exact Hamming distances int32 [nq, nr] between codes in {-1, +1}: d = (c - b_q . b_r)/2."""
    Bq = _codes(query_codes)
    Br = _codes(retrieval_codes, Bq.device)
    if Bq.shape[1] != Br.shape[1]:
        raise ValueError(f"code lengths differ: {Bq.shape[1]} and {Br.shape[1]}")
    return _distance(Bq, Br).to(torch.int32)


def _chunks(
    Bq: Tensor, Br: Tensor, memory_budget_mb: float, keys: bool = False
) -> Iterator[tuple[slice, Tensor]]:
    """Query slices within the memory budget, with their distances (q, nr) float32, or with
    ``keys=True`` the stable ranking keys of `_fused_keys` instead."""
    nr = Br.shape[0]
    rows = max(1, int(memory_budget_mb * 2**20 // (_BYTES_PER_PAIR * max(nr, 1))))
    for start in range(0, Bq.shape[0], rows):
        sl = slice(start, start + rows)
        yield sl, _fused_keys(Bq[sl], Br) if keys else _distance(Bq[sl], Br)


def _keys_exact_in_float32(c: int, nr: int) -> bool:
    """Whether every key distance * nr + index (< (c + 1) nr) is an exact float32 integer."""
    return (c + 1) * nr < 2**24


def _fused_keys(Bq: Tensor, Br: Tensor) -> Tensor:
    """Keys distance * nr + index (q, nr) float32 in one matmul: their order is the stable
    (distance, index) order. Exact while `_keys_exact_in_float32` holds; it saves the passes
    over the (q, nr) matrix that converting distances to integer keys costs."""
    nr, c = Br.shape
    bias = torch.arange(nr, dtype=torch.float32, device=Bq.device).add_(c / 2 * nr)  # (nr,)
    # d * nr + j = (c - b_q . b_r) nr / 2 + j
    return torch.addmm(bias.expand(Bq.shape[0], nr), Bq, Br.T, alpha=-nr / 2)  # (q, nr)


def _relevance(Lq: Tensor, Lr: Tensor) -> Tensor:
    """Shares at least one label: (..., q, n) bool from multi-hot (..., q, C) and (..., n, C)."""
    return (Lq @ Lr.transpose(-1, -2)) > 0


def _stable_top(D: Tensor, Lq: Tensor, Lr: Tensor, k: int, is_key: bool = False) -> Tensor:
    """Relevance (q, k) float32 of the first k items in (distance, index) order.

    ``D`` holds distances, or with ``is_key`` the keys of `_fused_keys` already.
    """
    nr = D.shape[1]
    if is_key:
        key = D
    else:
        # Unique integer keys distance * nr + index: the smallest k of them are exactly the
        # stable top k, and topk is O(nr) per row where a full sort is O(nr log nr).
        dtype = torch.int32 if (D.max().item() + 1) * nr < 2**31 else torch.int64
        key = D.to(dtype).mul_(nr).add_(torch.arange(nr, dtype=dtype, device=D.device))
    idx = torch.topk(key, k, dim=1, largest=False, sorted=True).indices  # (q, k)
    # relevance of the k winners only: no (q, nr) label product is needed for @k
    return _relevance(Lq[:, None, :], Lr[idx]).squeeze(1).to(torch.float32)


def _stable_order(D: Tensor) -> Tensor:
    """Stable argsort (q, nr) of integer-valued distances along each row."""
    if D.device.type == "cpu":
        # numpy's stable sort of 16-bit integers is a radix sort: O(nr) per row, several
        # times faster here than torch's comparison-based stable sort of a 2-D tensor.
        order = np.argsort(D.to(torch.int16).numpy(), axis=1, kind="stable")
        return torch.from_numpy(order)
    return torch.sort(D.to(torch.int16), dim=1, stable=True).indices


def _ap_from_ranking(rel: Tensor, n_relevant: Tensor) -> Tensor:
    """AP (q,) float64 of relevance (q, n) in rank order: summed precision at hits / n_relevant."""
    positions = torch.arange(1, rel.shape[1] + 1, device=rel.device, dtype=torch.float32)
    precision = rel.cumsum(1).div_(positions).mul_(rel)  # (q, n); exact counts below 2^24
    return precision.sum(1, dtype=torch.float64) / n_relevant.clamp(min=1)


def _bucket_counts(D: Tensor, R: Tensor, c: int) -> tuple[Tensor, Tensor]:
    """Items n and relevant items r per distance value, both (q, c + 1) float64."""
    idx = D.to(torch.int64)  # (q, nr)
    n = torch.zeros(D.shape[0], c + 1, device=D.device).scatter_add_(1, idx, torch.ones_like(D))
    r = torch.zeros_like(n).scatter_add_(1, idx, R.to(torch.float32))
    return n.double(), r.double()  # counts below 2^24 are exact in float32


def _tie_group_sums(L: Tensor, m: Tensor, RL: Tensor, y: Tensor) -> Tensor:
    """Expected sum of rank-among-relevant / position over the first m slots of a tie group.

    The group starts after L items (RL of them relevant) and its first m slots hold y relevant
    items, in uniformly random order. Slot u (1..m) is relevant with probability y / m; given
    that, the relevant items among the u - 1 slots before it number (u - 1)(y - 1)/(m - 1) on
    average (hypergeometric mean), so by linearity of expectation the sum is
        (y / m) [ (RL + 1) A + (y - 1) / (m - 1) Bs ],
        A = sum_u 1 / (L + u) = psi(L + m + 1) - psi(L + 1),
        Bs = sum_u (u - 1) / (L + u) = m - (L + 1) A.
    Zero when m or y is zero; Bs is zero when m = 1. All arguments broadcast, float64.
    """
    A = torch.digamma(L + m + 1) - torch.digamma(L + 1)
    Bs = m - (L + 1) * A
    ratio = torch.where(m > 1, (y - 1) / (m - 1).clamp(min=1), torch.zeros_like(y))
    out = y / m.clamp(min=1) * ((RL + 1) * A + ratio * Bs)
    return torch.where((m > 0) & (y > 0), out, torch.zeros_like(out))


def _log_binom(n: Tensor, k: Tensor) -> Tensor:
    return torch.lgamma(n + 1) - torch.lgamma(k + 1) - torch.lgamma(n - k + 1)


def _boundary(n: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Per query the tie group t (q, 1) holding position k, and the items L_t (q, 1) before it."""
    cum = n.cumsum(1)  # (q, c + 1)
    t = torch.searchsorted(cum, torch.full_like(cum[:, :1], k))  # first group with cum >= k
    return t, cum.gather(1, t) - n.gather(1, t)


def _expected_ap(n: Tensor, r: Tensor, topk: int | None) -> Tensor:
    """Tie-averaged AP (q,) float64 from the bucket counts n, r (q, c + 1).

    mAP@all: groups are whole; the expected AP is sum over groups of `_tie_group_sums` over the
    total number of relevant items (fixed by the data).
    mAP@k: groups before the boundary group t are whole; t contributes its first m = k - L_t
    slots, holding Y relevant items with Y ~ Hypergeometric(n_t, r_t, m). The AP is
    (S_full + S_t) / (RL_t + Y) with S_full independent of Y, so conditioning on Y = y,
        E[AP@k] = sum_y P(Y = y) (E[S_full] + E[S_t | y]) / (RL_t + y),
    where E[S_t | y] is `_tie_group_sums` with m slots and y relevant (given y, the relevant
    slots are a uniformly random y-subset of the m slots). A term with RL_t + y = 0 has no
    relevant item in the top k and AP 0. This is exact, not an approximation.
    """
    L, RL = n.cumsum(1) - n, r.cumsum(1) - r  # (q, c + 1) items / relevant before each group
    sums = _tie_group_sums(L, n, RL, r)  # (q, c + 1)
    nr = int(n[0].sum().item())
    if topk is None or topk >= nr:
        return sums.sum(1) / r.sum(1).clamp(min=1)
    t, L_t = _boundary(n, topk)
    groups = torch.arange(n.shape[1], device=n.device)
    S_full = (sums * (groups < t)).sum(1, keepdim=True)  # (q, 1)
    n_t, r_t, RL_t = n.gather(1, t), r.gather(1, t), RL.gather(1, t)  # (q, 1)
    m = topk - L_t  # (q, 1), 1 <= m <= n_t
    y = torch.arange(topk + 1, device=n.device, dtype=n.dtype)[None]  # (1, k + 1)
    valid = (y <= r_t) & (y <= m) & (m - y <= n_t - r_t)  # (q, k + 1)
    log_p = _log_binom(r_t, y) + _log_binom(n_t - r_t, m - y) - _log_binom(n_t, m)
    p = torch.where(valid, log_p, torch.full_like(log_p, -torch.inf)).exp()  # (q, k + 1)
    found = RL_t + y  # relevant items in the top k
    term = (S_full + _tie_group_sums(L_t, m, RL_t, y)) / found.clamp(min=1)
    return (p * torch.where(found > 0, term, torch.zeros_like(term))).sum(1)


def _expected_hits(n: Tensor, r: Tensor, k: int) -> Tensor:
    """Expected relevant items (q,) among the first k under random order inside tie groups."""
    t, L_t = _boundary(n, k)
    RL_t = (r.cumsum(1) - r).gather(1, t)
    n_t, r_t = n.gather(1, t), r.gather(1, t)
    return (RL_t + (k - L_t) * r_t / n_t.clamp(min=1)).squeeze(1)


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
    """All metrics of one retrieval direction in one chunked pass over the distance matrix.

    Returns (only those asked for) ``map@{topk}`` and ``map@all`` (0-dim float64), ``p@k``
    (len(ks),) float64 with each k capped at the retrieval size, and ``pr_precision``,
    ``pr_recall`` (c + 1,) float64 at Hamming radius 0..c (see `precision_recall_curve`).
    """
    if ties not in TIES:
        raise ValueError(f"ties must be one of {TIES}, got {ties!r}")
    Bq, Br, Lq, Lr = _inputs(query_codes, retrieval_codes, query_labels, retrieval_labels)
    nq, (nr, c) = Bq.shape[0], Br.shape
    if nq == 0 or nr == 0:
        raise ValueError(f"empty query ({nq}) or retrieval ({nr}) set")
    k = None if topk is None else min(int(topk), nr)
    if k is not None and k < 1:
        raise ValueError(f"topk must be positive, got {topk}")
    ks_capped = [min(int(x), nr) for x in ks]
    k_stable = max([k or 0, *ks_capped]) if ties == "stable" else 0
    acc: dict[str, list[Tensor]] = {"ap_k": [], "ap_all": [], "hits": [], "pr": []}
    # Only the stable top k asked for: rank by fused keys, never forming the distances.
    only_top = not (map_all or pr_curve) and ties == "stable" and _keys_exact_in_float32(c, nr)
    for sl, D in _chunks(Bq, Br, memory_budget_mb, keys=only_top):
        counts = None
        if map_all or pr_curve or ties == "average":
            R = _relevance(Lq[sl], Lr)  # (q, nr)
            n_rel = torch.count_nonzero(R, dim=1).double()  # (q,)
        if ties == "average" or pr_curve:
            counts = _bucket_counts(D, R, c)
        if k_stable:
            top = _stable_top(D, Lq[sl], Lr, k_stable, is_key=only_top)  # (q, k_stable)
            cum_hits = top.cumsum(1)
        if k is not None:
            acc["ap_k"].append(
                _ap_from_ranking(top[:, :k], cum_hits[:, k - 1].double())
                if ties == "stable"
                else _expected_ap(*counts, k)
            )
        if map_all:
            acc["ap_all"].append(
                _ap_from_ranking(R.gather(1, _stable_order(D).to(D.device)).float(), n_rel)
                if ties == "stable"
                else _expected_ap(*counts, None)
            )
        if ks_capped:
            acc["hits"].append(
                torch.stack([cum_hits[:, x - 1].double() for x in ks_capped], 1)
                if ties == "stable"
                else torch.stack([_expected_hits(*counts, x) for x in ks_capped], 1)
            )
        if pr_curve:
            acc["pr"].append(_pr_sums(*counts, n_rel))
    return _finish(acc, topk, ks_capped, nq)


def _pr_sums(n: Tensor, r: Tensor, n_rel: Tensor) -> Tensor:
    """Per radius (4, c + 1): sum of precision, queries that retrieved something, sum of recall,
    queries with a relevant item."""
    retrieved, hits = n.cumsum(1), r.cumsum(1)  # (q, c + 1)
    some = retrieved > 0
    has_rel = (n_rel > 0)[:, None].expand_as(hits)
    precision = torch.where(some, hits / retrieved.clamp(min=1), torch.zeros_like(hits))
    recall = torch.where(has_rel, hits / n_rel[:, None].clamp(min=1), torch.zeros_like(hits))
    return torch.stack([precision.sum(0), some.sum(0), recall.sum(0), has_rel.sum(0)]).double()


def _finish(acc: dict[str, list[Tensor]], topk, ks: list[int], nq: int) -> dict[str, Tensor]:
    out: dict[str, Tensor] = {}
    if acc["ap_k"]:
        out[f"map@{topk}"] = torch.cat(acc["ap_k"]).mean()
    if acc["ap_all"]:
        out["map@all"] = torch.cat(acc["ap_all"]).mean()
    if acc["hits"]:
        k = torch.tensor(ks, dtype=torch.float64, device=acc["hits"][0].device)
        out["p@k"] = (torch.cat(acc["hits"]) / k).mean(0)
    if acc["pr"]:
        s = torch.stack(acc["pr"]).sum(0)  # (4, c + 1)
        out["pr_precision"] = s[0] / s[1].clamp(min=1)
        out["pr_recall"] = s[2] / s[3].clamp(min=1)
    return out


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
    (in the top k) gives 0 and still counts in the mean.
    """
    res = evaluate_retrieval(
        query_codes,
        retrieval_codes,
        query_labels,
        retrieval_labels,
        topk=topk,
        map_all=topk is None,
        ties=ties,
        memory_budget_mb=memory_budget_mb,
    )
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
    """Mean over queries of the fraction of relevant items in the top k, for each k (float32).

    Each k is capped at the retrieval size; ties="average" gives the expected precision over
    random orders inside tie groups.
    """
    res = evaluate_retrieval(
        query_codes,
        retrieval_codes,
        query_labels,
        retrieval_labels,
        topk=None,
        map_all=False,
        ks=ks,
        ties=ties,
        memory_budget_mb=memory_budget_mb,
    )
    return res["p@k"].float()


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
    """
    res = evaluate_retrieval(
        query_codes,
        retrieval_codes,
        query_labels,
        retrieval_labels,
        topk=None,
        map_all=False,
        pr_curve=True,
        memory_budget_mb=memory_budget_mb,
    )
    return res["pr_precision"].float(), res["pr_recall"].float()


DEFAULT_KS = (1, 100, 500, 1000, 2000, 3000, 4000, 5000)
SPLITS = ("query", "retrieval")
_FIELDS = ("image", "text", "label", "index")


class CrossModalRetrievalMetric(Metric):
    """I->T and T->I retrieval metrics, accumulated over batches and processes."""

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(
        self,
        topk: int | None = 50,
        ks: Sequence[int] = DEFAULT_KS,
        ties: str = "stable",
        compute_map_all: bool = True,
        pr_curve: bool = False,
        memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if ties not in TIES:
            raise ValueError(f"ties must be one of {TIES}, got {ties!r}")
        self.topk, self.ks, self.ties = topk, tuple(int(k) for k in ks), ties
        self.compute_map_all, self.pr_curve = compute_map_all, pr_curve
        self.memory_budget_mb = memory_budget_mb
        for split in SPLITS:
            for field in _FIELDS:
                self.add_state(f"{split}_{field}", default=[], dist_reduce_fx="cat")

    def update(
        self, image_codes: Tensor, text_codes: Tensor, labels: Tensor, indices: Tensor, split: str
    ) -> None:
        """Add a batch of one split: codes [m, c] in {-1, +1}, labels, dataset indices [m]."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        # int8 codes: a quarter of float32, which matters at NUS-WIDE size (184,577 rows)
        getattr(self, f"{split}_image").append(image_codes.detach().to(torch.int8))
        getattr(self, f"{split}_text").append(text_codes.detach().to(torch.int8))
        getattr(self, f"{split}_label").append(labels.detach())
        getattr(self, f"{split}_index").append(indices.detach().to(torch.int64).reshape(-1))

    def _split(self, split: str) -> dict[str, Tensor]:
        """The rows of a split sorted by dataset index, duplicates (sampler padding) dropped.

        Under DDP the gathered rows interleave the ranks; sorting by index makes the set, and
        so the stable tie-breaking by retrieval index, identical to a single process.
        """
        rows = {f: getattr(self, f"{split}_{f}") for f in _FIELDS}
        if isinstance(rows["index"], list) and not rows["index"]:
            raise ValueError(f"no {split} rows were given to update()")
        rows = {f: dim_zero_cat(v) for f, v in rows.items()}
        index, order = torch.sort(rows["index"], stable=True)
        keep = torch.ones_like(index, dtype=torch.bool)
        keep[1:] = index[1:] != index[:-1]
        return {f: v[order[keep]] for f, v in rows.items()}

    def _directions(self, **kwargs) -> dict[str, dict[str, Tensor]]:
        q, r = self._split("query"), self._split("retrieval")
        pairs = {"i2t": ("image", "text"), "t2i": ("text", "image")}
        return {
            name: evaluate_retrieval(
                q[a], r[b], q["label"], r["label"], ties=self.ties,
                memory_budget_mb=self.memory_budget_mb, **kwargs,
            )  # fmt: skip
            for name, (a, b) in pairs.items()
        }

    def compute(self) -> dict[str, Tensor]:
        """Scalars ``i2t_map@50``, ``t2i_map@50``, ``map@50`` (their mean), the same for
        ``map@all``, and ``i2t_p@k``, ``t2i_p@k`` for every k of ``ks``."""
        res = self._directions(topk=self.topk, map_all=self.compute_map_all, ks=self.ks)
        out: dict[str, Tensor] = {}
        names = ([f"map@{self.topk}"] if self.topk is not None else []) + (
            ["map@all"] if self.compute_map_all else []
        )
        for name in names:
            for d in res:
                out[f"{d}_{name}"] = res[d][name].float()
            out[name] = (out[f"i2t_{name}"] + out[f"t2i_{name}"]) / 2
        for d in res:
            for k, p in zip(self.ks, res[d].get("p@k", [])):
                out[f"{d}_p@{k}"] = p.float()
        return out

    def curves(self) -> dict[str, dict[str, Tensor]]:
        """Per direction: ``ks`` and ``p@k`` (the P@k curve), ``pr_precision``, ``pr_recall``."""
        with self.sync_context(dist_sync_fn=self.dist_sync_fn, should_sync=self.sync_on_compute):
            res = self._directions(topk=None, map_all=False, ks=self.ks, pr_curve=True)
        for d in res:
            res[d]["ks"] = torch.tensor(self.ks)
        return res
