"""CCA-ITQ: canonical correlation analysis then iterative quantisation (Gong and Lazebnik,
"Iterative Quantization", CVPR 2011; Gong, Lazebnik, Gordo, Perronnin, TPAMI 2013), the
classical baseline of cross-modal hashing. No gradient training.

Fit on the standardised train split (X (n, Dv) image, Y (n, Dt) text, zero mean):

1. CCA with ridge ``reg``: C_xx = X^T X / n + reg I, C_yy = Y^T Y / n + reg I,
   C_xy = X^T Y / n. The generalised eigenproblem C_xy C_yy^-1 C_yx w = rho^2 C_xx w is
   solved by whitening: K = C_xx^-1/2 C_xy C_yy^-1/2 = U diag(rho) V^T, W_x = C_xx^-1/2 U,
   W_y = C_yy^-1/2 V (unit-variance canonical variates, correlations rho descending). There
   are k = min(Dv, Dt) canonical pairs; any further direction of the larger modality is
   uncorrelated with the other one, so it is never used.
2. Only the canonically correlated pairs are kept: those with rho > ``min_correlation`` (on
   Wiki 9 of 10: the LDA text proportions sum to 1, so one text direction has no variance and
   its pair no correlation), at most c of them, highest rho first. When fewer than c remain,
   the remaining columns are zero: the codes depend on the canonical variates alone
   (docs/model.md, "CCA-ITQ").
3. Each kept pair k is weighted by rho_k ** ``rho_power`` (0: plain CCA-ITQ), so that weakly
   correlated pairs, mostly noise, weigh less in every bit than strongly correlated ones (the
   weighting of CCA dimensions by a power of their correlation, e.g. Gong, Ke, Isard,
   Lazebnik, IJCV 2014); the power is chosen on held-out pairs (docs/model.md).
4. ITQ on the projections of both modalities stacked, V = [X W_x; Y W_y] (2n, c): alternate
   B = sign(V R) and the orthogonal Procrustes step R = U W^T with V^T B = U S W^T (TPAMI
   2013, section 3), n_iter times; both modalities share the rotation R. With k' < c kept
   pairs, V R = V_k' R[:k', :] and R[:k', :] has orthonormal rows: the k'-dim canonical space
   is embedded isometrically into the c bits, from a seeded random start that ITQ refines.

Codes: sign(x_std W_x R) and sign(y_std W_y R). W_x, W_y, R are buffers: the checkpoint
evaluates identically.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from src.metrics import DEFAULT_KS
from src.models.base import sign_codes
from src.models.closed_form import ClosedFormModule
from src.utils.errors import TrainingError


def inverse_sqrt(C: Tensor) -> Tensor:
    """C^-1/2 (D, D) of a symmetric positive definite C (D, D)."""
    eigenvalues, Q = torch.linalg.eigh(C)
    return (Q * eigenvalues.rsqrt()) @ Q.T


def cca(X: Tensor, Y: Tensor, reg: float) -> tuple[Tensor, Tensor, Tensor]:
    """Regularised CCA of centred X (n, Dv), Y (n, Dt): the k = min(Dv, Dt) canonical pairs,
    W_x (Dv, k), W_y (Dt, k) and their correlations rho (k,) descending, in float64."""
    X, Y = X.double(), Y.double()
    n = X.shape[0]
    eye_x = torch.eye(X.shape[1], dtype=X.dtype, device=X.device)
    eye_y = torch.eye(Y.shape[1], dtype=Y.dtype, device=Y.device)
    Cxx_isqrt = inverse_sqrt(X.T @ X / n + reg * eye_x)  # (Dv, Dv)
    Cyy_isqrt = inverse_sqrt(Y.T @ Y / n + reg * eye_y)  # (Dt, Dt)
    K = Cxx_isqrt @ (X.T @ Y / n) @ Cyy_isqrt  # (Dv, Dt), whitened cross-covariance
    U, rho, Vh = torch.linalg.svd(K, full_matrices=False)  # U (Dv, k), rho (k,), Vh (k, Dt)
    return Cxx_isqrt @ U, Cyy_isqrt @ Vh.T, rho  # (Dv, k), (Dt, k), (k,)


def correlated_directions(
    W_x: Tensor, W_y: Tensor, rho: Tensor, c: int, min_correlation: float
) -> tuple[Tensor, Tensor, Tensor]:
    """The canonical pairs with rho > ``min_correlation``, at most c (highest rho first),
    zero columns beyond them: W_x (Dv, c), W_y (Dt, c), rho (c,).

    ``rho`` (k,) is descending, as `cca` returns it. Raises TrainingError when no pair is
    correlated above the floor (the modalities share nothing linear to hash).
    """
    kept = min(c, int((rho > min_correlation).sum()))
    if kept == 0:
        raise TrainingError(
            f"CCA-ITQ: no canonical correlation above model.min_correlation={min_correlation} "
            f"(largest {float(rho.max()) if rho.numel() else 0.0:.3g})"
        )
    W_x, W_y = _pad_columns(W_x[:, :kept], c), _pad_columns(W_y[:, :kept], c)  # (D, c) each
    return W_x, W_y, _pad_columns(rho[None, :kept], c)[0]


def _pad_columns(W: Tensor, c: int) -> Tensor:
    """The first c columns of W (D, k), zero columns appended when k < c."""
    if W.shape[1] >= c:
        return W[:, :c]
    return torch.cat([W, W.new_zeros(W.shape[0], c - W.shape[1])], dim=1)


def itq(
    V: Tensor, n_iter: int = 50, generator: torch.Generator | None = None
) -> tuple[Tensor, list[float]]:
    """ITQ rotation R (c, c) of centred V (n, c) and the loss ||B - V R||_F after each update.

    Alternates B = sign(V R) (optimal for fixed R) and R = U W^T with V^T B = U S W^T (the
    orthogonal Procrustes solution, optimal for fixed B): the loss never increases.
    """
    V = V.double()
    c = V.shape[1]
    # random orthogonal start (Gong et al.): Q of a Gaussian matrix
    start = torch.randn(c, c, generator=generator, dtype=torch.float64).to(V.device)
    R = torch.linalg.qr(start)[0]  # (c, c)
    losses = []
    for _ in range(n_iter):
        B = sign_codes(V @ R).double()  # (n, c), fixed R
        losses.append(float(torch.linalg.norm(B - V @ R)))
        U, _, Wh = torch.linalg.svd(V.T @ B)  # (c, c) each, fixed B
        R = U @ Wh
        losses.append(float(torch.linalg.norm(B - V @ R)))
    return R, losses


class CCAITQModule(ClosedFormModule):
    """CCA projections and an ITQ rotation fitted in closed form on the train split."""

    # the config name of the method (configs/model/cca_itq.yaml), as results.json names it
    method_name = "cca_itq"
    RULES = dict(
        positive_ints=("n_iter",),
        non_negative=("reg", "rho_power", "seed"),
        unit_interval=("min_correlation",),
    )

    def __init__(
        self,
        image_dim: int,
        text_dim: int,
        code_length: int = 32,
        reg: float = 1e-3,
        min_correlation: float = 1e-3,
        rho_power: float = 0.0,
        n_iter: int = 50,
        seed: int = 0,
        eval_topk: int = 50,
        eval_ks: Sequence[int] = DEFAULT_KS,
        eval_ties: str = "stable",
        collapse_threshold: float = 0.05,
        stop_on_collapse: bool = False,
    ) -> None:
        super().__init__(dict(locals()))
        self.register_buffer("W_image", torch.zeros(image_dim, code_length))
        self.register_buffer("W_text", torch.zeros(text_dim, code_length))
        self.register_buffer("R", torch.eye(code_length))
        self.register_buffer("correlations", torch.zeros(code_length))

    def normalised_codes(self, x_v: Tensor, x_t: Tensor) -> tuple[Tensor, Tensor]:
        """x_std W R (m, c) of each modality's encoder input x_std."""
        return self._project(x_v, x_t)

    # ----------------------------------------------------------------------------- fitting
    def fit_features(self, X: Tensor, Y: Tensor) -> None:
        """CCA then ITQ on centred standardised X (n, Dv), Y (n, Dt); sets W_image, W_text,
        R (`src.models.closed_form.ClosedFormModule` collects the train split)."""
        hp = self.hparams
        W_x, W_y, rho = correlated_directions(
            *cca(X, Y, hp.reg), hp.code_length, hp.min_correlation
        )  # (Dv, c), (Dt, c), (c,): zero columns beyond the correlated pairs
        weight = torch.where(rho > 0, rho.pow(hp.rho_power), 0.0)  # (c,) rho_k ** p
        W_x, W_y = W_x * weight, W_y * weight
        V = torch.cat([X.double() @ W_x, Y.double() @ W_y])  # (2n, c), both modalities
        generator = torch.Generator().manual_seed(hp.seed)
        R, losses = itq(V, hp.n_iter, generator)
        if not all(torch.isfinite(t).all() for t in (W_x, W_y, R)):
            raise TrainingError("CCA-ITQ fit is not finite: raise model.reg")
        for name, value in (("W_image", W_x), ("W_text", W_y), ("R", R), ("correlations", rho)):
            getattr(self, name).copy_(value.float())
        self.record_codes(*self._project(X, Y))
        self.log("train/itq_loss", losses[-1] / V.shape[0] ** 0.5)
        self.log("train/top_correlation", float(rho[0]))
        self.log("train/correlated_directions", float((rho > 0).sum()))

    def _project(self, X: Tensor, Y: Tensor) -> tuple[Tensor, Tensor]:
        """X W_image R, Y W_text R (n, c) of standardised features X (n, Dv), Y (n, Dt)."""
        return X.float() @ self.W_image @ self.R, Y.float() @ self.W_text @ self.R
