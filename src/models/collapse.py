"""Code collapse: statistics of a code set and the rule that fails a collapsed validation.

A collapsed model maps many items onto few codes. Two signals, both used by
`validation_collapse`:

- the fraction of distinct codes of the validation retrieval set (per modality);
- the validation mAP@k of both directions within a tolerance of the ALL-TIES value: the
  mAP that a ranking of pure ties gives (every retrieval item at the same Hamming distance),
  computed from the labels with the run's tie rule. A partial collapse can keep many
  distinct codes while the ranking carries no information (a tried Optuna search picked a
  trial with 21 % distinct codes and mAP@50 = 0.2387 in both directions, the all-ties value).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from src.metrics.functional import evaluate_retrieval

# the objective of a collapsed validation: below any mAP, so never the best trial
COLLAPSED_SCORE = -1.0


def code_statistics(codes: Tensor) -> tuple[float, float]:
    """(fraction of distinct codes, bit balance) of codes (n, c) in {-1, +1}.

    Bit balance is 1 - mean_k |mean_i b_ik|: 1 when every bit splits the items in half, 0 when
    every bit is constant.
    """
    distinct = torch.unique(codes, dim=0).shape[0] / codes.shape[0]
    balance = 1.0 - codes.float().mean(dim=0).abs().mean().item()
    return float(distinct), float(balance)


def all_ties_map(query_labels: Tensor, retrieval_labels: Tensor, topk: int, ties: str) -> float:
    """mAP@topk of a ranking of pure ties (all codes equal) under the tie rule ``ties``.

    Labels: multi-hot (n, L) or class ids (n,), as `src.metrics.functional` takes them.
    """
    ones_q = torch.ones(query_labels.shape[0], 1)  # (nq, 1): one code for every item
    ones_r = torch.ones(retrieval_labels.shape[0], 1)  # (nr, 1)
    res = evaluate_retrieval(
        ones_q, ones_r, query_labels, retrieval_labels, topk=topk, map_all=False, ties=ties
    )
    return float(res[f"map@{topk}"])


@dataclass(frozen=True)
class CollapseReport:
    """What `validation_collapse` found: ``collapsed`` and the reason (empty when not)."""

    collapsed: bool
    reason: str
    distinct: dict[str, float]
    all_ties: float


def validation_collapse(
    retrieval_codes: dict[str, Tensor],
    maps: dict[str, float],
    query_labels: Tensor,
    retrieval_labels: Tensor,
    topk: int,
    ties: str,
    threshold: float,
    tolerance: float,
) -> CollapseReport:
    """Collapse of a validation: a modality's retrieval codes (n, c) with a distinct fraction
    below ``threshold``, or the mAP@topk of BOTH directions (``maps``: ``i2t``, ``t2i``)
    within ``tolerance`` of `all_ties_map`. One direction near the all-ties value is not
    enough: on Wiki's SIFT features a working model's I->T lies close to it."""
    distinct = {name: code_statistics(codes)[0] for name, codes in retrieval_codes.items()}
    ties_value = all_ties_map(query_labels, retrieval_labels, topk, ties)
    low = [f"{name} {value:.4f}" for name, value in distinct.items() if value < threshold]
    reason = ""
    if low:
        reason = f"distinct retrieval codes {', '.join(low)} < collapse_threshold {threshold}"
    elif all(abs(maps[d] - ties_value) <= tolerance for d in ("i2t", "t2i")):
        reason = (
            f"mAP@{topk} i2t {maps['i2t']:.4f}, t2i {maps['t2i']:.4f} within "
            f"{tolerance} of the all-ties value {ties_value:.4f}"
        )
    return CollapseReport(bool(reason), reason, distinct, ties_value)


def computed_collapse(metric: Any, hp: Any, tolerance: float) -> tuple[dict[str, Any], Any]:
    """A retrieval ``metric``'s results (it is reset) and their `validation_collapse` under
    the module's hyper-parameters ``hp`` (eval_topk, eval_ties, collapse_threshold): the
    validation's and the test's check alike."""
    results = metric.compute()
    with metric.sync_context(dist_sync_fn=metric.dist_sync_fn, should_sync=metric.sync_on_compute):
        query, retrieval = metric._split("query"), metric._split("retrieval")
    metric.reset()
    k = hp.eval_topk
    report = validation_collapse(
        {"image": retrieval["image"], "text": retrieval["text"]},
        {d: float(results[f"{d}_map@{k}"]) for d in ("i2t", "t2i")},
        query["label"],
        retrieval["label"],
        k,
        hp.eval_ties,
        hp.collapse_threshold,
        tolerance,
    )
    return results, report
