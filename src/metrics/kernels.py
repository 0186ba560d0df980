"""Fused per-query Hamming ranking on packed codes, compiled with numba (the optional [fast]
extra): distances, relevance and the stable (distance, index) positions of one query row at a
time, in buffers of the row's length, so no (queries x items) block is ever made.

Distances take only c + 1 values, so no row is ever sorted:

- the full order (mAP@all, P@k for large k, the per-distance counts): one pass in index order
  counts the items per distance value; an item's position is the items at smaller distances
  plus its rank among the items at its own distance so far (a counting sort's positions), and
  the relevant items' positions are placed by their rank among the relevant, which the same
  counts give. Work per query: O(nr) for the pass, O(relevant items) for the rest.
- the first K items (mAP@K, K small): a bound u on the K-th distance from a strided sample of
  the row (the K-th smallest of any K or more items is at least the row's K-th smallest), the
  items at distance <= u listed in index order, their counts per distance, and the first K
  positions from those counts. Work per query: O(nr) compares, O(candidates) for the rest.

AP sums add h / p over the relevant items in rank order (h: rank among the relevant, p:
position), one float64 division and addition each, in the order of the per-query loop of the
hashing literature (tests/metric_reference.py), so each query's sums equal that loop's bit for
bit. Without numba the same functions run as plain Python (correct, slow: `AVAILABLE` is then
False and `src.metrics.functional` uses its numpy path instead).
"""

from __future__ import annotations

import numpy as np

try:  # the optional [fast] extra
    from numba import njit, types
    from numba.extending import intrinsic
except ImportError:  # pragma: no cover - exercised where numba is not installed
    njit = None

AVAILABLE = njit is not None

if njit is not None:
    _jit = njit(cache=True, nogil=True)

    @intrinsic
    def popcount(typingctx, x):
        """Set bits of a uint64 (LLVM's ctpop: the POPCNT instruction, vectorised in loops)."""

        def codegen(context, builder, signature, args):
            return builder.ctpop(args[0])

        return types.uint64(types.uint64), codegen

else:  # pragma: no cover

    def _jit(fn):
        return fn

    def popcount(x) -> int:
        """Set bits of an unsigned integer."""
        return int(x).bit_count()


@_jit
def distances_row(q: np.ndarray, PrT: np.ndarray, d: np.ndarray) -> None:
    """Hamming distances of one packed query q (w,) uint64 to the packed items PrT (w, nr)
    uint64 (one row per 64-bit word: the loop over items vectorises), written into d (nr,)
    (uint16; any integer dtype that holds c): popcount(q_t XOR item_t) summed over words t."""
    w, nr = PrT.shape
    q0, r0 = q[0], PrT[0]
    for j in range(nr):
        d[j] = popcount(q0 ^ r0[j])
    for t in range(1, w):
        qt, rt = q[t], PrT[t]
        for j in range(nr):
            d[j] += popcount(qt ^ rt[j])


@_jit
def relevance_row(m: np.ndarray, MrT: np.ndarray, acc: np.ndarray, rel: np.ndarray) -> None:
    """Relevance of every item to one query, rel (nr,) uint8 = 1 when the packed label bits
    m (lw,) uint64 and the item's, MrT (lw, nr) uint64, share a bit; acc (nr,) uint64 scratch
    (used above 64 classes)."""
    lw, nr = MrT.shape
    m0, r0 = m[0], MrT[0]
    if lw == 1:
        for j in range(nr):
            rel[j] = (m0 & r0[j]) != 0
        return
    for j in range(nr):
        acc[j] = m0 & r0[j]
    for t in range(1, lw):
        mt, rt = m[t], MrT[t]
        for j in range(nr):
            acc[j] |= mt & rt[j]
    for j in range(nr):
        rel[j] = acc[j] != 0


@_jit
def relevant_positions(d, rel, n, r, rec, order) -> int:
    """The positions in the stable (distance, index) order of the relevant items of the row,
    ascending, into order[:R] (int64); returns R. Also the counts per distance value, n (c + 1,)
    int64 of all items and r (c + 1,) of the relevant.

    d (nr,) distances, rel (nr,) uint8, rec (nr + 1,) int64 scratch. One pass in index order
    counts the items per distance and records each relevant item's distance s and rank u among
    the items at s so far; a counting sort by (s, u) then lists the relevant items' positions
    p = (items at distances below s) + u in ascending order.
    """
    n[:] = 0
    R = 0
    for j in range(d.shape[0]):  # in index order, no branch on relevance
        s = d[j]
        x = n[s] + 1
        n[s] = x
        rec[R] = x * 65536 + s  # (rank among the items at s, s) of a relevant item
        R += rel[j]
    r[:] = 0
    for i in range(R):
        r[rec[i] & 65535] += 1
    below = np.cumsum(n) - n  # (c + 1,) items at distances below s
    fill = np.cumsum(r) - r  # (c + 1,) relevant items below s: where s's positions go
    for i in range(R):  # within one s the records come in index order, so u ascends
        s = rec[i] & 65535
        order[fill[s]] = below[s] + (rec[i] >> 16)
        fill[s] += 1
    return R


@_jit
def ap_sum(order, R: int) -> float:
    """Sum of h / p over h = 1..R, p = order[h - 1]: one float64 division and addition each,
    into one running sum in rank order, as the per-query loop adds them (bit for bit)."""
    total = 0.0
    for h in range(1, R + 1):
        total += h / order[h - 1]
    return total


@_jit
def all_sum(d, rel, n, r, rec, order) -> float:
    """Sum of h / p over every relevant item of the row (p: its position in the stable
    order, h: its rank among the relevant), the numerator of AP over the whole set, equal to
    the per-query loop's bit for bit; the counts per distance into n and r, scratch rec and
    order (`relevant_positions`, `ap_sum`)."""
    return ap_sum(order, relevant_positions(d, rel, n, r, rec, order))


@_jit
def top_order(d, c: int, K: int, n, cand, order) -> None:
    """The first K items (1 <= K <= nr) of the stable (distance, index) order of the row d
    (nr,) of distances 0..c, as item indices into order[:K] (int64). n (c + 1,) int64 and
    cand (nr + 1,) int64 are scratch.

    u, the K-th smallest distance of a strided sample of >= K items, is at least the row's
    K-th smallest, so the items at distance <= u (in index order) hold the first K; their
    counts per distance give each one's position, and those past K are dropped.
    """
    nr = d.shape[0]
    n[:] = 0
    taken, u = 0, c
    for j in range(0, nr, max(1, nr // max(K, int((2 * K * nr) ** 0.5)))):
        n[d[j]] += 1
        taken += 1
    if taken >= K:
        below = 0
        for u in range(c + 1):
            below += n[u]
            if below >= K:
                break
    m = 0
    for j in range(nr):  # the candidates, in index order
        if d[j] <= u:
            cand[m] = j
            m += 1
    n[:] = 0
    for i in range(m):
        n[d[cand[i]]] += 1
    below = 0
    for s in range(u + 1):  # n[s] becomes the number of items at distances below s
        below, n[s] = below + n[s], below
    for i in range(m):
        j = cand[i]
        p = n[d[j]] + 1
        if p <= K:
            n[d[j]] = p
            order[p - 1] = j


@_jit
def top_relevant(m, MrT, pos, K: int) -> int:
    """In place: pos[:K] holds the first K items in order; afterwards pos[:R] holds the
    positions (1-based) of the relevant ones among them, in order; returns R. Relevance: the
    packed label bits m (lw,) uint64 and the item's, MrT (lw, nr) uint64, share a bit."""
    R = 0
    for p in range(1, K + 1):
        j = pos[p - 1]
        shared = np.uint64(0)
        for t in range(MrT.shape[0]):
            shared |= m[t] & MrT[t, j]
        if shared != 0:
            pos[R] = p  # R < p: entries already read
            R += 1
    return R


@_jit
def running_sums(pos, R: int, ends, ks, sums, found, hits) -> None:
    """Over the relevant items in rank order (positions pos[:R], increasing; h = 1, 2, ...):
    for each e of `ends` (increasing) the sum of h / p over the items at p <= e into sums
    (E,) float64 and their number into found (E,) float64; for each k of `ks` (increasing)
    the number at p <= k into hits (len(ks),) float64. The sum is one running float64 total in
    rank order, as the per-query loop adds it."""
    total, e, x = 0.0, 0, 0
    for h in range(1, R + 1):
        p = pos[h - 1]
        while e < ends.shape[0] and p > ends[e]:
            sums[e], found[e], e = total, h - 1, e + 1
        while x < ks.shape[0] and p > ks[x]:
            hits[x], x = h - 1, x + 1
        if e == ends.shape[0] and x == ks.shape[0]:
            return
        total += h / p
    for i in range(e, ends.shape[0]):
        sums[i], found[i] = total, R
    for i in range(x, ks.shape[0]):
        hits[i] = R


@_jit
def rank_queries(Pq, PrT, Mq, MrT, c: int, K: int, full: bool, ends, ks, out, counts):
    """Per query i of packed codes Pq (q, w) and label bits Mq (q, lw) against the items
    PrT (w, nr), MrT (lw, nr) (uint64), into out[i] (2 + 2E + len(ks),) float64:

    - when `full`: the sum of h / p over all relevant items and their number (`all_sum`),
      and the counts per distance into counts (q, 2, c + 1) float64 when it has q rows;
    - when K > 0: from the first K items (`top_order`), the sums and numbers of `running_sums`
      for each of `ends` and the hits at each of `ks` (every end and k at most K).
    """
    nr, E = PrT.shape[1], ends.shape[0]
    d = np.empty(nr, np.uint16)  # (nr,) distances of one query
    rel, acc = np.empty(nr, np.uint8), np.empty(nr, np.uint64)  # (nr,) relevance, scratch
    scratch, pos = np.empty(nr + 1, np.int64), np.empty(nr, np.int64)
    n, r = np.zeros(c + 1, np.int64), np.zeros(c + 1, np.int64)  # (c + 1,) per distance
    for i in range(Pq.shape[0]):
        distances_row(Pq[i], PrT, d)
        row = out[i]
        if full:
            relevance_row(Mq[i], MrT, acc, rel)
            row[0] = all_sum(d, rel, n, r, scratch, pos)
            row[1] = r.sum()
            if counts.shape[0] > 0:
                counts[i, 0, :] = n
                counts[i, 1, :] = r
        if K > 0:
            top_order(d, c, K, n, scratch, pos)
            R = top_relevant(Mq[i], MrT, pos, K)
            running_sums(
                pos, R, ends, ks, row[2 : 2 + E], row[2 + E : 2 + 2 * E], row[2 + 2 * E :]
            )


@_jit
def distances_rows(Pq, PrT, out) -> None:
    """Hamming distances (q, nr) into out of packed queries Pq (q, w) and items PrT (w, nr)
    uint64, row by row (`distances_row`; out uint8 up to 255 bits, else int16 or wider): the
    distance pass alone, the floor of benchmarks/bench_metrics.py."""
    for i in range(Pq.shape[0]):
        distances_row(Pq[i], PrT, out[i])
