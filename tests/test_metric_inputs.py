"""The metrics reject every bad code or label with a ValueError naming the argument, compute
the same numbers under bf16 autocast, and share one DEFAULT_KS with the model configs."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from src.metrics import (
    DEFAULT_KS,
    CrossModalRetrievalMetric,
    evaluate_retrieval,
    hamming_distance,
    mean_average_precision,
    precision_at_k,
)
from src.models.agch_module import AGCHModule
from src.models.cca_itq import CCAITQModule
from src.models.djsrh_module import DJSRHModule
from metric_reference import random_case, ref_map, ref_precision_at_k

ROOT = Path(__file__).resolve().parents[1]
SEEDS = range(6)


def good_case(seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    c, nq, nr = int(rng.choice([8, 16, 32])), int(rng.integers(2, 9)), int(rng.integers(5, 30))
    Bq, Br, Lq, Lr = random_case(rng, c, nq, nr, multi=True, n_cls=int(rng.integers(2, 7)))
    Lq[0, 0] = Lr[0, 0] = 1  # a label somewhere, so that every mutation below changes a value
    return Bq, Br, Lq, Lr


# Each kind of bad label: (what it does to a valid multi-hot label matrix, message fragment).
BAD_LABELS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], str]] = {
    "class-id column": (lambda L: L.argmax(1)[:, None], r"\[N, 1\] column is ambiguous"),
    "-1/+1": (lambda L: 2 * L.astype(np.int64) - 1, "every value 0 or 1"),
    "fraction": (lambda L: L * 0.5, "every value 0 or 1"),
    "NaN": (lambda L: np.where(L == 1, np.nan, 0.0), "every value 0 or 1"),
    "fewer rows": (lambda L: L[:-1], "expected .* rows"),
    "more rows": (lambda L: np.concatenate([L, L[:1]]), "expected .* rows"),
    "rank 3": (lambda L: L[:, :, None], "expected multi-hot labels"),
    "rank 0": (lambda L: np.array(1), "expected multi-hot labels"),
    "float class ids": (lambda L: L.argmax(1).astype(np.float32), "integer dtype"),
    "negative class ids": (lambda L: L.argmax(1) - 1, "class ids >= 0"),
}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", BAD_LABELS)
@pytest.mark.parametrize("side", ["query", "retrieval"])
def test_bad_labels_raise_naming_the_argument(seed: int, kind: str, side: str) -> None:
    with pytest.raises(ValueError, match=f"{side}_labels: .*{BAD_LABELS[kind][1]}"):
        evaluate_retrieval(**mutated(seed, "labels", side, kind), ks=(1, 3))


@pytest.mark.parametrize("seed", SEEDS)
def test_label_forms_must_agree(seed: int) -> None:
    Bq, Br, Lq, Lr = good_case(seed)
    with pytest.raises(ValueError, match="retrieval_labels: expected the form of query_labels"):
        mean_average_precision(Bq, Br, Lq, Lr.argmax(1))
    wider = np.concatenate([Lr, np.zeros((len(Lr), 1), Lr.dtype)], 1)
    with pytest.raises(ValueError, match="retrieval_labels: expected the form of query_labels"):
        mean_average_precision(Bq, Br, Lq, wider)


BAD_CODES: dict[str, tuple[Callable[[np.ndarray], np.ndarray], str]] = {
    "0/1 bits": (lambda B: (B > 0).astype(np.float32), "every code entry to be -1 or \\+1"),
    "zero": (lambda B: np.where(np.arange(B.size).reshape(B.shape) == 0, 0, B), "-1 or \\+1"),
    "fraction": (lambda B: B * 0.5, "-1 or \\+1"),
    "NaN": (lambda B: np.where(B > 0, np.nan, B), "-1 or \\+1"),
    "rank 1": (lambda B: B[0], r"shape \[n, c\]"),
    "rank 3": (lambda B: B[:, :, None], r"shape \[n, c\]"),
    "bool": (lambda B: B > 0, "real codes"),
    "shorter": (lambda B: B[:, :-1], "code length|expected .* rows"),
}


def mutated(seed: int, what: str, side: str, kind: str) -> dict[str, np.ndarray]:
    """A valid case with the `side` codes or labels replaced by the bad `kind`."""
    Bq, Br, Lq, Lr = good_case(seed)
    case = {"query_codes": Bq, "retrieval_codes": Br, "query_labels": Lq, "retrieval_labels": Lr}
    make = (BAD_CODES if what == "codes" else BAD_LABELS)[kind][0]
    case[f"{side}_{what}"] = make(case[f"{side}_{what}"])
    if kind.endswith("class ids") and side == "retrieval":
        case["query_labels"] = Lq.argmax(1)  # both 1-D: the class-id check itself must fire
    return case


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", BAD_CODES)
@pytest.mark.parametrize("side", ["query", "retrieval"])
def test_bad_codes_raise_naming_the_argument(seed: int, kind: str, side: str) -> None:
    case = mutated(seed, "codes", side, kind)
    name = "retrieval_codes" if kind == "shorter" else f"{side}_codes"
    with pytest.raises(ValueError, match=f"{name}: .*({BAD_CODES[kind][1]})"):
        evaluate_retrieval(**case)
    if kind != "shorter":
        with pytest.raises(ValueError, match=f"{side}_codes"):
            hamming_distance(case["query_codes"], case["retrieval_codes"])


def test_bad_arguments() -> None:
    Bq, Br, Lq, Lr = good_case(0)
    for topk in (0, -3, 2.5):
        with pytest.raises(ValueError, match="topk: expected a positive integer"):
            evaluate_retrieval(Bq, Br, Lq, Lr, topk=topk)
    for ks in ((0,), (5, -1), (1.5,)):
        with pytest.raises(ValueError, match="ks: expected positive integers"):
            evaluate_retrieval(Bq, Br, Lq, Lr, ks=ks)
    with pytest.raises(ValueError, match="ties: expected one of"):
        CrossModalRetrievalMetric(ties="random")
    with pytest.raises(ValueError, match="query_codes, retrieval_codes: expected rows"):
        evaluate_retrieval(Bq[:0], Br, Lq[:0], Lr)


@pytest.mark.parametrize("kind", ["class-id column", "-1/+1", "fraction", "NaN"])
def test_metric_update_rejects_bad_labels(kind: str) -> None:
    Bq, _, Lq, _ = good_case(1)
    metric = CrossModalRetrievalMetric()
    labels = torch.as_tensor(BAD_LABELS[kind][0](Lq))
    codes = torch.as_tensor(Bq, dtype=torch.float32)
    with pytest.raises(ValueError, match="labels: "):
        metric.update(codes, codes, labels, torch.arange(len(Bq)), split="query")
    with pytest.raises(ValueError, match="text_codes: "):
        metric.update(codes, codes * 0.5, torch.as_tensor(Lq), torch.arange(len(Bq)), "query")


# ------------------------------------------------------------------------- autocast


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("ties", ["stable", "average"])
def test_autocast_changes_nothing(seed: int, ties: str) -> None:
    """Under bf16 autocast every output equals the float32 output exactly (the distance keys
    and label products of the core would round in bf16)."""
    rng = np.random.default_rng(50 + seed)
    c, nr = int(rng.choice([16, 32, 64, 128])), int(rng.integers(300, 3000))
    Bq, Br, Lq, Lr = (torch.as_tensor(x) for x in random_case(rng, c, 20, nr, True, 8))
    args = dict(topk=int(rng.integers(1, 80)), ks=(1, 10, 100, 5000), pr_curve=True, ties=ties)
    want = evaluate_retrieval(Bq, Br, Lq, Lr, **args)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = evaluate_retrieval(Bq.float(), Br.float(), Lq.float(), Lr.float(), **args)
    assert got.keys() == want.keys()
    for key in want:
        assert torch.equal(got[key], want[key]), key


@pytest.mark.parametrize("seed", range(6))
def test_map_at_k_and_p_at_k_match_loop_under_autocast(seed: int) -> None:
    rng = np.random.default_rng(80 + seed)
    c, nr = int(rng.choice([16, 32, 64])), int(rng.integers(200, 2500))
    Bq, Br, Lq, Lr = random_case(rng, c, 12, nr, True, 10)
    k, ks = int(rng.integers(1, 100)), (1, 50, 1000, nr + 5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got_map = mean_average_precision(*map(torch.as_tensor, (Bq, Br, Lq, Lr)), topk=k)
        got_p = precision_at_k(*map(torch.as_tensor, (Bq, Br, Lq, Lr)), ks=ks)
    assert got_map == pytest.approx(ref_map(Bq, Br, Lq, Lr, k), abs=1e-6)
    np.testing.assert_allclose(got_p.numpy(), ref_precision_at_k(Bq, Br, Lq, Lr, ks), atol=1e-6)


# ------------------------------------------------------------------------- one DEFAULT_KS


@pytest.mark.parametrize("model", ["agch", "djsrh", "cca_itq"])
def test_model_configs_use_default_ks(model: str) -> None:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"model={model}"])
    assert list(cfg.model.eval_ks) == list(DEFAULT_KS)


@pytest.mark.parametrize("model", [AGCHModule, DJSRHModule, CCAITQModule])
def test_model_defaults_use_default_ks(model: type) -> None:
    assert inspect.signature(model).parameters["eval_ks"].default == DEFAULT_KS
