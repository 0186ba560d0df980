"""The CPU evaluation through the compiled kernels of `src.metrics.kernels` (numba, the
optional [fast] extra): codes and labels packed to bits once, then every query row ranked in
buffers of the row's length (resident memory O(nr), whatever the number of queries).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from src.metrics import kernels, packed


def usable(Bq: Tensor) -> bool:
    """Whether the kernels can evaluate codes Bq (n, c): numba installed, CPU tensors, and
    at least one bit, and distances that fit the kernels' uint16 row buffer."""
    return kernels.AVAILABLE and Bq.device.type == "cpu" and 0 < Bq.shape[1] < 65536


class FusedWork:
    """Packed codes (bit = code > 0) and packed label bits (bit = label > 0) of one evaluation.

    Codes (nq, c), (nr, c) float32 in {-1, +1}, multi-hot labels (nq, C), (nr, C) float32 on
    the CPU. The items' words are stored one row per 64-bit word, (w, nr) and (C', nr), so the
    kernels' loops over items are contiguous.
    """

    def __init__(self, Bq: Tensor, Br: Tensor, Lq: Tensor, Lr: Tensor) -> None:
        self.c, self.nr = Br.shape[1], Br.shape[0]
        self.Pq = packed.pack_codes(Bq)  # (nq, w) uint64
        self.PrT = np.ascontiguousarray(packed.pack_codes(Br).T)  # (w, nr) uint64
        self.Mq = packed.pack_codes(Lq)  # (nq, C') uint64 label bits
        self.MrT = np.ascontiguousarray(packed.pack_codes(Lr).T)  # (C', nr) uint64

    def rank(
        self, sl: slice, k: int | None, map_all: bool, ks: list[int], counts: bool
    ) -> tuple[dict[str, Tensor], tuple[Tensor, Tensor] | None]:
        """Per query of the rows `sl` (q of them), float64: ``ap_k`` (q,), AP over the first k
        items, normalised by the relevant items found there, when k; ``ap_all`` (q,), AP over
        the whole order, when `map_all`; ``hits`` (q, len(ks)), relevant items in the first k
        for each k of `ks` (each <= nr), when ks. With `counts`, also the items n and relevant
        items r per distance value 0..c, (q, c + 1) float64 each, else None.

        AP@k and the hits come from the first K = max(k, ks) items and equal the per-query
        loop's bit for bit, and so does AP over the whole set (`kernels.all_sum`).
        """
        q, K, full = sl.stop - sl.start, max([k or 0, *ks]), map_all or counts
        ends = np.asarray([k] if k else [], dtype=np.int64)
        out = np.zeros((q, 2 + 2 * len(ends) + len(ks)))  # (q, 2 + 2E + len(ks)) float64
        cnt = np.zeros((q if counts else 0, 2, self.c + 1))  # (q, 2, c + 1) float64
        kernels.rank_queries(
            self.Pq[sl], self.PrT, self.Mq[sl], self.MrT, self.c, K, full, ends,
            np.asarray(ks, dtype=np.int64), out, cnt,
        )  # fmt: skip
        res, metrics = torch.from_numpy(out), {}
        if k:
            metrics["ap_k"] = res[:, 2] / res[:, 3].clamp(min=1)
        if map_all:
            metrics["ap_all"] = res[:, 0] / res[:, 1].clamp(min=1)
        if ks:
            metrics["hits"] = res[:, 2 + 2 * len(ends) :]
        n_r = (torch.from_numpy(cnt[:, 0]), torch.from_numpy(cnt[:, 1])) if counts else None
        return metrics, n_r
