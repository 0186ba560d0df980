"""JDSH (Liu, Qian, Guan, Zhan, Ying, "Joint-modal Distribution-based Similarity Hashing for
Large-scale Unsupervised Deep Cross-modal Retrieval", SIGIR 2020) on cached features.

Per batch of m pairs, without gradient and in float32 (docs/jdsh.md):

- S_I, S_T: cosine similarities of the raw image and text features, 2 cos - 1 for
  non-negative features (``rescale_image`` / ``rescale_text``), as DJSRH.
- Joint-modal similarity: S_H = N(S_I) N(S_T)^T, N dividing each row by its L2 norm (S_H_ij
  is the cosine between item i's image-similarity profile and item j's text-similarity
  profile), and S_C = w_I S_I + w_T S_T + w_J (S_H + S_H^T) / 2.
- Distribution-based similarity decision and weighting (DSDW): entries below
  ``left = loc - a_L sigma_L`` are "dissimilar" and scaled by 1 + l_L exp(-(S - S_min)),
  entries above ``right = loc + a_R b_R`` are "similar" and scaled by 1 + l_R exp(S - S_max),
  the rest kept; the target is S = mu DSDW(S_C). loc, sigma_L (Gaussian fit of the left
  side), b_R (Laplace fit of the right side), S_min and S_max are fitted once, before the
  first step, on the S_C of the train split's first-epoch batches (`fit_dsdw`).

Objective (the authors' release, mean-reduced), rec(X, Y) = mean_ij (S_ij - X^_i . Y^_j)^2
on L2-normalised rows and pair = mean_i B^_I,i . B^_T,i:

    L = lambda_intra [rec(B_I, B_I) + rec(B_T, B_T)] + rec(B_I, B_T) + rec(B_T, B_I)
        - pair_weight pair

Networks, codes tanh(alpha h) and optimisers as DJSRH (`src.models.twin_nets`): SGD,
momentum 0.9, weight decay 5e-4, learning rate 0.01 for both networks, batch 32.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from src.metrics import DEFAULT_KS
from src.models.base import INPUT_NORMS, TEXT_NORMS, Batch, HealthSpec
from src.models.derived import square
from src.models.losses import rec
from src.models.twin_nets import TANH_SCALES, TwinHashModule, cosine_affinity

DSDW_KEYS = ("left", "right", "s_min", "s_max")
log = logging.getLogger(__name__)


@torch.no_grad()
def joint_modal_similarity(
    x_image: Tensor,
    x_text: Tensor,
    weight_image: float,
    weight_text: float,
    weight_joint: float,
    rescale_image: bool = True,
    rescale_text: bool = True,
) -> Tensor:
    """JDSH's joint-modal similarity S_C (m, m) float32 of raw features (m, Dv), (m, Dt):
    w_I S_I + w_T S_T + w_J (S_H + S_H^T) / 2 with S_H = N(S_I) N(S_T)^T (rows L2-normalised).
    """
    with torch.autocast(device_type=x_image.device.type, enabled=False):
        S_I = cosine_affinity(x_image, rescale_image)  # (m, m)
        S_T = cosine_affinity(x_text, rescale_text)  # (m, m)
        S_H = F.normalize(S_I, dim=1) @ F.normalize(S_T, dim=1).T  # (m, m), cross profiles
        return weight_image * S_I + weight_text * S_T + weight_joint * (S_H + S_H.T) / 2


@torch.no_grad()
def fit_dsdw(values: Tensor, decision_left: float, decision_right: float) -> Tensor:
    """DSDW thresholds (4,) float32 [left, right, S_min, S_max] of similarity values (N,).

    loc is the median (the Laplace maximum-likelihood location, shared by both sides);
    sigma_L = sqrt(mean (v - loc)^2 over v < loc) (half-Gaussian fit of the left side);
    b_R = mean (v - loc) over v > loc (half-Laplace fit of the right side);
    left = loc - decision_left sigma_L, right = loc + decision_right b_R.
    Raises ValueError for an empty or non-finite ``values``.
    """
    v = values.detach().double().flatten()
    if v.numel() == 0 or not torch.isfinite(v).all():
        raise ValueError("DSDW fit: expected finite similarity values, got none or non-finite")
    loc = v.median()
    below, above = v[v < loc], v[v > loc]
    sigma_left = (below - loc).pow(2).mean().sqrt() if below.numel() else v.new_zeros(())
    b_right = (above - loc).mean() if above.numel() else v.new_zeros(())
    left, right = loc - decision_left * sigma_left, loc + decision_right * b_right
    return torch.stack([left, right, v.min(), v.max()]).float()


@torch.no_grad()
def dsdw_weighting(S: Tensor, thresholds: Tensor, weight_left: float, weight_right: float):
    """S' (m, m): entries below ``left`` times 1 + weight_left exp(-(S - S_min)), above
    ``right`` times 1 + weight_right exp(S - S_max), others unchanged (``thresholds`` as
    `fit_dsdw` returns them)."""
    left, right, s_min, s_max = thresholds.to(S.device).unbind()
    low = (1.0 + weight_left * torch.exp(-(S - s_min))) * S  # (m, m)
    high = (1.0 + weight_right * torch.exp(S - s_max)) * S  # (m, m)
    return torch.where(S < left, low, torch.where(S > right, high, S))


def jdsh_loss(
    S: Tensor, B_I: Tensor, B_T: Tensor, lambda_intra: float, pair_weight: float
) -> dict[str, Tensor]:
    """The terms of JDSH's objective (module docstring) and their total ``L``."""
    with torch.autocast(device_type=B_I.device.type, enabled=False):
        pair = (F.normalize(B_I.float(), dim=1) * F.normalize(B_T.float(), dim=1)).sum(1).mean()
    terms = {
        "rec_II": rec(S, B_I, B_I),
        "rec_IT": rec(S, B_I, B_T),
        "rec_TI": rec(S, B_T, B_I),
        "rec_TT": rec(S, B_T, B_T),
        "pair": pair,
    }
    intra = lambda_intra * (terms["rec_II"] + terms["rec_TT"])
    terms["L"] = intra + terms["rec_IT"] + terms["rec_TI"] - pair_weight * pair
    return terms


class JDSHModule(TwinHashModule):
    """JDSH under Lightning manual optimisation; hyper-parameters are plain values."""

    # the config name of the method (configs/model/jdsh.yaml), as results.json names it
    method_name = "jdsh"
    RULES = dict(
        positive_ints=("hidden_dim",),
        non_negative=(
            *("weight_image", "weight_text", "weight_joint", "lambda_intra", "pair_weight"),
            *("decision_left", "decision_right", "weight_left", "weight_right"),
            *("momentum", "weight_decay"),
        ),
        positive=("mu", "lr_image", "lr_text"),
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
        weight_image: float = 0.5,
        weight_text: float = 0.1,
        weight_joint: float = 0.4,
        mu: float = 1.4,
        decision_left: float = 2.0,
        decision_right: float = 4.0,
        weight_left: float = 0.1,
        weight_right: float = 0.2,
        lambda_intra: float = 0.1,
        pair_weight: float = 1.0,
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
        # [left, right, S_min, S_max] of DSDW and whether they are fitted (checkpointed)
        self.register_buffer("dsdw", torch.zeros(len(DSDW_KEYS)))
        self.register_buffer("dsdw_fitted", torch.zeros((), dtype=torch.bool))

    def joint_similarity(self, x_v: Tensor, x_t: Tensor) -> Tensor:
        """S_C (m, m) of a batch of raw features, with this module's weights."""
        hp = self.hparams
        return joint_modal_similarity(
            x_v, x_t, hp.weight_image, hp.weight_text, hp.weight_joint, *self._rescale()
        )

    def _rescale(self) -> tuple[bool, bool]:
        return self.hparams.rescale_image, self.hparams.rescale_text

    def fit_similarity_distribution(self, batches: Iterable[Batch]) -> None:
        """Fit the DSDW thresholds on the S_C of ``batches`` (raw train features)."""
        values = [
            self.joint_similarity(b[0].to(self.device), b[1].to(self.device)).flatten()
            for b in batches
        ]  # each (m * m,)
        hp = self.hparams
        self.dsdw.copy_(fit_dsdw(torch.cat(values), hp.decision_left, hp.decision_right))
        self.dsdw_fitted.fill_(True)

    def on_train_start(self) -> None:
        """Fit DSDW once, on the first epoch's batches (a resumed run keeps its fit); with
        several processes rank 0's fit is broadcast."""
        if bool(self.dsdw_fitted):
            return
        self.fit_similarity_distribution(self.trainer.train_dataloader)
        self.dsdw.copy_(self.trainer.strategy.broadcast(self.dsdw, src=0))
        fitted = ", ".join(f"{k} {v:.4f}" for k, v in zip(DSDW_KEYS, self.dsdw.tolist()))
        log.info(f"JDSH DSDW thresholds fitted on the train batches: {fitted}")

    def target_similarity(self, x_v: Tensor, x_t: Tensor) -> Tensor:
        """The reconstruction target S = mu DSDW(S_C) (m, m) float32, no gradient."""
        hp = self.hparams
        S_C = self.joint_similarity(x_v, x_t)  # (m, m)
        return hp.mu * dsdw_weighting(S_C, self.dsdw, hp.weight_left, hp.weight_right)

    # ----------------------------------------------------------------------------- training
    def training_step(self, batch: Batch, batch_idx: int) -> None:
        x_v, x_t = batch[0], batch[1]  # labels are never used: unsupervised
        hp = self.hparams
        S = self.target_similarity(x_v, x_t)  # (m, m)
        B_I, B_T = self.continuous_codes(x_v, x_t)  # (m, c) each
        terms = jdsh_loss(S, B_I, B_T, hp.lambda_intra, hp.pair_weight)
        self.optimise(terms, B_I, B_T)

    def health_modules(self) -> dict[str, HealthSpec]:
        """Each network with the reconstruction terms of the JDSH loss that depend on it (the
        pair agreement, a reward, is left out of the sums)."""
        return {
            "image_net": HealthSpec(self.image_net, ("rec_II", "rec_IT", "rec_TI")),
            "text_net": HealthSpec(self.text_net, ("rec_TT", "rec_IT", "rec_TI")),
        }
