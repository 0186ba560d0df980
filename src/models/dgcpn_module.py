"""DGCPN (Yu, Zhou, Zhan, Tao, "Deep Graph-neighbor Coherence Preserving Network for
Unsupervised Cross-modal Hashing", AAAI 2021) on cached features.

The similarity target is built once, before the first step, over the n items trained on
(float32, no gradient; docs/dgcpn.md), from their raw features:

- C = (1 - w_T) cos(X_I) + w_T cos(X_T), the joint cosine similarity;
- the graph-neighbour coherence: row i of A keeps C_ij for the K nearest neighbours j != i
  of item i under C (K = round(neighbour_fraction (n - 1))), negative ones clamped to 0, the
  rest 0; P = A / rowsum(A); G = K P P^T (G_ij = K sum_k P_ik P_jk: 1 when i and j have the
  same K neighbours with equal weights, 0 when they share none);
- S = 2 [(1 - gamma) C + gamma kappa G] - 1, and a batch's target is S restricted to it.

Objective on the codes of a batch of m pairs, U the L2-normalised rows, G_XY = U_X U_Y^T,
sim(G) = mean over the m^2 entries of ((G - S) with the diagonal set to 0)^2:

    L = pair + alpha [sim(G_TT) + sim(G_IT) + sim(G_II)] + beta cons
    pair = mean_i (G_IT,ii - pair_target)^2   (the coexistent similarity of an item's pair)
    cons = mse(G_IT, G_II) + mse(G_IT, G_TT) + mse(G_II, G_TT) + mse(G_IT, G_IT^T)

Half-real, half-binary optimisation per batch (one SGD per network, as the release):
1. L(B_I, B_T): both networks step;
2. fresh codes; L(B_I, sign(B_T)) with the text code detached: the image network steps;
3. L(sign(B_I), B_T), B_I the codes of step 2 (before its step): the text network steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from src.data.loading import read_features
from src.metrics import DEFAULT_KS
from src.models.base import INPUT_NORMS, TEXT_NORMS, Batch, HealthSpec, sign_codes
from src.models.train_items import epoch_generator, fit_train_rows, row_positions
from src.models.twin_nets import TANH_SCALES, TwinHashModule, cosine_affinity
from src.utils.errors import ConfigError


def neighbour_count(n: int, fraction: float) -> int:
    """K = round(fraction (n - 1)), at least 1: the neighbours of each of n items."""
    return max(1, round(fraction * (n - 1)))


@torch.no_grad()
def graph_neighbour_similarity(
    x_image: Tensor,
    x_text: Tensor,
    weight_text: float,
    neighbours: int,
    coherence_weight: float,
    coherence_scale: float,
) -> Tensor:
    """DGCPN's target S (n, n) float32 over n items of raw features (n, Dv), (n, Dt), with
    K = ``neighbours`` (1 <= K <= n - 1; ValueError otherwise); module docstring."""
    n = x_image.shape[0]
    if not 1 <= neighbours <= n - 1:
        raise ValueError(f"neighbours: expected 1 to {n - 1} for {n} items, got {neighbours}")
    with torch.autocast(device_type=x_image.device.type, enabled=False):
        C = (1.0 - weight_text) * cosine_affinity(x_image, False)  # (n, n)
        C += weight_text * cosine_affinity(x_text, False)
        others = C.clone().fill_diagonal_(float("-inf"))  # (n, n), an item is not its neighbour
        values, index = others.topk(neighbours, dim=1)  # (n, K) each
        del others
        A = torch.zeros_like(C).scatter_(1, index, values.clamp_min(0.0))  # (n, n)
        P = A / A.sum(dim=1, keepdim=True).clamp_min(1e-12)  # (n, n), rows sum to 1
        G = neighbours * (P @ P.T)  # (n, n), graph-neighbour coherence
        return 2.0 * ((1.0 - coherence_weight) * C + coherence_weight * coherence_scale * G) - 1.0


def dgcpn_loss(
    S: Tensor, B_I: Tensor, B_T: Tensor, alpha: float, beta: float, pair_target: float
) -> dict[str, Tensor]:
    """The terms of DGCPN's objective (module docstring) for codes B_I, B_T (m, c) and the
    target S (m, m), with their total ``L``."""
    with torch.autocast(device_type=B_I.device.type, enabled=False):
        U_I, U_T = F.normalize(B_I.float(), dim=1), F.normalize(B_T.float(), dim=1)  # (m, c)
        G_II, G_TT, G_IT = U_I @ U_I.T, U_T @ U_T.T, U_I @ U_T.T  # (m, m) each
        off = 1.0 - torch.eye(S.shape[0], device=S.device)  # (m, m), 0 on the diagonal
        S = S.float()

        def sim(G: Tensor) -> Tensor:
            return ((G - S) * off).pow(2).mean()

        terms = {
            "pair": (G_IT.diagonal() - pair_target).pow(2).mean(),
            "sim_II": sim(G_II),
            "sim_IT": sim(G_IT),
            "sim_TT": sim(G_TT),
            "cons": F.mse_loss(G_IT, G_II)
            + F.mse_loss(G_IT, G_TT)
            + F.mse_loss(G_II, G_TT)
            + F.mse_loss(G_IT, G_IT.T),
        }
    sims = terms["sim_II"] + terms["sim_IT"] + terms["sim_TT"]
    terms["L"] = terms["pair"] + alpha * sims + beta * terms["cons"]
    return terms


class DGCPNModule(TwinHashModule):
    """DGCPN under Lightning manual optimisation; hyper-parameters are plain values."""

    # the config name of the method (configs/model/dgcpn.yaml), as results.json names it
    method_name = "dgcpn"
    RULES = dict(
        positive_ints=("hidden_dim",),
        non_negative=(
            *("alpha", "beta", "pair_target", "coherence_scale", "momentum", "weight_decay"),
        ),
        positive=("neighbour_fraction", "lr_image", "lr_text"),
        unit_interval=("weight_text", "coherence_weight", "neighbour_fraction"),
        below_one=("dropout",),
        optional_positive=("text_hash_init_std",),
        choices={"tanh_scale": TANH_SCALES, "input_norm": INPUT_NORMS, "text_norm": TEXT_NORMS},
    )

    def __init__(
        self,
        image_dim: int,
        text_dim: int,
        code_length: int = 32,
        hidden_dim: int = 4096,
        weight_text: float = 0.01,
        neighbour_fraction: float = 0.4,
        coherence_weight: float = 0.3,
        coherence_scale: float = 2.0,
        alpha: float = 1.0,
        beta: float = 1.0,
        pair_target: float = 1.5,
        dropout: float = 0.5,
        text_hash_init_std: float | None = None,
        tanh_scale: str = "none",
        input_norm: str = "standardize",
        text_norm: str | None = None,
        lr_image: float = 5e-3,
        lr_text: float = 5e-3,
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
        if text_hash_init_std is not None:  # the release's text hash layer: N(0, 0.3^2)
            torch.nn.init.normal_(self.text_net.hash.weight, 0.0, text_hash_init_std)
        # seed of the dropout masks (drawn from the seeded global generator, checkpointed)
        self.register_buffer("dropout_seed", torch.randint(0, 2**62, (), dtype=torch.int64))
        self.graph_rows: Tensor | None = None  # (n,) sorted store rows of the graph
        self.graph: Tensor | None = None  # (n, n) target S over them, rebuilt at each start

    # ----------------------------------------------------------------------------- graph
    def build_graph(self, rows: Tensor, x_image: Tensor, x_text: Tensor) -> None:
        """S over the items trained on: sorted store rows (n,), raw features (n, Dv), (n, Dt)."""
        hp = self.hparams
        if rows.numel() < 2:
            raise ConfigError(f"DGCPN's graph: expected 2 or more train items, got {rows.numel()}")
        K = neighbour_count(rows.numel(), hp.neighbour_fraction)
        x_image, x_text = x_image.to(self.device), x_text.to(self.device)
        args = (hp.weight_text, K, hp.coherence_weight, hp.coherence_scale)
        self.graph = graph_neighbour_similarity(x_image, x_text, *args)  # (n, n)
        self.graph_rows = rows.to(self.device)

    def on_train_start(self) -> None:
        """Build the graph over the datamodule's train rows (every start, resumed ones too:
        it is a function of the train features alone and is not checkpointed)."""
        rows = fit_train_rows(self.trainer, "DGCPN builds its graph")
        self.build_graph(
            torch.from_numpy(rows), *read_features(self.trainer.datamodule.path, rows)
        )

    def batch_similarity(self, index: Tensor) -> Tensor:
        """The target S (m, m) of a batch of store rows ``index`` (m,)."""
        pos = row_positions(self.graph_rows, index, "DGCPN's graph")  # (m,)
        return self.graph[pos][:, pos]

    # ----------------------------------------------------------------------------- training
    def on_train_epoch_start(self) -> None:
        """Also seed this epoch's dropout masks from (dropout_seed, epoch)."""
        super().on_train_epoch_start()
        self.dropout_rng = epoch_generator(int(self.dropout_seed), self.current_epoch)

    def _loss(self, S: Tensor, B_I: Tensor, B_T: Tensor, phase: str) -> dict[str, Tensor]:
        hp = self.hparams
        terms = dgcpn_loss(S, B_I, B_T, hp.alpha, hp.beta, hp.pair_target)
        self.check_finite(terms, phase)
        return terms

    def _step(self, loss: Tensor, *opts) -> None:
        for opt in opts:
            opt.zero_grad()
        self.manual_backward(loss)
        for opt in opts:
            opt.step()

    def training_step(self, batch: Batch, batch_idx: int) -> None:
        x_v, x_t, index = batch[0], batch[1], batch[2]  # labels are never used: unsupervised
        S = self.batch_similarity(index)  # (m, m) float32, no gradient
        opt_image, opt_text = self.optimizers()
        B_I, B_T = self.continuous_codes(x_v, x_t)  # (m, c) each
        terms = self._loss(S, B_I, B_T, "real")  # 1. real codes: both networks
        self._step(terms["L"], opt_image, opt_text)
        self.record_codes(B_I, B_T)
        B_I, B_T = self.continuous_codes(x_v, x_t)  # (m, c) each, after step 1
        image = self._loss(S, B_I, sign_codes(B_T.detach()), "image-binary")["L"]  # 2.
        self._step(image, opt_image)
        text = self._loss(S, sign_codes(B_I.detach()), B_T, "text-binary")["L"]  # 3.
        self._step(text, opt_text)
        m = x_v.shape[0]
        self.log("train/loss", terms["L"].detach(), on_step=True, on_epoch=True, batch_size=m)
        phases = {"L_image_binary": image.detach(), "L_text_binary": text.detach()}
        self.accumulate_terms({k: v for k, v in terms.items() if k != "L"} | phases, m)

    def health_modules(self) -> dict[str, HealthSpec]:
        """Each network with the terms of the real-code objective (step 1) that depend on it
        and the binary-code objective it steps on (step 2 or 3)."""
        shared = ("pair", "sim_IT", "cons")
        return {
            "image_net": HealthSpec(self.image_net, (*shared, "sim_II", "L_image_binary")),
            "text_net": HealthSpec(self.text_net, (*shared, "sim_TT", "L_text_binary")),
        }
