"""DJSRH (Su, Zhong, Zhang, "Deep Joint-Semantics Reconstructing Hashing for Large-Scale
Unsupervised Cross-Modal Retrieval", ICCV 2019) on cached features, as a baseline of AGCH.

Per batch of m pairs, without gradient and in float32 (DJSRH's joint-semantics affinity):

- S_I, S_T: cosine similarities of the raw image and text features. The paper's features
  (AlexNet fc7 after ReLU, bag-of-words) are non-negative, so their cosine lies in [0, 1];
  DJSRH maps it to [-1, 1] by 2 cos - 1 (``rescale_image`` / ``rescale_text``). Features
  with signed entries (UCI's Karhunen-Loeve text) already give a cosine in [-1, 1]: no map.
- S~ = beta S_I + (1 - beta) S_T, then S = mu ((1 - eta) S~ + eta S~ S~^T / m): the
  second-order term S~ S~^T / m counts the neighbours two items share.

Objective (DJSRH's reconstructing framework, mean-reduced as in the authors' release),
with rec(X, Y) = mean_ij (S_ij - X^_i . Y^_j)^2 on L2-normalised rows:

    L = lambda1 rec(B_I, B_I) + rec(B_I, B_T) + lambda2 rec(B_T, B_T)

The authors' release optimises exactly these three terms; no feature-code term is added
here. B = tanh(alpha h), alpha = sqrt(epoch + 1) (``tanh_scale``:
the continuation of the authors' release, which drives tanh towards sign as training goes
on; "none" keeps alpha = 1); the test codes sign(h) do not depend on alpha.

Optimisation as DJSRH: one optimiser per network (SGD, momentum 0.9, weight decay 5e-4),
one backward of L, both step. Lightning counts two optimiser steps per batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from src.metrics import DEFAULT_KS
from src.models.base import INPUT_NORMS, TEXT_NORMS, Batch, HealthSpec
from src.models.derived import square
from src.models.losses import rec
from src.models.twin_nets import TANH_SCALES, HashMLP, TwinHashModule, cosine_affinity

__all__ = ["DJSRHModule", "HashMLP", "cosine_affinity", "djsrh_loss", "joint_semantics_affinity"]


@torch.no_grad()
def joint_semantics_affinity(
    x_image: Tensor,
    x_text: Tensor,
    beta: float,
    eta: float,
    mu: float,
    rescale_image: bool = True,
    rescale_text: bool = True,
) -> Tensor:
    """DJSRH's joint-semantics affinity S (m, m), float32, from raw features (m, Dv), (m, Dt).

    >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> joint_semantics_affinity(x, x, beta=0.5, eta=0.0, mu=1.5)  # 2 cos - 1 of orthogonal
    tensor([[ 1.5000, -1.5000],
            [-1.5000,  1.5000]])
    """
    with torch.autocast(device_type=x_image.device.type, enabled=False):
        S_I = cosine_affinity(x_image, rescale_image)  # (m, m)
        S_T = cosine_affinity(x_text, rescale_text)  # (m, m)
        S_tilde = beta * S_I + (1.0 - beta) * S_T  # (m, m), first-order joint semantics
        m = S_tilde.shape[0]
        S = (1.0 - eta) * S_tilde + eta * (S_tilde @ S_tilde.T) / m  # (m, m), + second order
        return mu * S


def djsrh_loss(
    S: Tensor, B_I: Tensor, B_T: Tensor, lambda1: float, lambda2: float
) -> dict[str, Tensor]:
    """The three reconstruction terms and L = lambda1 rec_II + rec_IT + lambda2 rec_TT."""
    terms = {
        "rec_II": rec(S, B_I, B_I),
        "rec_IT": rec(S, B_I, B_T),
        "rec_TT": rec(S, B_T, B_T),
    }
    terms["L"] = lambda1 * terms["rec_II"] + terms["rec_IT"] + lambda2 * terms["rec_TT"]
    return terms


class DJSRHModule(TwinHashModule):
    """DJSRH under Lightning manual optimisation; hyper-parameters are plain values."""

    # the config name of the method (configs/model/djsrh.yaml), as results.json names it
    method_name = "djsrh"
    RULES = dict(
        positive_ints=("hidden_dim",),
        non_negative=("lambda1", "lambda2", "momentum", "weight_decay"),
        positive=("mu", "lr_image", "lr_text"),
        unit_interval=("beta", "eta"),
        bools=("rescale_image", "rescale_text"),
        choices={"tanh_scale": TANH_SCALES, "input_norm": INPUT_NORMS, "text_norm": TEXT_NORMS},
    )
    # constants derived from the floats, checked at the door (src/models/derived.py)
    DERIVED = (square("mu"),)

    def __init__(
        self,
        image_dim: int,
        text_dim: int,
        code_length: int = 32,
        hidden_dim: int = 4096,
        beta: float = 0.9,
        eta: float = 0.4,
        mu: float = 1.5,
        lambda1: float = 0.1,
        lambda2: float = 0.1,
        rescale_image: bool = True,
        rescale_text: bool = True,
        tanh_scale: str = "sqrt_epoch",
        input_norm: str = "standardize",
        text_norm: str | None = None,
        lr_image: float = 1e-2,
        lr_text: float = 1e-2,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        eval_topk: int = 50,
        eval_ks: Sequence[int] = DEFAULT_KS,
        eval_ties: str = "stable",
        collapse_threshold: float = 0.05,
        stop_on_collapse: bool = False,
    ) -> None:
        super().__init__(dict(locals()))
        self.build_networks()

    # ----------------------------------------------------------------------------- training
    def training_step(self, batch: Batch, batch_idx: int) -> None:
        x_v, x_t = batch[0], batch[1]  # labels are never used: unsupervised
        hp = self.hparams
        S = joint_semantics_affinity(
            x_v, x_t, hp.beta, hp.eta, hp.mu, hp.rescale_image, hp.rescale_text
        )  # (m, m), float32, no gradient
        B_I, B_T = self.continuous_codes(x_v, x_t)  # (m, c) each
        terms = djsrh_loss(S, B_I, B_T, hp.lambda1, hp.lambda2)
        self.optimise(terms, B_I, B_T)

    def health_modules(self) -> dict[str, HealthSpec]:
        """Each network with the reconstruction terms of the DJSRH loss that depend on it."""
        return {
            "image_net": HealthSpec(self.image_net, ("rec_II", "rec_IT")),
            "text_net": HealthSpec(self.text_net, ("rec_TT", "rec_IT")),
        }
