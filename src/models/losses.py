"""The AGCH objective, Eqs. (13)-(16), as pure functions of codes and the similarity S.

All codes are tanh outputs; each row is L2-normalised before use (stated after Eq. (16)).
The paper writes every term as a SUM: the reconstruction terms over the m^2 pairs (i, j),
the gap terms over the m items i. Here `rec` and `gap` are MEANS; Eq. (16) divided by m^2
(a constant factor) is exactly the mean-reduced objective with the gap terms weighted by
1/m: lambda/m on the L3 gaps, delta/m on the L2 gaps (`gap_weights`, docs/model.md).
Everything is computed in float32 with autocast off, so bf16 training changes the
networks' arithmetic but not the objective's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

# how the gap weights are derived from lambda (docs/model.md, "Loss scale")
LOSS_SCALES = ("tuned", "paper")


def gap_weights(
    lam: float, m: int, loss_scale: str = "tuned", tuned_lam_factor: float = 0.06
) -> tuple[float, float]:
    """(L3 gap weight, L2 gap factor) of the mean-reduced objective for a batch of m items.

    ``"paper"``: Eqs. (13)-(16) divided by m^2, so lambda/m on the L3 gaps and 1/m on the L2
    gaps (which delta then multiplies): the paper's ratios for any batch size m.
    ``"tuned"``: tuned_lam_factor x lambda on the L3 gaps and 1 on the L2 gaps, whatever m
    (the weights this project tuned on validation queries; docs/model.md).
    Raises ValueError for another ``loss_scale`` or m < 1.
    """
    if m < 1:
        raise ValueError(f"batch size m: expected >= 1, got {m}")
    if loss_scale == "paper":
        return lam / m, 1.0 / m
    if loss_scale == "tuned":
        return tuned_lam_factor * lam, 1.0
    raise ValueError(f"loss_scale: expected one of {LOSS_SCALES}, got {loss_scale!r}")


def _unit(X: Tensor) -> Tensor:
    return F.normalize(X.float(), dim=1)


def rec(S_target: Tensor, X: Tensor, Y: Tensor) -> Tensor:
    """mean_ij (S'_ij - X^_i . Y^_j)^2 for codes X, Y (m, c) and the target S' = 2S - 1."""
    with torch.autocast(device_type=X.device.type, enabled=False):
        return (S_target.float() - _unit(X) @ _unit(Y).T).pow(2).mean()


def gap(X: Tensor, Y: Tensor) -> Tensor:
    """mean_i ||X^_i - Y^_i||^2 for paired codes X, Y (m, c)."""
    with torch.autocast(device_type=X.device.type, enabled=False):
        return (_unit(X) - _unit(Y)).pow(2).sum(dim=1).mean()


def compute_loss_rec(S: Tensor, B_v: Tensor, B_t: Tensor, B_h: Tensor | None) -> dict[str, Tensor]:
    """L1, intra-modal reconstruction, Eq. (13): rec(B^v,B^v) + rec(B^t,B^t) + rec(B^h,B^h).

    Without fusion (``B_h`` None, the "no fusion" ablation) the B^h term is absent.
    """
    S_target = 2.0 * S.float() - 1.0  # (m, m)
    terms = {"rec_vv": rec(S_target, B_v, B_v), "rec_tt": rec(S_target, B_t, B_t)}
    if B_h is not None:
        terms["rec_hh"] = rec(S_target, B_h, B_h)
    terms["L1"] = sum(terms.values())
    return terms


def compute_loss_str(
    S: Tensor, B_gv: Tensor, B_gt: Tensor, B_v: Tensor, B_t: Tensor, gap_factor: float = 1.0
) -> dict[str, Tensor]:
    """L2, GCN structure, Eq. (14): rec(B^gv,B^gv) + rec(B^gt,B^gt)
    + gap_factor [gap(B^gv,B^v) + gap(B^gt,B^t)] (gap_factor 1/m: the paper's sum / m^2)."""
    S_target = 2.0 * S.float() - 1.0  # (m, m)
    terms = {
        "rec_gvgv": rec(S_target, B_gv, B_gv),
        "rec_gtgt": rec(S_target, B_gt, B_gt),
        "gap_gv_v": gap(B_gv, B_v),
        "gap_gt_t": gap(B_gt, B_t),
    }
    terms["L2"] = terms["rec_gvgv"] + terms["rec_gtgt"]
    terms["L2"] = terms["L2"] + gap_factor * (terms["gap_gv_v"] + terms["gap_gt_t"])
    return terms


def compute_loss_cm(
    S: Tensor, B_v: Tensor, B_t: Tensor, B_h: Tensor | None, beta: float, lam: float
) -> dict[str, Tensor]:
    """L3, inter-modal, Eq. (15): beta [rec(B^v,B^h) + rec(B^t,B^h)]
    + lam [gap(B^v,B^h) + gap(B^t,B^h)], lam the weight of the gap means (`gap_weights`).

    The modalities meet only through the fused code B^h. Without fusion (``B_h`` None, the
    "no fusion" ablation; this project's reading) they meet directly, with the same weight:
    2 beta rec(B^v,B^t) + 2 lambda gap(B^v,B^t).
    """
    S_target = 2.0 * S.float() - 1.0  # (m, m)
    if B_h is None:
        terms = {"rec_vt": rec(S_target, B_v, B_t), "gap_v_t": gap(B_v, B_t)}
        terms["L3"] = 2 * beta * terms["rec_vt"] + 2 * lam * terms["gap_v_t"]
        return terms
    terms = {
        "rec_vh": rec(S_target, B_v, B_h),
        "rec_th": rec(S_target, B_t, B_h),
        "gap_v_h": gap(B_v, B_h),
        "gap_t_h": gap(B_t, B_h),
    }
    terms["L3"] = beta * (terms["rec_vh"] + terms["rec_th"]) + lam * (
        terms["gap_v_h"] + terms["gap_t_h"]
    )
    return terms


def compute_loss(
    S: Tensor,
    codes: dict[str, Tensor],
    alpha: float,
    beta: float,
    lam: float,
    delta: float,
    l2_gap_factor: float = 1.0,
) -> dict[str, Tensor]:
    """L = alpha L1 + delta L2 + L3, Eq. (16), with every term keyed by name (``"L"``: total).

    ``lam`` is the weight of the L3 gap means and ``l2_gap_factor`` the factor of the L2 gap
    means, as `gap_weights` derives them. ``codes`` holds B_v, B_t, B_h, B_gv, B_gt, each
    (m, c). B_h is absent in the "no fusion" ablation, B_gv and B_gt in the "no GCN" one
    (then L2 = 0).
    """
    B_v, B_t, B_h = codes["B_v"], codes["B_t"], codes.get("B_h")
    terms = compute_loss_rec(S, B_v, B_t, B_h)
    if "B_gv" in codes:
        terms |= compute_loss_str(S, codes["B_gv"], codes["B_gt"], B_v, B_t, l2_gap_factor)
    else:
        terms["L2"] = torch.zeros((), device=B_v.device)
    terms |= compute_loss_cm(S, B_v, B_t, B_h, beta, lam)
    terms["L"] = alpha * terms["L1"] + delta * terms["L2"] + terms["L3"]
    return terms
