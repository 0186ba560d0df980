"""The aggregated similarity S = C (Hadamard) D of AGCH, Eqs. (8)-(12), per batch.

S is a training target and the GCN adjacency, never a function of the trainable weights: it
is computed without gradient and in float32, also under bf16 autocast.

The paper leaves four readings open; each is an option here (docs/model.md says which
default was chosen and on what evidence):

- ``gamma_mode``: ``"squared"`` builds Z = [gamma_v Z^v, gamma_t Z^t], so that C = Z Z^T =
  gamma_v^2 cos_v + gamma_t^2 cos_t (what the paper's equations compute); ``"linear"`` builds
  Z with sqrt(gamma) so that C = gamma_v cos_v + gamma_t cos_t (what the paper's text says).
  D is computed from the same Z in both cases.
- ``distance``: ``"plain"`` D_ij = exp(-||Z_i - Z_j|| / rho) (matches the paper's worked
  example); ``"sqrt"`` D_ij = exp(-sqrt(||Z_i - Z_j||) / rho) (the printed equation).
- ``scale``: ``"max"`` divides S by its largest possible value (max C, reached at i = j), so
  S <= 1 and 2S - 1 lies in [-1, 1] like the inner product of unit codes; ``"none"`` keeps it.
- the adjacency (``S`` or ``2S-1``) is chosen in `graph_adjacency`.

``components`` gives the ablations of the paper's Table V: ``"CD"`` (the method), ``"C"``
(S = C, cosine part only) or ``"D"`` (S = D, distance part only).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

GAMMA_MODES = ("squared", "linear")
DISTANCES = ("plain", "sqrt")
SCALES = ("none", "max")
ADJACENCIES = ("S", "2S-1")
COMPONENTS = ("CD", "C", "D")


@torch.no_grad()
def aggregated_similarity(
    x_image: Tensor,
    x_text: Tensor,
    gamma_v: float,
    gamma_t: float,
    rho: float,
    gamma_mode: str = "squared",
    distance: str = "plain",
    scale: str = "none",
    components: str = "CD",
) -> Tensor:
    """S (m, m) float32 from the raw features of a batch, x_image (m, Dv) and x_text (m, Dt).

    >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    >>> aggregated_similarity(x, x, gamma_v=1.0, gamma_t=1.0, rho=4.0)  # identical items
    tensor([[2., 2.],
            [2., 2.]])
    """
    with torch.autocast(device_type=x_image.device.type, enabled=False):
        z_v = F.normalize(x_image.float(), dim=1)  # (m, Dv), step 1: L2-normalised rows
        z_t = F.normalize(x_text.float(), dim=1)  # (m, Dt)
        if gamma_mode == "squared":
            w_v, w_t = gamma_v, gamma_t
        elif gamma_mode == "linear":
            w_v, w_t = gamma_v**0.5, gamma_t**0.5
        else:
            raise ValueError(f"gamma_mode: expected one of {GAMMA_MODES}, got {gamma_mode!r}")
        z = torch.cat([w_v * z_v, w_t * z_t], dim=1)  # (m, Dv + Dt), step 2
        c_max = w_v**2 + w_t**2  # C_ii: the largest value C can take
        gram = z @ z.T  # (m, m), step 3: C = Z Z^T
        # ||Z_i - Z_j||^2 = C_ii + C_jj - 2 C_ij, clamped against rounding below zero.
        sq_norm = gram.diagonal()
        dist = (sq_norm[:, None] + sq_norm[None, :] - 2.0 * gram).clamp_min(0.0).sqrt()
        if distance == "sqrt":
            dist = dist.sqrt()
        elif distance != "plain":
            raise ValueError(f"distance: expected one of {DISTANCES}, got {distance!r}")
        D = torch.exp(-dist / rho)  # (m, m), step 4
        if components == "CD":
            S = gram * D  # step 5: S = C (Hadamard) D
        elif components == "C":
            S = gram
        elif components == "D":
            S, c_max = D, 1.0  # D_ii = 1 is its largest value
        else:
            raise ValueError(f"components: expected one of {COMPONENTS}, got {components!r}")
        if scale == "max":
            S = S / c_max
        elif scale != "none":
            raise ValueError(f"scale: expected one of {SCALES}, got {scale!r}")
    return S


@torch.no_grad()
def graph_adjacency(S: Tensor, adjacency: str = "S") -> Tensor:
    """Normalised batch graph D^-1/2 A D^-1/2 (m, m) with A = S or 2S - 1 (Kipf and Welling).

    Negative entries (possible with features that are not non-negative, or with 2S - 1) are
    clamped to zero: the degree normalisation needs a non-negative graph. The diagonal of S
    is max C > 0, so every degree is positive.
    """
    if adjacency == "S":
        A = S.float()
    elif adjacency == "2S-1":
        A = 2.0 * S.float() - 1.0
    else:
        raise ValueError(f"adjacency: expected one of {ADJACENCIES}, got {adjacency!r}")
    A = A.clamp_min(0.0)  # (m, m)
    d_inv_sqrt = A.sum(dim=1).clamp_min(1e-12).rsqrt()  # (m,)
    return d_inv_sqrt[:, None] * A * d_inv_sqrt[None, :]
