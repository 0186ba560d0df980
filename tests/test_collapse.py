"""Collapsed validation codes are a failed trial: the all-ties mAP against a hand loop, the
rule on constant codes and on a partial collapse with many distinct codes, and the module's
``val/objective`` (the Optuna search's metric) on a model whose codes are constant."""

from pathlib import Path

import lightning as L
import torch

from src.data.datamodule import AGCHDataModule
from src.models.agch_module import AGCHModule
from src.models.collapse import COLLAPSED_SCORE, all_ties_map, validation_collapse
from src.utils.utils import get_metric_value


def loop_ap_at_k(order: list[int], relevant: set[int], k: int) -> float:
    """AP@k: mean over the relevant items in the top k of (their rank among them / position)."""
    hits, total = 0, 0.0
    for position, item in enumerate(order[:k], start=1):
        if item in relevant:
            hits += 1
            total += hits / position
    return total / hits if hits else 0.0


def test_all_ties_map_is_the_index_order_ranking():
    # pure ties broken by retrieval index (stable): every query sees items 0, 1, 2, ...
    q_labels = torch.tensor([0, 1, 2, 1])
    r_labels = torch.tensor([1, 0, 1, 2, 2, 0, 1])
    k = 4
    want = sum(
        loop_ap_at_k(list(range(7)), {j for j in range(7) if r_labels[j] == q}, k)
        for q in q_labels.tolist()
    ) / len(q_labels)
    assert abs(all_ties_map(q_labels, r_labels, k, "stable") - want) < 1e-6


def _rule(codes_r, maps, q_labels, r_labels, threshold=0.05):
    return validation_collapse(
        {"image": codes_r, "text": codes_r},
        maps,
        q_labels,
        r_labels,
        5,
        "stable",
        threshold,
        0.005,
    )


def test_constant_codes_are_collapsed():
    labels = torch.arange(40) % 4
    report = _rule(torch.ones(40, 8), {"i2t": 0.9, "t2i": 0.9}, labels[:10], labels)
    assert report.collapsed and "distinct" in report.reason


def test_partial_collapse_at_the_all_ties_value_is_collapsed():
    # 8 retrieval codes, all distinct (fraction 1.0), each one bit away from the one query
    # code: every distance ties, so the mAP is the all-ties value although no code repeats
    r_codes = torch.ones(8, 8) - 2 * torch.eye(8)  # (8, 8) in {-1, +1}
    q_labels, r_labels = torch.tensor([0, 1, 0]), torch.tensor([1, 0, 0, 1, 1, 0, 1, 0])
    ties = all_ties_map(q_labels, r_labels, 5, "stable")
    report = _rule(r_codes, {"i2t": ties, "t2i": ties + 0.001}, q_labels, r_labels)
    assert report.distinct == {"image": 1.0, "text": 1.0}
    assert report.collapsed and "all-ties" in report.reason
    # one direction above the all-ties value (Wiki's weak I->T next to a working T->I) is not
    working = _rule(r_codes, {"i2t": ties, "t2i": ties + 0.2}, q_labels, r_labels)
    assert not working.collapsed and working.reason == ""


def test_constant_codes_give_the_failure_objective(synthetic_store: Path, tmp_path: Path):
    dm = AGCHDataModule(str(synthetic_store), batch_size=16, eval_batch_size=64)
    image_dim, text_dim = dm.feature_dims()
    model = AGCHModule(image_dim, text_dim, hidden_dim=32, gcn_dim=16, code_length=8)
    model.set_input_stats(dm.train_statistics())
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False)
    trainer.validate(model, dm)
    healthy = dict(trainer.callback_metrics)
    assert float(healthy["val/collapsed"]) == 0.0
    assert float(healthy["val/objective"]) == float(healthy["val/map@50"]) > 0
    with torch.no_grad():  # every code -1: tanh(0) through sign(0) = -1
        for layer in (model.hash_layer.image, model.hash_layer.text):
            layer.weight.zero_()
            layer.bias.zero_()
    trainer.validate(model, dm)
    metrics = trainer.callback_metrics
    assert float(metrics["val/collapsed"]) == 1.0
    assert float(metrics["val/map@50"]) > 0  # the plain mAP of pure ties is not a failure value
    # what train.py returns to the Optuna sweeper for optimized_metric=val/objective
    objective = get_metric_value(dict(metrics), "val/objective")
    assert objective == COLLAPSED_SCORE < float(healthy["val/objective"])
