"""The compiled ranking kernels (src/metrics/kernels.py, numba) against plain loops: the first K
items are the head of numpy's stable argsort, the AP sum over the whole set is the loop's over
that order (bit for bit), the counts per distance are numpy's bincount, and each query's AP@k
and hits equal the per-query loop's bit for bit; on generated rows with ties everywhere, one
distance value, descending rows, queries without a relevant item, k = 1..N and codes of 1 to
300 bits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metric_reference import random_case, ref_ap, ref_distances, ref_relevance
from src.metrics import evaluate_retrieval, functional, kernels
from src.metrics.fused import FusedWork

pytestmark = pytest.mark.skipif(not kernels.AVAILABLE, reason="numba ([fast] extra) missing")


def distance_row(rng: np.random.Generator, seed: int) -> tuple[np.ndarray, int]:
    """A row (nr,) uint16 of distances 0..c: few values, one value, spread or descending."""
    nr, c = int(rng.integers(1, 700)), int(rng.choice([0, 1, 2, 16, 128, 300]))
    d = rng.integers(0, c + 1, nr).astype(np.uint16)
    if seed % 5 == 0:
        d = np.sort(d)[::-1].copy()  # descending: every candidate list at its longest
    return d, max(c, 1)


@pytest.mark.parametrize("seed", range(30))
def test_top_order_is_the_head_of_a_stable_argsort(seed: int) -> None:
    rng = np.random.default_rng(seed)
    d, c = distance_row(rng, seed)
    nr = len(d)
    want = np.argsort(d, kind="stable")
    for K in sorted({1, nr, int(rng.integers(1, nr + 1)), min(nr, 50)}):
        order = np.full(nr, -1, dtype=np.int64)
        n, cand = np.zeros(c + 1, np.int64), np.zeros(nr + 1, np.int64)
        kernels.top_order(d, c, K, n, cand, order)
        np.testing.assert_array_equal(order[:K], want[:K])


@pytest.mark.parametrize("seed", range(30))
def test_all_sum_and_counts_follow_the_stable_order(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    d, c = distance_row(rng, seed)
    nr = len(d)
    rel = (rng.random(nr) < rng.choice([0.0, 0.1, 0.5, 1.0])).astype(np.uint8)
    n, r = np.full(c + 1, 7, np.int64), np.full(c + 1, 7, np.int64)  # overwritten
    total = kernels.all_sum(d, rel, n, r, np.zeros(nr + 1, np.int64), np.zeros(nr, np.int64))
    ranked = rel[np.argsort(d, kind="stable")]
    want = sum(h / p for h, p in enumerate(np.flatnonzero(ranked) + 1, start=1))
    assert total == want  # the loop's additions in the loop's order: bit for bit
    np.testing.assert_array_equal(n, np.bincount(d, minlength=c + 1))
    np.testing.assert_array_equal(r, np.bincount(d, weights=rel, minlength=c + 1))


def loop_sums(Bq, Br, Lq, Lr, ends, ks):
    """Per query: the loop's AP over the first e items (normalised by the hits found there,
    as `ref_ap` with n_relevant None) for each e, and hits at each k."""
    aps, hits = [], []
    for bq, lq in zip(Bq, Lq):
        rel = ref_relevance(lq, Lr)[np.argsort(ref_distances(bq, Br), kind="stable")]
        aps.append([ref_ap(rel[:e], None) for e in ends])
        hits.append([rel[:k].sum() for k in ks])
    return np.array(aps), np.array(hits, dtype=np.float64)


@pytest.mark.parametrize("seed", range(24))
def test_each_query_ap_equals_the_loop(seed: int) -> None:
    """AP@k, hits and AP over the whole set bit for bit (the same sums in the same order)."""
    rng = np.random.default_rng(200 + seed)
    c = int(rng.choice([1, 7, 16, 32, 64, 65, 128, 300]))
    nq, nr = int(rng.integers(1, 9)), int(rng.integers(1, 400))
    Bq, Br, Lq, Lr = random_case(rng, c, nq, nr, multi=True, n_cls=int(rng.integers(2, 70)))
    Lq[0] = 0  # a query without any label: relevant to nothing
    Br[: nr // 3] = Br[0]  # a large tie group
    ks = sorted({1, int(rng.integers(1, nr + 1)), nr})
    work = FusedWork(*(torch.as_tensor(x, dtype=torch.float32) for x in (Bq, Br, Lq, Lr)))
    for k in sorted({1, int(rng.integers(1, nr + 1)), nr}):
        got, _ = work.rank(slice(0, nq), k, True, ks, False)
        want_ap, want_hits = loop_sums(Bq, Br, Lq, Lr, [k, nr], ks)
        assert (got["ap_k"].numpy() == want_ap[:, 0]).all(), k
        np.testing.assert_array_equal(got["hits"].numpy(), want_hits)
        assert (got["ap_all"].numpy() == want_ap[:, 1]).all(), k


@pytest.mark.parametrize("seed", range(8))
def test_kernels_equal_the_numpy_path(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    """Every output (mAP@k, mAP@all, P@k, PR curve; stable and averaged ties) of the kernels
    equals the numpy path's, class-id and multi-hot labels alike: bit for bit, except the PR
    curve (to 1e-12)."""
    rng = np.random.default_rng(300 + seed)
    c, nr = int(rng.choice([8, 32, 128])), int(rng.integers(2, 300))
    Bq, Br, Lq, Lr = random_case(rng, c, 6, nr, multi=bool(seed % 2), n_cls=5)
    for ties in ("stable", "average"):
        args = dict(topk=int(rng.integers(1, nr + 5)), ks=(1, 3, nr + 2), pr_curve=True, ties=ties)
        fast = evaluate_retrieval(Bq, Br, Lq, Lr, **args)
        monkeypatch.setattr(functional, "USE_KERNELS", False)
        slow = evaluate_retrieval(Bq, Br, Lq, Lr, **args)
        monkeypatch.setattr(functional, "USE_KERNELS", True)
        assert fast.keys() == slow.keys()
        for key in fast:  # the PR sums are added per chunk, whose sizes differ between paths
            atol = 1e-12 if key.startswith("pr_") else 0.0
            torch.testing.assert_close(fast[key], slow[key], rtol=0, atol=atol)
