"""UCCH's objective (Hu, Zhu, Lin, Peng, Zhao, Peng, "Unsupervised Contrastive Cross-Modal
Hashing", TPAMI 45(3), 2023; docs/ucch.md): contrastive hashing against a dictionary of sign
keys (Eqs. (3)-(4)), the cross-modal ranking loss (Eqs. (8), (14)), their mix (Eq. (15)) and
the momentum update of the memory bank (Eq. (5)).

Notation of the paper: h^x_i, h^y_i (c,) the unit-norm outputs of the image and the text
network for pair i; v_i (c,) the memory bank's real value for training item i and k_i =
sgn(v_i) / sqrt(c) its key (unit norm); M^xy_ij = <h^x_i, h^y_j>, M^yx = (M^xy)^T.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from src.models.base import sign_codes


def in_batch_dictionary(h_x: Tensor, h_y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The authors' warm-up dictionary of a batch of m >= 2 pairs (docs/ucch.md): keys
    (m, c) in {-1, +1}, sgn((h^x_i + h^y_i) / 2) without gradient; item i's positive key is
    its own (positive (m,) = 0..m-1) and its negatives the m - 1 others (negatives (m, m-1),
    row i = 0..m-1 without i)."""
    m = h_x.shape[0]
    keys = sign_codes((h_x.detach() + h_y.detach()) / 2)  # (m, c)
    others = ~torch.eye(m, dtype=torch.bool, device=h_x.device)  # (m, m)
    every = torch.arange(m, device=h_x.device).expand(m, m)  # (m, m), row i = 0..m-1
    return keys, torch.arange(m, device=h_x.device), every[others].view(m, m - 1)


def sample_negatives(positive: Tensor, n: int, K: int, generator: torch.Generator) -> Tensor:
    """K negative keys per query (m, K) int64: slots drawn uniformly, with replacement, from
    the n - 1 slots other than the query's own ``positive`` (m,) (n >= 2), from ``generator``
    (a CPU generator: the same draws on any device)."""
    if n < 2:
        raise ValueError(f"negative keys need a memory bank of 2 or more items, got {n}")
    draws = torch.randint(0, n - 1, (positive.shape[0], K), generator=generator)  # (m, K)
    draws = draws.to(positive.device)
    return draws + (draws >= positive[:, None]).long()  # skip the positive's own slot


def contrastive_hashing_loss(
    h: Tensor, keys: Tensor, positive: Tensor, negatives: Tensor, temperature: float
) -> Tensor:
    """Eqs. (3)-(4) for one modality, averaged over the m queries: mean_i -log P(i | h_i),
    P(i | h_i) = exp(<h_i, k+_i> / t) / (exp(<h_i, k+_i> / t) + sum_j exp(<h_i, k-_ij> / t)).

    h (m, c) unit rows; keys (n, c) in {-1, +1}, the signs of the dictionary (each key is
    keys / sqrt(c), of unit norm); positive (m,) and negatives (m, K) index keys; t > 0.
    """
    with torch.autocast(device_type=h.device.type, enabled=False):
        h, keys = h.float(), keys.float()
        scores = h @ keys.T / keys.shape[1] ** 0.5  # (m, n), <h_i, k_j>
        picked = torch.cat([scores.gather(1, positive[:, None]), scores.gather(1, negatives)], 1)
        target = torch.zeros(h.shape[0], dtype=torch.long, device=h.device)  # (m,)
        return F.cross_entropy(picked / temperature, target)  # the positive is column 0


def _ranking_direction(M: Tensor, margin: float, shift: float, scale: float) -> Tensor:
    """One direction of Eq. (14): mean_i [m + kappa log sum_j exp(S_ij / kappa) - S_ii], S of
    Eq. (8): S_ij = M_ij when M_ii - M_ij <= m, else M_ij - xi (S_ii = M_ii)."""
    own = M.diagonal()  # (m,)
    S = torch.where(own[:, None] - M <= margin, M, M - shift)  # (m, m), Eq. (8)
    return (margin + scale * torch.logsumexp(S / scale, dim=1) - own).mean()


def cross_modal_ranking_loss(
    h_x: Tensor, h_y: Tensor, margin: float, shift: float, scale: float
) -> Tensor:
    """The cross-modal ranking loss L_r of Eq. (14) on a batch: the image queries' direction
    (M^xy) plus the text queries' (M^yx); h_x, h_y (m, c); margin m >= 0, shift xi >= 0 and
    the log-sum-exp scale kappa > 0. A scalar float32 tensor."""
    with torch.autocast(device_type=h_x.device.type, enabled=False):
        M = h_x.float() @ h_y.float().T  # (m, m), M^xy
        return _ranking_direction(M, margin, shift, scale) + _ranking_direction(
            M.T, margin, shift, scale
        )


@torch.no_grad()
def momentum_update(
    v: Tensor, h_x: Tensor, h_y: Tensor, momentum: float, normalise: bool = False
) -> Tensor:
    """Eq. (5): the new memory values (m, c) delta v + (1 - delta) (h^x + h^y) / 2 of a batch's
    slots, v (m, c), h_x, h_y (m, c), delta = ``momentum`` in [0, 1). ``normalise``: the
    authors' release instead, which scales (h^x + h^y) / 2 and the result to unit rows."""
    mean = (h_x.float() + h_y.float()) / 2  # (m, c)
    if not normalise:
        return momentum * v + (1.0 - momentum) * mean
    return F.normalize(momentum * v + (1.0 - momentum) * F.normalize(mean, dim=1), dim=1)


def ucch_loss(
    h_x: Tensor,
    h_y: Tensor,
    dictionary: tuple[Tensor, Tensor, Tensor],
    beta: float,
    temperature: float,
    margin: float,
    shift: float,
    scale: float,
) -> dict[str, Tensor]:
    """The terms of Eq. (15) on a batch and their total ``L`` = beta (Lc_image + Lc_text)
    + (1 - beta) Lr; ``dictionary`` = (keys (n, c), positive (m,), negatives (m, K))."""
    keys, positive, negatives = dictionary
    terms = {
        "Lc_image": contrastive_hashing_loss(h_x, keys, positive, negatives, temperature),
        "Lc_text": contrastive_hashing_loss(h_y, keys, positive, negatives, temperature),
        "Lr": cross_modal_ranking_loss(h_x, h_y, margin, shift, scale),
    }
    Lc = terms["Lc_image"] + terms["Lc_text"]
    terms["L"] = beta * Lc + (1.0 - beta) * terms["Lr"]
    return terms
