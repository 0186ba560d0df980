"""CMFH: collective matrix factorisation hashing (Ding, Guo, Zhou, "Collective Matrix
Factorization Hashing for Multimodal Data", CVPR 2014), unsupervised. No gradient training.

With items as rows (the paper writes them as columns), centred standardised train features
X (n, Dv), Y (n, Dt), the unified latent codes V (n, c), bases U_1 (Dv, c), U_2 (Dt, c) and
projections W_1 = P_1^T (Dv, c), W_2 = P_2^T (Dt, c), CMFH minimises

    lam ||X - V U_1^T||^2 + (1 - lam) ||Y - V U_2^T||^2
    + mu (||V - X W_1||^2 + ||V - Y W_2||^2)
    + gamma (||U_1||^2 + ||U_2||^2 + ||W_1||^2 + ||W_2||^2 + ||V||^2)

by alternating the exact minimiser of each block, the others fixed (the paper's updates):

    W_1 = (X^T X + gamma/mu I)^-1 X^T V,            W_2 likewise with Y
    U_1 = X^T V (V^T V + gamma/lam I)^-1,            U_2 = Y^T V (V^T V + gamma/(1-lam) I)^-1
    V   = [lam X U_1 + (1-lam) Y U_2 + mu (X W_1 + Y W_2)]
          (lam U_1^T U_1 + (1-lam) U_2^T U_2 + (2 mu + gamma) I)^-1

from a seeded Gaussian V, ``n_iter`` times; the objective never increases. Codes of any item,
seen or unseen, through the learned projections: sign(x_std W_1) and sign(y_std W_2)
(the paper's out-of-sample hash functions), so that the query and retrieval sets are encoded
alike. W_1, W_2 are buffers: the checkpoint evaluates identically.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from src.metrics import DEFAULT_KS
from src.models.closed_form import ClosedFormModule
from src.models.derived import Derived, ratio
from src.utils.errors import ConfigError, TrainingError

Factors = dict[str, Tensor]  # "V", "U1", "U2", "W1", "W2"


def cmfh_objective(X: Tensor, Y: Tensor, f: Factors, lam: float, mu: float, gamma: float) -> float:
    """The CMFH objective (module docstring) of factors ``f``, a float."""
    V, U1, U2, W1, W2 = (f[k] for k in ("V", "U1", "U2", "W1", "W2"))
    fit = lam * (X - V @ U1.T).pow(2).sum() + (1 - lam) * (Y - V @ U2.T).pow(2).sum()
    projection = mu * ((V - X @ W1).pow(2).sum() + (V - Y @ W2).pow(2).sum())
    reg = gamma * sum(t.pow(2).sum() for t in (U1, U2, W1, W2, V))
    return float(fit + projection + reg)


def _ridge_right(A: Tensor, G: Tensor, ridge: float) -> Tensor:
    """A (G + ridge I)^-1 for symmetric positive semi-definite G (k, k), A (d, k)."""
    eye = torch.eye(G.shape[0], dtype=G.dtype, device=G.device)
    return torch.linalg.solve(G + ridge * eye, A.T).T  # (G + rI) symmetric


def cmfh_update(X: Tensor, Y: Tensor, f: Factors, lam: float, mu: float, gamma: float) -> Factors:
    """One round of the exact block updates W, U, then V (module docstring); new factors."""
    eye_x = torch.eye(X.shape[1], dtype=X.dtype, device=X.device)
    eye_y = torch.eye(Y.shape[1], dtype=Y.dtype, device=Y.device)
    V = f["V"]  # (n, c)
    W1 = torch.linalg.solve(X.T @ X + gamma / mu * eye_x, X.T @ V)  # (Dv, c)
    W2 = torch.linalg.solve(Y.T @ Y + gamma / mu * eye_y, Y.T @ V)  # (Dt, c)
    gram = V.T @ V  # (c, c)
    U1 = _ridge_right(X.T @ V, gram, gamma / lam)  # (Dv, c)
    U2 = _ridge_right(Y.T @ V, gram, gamma / (1 - lam))  # (Dt, c)
    M = lam * U1.T @ U1 + (1 - lam) * U2.T @ U2  # (c, c)
    rhs = lam * X @ U1 + (1 - lam) * Y @ U2 + mu * (X @ W1 + Y @ W2)  # (n, c)
    V = _ridge_right(rhs, M, 2 * mu + gamma)  # (n, c)
    return {"V": V, "U1": U1, "U2": U2, "W1": W1, "W2": W2}


def cmfh_fit(
    X: Tensor,
    Y: Tensor,
    c: int,
    lam: float,
    mu: float,
    gamma: float,
    n_iter: int,
    generator: torch.Generator | None = None,
) -> tuple[Factors, list[float]]:
    """CMFH's factors (float64) of centred X (n, Dv), Y (n, Dt) and the objective after each
    round. Raises TrainingError when the fit is not finite."""
    X, Y = X.double(), Y.double()
    V = torch.randn(X.shape[0], c, generator=generator, dtype=torch.float64).to(X.device)
    f: Factors = {"V": V}
    objectives = []
    for _ in range(n_iter):
        f = cmfh_update(X, Y, f, lam, mu, gamma)
        objectives.append(cmfh_objective(X, Y, f, lam, mu, gamma))
    if not all(torch.isfinite(t).all() for t in f.values()):
        raise TrainingError("CMFH fit is not finite: raise model.gamma")
    return f, objectives


# the ridge constants of the U_2 and V updates (module docstring)
GAMMA_OVER_REST = Derived(
    "gamma/(1-lam)", ("lam", "gamma"), lambda hp: hp["gamma"] / (1 - hp["lam"])
)
RIDGE_V = Derived("2 mu + gamma", ("mu", "gamma"), lambda hp: 2 * hp["mu"] + hp["gamma"])


class CMFHModule(ClosedFormModule):
    """CMFH's projections fitted in closed form on the train split."""

    # the config name of the method (configs/model/cmfh.yaml), as results.json names it
    method_name = "cmfh"
    RULES = dict(
        positive_ints=("n_iter",),
        positive=("mu", "gamma"),
        non_negative=("seed",),
        unit_interval=("lam",),  # 0 and 1 are refused by gamma/lam and gamma/(1-lam)
    )
    # constants derived from the floats, checked at the door (src/models/derived.py)
    DERIVED = (ratio("gamma", "mu"), ratio("gamma", "lam"), GAMMA_OVER_REST, RIDGE_V)

    def __init__(
        self,
        image_dim: int,
        text_dim: int,
        code_length: int = 32,
        lam: float = 0.5,
        mu: float = 100.0,
        gamma: float = 0.01,
        n_iter: int = 100,
        seed: int = 0,
        eval_topk: int = 50,
        eval_ks: Sequence[int] = DEFAULT_KS,
        eval_ties: str = "stable",
        collapse_threshold: float = 0.05,
        stop_on_collapse: bool = False,
    ) -> None:
        if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not 0 < lam < 1:
            raise ConfigError(f"model.lam: expected a number in (0, 1), got {lam!r}")
        super().__init__(dict(locals()))
        self.register_buffer("W_image", torch.zeros(image_dim, code_length))
        self.register_buffer("W_text", torch.zeros(text_dim, code_length))

    def normalised_codes(self, x_v: Tensor, x_t: Tensor) -> tuple[Tensor, Tensor]:
        """x_std W_1, y_std W_2 (m, c) of the encoder inputs x_std, y_std."""
        return x_v.float() @ self.W_image, x_t.float() @ self.W_text

    def fit_features(self, X: Tensor, Y: Tensor) -> None:
        """CMFH on centred standardised X (n, Dv), Y (n, Dt); sets W_image, W_text."""
        hp = self.hparams
        generator = torch.Generator().manual_seed(hp.seed)
        f, objectives = cmfh_fit(
            X, Y, hp.code_length, hp.lam, hp.mu, hp.gamma, hp.n_iter, generator
        )
        self.W_image.copy_(f["W1"].float())
        self.W_text.copy_(f["W2"].float())
        self.record_codes(X.float() @ self.W_image, Y.float() @ self.W_text)
        self.log("train/objective", objectives[-1] / X.shape[0])
        self.log("train/objective_first", objectives[0] / X.shape[0])
