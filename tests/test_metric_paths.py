"""Every internal path of the stable ranking (top k by fused keys in one or several blocks, the
full counting sort, chunks of any size) gives the per-query loop's numbers, on generated cases
with ties everywhere, k above N and queries without a relevant item, at 16 to 128 bits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metric_reference import random_case, ref_map, ref_precision_at_k
from src.metrics import evaluate_retrieval, functional, ranking

PATHS = {
    "default": {},
    # blocks of a few dozen items: the top k of several blocks are merged by int64 keys
    "blocks": {(ranking, "FLOAT32_EXACT"): 2**12},
    # the full counting sort for every k, never torch.topk
    "full-order": {(functional, "_TOPK_LIMIT"): 0},
    # one query row per chunk
    "row-chunks": {(ranking, "CHUNK_PAIRS"): 1},
}


def generated_case(seed: int):
    """Random sizes, 16-128 bits, codes from a small pool (ties everywhere), multi-hot labels
    with empty rows, and a query that has no relevant item."""
    rng = np.random.default_rng(seed)
    c = (16, 32, 64, 128)[seed % 4]
    nq, nr = int(rng.integers(3, 14)), int(rng.integers(20, 400))
    Bq, Br, Lq, Lr = random_case(rng, c, nq, nr, multi=True, n_cls=int(rng.integers(3, 9)))
    Lq[0] = 0
    Lq[0, -1] = 1
    Lr[:, -1] = 0  # the first query's only label is nobody's
    ks = sorted({1, int(rng.integers(1, nr + 1)), nr, nr + int(rng.integers(1, 50)), 100})
    topk = int(rng.choice([1, 7, 50, nr, nr + 3]))
    return Bq, Br, Lq, Lr, topk, ks


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("seed", range(16))
def test_paths_match_loop(monkeypatch: pytest.MonkeyPatch, path: str, seed: int) -> None:
    for (module, name), value in PATHS[path].items():
        monkeypatch.setattr(module, name, value)
    Bq, Br, Lq, Lr, topk, ks = generated_case(seed)
    for map_all in (False, True):
        res = evaluate_retrieval(Bq, Br, Lq, Lr, topk=topk, map_all=map_all, ks=ks)
        assert float(res[f"map@{topk}"]) == pytest.approx(ref_map(Bq, Br, Lq, Lr, topk), abs=1e-7)
        used = [min(k, len(Br)) for k in ks]
        want = dict(zip(used, ref_precision_at_k(Bq, Br, Lq, Lr, ks)))
        assert res["ks"].tolist() == sorted(want)
        np.testing.assert_allclose(res["p@k"].numpy(), [want[k] for k in sorted(want)], atol=1e-7)
    assert float(res["map@all"]) == pytest.approx(ref_map(Bq, Br, Lq, Lr), abs=1e-7)


@pytest.mark.parametrize("seed", range(8))
def test_stable_topk_merges_blocks_exactly(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    """The indices themselves, not only the metrics: the first k of a stable argsort."""
    monkeypatch.setattr(ranking, "FLOAT32_EXACT", 2**11)
    rng = np.random.default_rng(300 + seed)
    c = (16, 32, 64, 128)[seed % 4]
    Bq, Br, _, _ = random_case(rng, c, 6, int(rng.integers(100, 700)), True, 3)
    Bq, Br = torch.as_tensor(Bq, dtype=torch.float32), torch.as_tensor(Br, dtype=torch.float32)
    k = int(rng.integers(1, 2**11 // (c + 1) + 1))
    dist = ((c - Bq @ Br.T) / 2).numpy()
    want = np.argsort(dist, axis=1, kind="stable")[:, :k]
    np.testing.assert_array_equal(ranking.stable_topk(Bq, Br, k).numpy(), want)


@pytest.mark.parametrize("seed", range(6))
def test_tie_average_does_not_depend_on_chunks(monkeypatch: pytest.MonkeyPatch, seed: int):
    Bq, Br, Lq, Lr, topk, ks = generated_case(100 + seed)
    args = dict(topk=topk, ks=ks, pr_curve=True, ties="average")
    want = evaluate_retrieval(Bq, Br, Lq, Lr, **args)
    monkeypatch.setattr(ranking, "CHUNK_PAIRS", 1)
    got = evaluate_retrieval(Bq, Br, Lq, Lr, **args)
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=0, atol=1e-12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("seed", range(4))
def test_cuda_equals_cpu(seed: int) -> None:
    Bq, Br, Lq, Lr, topk, ks = generated_case(200 + seed)
    cpu = evaluate_retrieval(Bq, Br, Lq, Lr, topk=topk, ks=ks, pr_curve=True)
    gpu = evaluate_retrieval(*(torch.as_tensor(x).cuda() for x in (Bq, Br, Lq, Lr)), topk=topk,
                             ks=ks, pr_curve=True)  # fmt: skip
    for key in cpu:
        torch.testing.assert_close(gpu[key].cpu(), cpu[key], rtol=0, atol=1e-7)
