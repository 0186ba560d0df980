"""What the two-network methods share (DJSRH, JDSH, DGCPN): one hash MLP per modality (with
DGCPN's optional dropout before the hash layer), codes tanh(alpha h) with DJSRH's continuation
alpha = sqrt(epoch + 1), the raw-feature cosine affinity, one SGD per network, and (DJSRH,
JDSH) both stepped after one backward of the total loss, with the logging of the loss terms.

Sources: Su, Zhong, Zhang, ICCV 2019 (DJSRH) and its authors' release; Liu et al., SIGIR 2020
(JDSH) and its authors' release (KaiserLew/JDSH), which keeps DJSRH's networks, tanh scale and
optimisers; Yu et al., AAAI 2021 (DGCPN) and its authors' release (Atmegal/DGCPN), the same
networks with dropout 0.5 before the hash layer. docs/method.md ("Peer methods") says how they
map onto cached features.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from src.models.base import CrossModalHashingModule

TANH_SCALES = ("sqrt_epoch", "none")


@torch.no_grad()
def cosine_affinity(x: Tensor, rescale: bool) -> Tensor:
    """Cosine similarity (m, m) float32 of the rows of x (m, D); 2 cos - 1 when ``rescale``
    (maps the cosine of non-negative features from [0, 1] to [-1, 1], as DJSRH and JDSH do)."""
    z = F.normalize(x.float(), dim=1)  # (m, D)
    cos = z @ z.T  # (m, m)
    return 2.0 * cos - 1.0 if rescale else cos


def seeded_dropout(x: Tensor, p: float, generator: torch.Generator | None) -> Tensor:
    """Inverted dropout of x (m, d) with rate p in [0, 1): each entry kept with probability
    1 - p and scaled by 1 / (1 - p). The mask is drawn on the CPU from ``generator`` (so that
    a run resumed from a checkpoint draws the masks an uninterrupted one draws, on any
    device), or from torch's global generator when it is None (`torch.nn.functional.dropout`).
    """
    if generator is None:
        return F.dropout(x, p, training=True)
    keep = torch.rand(x.shape, generator=generator) >= p  # (m, d) bool, on the CPU
    return x * keep.to(device=x.device, dtype=x.dtype) / (1.0 - p)


class HashMLP(nn.Module):
    """One modality's network: Linear(in -> hidden), ReLU, [dropout], hash Linear(hidden -> c).

    ``dropout`` (rate in [0, 1)) acts in training mode only; 0 adds no operation at all.
    """

    def __init__(self, in_dim: int, hidden_dim: int, code_length: int, dropout: float = 0.0):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(inplace=True))
        self.hash = nn.Linear(hidden_dim, code_length)
        self.dropout = float(dropout)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """x (m, in_dim) -> h (m, c), the pre-activation of the code; ``generator`` draws the
        dropout masks (`seeded_dropout`)."""
        f = self.encoder(x)  # (m, hidden_dim)
        if self.training and self.dropout > 0:
            f = seeded_dropout(f, self.dropout, generator)
        return self.hash(f)


class TwinHashModule(CrossModalHashingModule):
    """Base of DJSRH, JDSH and DGCPN: ``image_net`` and ``text_net`` (`HashMLP`), codes
    tanh(alpha h), one SGD per network (hyper-parameters ``hidden_dim``, ``tanh_scale``,
    ``lr_image``, ``lr_text``, ``momentum``, ``weight_decay``, and ``dropout`` where the
    method has it)."""

    SIZE_KEYS = ("hidden_dim", "code_length")  # the widths of both MLPs
    # generator of the dropout masks (`seeded_dropout`); None: torch's global generator
    dropout_rng: torch.Generator | None = None

    def build_networks(self) -> None:
        """The two networks, from the saved hyper-parameters."""
        hp = self.hparams
        p = hp.get("dropout", 0.0)
        self.image_net = HashMLP(hp.image_dim, hp.hidden_dim, hp.code_length, p)
        self.text_net = HashMLP(hp.text_dim, hp.hidden_dim, hp.code_length, p)

    @property
    def alpha(self) -> float:
        """Slope of tanh(alpha h): sqrt(epoch + 1) under ``tanh_scale="sqrt_epoch"``."""
        if self.hparams.tanh_scale == "none" or self._trainer is None:
            return 1.0
        return math.sqrt(self.current_epoch + 1.0)

    def normalised_codes(self, x_v: Tensor, x_t: Tensor) -> tuple[Tensor, Tensor]:
        """B_I, B_T (m, c) = tanh(alpha h) of the image and the text network (encoder
        inputs)."""
        alpha, rng = self.alpha, self.dropout_rng
        h_v, h_t = self.image_net(x_v, rng), self.text_net(x_t, rng)  # (m, c) each
        return torch.tanh(alpha * h_v), torch.tanh(alpha * h_t)

    def optimise(self, terms: dict[str, Tensor], B_I: Tensor, B_T: Tensor) -> None:
        """One backward of ``terms["L"]`` (after the finite check), both SGDs step; the codes
        are kept for the collapse check, ``train/loss`` and the other terms are logged."""
        self.check_finite(terms)
        opt_image, opt_text = self.optimizers()
        opt_image.zero_grad()
        opt_text.zero_grad()
        self.manual_backward(terms["L"])
        opt_image.step()
        opt_text.step()
        self.record_codes(B_I, B_T)
        m = B_I.shape[0]
        self.log("train/loss", terms["L"].detach(), on_step=True, on_epoch=True, batch_size=m)
        self.accumulate_terms({k: v for k, v in terms.items() if k != "L"}, m)

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """One SGD per network, as DJSRH, JDSH and DGCPN: image (lr_image), text (lr_text)."""
        hp = self.hparams
        return [
            torch.optim.SGD(
                net.parameters(), lr=lr, momentum=hp.momentum, weight_decay=hp.weight_decay
            )
            for net, lr in ((self.image_net, hp.lr_image), (self.text_net, hp.lr_text))
        ]
