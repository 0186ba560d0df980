"""The AGCH objective (SPEC.md section 4) as pure functions of codes and the similarity S.

All codes are tanh outputs; each row is L2-normalised before use (the ^ of SPEC.md). The
reductions are means, as in DJSRH. Everything is computed in float32 with autocast off, so
bf16 training changes the networks' arithmetic but not the objective's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


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
    """L1, intra-modal reconstruction: rec(B^v,B^v) + rec(B^t,B^t) + rec(B^h,B^h).

    Without fusion (``B_h`` None, the "no fusion" ablation) the B^h term is absent.
    """
    S_target = 2.0 * S.float() - 1.0  # (m, m)
    terms = {"rec_vv": rec(S_target, B_v, B_v), "rec_tt": rec(S_target, B_t, B_t)}
    if B_h is not None:
        terms["rec_hh"] = rec(S_target, B_h, B_h)
    terms["L1"] = sum(terms.values())
    return terms


def compute_loss_str(
    S: Tensor, B_gv: Tensor, B_gt: Tensor, B_v: Tensor, B_t: Tensor
) -> dict[str, Tensor]:
    """L2, GCN structure: rec(B^gv,B^gv) + rec(B^gt,B^gt) + gap(B^gv,B^v) + gap(B^gt,B^t)."""
    S_target = 2.0 * S.float() - 1.0  # (m, m)
    terms = {
        "rec_gvgv": rec(S_target, B_gv, B_gv),
        "rec_gtgt": rec(S_target, B_gt, B_gt),
        "gap_gv_v": gap(B_gv, B_v),
        "gap_gt_t": gap(B_gt, B_t),
    }
    terms["L2"] = sum(terms.values())
    return terms


def compute_loss_cm(
    S: Tensor, B_v: Tensor, B_t: Tensor, B_h: Tensor | None, beta: float, lam: float
) -> dict[str, Tensor]:
    """L3, inter-modal: beta [rec(B^v,B^h) + rec(B^t,B^h)] + lambda [gap(B^v,B^h) + gap(B^t,B^h)].

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
) -> dict[str, Tensor]:
    """L = alpha L1 + delta L2 + L3 with every term, keyed by name (``"L"`` is the total).

    ``codes`` holds B_v, B_t, B_h, B_gv, B_gt, each (m, c). B_h is absent in the "no fusion"
    ablation, B_gv and B_gt in the "no GCN" one (then L2 = 0).
    """
    B_v, B_t, B_h = codes["B_v"], codes["B_t"], codes.get("B_h")
    terms = compute_loss_rec(S, B_v, B_t, B_h)
    if "B_gv" in codes:
        terms |= compute_loss_str(S, codes["B_gv"], codes["B_gt"], B_v, B_t)
    else:
        terms["L2"] = torch.zeros((), device=B_v.device)
    terms |= compute_loss_cm(S, B_v, B_t, B_h, beta, lam)
    terms["L"] = alpha * terms["L1"] + delta * terms["L2"] + terms["L3"]
    return terms
