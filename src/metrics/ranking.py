"""The Hamming ranking core: exact distances, the stable (distance, index) order, AP of a ranking.

Distances take only c + 1 integer values, so the stable order (ties broken by retrieval index)
never needs a comparison sort of a whole row: the top k come from the distance of the k-th
item (a bisection of counting passes) and the candidates at or below it in index order, the
full order from a counting (radix) sort of 8-bit distances. Everything here works on float32
or integer tensors on the device of the codes; callers disable autocast
(`src.metrics.inputs.float32_context`).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import Tensor

from src.metrics import packed

# Work sizes, tuned with benchmarks/bench_metrics.py (2 CPU cores, 32 MiB L3): the distance
# product runs in tiles of TILE_PAIRS (query, item) pairs, so that each tile stays in the
# caches and each read of the retrieval codes serves many queries; the ranking runs in groups
# of GROUP_PAIRS pairs, which also bounds the candidate lists of `stable_topk`.
TILE_PAIRS = 2**21
GROUP_PAIRS = 2**20
MAX_CHUNK_ROWS = 512


def _libc_malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to do
        return None


_MALLOC_TRIM = _libc_malloc_trim()


def release_free_memory() -> None:
    """Give the free pages of the C heap back to the system (glibc's malloc_trim(0); nothing
    elsewhere). The row groups allocate arrays of varying sizes (candidate lists) that glibc
    would otherwise keep: measured at NUS-WIDE size, mAP@50's peak RSS grew by 1.1 GiB."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


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

    Exact: every partial sum of products of +-1 values is an integer far below 2^24. Used off
    the CPU (no popcount in torch); on the CPU `src.metrics.packed` (XOR and popcount of packed
    words) is several times faster: see docs/benchmarks.md for the measured ratio.
    """
    c = Bq.shape[1]
    return torch.addmm(Bq.new_tensor(c / 2), Bq, Br.T, alpha=-0.5)  # (q, nr)


def stable_topk(D: Tensor, k: int) -> Tensor:
    """Indices (q, k) int64 of the first k items in (distance, index) order, 1 <= k <= nr,
    from distances D (q, nr) uint8 or int16, without sorting the rows.

    A bound u >= the distance of the k-th item comes from a sample of each row (the k-th
    smallest of any k or more items of the row is at least the row's k-th smallest); the items
    at distance <= u, listed in index order, are then ranked by the unique keys d * nr + j, and
    the first k of each row kept. Exact for any distances: only the amount of work depends on
    how tight the bound is.
    """
    if D.device.type != "cpu":
        return _stable_topk_torch(D, k)
    q, nr = D.shape
    Dn = D.numpy()
    m = min(nr, max(k, int((2 * k * nr) ** 0.5)))  # sample width: balances the two steps
    sample = Dn[:, :: max(1, nr // m)]  # (q, >= m) strided sample of each row
    u = np.partition(sample, k - 1, axis=1)[:, k - 1 : k]  # (q, 1) bound on the k-th distance
    flat = np.flatnonzero(Dn <= u)  # (m,) candidates, row-major, so in index order
    rows = flat // nr
    key = (rows * (int(Dn.max()) + 1) + Dn.reshape(-1)[flat]) * nr + (flat - rows * nr)
    key.sort()  # (row, distance, index) order; keys are unique
    starts = np.cumsum(np.bincount(rows, minlength=q)) - np.bincount(rows, minlength=q)
    take = starts[:, None] + np.arange(k)  # (q, k) the first k candidates of each row
    return torch.from_numpy(key[take] % nr)


def _stable_topk_torch(D: Tensor, k: int) -> Tensor:
    """`stable_topk` off the CPU: t, the distance of the k-th item, from `torch.topk` (whose
    order among ties is unspecified); the first k are the items below t and the first
    k - (items below t) items at t by index, ranked by a running count."""
    q, nr = D.shape
    vals = torch.topk(D, k, dim=1, largest=False, sorted=False).values  # (q, k)
    t = vals.max(1, keepdim=True).values  # (q, 1) distance of the k-th item
    n_below = (vals < t).sum(1)  # (q,) every item below t is among the k
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


class ChunkWork:
    """Distances and relevance of query chunks of at most `rows` rows to all nr items, written
    into two buffers made once (so the resident memory of an evaluation stays at their size).

    Codes (nq, c), (nr, c) float32 in {-1, +1}, multi-hot labels (nq, C), (nr, C) float32. On
    the CPU the codes are packed to bits once and distances come from XOR and popcount
    (`src.metrics.packed`), elsewhere from the float product (`distances`), tile by tile.
    Distances are uint8 (int16 above 255 bits), relevance bool, both (q, nr) views.
    """

    def __init__(self, Bq: Tensor, Br: Tensor, Lq: Tensor, Lr: Tensor, rows: int) -> None:
        nr, c = Br.shape
        rows = min(rows, Bq.shape[0])
        self.Bq, self.Br, self.Lq, self.Lr, self.c = Bq, Br, Lq, Lr, c
        dtype = torch.uint8 if c <= 255 else torch.int16
        self.D = torch.empty(rows, nr, dtype=dtype, device=Bq.device)  # (rows, nr) reused
        self.R: Tensor | None = None  # (rows, nr) bool, made on first use
        self.packed = Bq.device.type == "cpu"
        if self.packed:
            self.Pq, self.Pr = packed.pack_codes(Bq), packed.pack_codes(Br)  # (n, w) uint64

    def distances(self, sl: slice) -> Tensor:
        """Hamming distances (q, nr) of the query rows `sl` (a view of the reused buffer)."""
        out = self.D[: sl.stop - sl.start]
        if self.packed:
            packed.hamming_into(self.Pq[sl], self.Pr, out.numpy())
            return out
        for tile in _tiles(out.shape[0], self.Br.shape[0]):
            out[:, tile] = distances(self.Bq[sl], self.Br[tile])
        return out

    def relevance(self, sl: slice) -> Tensor:
        """Relevance (q, nr) bool of the query rows `sl` (a view of the reused buffer)."""
        if self.R is None:
            self.R = torch.empty(self.D.shape, dtype=torch.bool, device=self.D.device)
        return relevance_matrix(self.Lq[sl], self.Lr, self.R[: sl.stop - sl.start])


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


def relevance_matrix(Lq: Tensor, Lr: Tensor, out: Tensor | None = None) -> Tensor:
    """Relevance (q, nr) bool of multi-hot labels (q, C), (nr, C), computed tile by tile into
    `out` (q, nr) bool when given: a shared bit of the label masks, or above 63 classes a
    positive label product."""
    if out is None:
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
    """Relevance (q, k) bool of the items `idx` (q, k) to each query, labels (q, C), (nr, C):
    a shared bit of the label masks, or above 63 classes a positive label product."""
    mq, mr = _bitmasks(Lq), _bitmasks(Lr)
    if mq is None:
        return (Lq[:, None, :] @ Lr[idx].transpose(1, 2)).squeeze(1) > 0  # shares a label
    return (mq[:, None] & mr[idx]) != 0


def ranked_sums(rel: Tensor, ends: list[int], ks: list[int]) -> tuple[Tensor, Tensor, Tensor]:
    """Sums over the hits of relevance (q, n) bool in rank order.

    For a hit at position p (1-based) that is the h-th hit of its row, the precision at it is
    h / p. Returns, per end e of `ends` (each 1..n), the sum of h / p over the hits at p <= e
    and the number of those hits, both float64 (q, E), and the hits at p <= k for each k of
    `ks` float64 (q, len(ks)). AP@e is the first over the second; AP over the whole set (e = n)
    divides by all relevant items. h is exact (int32); each term h / p is one float64 division
    and the terms are added by a running float64 sum along the row (`torch.cumsum`, a
    sequential scan on the CPU; the zero terms of the misses leave it unchanged), so on the CPU
    each sum equals the per-query loop's (tests/metric_reference.py `ref_ap`) and the compiled
    kernels' bit for bit.
    """
    q, n = rel.shape
    cum = rel.cumsum(1, dtype=torch.int32)  # (q, n) h: hits up to each position, exact
    found = cum[:, [e - 1 for e in ends]].double()  # (q, E)
    hits = cum[:, [k - 1 for k in ks]].double()  # (q, len(ks))
    terms = cum.mul_(rel).double()  # (q, n) h at the hits, 0 elsewhere
    terms.div_(torch.arange(1, n + 1, device=rel.device, dtype=torch.float64))  # (q, n) h / p
    running = terms.cumsum_(1) if ends else terms  # (q, n) sum of the terms up to each p
    sums = running[:, [e - 1 for e in ends]]  # (q, E)
    return sums, found, hits


def bucket_counts(D: Tensor, R: Tensor, c: int) -> tuple[Tensor, Tensor]:
    """Items n and relevant items r per distance value 0..c, both (q, c + 1) float64, from
    integer-valued distances D (q, nr) and relevance R (q, nr) bool."""
    idx = D.to(torch.int64)  # (q, nr)
    ones = torch.ones(idx.shape, device=D.device)  # (q, nr) float32
    n = torch.zeros(D.shape[0], c + 1, device=D.device).scatter_add_(1, idx, ones)
    r = torch.zeros_like(n).scatter_add_(1, idx, R.to(torch.float32))
    return n.double(), r.double()  # counts below 2^24 are exact in float32
