"""The Hamming ranking core: exact distances, the stable (distance, index) order, AP of a ranking.

Distances take only c + 1 integer values, so the stable order (ties broken by retrieval index)
never needs a comparison sort of a whole row: the top k come from the distance of the k-th
item (a bisection of counting passes) and the candidates at or below it in index order, the
full order from a counting (radix) sort of 8-bit distances. Everything here works on float32
or integer tensors on the device of the codes; callers disable autocast
(`src.metrics.inputs.float32_context`).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

# Work sizes, tuned with benchmarks/bench_metrics.py (2 CPU cores, 32 MiB L3): the distance
# product runs in tiles of TILE_PAIRS (query, item) pairs, so that each tile stays in the
# caches and each read of the retrieval codes serves many queries; the ranking runs in groups
# of GROUP_PAIRS pairs, which also bounds the candidate lists of `stable_topk`.
TILE_PAIRS = 2**21
GROUP_PAIRS = 2**20
MAX_CHUNK_ROWS = 512


def chunk_rows(nr: int, budget_mb: float, bytes_per_pair: int) -> int:
    """Query rows per chunk: at most `MAX_CHUNK_ROWS` and `budget_mb` MiB, at least 1."""
    by_budget = int(budget_mb * 2**20 // (bytes_per_pair * max(nr, 1)))
    return max(1, min(by_budget, MAX_CHUNK_ROWS))


def query_chunks(nq: int, rows: int) -> Iterator[slice]:
    """Consecutive query slices of `rows` rows."""
    for start in range(0, nq, rows):
        yield slice(start, min(start + rows, nq))


def row_groups(q: int, nr: int) -> Iterator[slice]:
    """Slices of about `GROUP_PAIRS` pairs over q rows of nr items."""
    return query_chunks(q, max(1, GROUP_PAIRS // max(nr, 1)))


def _tiles(q: int, nr: int, limit: int | None = None) -> Iterator[slice]:
    """Retrieval slices of about `TILE_PAIRS` / q items (at most `limit`) for q query rows."""
    width = max(1, TILE_PAIRS // max(q, 1))
    return query_chunks(nr, min(width, limit) if limit else width)


def distances(Bq: Tensor, Br: Tensor) -> Tensor:
    """Hamming distances float32 (q, nr) of codes in {-1, +1}: d = (c - b_q . b_r) / 2.

    Exact: every partial sum of products of +-1 values is an integer far below 2^24. On the
    benchmark CPU this is about 50x faster than XOR and popcount of packed words.
    """
    c = Bq.shape[1]
    return torch.addmm(Bq.new_tensor(c / 2), Bq, Br.T, alpha=-0.5)  # (q, nr)


def stable_topk(D: Tensor, k: int) -> Tensor:
    """Indices (q, k) int64 of the first k items in (distance, index) order, 1 <= k <= nr,
    from distances D (q, nr) uint8 or int16, without sorting the rows.

    With t the distance of the k-th item (from `torch.topk`, whose order among ties is
    unspecified), the first k are the items below t and the first k - (items below t) items
    at t by index; `torch.nonzero` lists the candidates (distance <= t) of each row in index
    order, so the items at t are ranked by a running count.
    """
    q, nr = D.shape
    vals = torch.topk(D, k, dim=1, largest=False, sorted=False).values  # (q, k)
    t = vals.max(1, keepdim=True).values  # (q, 1) distance of the k-th item
    n_below = (vals < t).sum(1)  # (q,) every item below t is among the k
    if D.device.type == "cpu":  # numpy's flatnonzero is several times faster here
        flat = torch.from_numpy(np.flatnonzero(D.numpy() <= t.numpy()))
    else:
        flat = torch.nonzero((D <= t).view(-1)).squeeze(1)
    rows, cols = flat // nr, flat % nr  # (m,) candidates (distance <= t), row-major
    n_upto = torch.bincount(rows, minlength=q)  # (q,) candidates per row, >= k
    t = t.squeeze(1).to(torch.int64)
    d = D[rows, cols].to(torch.int64)  # (m,)
    at_t = d == t[rows]
    seen = torch.cumsum(at_t, 0)  # items at t so far, over all rows
    starts = torch.cumsum(n_upto, 0) - n_upto  # (q,) first candidate of each row
    before = torch.where(starts > 0, seen[(starts - 1).clamp(min=0)], 0)  # (q,)
    keep = ~at_t | (seen - before[rows] <= (k - n_below)[rows])  # exactly k per row
    key = (d[keep] * nr + cols[keep]).view(q, k)  # (q, k) unique keys d * nr + j
    return torch.sort(key, dim=1).values % nr


def small_distances(Bq: Tensor, Br: Tensor) -> Tensor:
    """Hamming distances (q, nr) as uint8 (int16 above 255 bits), computed tile by tile."""
    dtype = torch.uint8 if Br.shape[1] < 256 else torch.int16
    out = torch.empty(Bq.shape[0], Br.shape[0], dtype=dtype, device=Bq.device)  # (q, nr)
    cpu = out.numpy() if out.device.type == "cpu" else None
    for sl in _tiles(Bq.shape[0], Br.shape[0]):
        if cpu is not None:  # numpy's casting copy is several times faster here
            cpu[:, sl] = distances(Bq, Br[sl]).numpy()
        else:
            out[:, sl] = distances(Bq, Br[sl])
    return out


def stable_order(D: Tensor) -> Tensor:
    """Stable argsort (q, nr) int64 of distances (q, nr) uint8 or int16 along each row."""
    if D.device.type == "cpu":
        # numpy's stable sort of 8- and 16-bit integers is a radix (counting) sort: O(nr) per
        # row, several times faster here than torch's comparison-based stable sort.
        return torch.from_numpy(np.argsort(D.numpy(), axis=1, kind="stable"))
    return torch.sort(D, dim=1, stable=True).indices


def _bitmasks(L: Tensor) -> Tensor | None:
    """Multi-hot labels (n, C) as integer bit masks (n,), or None above 63 classes."""
    C = L.shape[1]
    if C > 63:
        return None
    dtype = torch.int32 if C <= 31 else torch.int64
    weights = 2 ** torch.arange(C, dtype=dtype, device=L.device)  # (C,) distinct bits
    return (L.to(dtype) * weights).sum(1, dtype=dtype)  # (n,)


def relevance_matrix(Lq: Tensor, Lr: Tensor) -> Tensor:
    """Relevance (q, nr) bool of multi-hot labels (q, C), (nr, C), computed tile by tile: a
    shared bit of the label masks, or above 63 classes a positive label product."""
    out = torch.empty(Lq.shape[0], Lr.shape[0], dtype=torch.bool, device=Lq.device)
    mq, mr = _bitmasks(Lq), _bitmasks(Lr)
    for sl in _tiles(Lq.shape[0], Lr.shape[0]):
        if mq is None:
            torch.gt(Lq @ Lr[sl].T, 0, out=out[:, sl])
        elif out.device.type == "cpu":  # numpy: several times faster here
            mask = np.bitwise_and(mq.numpy()[:, None], mr.numpy()[None, sl])  # (q, tile)
            np.not_equal(mask, 0, out=out.numpy()[:, sl])
        else:
            torch.ne(mq[:, None] & mr[None, sl], 0, out=out[:, sl])
    return out


def top_relevance(Lq: Tensor, Lr: Tensor, idx: Tensor) -> Tensor:
    """Relevance (q, k) bool of the items `idx` (q, k) to each query, labels (q, C), (nr, C)."""
    return (Lq[:, None, :] @ Lr[idx].transpose(1, 2)).squeeze(1) > 0  # shares a label


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
    terms = torch.mul(cum, inv).mul_(rel)  # (q, n) float32 precision at the hits
    sums = [terms[:, :e].sum(1, dtype=torch.float64) for e in ends]
    return torch.stack(sums, 1), cum


def bucket_counts(D: Tensor, R: Tensor, c: int) -> tuple[Tensor, Tensor]:
    """Items n and relevant items r per distance value 0..c, both (q, c + 1) float64, from
    integer-valued distances D (q, nr) and relevance R (q, nr) bool."""
    idx = D.to(torch.int64)  # (q, nr)
    ones = torch.ones(idx.shape, device=D.device)  # (q, nr) float32
    n = torch.zeros(D.shape[0], c + 1, device=D.device).scatter_add_(1, idx, ones)
    r = torch.zeros_like(n).scatter_add_(1, idx, R.to(torch.float32))
    return n.double(), r.double()  # counts below 2^24 are exact in float32
