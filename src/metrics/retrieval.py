"""The stateful I->T and T->I retrieval metric (torchmetrics), on top of `functional`.

Rows of the query and retrieval splits are gathered over batches and processes, then both
directions are evaluated with `src.metrics.functional.evaluate_retrieval` (docs/method.md,
evaluation protocol).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from src.metrics.functional import (
    DEFAULT_KS,
    DEFAULT_MEMORY_BUDGET_MB,
    TIES,
    effective_ks,
    evaluate_retrieval,
)
from src.metrics.inputs import check_codes, check_labels

SPLITS = ("query", "retrieval")
_FIELDS = ("image", "text", "label", "index")
DIRECTIONS = {"i2t": ("image", "text"), "t2i": ("text", "image")}


class CrossModalRetrievalMetric(Metric):
    """I->T and T->I retrieval metrics, accumulated over batches and processes.

    ``topk``: the k of mAP@k (None: none); ``ks``: the P@k cut-offs, each named by the k
    actually used (k above the retrieval size N is reported once, as p@N); ``ties``: "stable"
    or "average" (see `src.metrics.functional`). ValueError for a bad ``ties`` or ``ks``.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(
        self,
        topk: int | None = 50,
        ks: Sequence[int] = DEFAULT_KS,
        ties: str = "stable",
        compute_map_all: bool = True,
        pr_curve: bool = False,
        memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if ties not in TIES:
            raise ValueError(f"ties: expected one of {TIES}, got {ties!r}")
        effective_ks(ks, 1)  # checks the values
        self.topk, self.ks, self.ties = topk, tuple(int(k) for k in ks), ties
        self.compute_map_all, self.pr_curve = compute_map_all, pr_curve
        self.memory_budget_mb = memory_budget_mb
        for split in SPLITS:
            for field in _FIELDS:
                self.add_state(f"{split}_{field}", default=[], dist_reduce_fx="cat")

    def update(
        self, image_codes: Tensor, text_codes: Tensor, labels: Tensor, indices: Tensor, split: str
    ) -> None:
        """Add a batch of one split: codes [m, c] in {-1, +1}, labels multi-hot [m, L] or class
        ids [m] (`src.metrics.inputs`), dataset indices [m]. ValueError for anything else."""
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
        image_codes = check_codes(image_codes, "image_codes")
        text_codes = check_codes(text_codes, "text_codes")
        labels = check_labels(labels, "labels")
        m = image_codes.shape[0]
        if text_codes.shape != image_codes.shape or labels.shape[0] != m or indices.numel() != m:
            raise ValueError(
                f"update: expected image_codes and text_codes of one shape [m, c] and m labels "
                f"and indices, got {tuple(image_codes.shape)}, {tuple(text_codes.shape)}, "
                f"{labels.shape[0]} labels and {indices.numel()} indices"
            )
        # int8 codes: a quarter of float32, which matters at NUS-WIDE size (184,577 rows)
        getattr(self, f"{split}_image").append(image_codes.to(torch.int8))
        getattr(self, f"{split}_text").append(text_codes.to(torch.int8))
        getattr(self, f"{split}_label").append(labels.detach())
        getattr(self, f"{split}_index").append(indices.detach().to(torch.int64).reshape(-1))

    def _split(self, split: str) -> dict[str, Tensor]:
        """The rows of a split sorted by dataset index, duplicates (sampler padding) dropped.

        Under DDP the gathered rows interleave the ranks; sorting by index makes the set, and
        so the stable tie-breaking by retrieval index, identical to a single process.
        """
        rows = {f: getattr(self, f"{split}_{f}") for f in _FIELDS}
        if isinstance(rows["index"], list) and not rows["index"]:
            raise ValueError(f"no {split} rows were given to update()")
        rows = {f: dim_zero_cat(v) for f, v in rows.items()}
        index, order = torch.sort(rows["index"], stable=True)
        keep = torch.ones_like(index, dtype=torch.bool)
        keep[1:] = index[1:] != index[:-1]
        return {f: v[order[keep]] for f, v in rows.items()}

    def _directions(self, **kwargs) -> dict[str, dict[str, Tensor]]:
        q, r = self._split("query"), self._split("retrieval")
        return {
            name: evaluate_retrieval(
                q[a], r[b], q["label"], r["label"], ties=self.ties,
                memory_budget_mb=self.memory_budget_mb, **kwargs,
            )  # fmt: skip
            for name, (a, b) in DIRECTIONS.items()
        }

    def compute(self) -> dict[str, Tensor]:
        """Scalars ``i2t_map@50``, ``t2i_map@50``, ``map@50`` (their mean), the same for
        ``map@all``, and ``i2t_p@k``, ``t2i_p@k`` for every k actually used (`effective_ks`)."""
        res = self._directions(topk=self.topk, map_all=self.compute_map_all, ks=self.ks)
        out: dict[str, Tensor] = {}
        names = ([f"map@{self.topk}"] if self.topk is not None else []) + (
            ["map@all"] if self.compute_map_all else []
        )
        for name in names:
            for d in res:
                out[f"{d}_{name}"] = res[d][name].float()
            out[name] = (out[f"i2t_{name}"] + out[f"t2i_{name}"]) / 2
        for d in res:
            for k, p in zip(res[d].get("ks", torch.zeros(0)).tolist(), res[d].get("p@k", [])):
                out[f"{d}_p@{k}"] = p.float()
        return out

    def curves(self) -> dict[str, dict[str, Tensor]]:
        """Per direction: ``ks`` (the k actually used) and ``p@k`` (the P@k curve),
        ``pr_precision`` and ``pr_recall`` (c + 1,) at Hamming radius 0..c."""
        with self.sync_context(dist_sync_fn=self.dist_sync_fn, should_sync=self.sync_on_compute):
            return self._directions(topk=None, map_all=False, ks=self.ks, pr_curve=True)
