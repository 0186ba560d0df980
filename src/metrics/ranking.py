"""The Hamming ranking core: exact distances, the stable (distance, index) order, AP of a ranking.

Distances take only c + 1 integer values, so the stable order (ties broken by retrieval index)
never needs a comparison sort: the top k come from `torch.topk` over unique integer keys
``distance * n + index`` formed inside the distance product, and the full order from a
counting (radix) sort of 8-bit distances. Everything here works on float32 or integer tensors
on the device of the codes; callers disable autocast (`src.metrics.inputs.float32_context`).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

# Integers below 2^24 are exact in float32: the bound on the fused keys of one block.
FLOAT32_EXACT = 2**24
# Query rows per chunk aim at this many (query, item) pairs, so that the chunk's matrices stay
# in the CPU caches (tuned with benchmarks/bench_metrics.py); the memory budget caps it.
CHUNK_PAIRS = 2**19


def chunk_rows(nr: int, budget_mb: float, bytes_per_pair: int) -> int:
    """Query rows per chunk: about `CHUNK_PAIRS` pairs, at most `budget_mb` MiB, at least 1."""
    by_budget = int(budget_mb * 2**20 // (bytes_per_pair * max(nr, 1)))
    return max(1, min(by_budget, max(1, CHUNK_PAIRS // max(nr, 1))))


def query_chunks(nq: int, rows: int) -> Iterator[slice]:
    """Consecutive query slices of `rows` rows."""
    for start in range(0, nq, rows):
        yield slice(start, min(start + rows, nq))


def distances(Bq: Tensor, Br: Tensor) -> Tensor:
    """Hamming distances float32 (q, nr) of codes in {-1, +1}: d = (c - b_q . b_r) / 2.

    Exact: every partial sum of products of +-1 values is an integer far below 2^24. On the
    benchmark CPU this is about 50x faster than XOR and popcount of packed words.
    """
    c = Bq.shape[1]
    return torch.addmm(Bq.new_tensor(c / 2), Bq, Br.T, alpha=-0.5)  # (q, nr)


def _fused_keys(Bq: Tensor, Br: Tensor) -> Tensor:
    """Keys d * n + j (q, n) float32 of the n items of `Br` in one product; their order is the
    stable (distance, index) order. Exact while (c + 1) n <= 2^24 (see `stable_topk`)."""
    n, c = Br.shape
    bias = torch.arange(n, dtype=torch.float32, device=Bq.device).add_(c / 2 * n)  # (n,)
    # d * n + j = (c - b_q . b_r) n / 2 + j
    return torch.addmm(bias.expand(Bq.shape[0], n), Bq, Br.T, alpha=-n / 2)  # (q, n)


def stable_topk(Bq: Tensor, Br: Tensor, k: int) -> Tensor:
    """Indices (q, k) int64 of the first k items in (distance, index) order.

    1 <= k <= nr and k <= 2^24 / (c + 1) (at 128 bits 130,055 items): larger k take
    `stable_order`.

    The retrieval set is cut into blocks whose fused keys are exact in float32; each block
    gives its top k by `torch.topk` (O(n) per row), and the candidates of several blocks are
    merged by exact int64 keys.
    """
    nr, c = Br.shape
    block = FLOAT32_EXACT // (c + 1)
    if k > block:
        raise ValueError(f"stable_topk: k = {k} above {block} at {c} bits; use stable_order")
    cand_idx, cand_key = [], []
    for start in range(0, nr, block):
        part = Br[start : start + block]
        kb = min(k, part.shape[0])
        keys, idx = torch.topk(_fused_keys(Bq, part), kb, dim=1, largest=False, sorted=True)
        if start == 0 and part.shape[0] == nr:
            return idx  # one block: already exact and in order
        dist = torch.div(keys.long(), part.shape[0], rounding_mode="floor")  # (q, kb)
        cand_idx.append(idx + start)
        cand_key.append(dist * nr + idx + start)  # global key d * nr + j, int64
    keys, pos = torch.topk(torch.cat(cand_key, 1), k, dim=1, largest=False, sorted=True)
    return torch.cat(cand_idx, 1).gather(1, pos)  # (q, k)


def stable_order(D: Tensor) -> Tensor:
    """Stable argsort (q, nr) int64 of integer-valued distances (0..c) along each row."""
    small = torch.uint8 if int(D.max()) < 256 else torch.int16
    if D.device.type == "cpu":
        # numpy's stable sort of 8- and 16-bit integers is a radix (counting) sort: O(nr) per
        # row, several times faster here than torch's comparison-based stable sort.
        return torch.from_numpy(np.argsort(D.to(small).numpy(), axis=1, kind="stable"))
    return torch.sort(D.to(small), dim=1, stable=True).indices


def relevance(Lq: Tensor, Lr: Tensor) -> Tensor:
    """Shares at least one label: (..., q, n) bool from multi-hot (..., q, C) and (..., n, C)."""
    return (Lq @ Lr.transpose(-1, -2)) > 0


def top_relevance(Lq: Tensor, Lr: Tensor, idx: Tensor) -> Tensor:
    """Relevance (q, k) bool of the items `idx` (q, k) to each query, labels (q, C), (nr, C)."""
    return relevance(Lq[:, None, :], Lr[idx]).squeeze(1)


def ranked_precision_sums(rel: Tensor, ends: list[int]) -> tuple[Tensor, Tensor]:
    """Sums of precision at the hits of relevance (q, n) bool in rank order.

    Returns, per end e of `ends` (each 1..n), the sum over the relevant items among the first e
    of (rank among the relevant / position) as float64 (q, E), and the hits up to every
    position as int32 (q, n). AP@e is that sum over the hits up to e, AP over the whole set
    that sum (e = n) over all relevant items.
    """
    n = rel.shape[1]
    cum = rel.cumsum(1, dtype=torch.int32)  # (q, n) hits up to each position, exact
    inv = 1.0 / torch.arange(1, n + 1, device=rel.device, dtype=torch.float32)  # (n,)
    terms = cum.to(torch.float32).mul_(inv).mul_(rel)  # (q, n) precision at the hits
    sums = [terms[:, :e].sum(1, dtype=torch.float64) for e in ends]
    return torch.stack(sums, 1), cum


def bucket_counts(D: Tensor, R: Tensor, c: int) -> tuple[Tensor, Tensor]:
    """Items n and relevant items r per distance value 0..c, both (q, c + 1) float64, from
    distances D (q, nr) and relevance R (q, nr)."""
    idx = D.to(torch.int64)  # (q, nr)
    n = torch.zeros(D.shape[0], c + 1, device=D.device).scatter_add_(1, idx, torch.ones_like(D))
    r = torch.zeros_like(n).scatter_add_(1, idx, R.to(torch.float32))
    return n.double(), r.double()  # counts below 2^24 are exact in float32
