"""Every internal path of the stable ranking (the compiled kernels' first K or full order, the
numpy path's top k by fused keys in one or several blocks, its full counting sort, chunks of
any size) gives the per-query loop's numbers, on generated cases
with ties everywhere, k above N and queries without a relevant item, at 16 to 128 bits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metric_reference import (
    random_case,
    ref_ap,
    ref_distances,
    ref_map,
    ref_precision_at_k,
    ref_relevance,
)
from src.metrics import evaluate_retrieval, functional, kernels, packed, ranking

NUMPY = {(functional, "USE_KERNELS"): False}  # the numpy/torch path, numba or not
PATHS = {
    # the compiled kernels (numba, the [fast] extra): the first K alone, or the full order
    "kernels": {},
    "kernels-full-order": {(functional, "_TOPK_LIMIT"): 0},
    "kernels-top-k": {(functional, "_TOPK_LIMIT"): 10**9},
    "kernels-one-row-chunks": {(functional, "_KERNEL_ROWS"): 1},
    "numpy": NUMPY,
    # the threshold selection of `stable_topk` for every k, up to k = N
    "selection": {**NUMPY, (functional, "_TOPK_LIMIT"): 10**9},
    # the full counting sort for every k, never torch.topk
    "full-order": {**NUMPY, (functional, "_TOPK_LIMIT"): 0},
    # one query row per chunk and per ranking group, one item per tile of the product
    "tiny-work-sizes": {
        **NUMPY,
        (ranking, "MAX_CHUNK_ROWS"): 1,
        (ranking, "GROUP_PAIRS"): 1,
        (ranking, "TILE_PAIRS"): 1,
        (packed, "TILE_PAIRS"): 1,
        (packed, "TILE_WIDTH"): 1,
    },
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
    if path.startswith("kernels") and not kernels.AVAILABLE:
        pytest.skip("numba (the [fast] extra) is not installed")
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


@pytest.mark.parametrize("seed", range(24))
def test_ranked_sums_equal_the_loop(seed: int) -> None:
    """AP over the first e items (sum / hits found) of every row, bit for bit the loop's, for
    rows with no hit, few, half or only hits, and ends from 1 to n."""
    rng = np.random.default_rng(500 + seed)
    q, n = int(rng.integers(1, 7)), int(rng.integers(1, 700))
    rel = rng.random((q, n)) < rng.choice([0.0, 0.02, 0.5, 1.0])
    rel[0] = False  # a row without any hit
    ends = sorted({1, n, *(int(e) for e in rng.integers(1, n + 1, 3))})
    ks = sorted({1, n, int(rng.integers(1, n + 1))})
    sums, found, hits = ranking.ranked_sums(torch.as_tensor(rel), ends, ks)
    for i in range(q):
        for j, e in enumerate(ends):
            assert float(sums[i, j] / found[i, j].clamp(min=1)) == ref_ap(rel[i, :e], None)
            assert found[i, j] == rel[i, :e].sum()
        assert hits[i].tolist() == [rel[i, :k].sum() for k in ks]


def loop_means(Bq, Br, Lq, Lr, topk: int, ks: list[int]) -> dict[str, float]:
    """The loop's AP of each query (`ref_ap`), averaged once over all queries by torch."""
    at_k, at_all = [], []
    for bq, lq in zip(Bq, Lq):
        rel = ref_relevance(lq, Lr)[np.argsort(ref_distances(bq, Br), kind="stable")]
        at_k.append(ref_ap(rel[:topk], None))
        at_all.append(ref_ap(rel, int(rel.sum())))
    mean = lambda x: torch.tensor(x, dtype=torch.float64).mean().item()  # noqa: E731
    return {f"map@{topk}": mean(at_k), "map@all": mean(at_all)}


@pytest.mark.parametrize("seed", range(8))
def test_every_cpu_path_gives_the_same_bits(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    """mAP@k, mAP@all and P@k are bit-identical on every CPU path and chunking (compiled
    kernels or numpy), and the mAPs equal the mean of the loop's per-query APs: each query's AP
    is the loop's, and the mean is taken once over all queries in order, whatever the chunks."""
    Bq, Br, Lq, Lr, topk, ks = generated_case(400 + seed)
    results = {}
    for path, patches in PATHS.items():
        if path.startswith("kernels") and not kernels.AVAILABLE:
            continue
        with monkeypatch.context() as patch:
            for (module, name), value in patches.items():
                patch.setattr(module, name, value)
            results[path] = evaluate_retrieval(Bq, Br, Lq, Lr, topk=topk, ks=ks)
    want = results["numpy"]
    for path, res in results.items():
        assert res.keys() == want.keys()
        for key in want:
            assert torch.equal(res[key], want[key]), (path, key)
    k = min(topk, len(Br))
    for key, value in loop_means(Bq, Br, Lq, Lr, k, ks).items():
        assert float(want[key.replace(f"@{k}", f"@{topk}")]) == value, key


@pytest.mark.parametrize("seed", range(40))
def test_stable_topk_is_the_head_of_a_stable_argsort(seed: int) -> None:
    """The indices themselves, on distances with few values (huge tie groups), one value, or
    spread values, for k from 1 to N."""
    rng = np.random.default_rng(300 + seed)
    q, nr = int(rng.integers(1, 9)), int(rng.integers(1, 600))
    top = int(rng.choice([0, 1, 2, 16, 128, 255]))
    D = rng.integers(0, top + 1, (q, nr))
    if seed % 5 == 0:
        D = np.sort(D, axis=1)[:, ::-1].copy()  # descending rows: the worst order for a heap
    D = torch.as_tensor(D, dtype=torch.uint8 if seed % 2 else torch.int16)
    for k in {1, nr, int(rng.integers(1, nr + 1))}:
        want = np.argsort(D.numpy(), axis=1, kind="stable")[:, :k]
        np.testing.assert_array_equal(ranking.stable_topk(D, k).numpy(), want)
        # the path of other devices (torch.topk and a running count), run here on the CPU
        np.testing.assert_array_equal(ranking._stable_topk_torch(D, k).numpy(), want)


@pytest.mark.parametrize("seed", range(6))
def test_tie_average_does_not_depend_on_chunks(monkeypatch: pytest.MonkeyPatch, seed: int):
    Bq, Br, Lq, Lr, topk, ks = generated_case(100 + seed)
    args = dict(topk=topk, ks=ks, pr_curve=True, ties="average")
    want = evaluate_retrieval(Bq, Br, Lq, Lr, **args)  # the kernels when numba is installed
    monkeypatch.setattr(functional, "USE_KERNELS", False)
    for name in ("MAX_CHUNK_ROWS", "GROUP_PAIRS", "TILE_PAIRS"):
        monkeypatch.setattr(ranking, name, 1)
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
