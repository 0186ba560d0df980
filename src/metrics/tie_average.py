"""Tie-averaged AP and hits: the expected value over every order inside each tie group.

With ``ties="average"`` the items at one Hamming distance are taken in a uniformly random
order, and the metrics are their expected values, in closed form from the per-distance counts
n (items) and r (relevant items) of `src.metrics.ranking.bucket_counts`. Exact, not sampled:
tests/test_retrieval_metrics.py compares it with the mean over every permutation.
"""

from __future__ import annotations

import torch
from torch import Tensor


def tie_group_sums(L: Tensor, m: Tensor, RL: Tensor, y: Tensor) -> Tensor:
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


def expected_ap(n: Tensor, r: Tensor, topk: int | None) -> Tensor:
    """Tie-averaged AP (q,) float64 from the bucket counts n, r (q, c + 1) float64.

    mAP@all: groups are whole; the expected AP is sum over groups of `tie_group_sums` over the
    total number of relevant items (fixed by the data).
    mAP@k: groups before the boundary group t are whole; t contributes its first m = k - L_t
    slots, holding Y relevant items with Y ~ Hypergeometric(n_t, r_t, m). The AP is
    (S_full + S_t) / (RL_t + Y) with S_full independent of Y, so conditioning on Y = y,
        E[AP@k] = sum_y P(Y = y) (E[S_full] + E[S_t | y]) / (RL_t + y),
    where E[S_t | y] is `tie_group_sums` with m slots and y relevant (given y, the relevant
    slots are a uniformly random y-subset of the m slots). A term with RL_t + y = 0 has no
    relevant item in the top k and AP 0. This is exact, not an approximation.
    """
    L, RL = n.cumsum(1) - n, r.cumsum(1) - r  # (q, c + 1) items / relevant before each group
    sums = tie_group_sums(L, n, RL, r)  # (q, c + 1)
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
    term = (S_full + tie_group_sums(L_t, m, RL_t, y)) / found.clamp(min=1)
    return (p * torch.where(found > 0, term, torch.zeros_like(term))).sum(1)


def expected_hits(n: Tensor, r: Tensor, k: int) -> Tensor:
    """Expected relevant items (q,) float64 among the first k under random order inside tie
    groups, from the bucket counts n, r (q, c + 1)."""
    t, L_t = _boundary(n, k)
    RL_t = (r.cumsum(1) - r).gather(1, t)
    n_t, r_t = n.gather(1, t), r.gather(1, t)
    return (RL_t + (k - L_t) * r_t / n_t.clamp(min=1)).squeeze(1)
