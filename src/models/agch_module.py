"""AGCHModule: the AGCH networks trained by alternating optimisation (docs/method.md).

Per batch (``schedule="alternate"``, docs/method.md, "Optimisation"):

- phase F: ``opt_f`` (image encoder, text encoder, fusion projection) steps on L, with the GCN
  codes B^gv, B^gt as detached targets; gradients pass through the hash layer, which is
  frozen under ``hash_grouping="design"`` and trains with its encoder under ``"paper"``.
- phase B: ``opt_b`` (both GCNs, and the hash layer under ``"design"``) steps on L, with
  f^v, f^t, B^h detached and recomputed by the encoders just updated.

``schedule="joint"`` is the other reading of the paper: one backward of L, both step.
Lightning counts two optimiser steps per batch in ``trainer.global_step``. The gap weights
of L follow ``loss_scale`` (Eqs. (13)-(16), `src.models.losses.gap_weights`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from src.metrics import DEFAULT_KS
from src.callbacks.health import pairwise_cosine
from src.models.agch_optim import AGCHOptimisers
from src.models.base import INPUT_NORMS, TEXT_NORMS, Batch, CrossModalHashingModule, HealthSpec
from src.models.components import GCN_BIASES, FusionProjection, GCNHash, HashLayer, MLPEncoder
from src.models.derived import Derived, product, reciprocal, square
from src.models.losses import LOSS_SCALES, compute_loss, gap_weights
from src.models.similarity import (
    ADJACENCIES,
    COMPONENTS,
    DISTANCES,
    GAMMA_MODES,
    SCALES,
    aggregated_similarity,
    graph_adjacency,
)

# C_ii = gamma_v^2 + gamma_t^2, the largest value of C; the GCN group's SGD lr (agch_optim.py)
GAMMA_SUM = Derived(
    "gamma_v^2 + gamma_t^2",
    ("gamma_v", "gamma_t"),
    lambda hp: hp["gamma_v"] ** 2 + hp["gamma_t"] ** 2,
)
GCN_LR = Derived(
    "lr_gcn/delta",
    ("delta", "lr_gcn"),
    lambda hp: hp["lr_gcn"] / hp["delta"] if hp["delta"] else 0.0,
)


class AGCHModule(AGCHOptimisers, CrossModalHashingModule):
    """AGCH under Lightning manual optimisation; hyper-parameters are plain values."""

    # the config name of the method (configs/model/agch.yaml), as results.json names it
    method_name = "agch"
    STEPS_PER_BATCH = 2  # opt_f and opt_b, under either schedule
    SIZE_KEYS = ("hidden_dim", "gcn_dim", "code_length")  # the networks' widths
    RULES = dict(
        positive_ints=("hidden_dim", "gcn_dim"),
        non_negative=(
            *("alpha", "beta", "lam", "tuned_lam_factor", "delta", "gamma_v", "gamma_t"),
            *("momentum", "weight_decay", "warmup_epochs", "grad_clip"),
        ),
        positive=("rho", "lr_image", "lr_text", "lr_fusion", "lr_hash", "lr_gcn"),
        bools=("use_fusion", "use_gcn", "fused_optimizer"),
        choices={
            "gamma_mode": GAMMA_MODES,
            "distance": DISTANCES,
            "s_scale": SCALES,
            "adjacency": ADJACENCIES,
            "similarity": COMPONENTS,
            "loss_scale": LOSS_SCALES,
            "gcn_bias": GCN_BIASES,
            "input_norm": INPUT_NORMS,
            "text_norm": TEXT_NORMS,
            "schedule": ("alternate", "joint"),
            "gcn_lr_on": ("L2", "L"),
            "hash_grouping": ("design", "paper"),
            "optimizer": ("sgd", "adam"),
        },
    )
    # constants derived from the floats, checked at the door (src/models/derived.py)
    DERIVED = (
        *(square("gamma_v"), square("gamma_t"), GAMMA_SUM, reciprocal("rho")),
        *(product("lam", "tuned_lam_factor"), GCN_LR),
    )

    def __init__(
        self,
        image_dim: int,
        text_dim: int,
        code_length: int = 32,
        hidden_dim: int = 4096,
        gcn_dim: int = 2048,
        alpha: float = 1.0,
        beta: float = 1.0,
        lam: float = 10.0,
        delta: float = 0.01,
        loss_scale: str = "tuned",
        tuned_lam_factor: float = 0.06,
        gamma_v: float = 2.0,
        gamma_t: float = 0.3,
        rho: float = 4.0,
        gamma_mode: str = "squared",
        distance: str = "plain",
        s_scale: str = "max",
        adjacency: str = "2S-1",
        similarity: str = "CD",
        use_fusion: bool = True,
        use_gcn: bool = True,
        gcn_bias: str = "none",
        input_norm: str = "standardize",
        text_norm: str | None = None,
        schedule: str = "alternate",
        hash_grouping: str = "design",
        optimizer: str = "sgd",
        lr_image: float = 1e-2,
        lr_text: float = 1e-2,
        lr_fusion: float = 1e-2,
        lr_hash: float = 1e-2,
        lr_gcn: float = 1e-3,
        gcn_lr_on: str = "L2",
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        warmup_epochs: float = 0.0,
        grad_clip: float = 0.0,
        fused_optimizer: bool = True,
        eval_topk: int = 50,
        eval_ks: Sequence[int] = DEFAULT_KS,
        eval_ties: str = "stable",
        collapse_threshold: float = 0.05,
        stop_on_collapse: bool = False,
    ) -> None:
        super().__init__(dict(locals()))
        self.image_encoder = MLPEncoder(image_dim, hidden_dim)
        self.text_encoder = MLPEncoder(text_dim, hidden_dim)
        self.hash_layer = HashLayer(hidden_dim, code_length)
        self.fusion = FusionProjection(hidden_dim, code_length)
        self._build_gcns(gcn_bias)

    def _build_gcns(self, gcn_bias: str) -> None:
        hp = self.hparams
        self.gcn_image = GCNHash(hp.hidden_dim, hp.gcn_dim, hp.code_length, gcn_bias)
        self.gcn_text = GCNHash(hp.hidden_dim, hp.gcn_dim, hp.code_length, gcn_bias)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Rebuild a checkpoint written before ``gcn_bias``, ``loss_scale`` and ``gcn_lr_on``
        existed as it was trained: GCN bias inside the aggregation, ``lam`` the L3 gap weight
        itself, ``lr_gcn`` on L."""
        saved = checkpoint.get("hyper_parameters") or {}
        if any(self.hparams.get(key) != value for key, value in saved.items()):
            return  # built from a config, not from this checkpoint (a resume): no upgrade
        if "gcn_bias" not in saved and "gcn_image.gc1.linear.bias" in checkpoint["state_dict"]:
            self._build_gcns("inside")
            self.hparams.gcn_bias = "inside"
        if "loss_scale" not in saved:
            self.hparams.loss_scale, self.hparams.tuned_lam_factor = "tuned", 1.0
        if "gcn_lr_on" not in saved:  # trained with lr_gcn on L
            self.hparams.gcn_lr_on = "L"

    def features(self, x_v: Tensor, x_t: Tensor) -> tuple[Tensor, Tensor]:
        """Raw features x_v (m, Dv), x_t (m, Dt) -> f^v, f^t (m, hidden_dim)."""
        x_v, x_t = self.normalise_inputs(x_v, x_t)
        return self.image_encoder(x_v), self.text_encoder(x_t)

    def normalised_codes(self, x_v: Tensor, x_t: Tensor) -> tuple[Tensor, Tensor]:
        """B^v, B^t (m, c) of encoder inputs: the test-time branches (encoders, hash layer)."""
        return self.hash_layer(self.image_encoder(x_v), self.text_encoder(x_t))

    # ----------------------------------------------------------------------------- training
    def _similarity(self, x_v: Tensor, x_t: Tensor) -> tuple[Tensor, Tensor]:
        hp = self.hparams
        args = (hp.gamma_v, hp.gamma_t, hp.rho, hp.gamma_mode, hp.distance, hp.s_scale)
        S = aggregated_similarity(x_v, x_t, *args, hp.similarity)  # (m, m) float32, no grad
        return S, graph_adjacency(S, hp.adjacency)

    def _loss(self, S: Tensor, codes: dict[str, Tensor], phase: str) -> dict[str, Tensor]:
        """Eq. (16) mean-reduced, its gap weights derived from lambda and the batch size m."""
        hp = self.hparams
        m = codes["B_v"].shape[0]  # the batch size at run time (not the configured one)
        lam_gap, l2_gap = gap_weights(hp.lam, m, hp.loss_scale, hp.tuned_lam_factor)
        terms = compute_loss(S, codes, hp.alpha, hp.beta, lam_gap, hp.delta, l2_gap)
        self.check_finite(terms, phase)
        return terms

    def _step(self, opt: Any, loss: Tensor) -> None:
        opt.zero_grad()
        self.manual_backward(loss)
        self._clip_and_step(opt)

    def _clip_and_step(self, opt: Any) -> None:
        clip = self.hparams.grad_clip
        if clip > 0:
            self.clip_gradients(opt, gradient_clip_val=clip, gradient_clip_algorithm="norm")
        opt.step()

    def _codes(
        self, f_v: Tensor, f_t: Tensor, A_hat: Tensor, fusion_grad: bool, gcn_grad: bool
    ) -> dict[str, Tensor]:
        """B^v, B^t, and (unless ablated) B^h and B^gv, B^gt, each (m, c), from f^v, f^t."""
        B_v, B_t = self.hash_layer(f_v, f_t)
        codes = dict(B_v=B_v, B_t=B_t)
        if self.hparams.use_fusion:
            with torch.set_grad_enabled(fusion_grad):
                codes["B_h"] = self.fusion(f_v, f_t)
        if self.hparams.use_gcn:
            with torch.set_grad_enabled(gcn_grad):
                codes["B_gv"] = self.gcn_image(f_v, A_hat)
                codes["B_gt"] = self.gcn_text(f_t, A_hat)
        return codes

    def _phase_f(self, x_v: Tensor, x_t: Tensor, S: Tensor, A_hat: Tensor) -> dict[str, Tensor]:
        """Update opt_f's modules; GCN codes are detached targets (the gradient flows through
        the hash layer into the encoders)."""
        opt_f = self.optimizers()[0]
        self.toggle_optimizer(opt_f)
        f_v, f_t = self.features(x_v, x_t)
        codes = self._codes(f_v, f_t, A_hat, fusion_grad=True, gcn_grad=False)
        terms = self._loss(S, codes, "F")
        self._step(opt_f, terms["L"])
        self.untoggle_optimizer(opt_f)
        self.record_codes(codes["B_v"], codes["B_t"])
        return terms

    def _phase_b(self, x_v: Tensor, x_t: Tensor, S: Tensor, A_hat: Tensor) -> dict[str, Tensor]:
        """Update opt_b's modules (GCNs, the hash layer under "design"); f^v, f^t, B^h are
        detached. Returns the terms and the codes' over-smoothing diagnostics."""
        opt_b = self.optimizers()[1]
        self.toggle_optimizer(opt_b)
        with torch.no_grad():
            f_v, f_t = self.features(x_v, x_t)
        codes = self._codes(f_v, f_t, A_hat, fusion_grad=False, gcn_grad=True)
        terms = self._loss(S, codes, "B")
        self._step(opt_b, terms["L"])
        self.untoggle_optimizer(opt_b)
        return terms | self.code_diagnostics(codes)

    @staticmethod
    def code_diagnostics(codes: dict[str, Tensor]) -> dict[str, Tensor]:
        """``cos_<code>``: the mean pairwise cosine (i != j) of each code of a batch, e.g.
        ``cos_gv`` for B^gv (over-smoothing of a GCN reads near 1; `pairwise_cosine`)."""
        return {f"cos_{name[2:]}": pairwise_cosine(X) for name, X in codes.items()}

    def _joint(self, x_v: Tensor, x_t: Tensor, S: Tensor, A_hat: Tensor) -> dict[str, Tensor]:
        """One backward of L through every module, then both optimisers step."""
        opt_f, opt_b = self.optimizers()
        f_v, f_t = self.features(x_v, x_t)
        codes = self._codes(f_v, f_t, A_hat, fusion_grad=True, gcn_grad=True)
        terms = self._loss(S, codes, "joint")
        opt_f.zero_grad()
        opt_b.zero_grad()
        self.manual_backward(terms["L"])
        for opt in (opt_f, opt_b):
            self._clip_and_step(opt)
        self.record_codes(codes["B_v"], codes["B_t"])
        return terms | self.code_diagnostics(codes)

    def training_step(self, batch: Batch, batch_idx: int) -> None:
        x_v, x_t = batch[0], batch[1]  # labels are never used: unsupervised
        self._warmup(batch_idx)
        S, A_hat = self._similarity(x_v, x_t)
        if self.hparams.schedule == "joint":
            terms = self._joint(x_v, x_t, S, A_hat)
            loss_f = loss_b = terms["L"]
        else:
            terms = self._phase_f(x_v, x_t, S, A_hat)
            terms_b = self._phase_b(x_v, x_t, S, A_hat)
            loss_f, loss_b = terms["L"], terms_b["L"]
            terms |= {k: v for k, v in terms_b.items() if k.startswith("cos_")}
        m = x_v.shape[0]
        log = dict(on_step=True, on_epoch=True, batch_size=m)
        self.log("train/loss_f", loss_f.detach(), prog_bar=False, **log)
        self.log("train/loss_b", loss_b.detach(), **log)
        self.log("train/loss", terms["L"].detach(), prog_bar=True, **log)
        # the terms' epoch means, logged once at the epoch end (one self.log each per batch
        # cost more than the training itself for small networks: docs/benchmarks.md)
        self.accumulate_terms({k: v for k, v in terms.items() if k != "L"}, m)

    def health_modules(self) -> dict[str, HealthSpec]:
        """The modules that train, with the loss terms of Eqs. (13)-(15) that depend on each
        and their codes' pairwise cosine (`src.callbacks.health`)."""
        hp, spec = self.hparams, {}
        for x, name in (("v", "image"), ("t", "text")):
            other = f"{x}h" if hp.use_fusion else "vt"  # B^h, or the other modality's code
            terms = (f"rec_{x}{x}", f"rec_{other}", f"gap_{other[0]}_{other[1]}")
            terms += (f"gap_g{x}_{x}",) if hp.use_gcn else ()
            modules = (getattr(self, f"{name}_encoder"), getattr(self.hash_layer, name))
            spec[f"{name}_encoder"] = HealthSpec(modules[0], terms, (f"cos_{x}",))
            spec[f"hash_{name}"] = HealthSpec(modules[1], terms, (f"cos_{x}",))
        if hp.use_fusion:
            terms = ("rec_hh", "rec_vh", "rec_th", "gap_v_h", "gap_t_h")
            spec["fusion"] = HealthSpec(self.fusion, terms, ("cos_h",))
        if hp.use_gcn:
            spec["gcn_image"] = HealthSpec(self.gcn_image, ("rec_gvgv", "gap_gv_v"), ("cos_gv",))
            spec["gcn_text"] = HealthSpec(self.gcn_text, ("rec_gtgt", "gap_gt_t"), ("cos_gt",))
        return spec
