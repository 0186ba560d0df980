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

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from src.metrics import DEFAULT_KS
from src.models.base import INPUT_NORMS, TEXT_NORMS, Batch, CrossModalHashingModule, HealthSpec
from src.models.losses import rec

TANH_SCALES = ("sqrt_epoch", "none")


@torch.no_grad()
def cosine_affinity(x: Tensor, rescale: bool) -> Tensor:
    """Cosine similarity (m, m) of the rows of x (m, D); 2 cos - 1 when ``rescale``."""
    z = F.normalize(x.float(), dim=1)  # (m, D)
    cos = z @ z.T  # (m, m)
    return 2.0 * cos - 1.0 if rescale else cos


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


class HashMLP(nn.Module):
    """One modality's network: Linear(in -> hidden), ReLU, hash Linear(hidden -> c)."""

    def __init__(self, in_dim: int, hidden_dim: int, code_length: int) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(inplace=True))
        self.hash = nn.Linear(hidden_dim, code_length)

    def forward(self, x: Tensor) -> Tensor:
        """x (m, in_dim) -> h (m, c), the pre-activation of the code."""
        return self.hash(self.encoder(x))


class DJSRHModule(CrossModalHashingModule):
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
        self.image_net = HashMLP(image_dim, hidden_dim, code_length)
        self.text_net = HashMLP(text_dim, hidden_dim, code_length)

    @property
    def alpha(self) -> float:
        """Slope of tanh(alpha h): sqrt(epoch + 1) under ``tanh_scale="sqrt_epoch"``."""
        if self.hparams.tanh_scale == "none" or self._trainer is None:
            return 1.0
        return math.sqrt(self.current_epoch + 1.0)

    def continuous_codes(self, x_v: Tensor, x_t: Tensor) -> tuple[Tensor, Tensor]:
        """B_I, B_T (m, c) = tanh(alpha h) of the image and the text network."""
        x_v, x_t = self.normalise_inputs(x_v, x_t)
        alpha = self.alpha
        return torch.tanh(alpha * self.image_net(x_v)), torch.tanh(alpha * self.text_net(x_t))

    # ----------------------------------------------------------------------------- training
    def training_step(self, batch: Batch, batch_idx: int) -> None:
        x_v, x_t = batch[0], batch[1]  # labels are never used: unsupervised
        hp = self.hparams
        S = joint_semantics_affinity(
            x_v, x_t, hp.beta, hp.eta, hp.mu, hp.rescale_image, hp.rescale_text
        )  # (m, m), float32, no gradient
        B_I, B_T = self.continuous_codes(x_v, x_t)  # (m, c) each
        terms = djsrh_loss(S, B_I, B_T, hp.lambda1, hp.lambda2)
        self.check_finite(terms)
        opt_image, opt_text = self.optimizers()
        opt_image.zero_grad()
        opt_text.zero_grad()
        self.manual_backward(terms["L"])
        opt_image.step()
        opt_text.step()
        self.record_codes(B_I, B_T)
        m = x_v.shape[0]
        self.log("train/loss", terms["L"].detach(), on_step=True, on_epoch=True, batch_size=m)
        self.accumulate_terms({k: terms[k] for k in ("rec_II", "rec_IT", "rec_TT")}, m)

    def health_modules(self) -> dict[str, HealthSpec]:
        """Each network with the reconstruction terms of the DJSRH loss that depend on it."""
        return {
            "image_net": HealthSpec(self.image_net, ("rec_II", "rec_IT")),
            "text_net": HealthSpec(self.text_net, ("rec_TT", "rec_IT")),
        }

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """One SGD per network, as DJSRH: image (lr_image) and text (lr_text)."""
        hp = self.hparams
        return [
            torch.optim.SGD(
                net.parameters(), lr=lr, momentum=hp.momentum, weight_decay=hp.weight_decay
            )
            for net, lr in ((self.image_net, hp.lr_image), (self.text_net, hp.lr_text))
        ]
