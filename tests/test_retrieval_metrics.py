"""Retrieval metrics against independent per-query loops and brute force over tie orders."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from torchmetrics.utilities import dim_zero_cat

from metric_reference import (
    one_hot,
    random_case,
    ref_ap,
    ref_distances,
    ref_map,
    ref_precision_at_k,
    ref_relevance,
)
from src.metrics import (
    CrossModalRetrievalMetric,
    evaluate_retrieval,
    hamming_distance,
    mean_average_precision,
    precision_at_k,
    precision_recall_curve,
)

CASES = [
    (seed, c, multi)
    for seed, (c, multi) in enumerate(itertools.product((8, 16, 32, 64, 128), (False, True)))
]


# ---------------------------------------------------------------- stable ties


@pytest.mark.parametrize("seed,c,multi", CASES)
def test_map_matches_loop(seed: int, c: int, multi: bool) -> None:
    rng = np.random.default_rng(seed)
    nr = int(rng.integers(20, 120))
    Bq, Br, Lq, Lr = random_case(rng, c, 15, nr, multi, n_cls=int(rng.integers(2, 12)))
    n_cls = int(max(Lq.max(), Lr.max())) + 1 if not multi else Lq.shape[1]
    Lq1, Lr1 = one_hot(Lq, n_cls), one_hot(Lr, n_cls)
    for topk in (None, 1, 5, 50, nr, nr + 7):
        got = mean_average_precision(Bq, Br, Lq, Lr, topk=topk)
        assert got == pytest.approx(ref_map(Bq, Br, Lq1, Lr1, topk), abs=1e-6), topk


def test_no_relevant_query_counts_as_zero() -> None:
    rng = np.random.default_rng(0)
    Bq, Br = rng.choice([-1, 1], (2, 16)), rng.choice([-1, 1], (30, 16))
    Lr = np.zeros((30, 3), np.uint8)
    Lr[:, 0] = 1
    Lq = np.array([[1, 0, 0], [0, 0, 1]], np.uint8)  # the second query has no relevant item
    for topk in (None, 10):
        assert mean_average_precision(Bq, Br, Lq, Lr, topk) == pytest.approx(0.5)
        assert mean_average_precision(Bq, Br, Lq, Lr, topk, ties="average") == pytest.approx(0.5)


def test_identical_codes_rank_by_index() -> None:
    Bq, Br = np.ones((1, 8)), np.ones((6, 8))
    Lq, Lr = np.array([1]), np.array([0, 1, 0, 1, 1, 0])
    # order is the index order: relevant at positions 2, 4, 5
    assert mean_average_precision(Bq, Br, Lq, Lr) == pytest.approx((1 / 2 + 2 / 4 + 3 / 5) / 3)
    assert mean_average_precision(Bq, Br, Lq, Lr, topk=3) == pytest.approx(1 / 2)
    assert mean_average_precision(Bq, Br, Lq, Lr, topk=1) == 0.0


def test_chunking_numpy_and_torch_inputs_agree() -> None:
    rng = np.random.default_rng(7)
    Bq, Br, Lq, Lr = random_case(rng, 32, 40, 300, True, 6)
    full = evaluate_retrieval(Bq, Br, Lq, Lr, topk=20, ks=(1, 10, 500), pr_curve=True)
    tiny = evaluate_retrieval(
        torch.tensor(Bq), torch.tensor(Br), torch.tensor(Lq), torch.tensor(Lr),
        topk=20, ks=(1, 10, 500), pr_curve=True, memory_budget_mb=0.01,
    )  # fmt: skip
    for key in full:
        torch.testing.assert_close(full[key], tiny[key], rtol=0, atol=1e-12)


def test_invalid_inputs() -> None:
    with pytest.raises(ValueError, match="query_codes: expected every code entry"):
        hamming_distance(np.array([[0, 1]]), np.array([[1, 1]]))
    with pytest.raises(ValueError, match="ties"):
        mean_average_precision(np.ones((1, 2)), np.ones((1, 2)), [0], [0], ties="random")


# ---------------------------------------------------------------- distances, P@k, PR


def test_hamming_distance_matches_loop() -> None:
    rng = np.random.default_rng(1)
    for c in (8, 13, 64, 128):
        Bq, Br = rng.choice([-1, 1], (7, c)), rng.choice([-1, 1], (11, c))
        want = np.array([[sum(a != b for a, b in zip(q, r)) for r in Br] for q in Bq])
        got = hamming_distance(Bq, Br)
        assert got.dtype == torch.int32
        np.testing.assert_array_equal(got.numpy(), want)


@pytest.mark.parametrize("seed", range(4))
def test_precision_at_k_matches_loop(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    Bq, Br, Lq, Lr = random_case(rng, 16, 12, 80, seed % 2 == 0, 5)
    n_cls = Lq.shape[1] if Lq.ndim == 2 else int(max(Lq.max(), Lr.max())) + 1
    ks = (1, 3, 10, 80, 200)
    want = ref_precision_at_k(Bq, Br, one_hot(Lq, n_cls), one_hot(Lr, n_cls), ks)
    np.testing.assert_allclose(precision_at_k(Bq, Br, Lq, Lr, ks).numpy(), want, atol=1e-6)


def test_pr_curve_matches_loop() -> None:
    rng = np.random.default_rng(5)
    Bq, Br, Lq, Lr = random_case(rng, 8, 20, 60, True, 4)
    c = Bq.shape[1]
    p_sum, p_n, r_sum, r_n = np.zeros(c + 1), np.zeros(c + 1), np.zeros(c + 1), np.zeros(c + 1)
    for bq, lq in zip(Bq, Lq):
        rel, dist = ref_relevance(lq, Lr), ref_distances(bq, Br)
        for radius in range(c + 1):
            got = dist <= radius
            if got.sum() > 0:
                p_sum[radius] += (rel & got).sum() / got.sum()
                p_n[radius] += 1
            if rel.sum() > 0:
                r_sum[radius] += (rel & got).sum() / rel.sum()
                r_n[radius] += 1
    precision, recall = precision_recall_curve(Bq, Br, Lq, Lr)
    np.testing.assert_allclose(precision.numpy(), p_sum / np.maximum(p_n, 1), atol=1e-6)
    np.testing.assert_allclose(recall.numpy(), r_sum / np.maximum(r_n, 1), atol=1e-6)


# ---------------------------------------------------------------- tie-averaged, brute force


def brute_force_tie_average(dist: np.ndarray, rel: np.ndarray, topk: int | None):
    """Mean AP and mean hits@k over every order inside every tie group."""
    groups = [np.flatnonzero(dist == d) for d in np.unique(dist)]  # ascending distance
    aps, hits = [], []
    for perms in itertools.product(*(itertools.permutations(g) for g in groups)):
        ranked = rel[np.concatenate(perms)]
        if topk is None:
            aps.append(ref_ap(ranked, int(rel.sum())))
        else:
            aps.append(ref_ap(ranked[:topk], None))
            hits.append(ranked[:topk].sum())
    return float(np.mean(aps)), float(np.mean(hits)) if hits else None


@pytest.mark.parametrize("seed", range(12))
def test_tie_average_matches_all_orders(seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    nr = int(rng.integers(3, 8))
    Bq, Br = rng.choice([-1, 1], (2, 3)), rng.choice([-1, 1], (nr, 3))
    Lq, Lr = rng.integers(0, 2, 2), rng.integers(0, 2, nr)
    for topk in (None, 1, 2, 3, nr - 1, nr + 2):
        want_ap, want_hits = [], []
        for bq, lq in zip(Bq, Lq):
            ap, hits = brute_force_tie_average(ref_distances(bq, Br), Lr == lq, topk)
            want_ap.append(ap)
            want_hits.append(hits)
        got = mean_average_precision(Bq, Br, Lq, Lr, topk=topk, ties="average")
        assert got == pytest.approx(np.mean(want_ap), abs=1e-9), topk
        if topk is not None:
            p = precision_at_k(Bq, Br, Lq, Lr, [topk], ties="average")
            k = min(topk, nr)
            assert float(p[0]) == pytest.approx(np.mean(want_hits) / k, abs=1e-6)


def test_tie_average_large_groups_agrees_with_sampling_mean() -> None:
    """Large tie groups (no enumeration): closed form within sampling error of random orders."""
    rng = np.random.default_rng(3)
    dist = rng.integers(0, 3, 400)
    rel = rng.random(400) < 0.3
    Bq = np.ones((1, 2))
    Br = np.array([[1, 1], [1, -1], [-1, -1]])[dist]
    Lq, Lr = np.array([1]), rel.astype(int)
    for topk in (None, 150):
        got = mean_average_precision(Bq, Br, Lq, Lr, topk=topk, ties="average")
        samples = []
        for _ in range(2000):
            order = np.lexsort((rng.random(400), dist))
            ranked = rel[order]
            samples.append(
                ref_ap(
                    ranked if topk is None else ranked[:topk], rel.sum() if topk is None else None
                )
            )
        assert got == pytest.approx(np.mean(samples), abs=4 * np.std(samples) / np.sqrt(2000))


# ---------------------------------------------------------------- stateful metric


def paired_dataset(seed: int, n: int = 90, c: int = 16):
    """Image and text codes, multi-hot labels of n pairs; first 30 rows are the queries."""
    rng = np.random.default_rng(seed)
    pool = rng.choice([-1, 1], (12, c))  # few distinct codes: many ties
    img = torch.tensor(pool[rng.integers(0, 12, n)], dtype=torch.float32)
    txt = torch.tensor(pool[rng.integers(0, 12, n)], dtype=torch.float32)
    lab = torch.tensor(rng.random((n, 5)) < 0.3, dtype=torch.uint8)
    split = {"query": torch.arange(30), "retrieval": torch.arange(30, n)}
    return img, txt, lab, split


def feed(metric, img, txt, lab, idx: torch.Tensor, split: str, batch: int) -> None:
    for b in torch.split(idx, batch):
        metric.update(img[b], txt[b], lab[b], b, split=split)


def expected(img, txt, lab, split, ks, ties="stable") -> dict[str, float]:
    q, r = split["query"], split["retrieval"]
    out = {}
    for name, (a, b) in {"i2t": (img, txt), "t2i": (txt, img)}.items():
        out[f"{name}_map@10"] = mean_average_precision(a[q], b[r], lab[q], lab[r], 10, ties)
        out[f"{name}_map@all"] = mean_average_precision(a[q], b[r], lab[q], lab[r], None, ties)
        p = precision_at_k(a[q], b[r], lab[q], lab[r], ks, ties)
        # named by the k actually used: k above the retrieval size is p@N
        out.update({f"{name}_p@{min(k, len(r))}": float(v) for k, v in zip(ks, p)})
    out["map@10"] = (out["i2t_map@10"] + out["t2i_map@10"]) / 2
    out["map@all"] = (out["i2t_map@all"] + out["t2i_map@all"]) / 2
    return out


@pytest.mark.parametrize("ties", ["stable", "average"])
def test_metric_shuffled_batches_match_functional(ties: str) -> None:
    img, txt, lab, split = paired_dataset(0)
    metric = CrossModalRetrievalMetric(topk=10, ks=(1, 5, 100), ties=ties)
    g = torch.Generator().manual_seed(0)
    for name, idx in split.items():
        feed(metric, img, txt, lab, idx[torch.randperm(len(idx), generator=g)], name, batch=7)
    got = {k: float(v) for k, v in metric.compute().items()}
    assert got == pytest.approx(expected(img, txt, lab, split, (1, 5, 100), ties), abs=1e-6)


def test_metric_two_ranks_with_padding_match_one_process() -> None:
    img, txt, lab, split = paired_dataset(1)
    ks = (1, 5, 100)
    rank1 = CrossModalRetrievalMetric(topk=10, ks=ks)
    # rank 0 gathers its own state and then rank 1's, as torchmetrics' "cat" reduction does
    other = itertools.cycle([])
    rank0 = CrossModalRetrievalMetric(
        topk=10, ks=ks, dist_sync_fn=lambda t, group=None: [t, next(other)],
        distributed_available_fn=lambda: True,
    )  # fmt: skip
    for rank, metric in enumerate((rank0, rank1)):
        for name, idx in split.items():
            # DistributedSampler without shuffle pads by repeating the first rows (two extra
            # here, so duplicates always occur), then every second index goes to this rank
            padded = torch.cat([idx, idx[: (-len(idx)) % 2 + 2]])
            feed(metric, img, txt, lab, padded[rank::2], name, batch=4)
    other = itertools.cycle([dim_zero_cat(getattr(rank1, a)) for a in rank1._reductions])
    single = CrossModalRetrievalMetric(topk=10, ks=ks)
    for name, idx in split.items():
        feed(single, img, txt, lab, idx, name, batch=90)
    got, want = rank0.compute(), single.compute()
    assert got.keys() == want.keys()
    for key in want:
        assert torch.equal(got[key], want[key]), key
    assert {k: float(v) for k, v in got.items()} == pytest.approx(
        expected(img, txt, lab, split, ks), abs=1e-6
    )
    curves = rank0.curves()
    for d, want in single.curves().items():
        for key in want:
            torch.testing.assert_close(curves[d][key], want[key])


def test_metric_names_p_at_k_by_the_k_used() -> None:
    """k above the retrieval size N (60 here) is the precision over N items: one p@60."""
    img, txt, lab, split = paired_dataset(3)
    metric = CrossModalRetrievalMetric(topk=10, ks=(1, 60, 100, 500, 5))
    for name, idx in split.items():
        feed(metric, img, txt, lab, idx, name, batch=32)
    names = {k for k in metric.compute() if "_p@" in k}
    assert names == {f"{d}_p@{k}" for d in ("i2t", "t2i") for k in (1, 5, 60)}
    assert metric.curves()["i2t"]["ks"].tolist() == [1, 5, 60]


def test_metric_curves_match_functional() -> None:
    img, txt, lab, split = paired_dataset(2)
    metric = CrossModalRetrievalMetric(ks=(1, 10))
    for name, idx in split.items():
        feed(metric, img, txt, lab, idx, name, batch=16)
    q, r = split["query"], split["retrieval"]
    curves = metric.curves()
    precision, recall = precision_recall_curve(txt[q], img[r], lab[q], lab[r])
    torch.testing.assert_close(curves["t2i"]["pr_precision"].float(), precision)
    torch.testing.assert_close(curves["t2i"]["pr_recall"].float(), recall)
    torch.testing.assert_close(
        curves["i2t"]["p@k"].float(), precision_at_k(img[q], txt[r], lab[q], lab[r], (1, 10))
    )
    with pytest.raises(ValueError, match="split"):
        metric.update(img[:2], txt[:2], lab[:2], torch.arange(2), split="train")
