"""The networks of AGCH (docs/method.md): encoders, hash layer, fusion projection, GCNs."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class MLPEncoder(nn.Module):
    """Feature encoder: Linear(in_dim -> hidden_dim), ReLU; gives f^v or f^t."""

    def __init__(self, in_dim: int, hidden_dim: int = 4096) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(inplace=True))

    def forward(self, x: Tensor) -> Tensor:
        """x (m, in_dim) -> f (m, hidden_dim)."""
        return self.net(x)


class HashLayer(nn.Module):
    """Per-modality hash layer: Linear(hidden_dim -> c), tanh; gives B^v and B^t."""

    def __init__(self, hidden_dim: int, code_length: int) -> None:
        super().__init__()
        self.image = nn.Linear(hidden_dim, code_length)
        self.text = nn.Linear(hidden_dim, code_length)

    def forward(self, f_v: Tensor, f_t: Tensor) -> tuple[Tensor, Tensor]:
        """f_v, f_t (m, hidden_dim) -> B^v, B^t (m, c)."""
        return torch.tanh(self.image(f_v)), torch.tanh(self.text(f_t))


class FusionProjection(nn.Module):
    """Fusion: Linear on the concatenation [f^v, f^t] (2 hidden_dim -> c), tanh; gives B^h."""

    def __init__(self, hidden_dim: int, code_length: int) -> None:
        super().__init__()
        self.proj = nn.Linear(2 * hidden_dim, code_length)

    def forward(self, f_v: Tensor, f_t: Tensor) -> Tensor:
        """f_v, f_t (m, hidden_dim) -> B^h (m, c)."""
        return torch.tanh(self.proj(torch.cat([f_v, f_t], dim=1)))


# where a graph convolution adds its bias (docs/model.md): none (the paper's Eq. (6)), after
# the aggregation (Kipf and Welling's code), or inside it (this project's code before the
# option existed; reproduces the checkpoints and archived runs made with it)
GCN_BIASES = ("none", "after", "inside")


class GraphConvolution(nn.Module):
    """Graph convolution, Eq. (6): A_hat H W, plus a bias b (out_dim,) per ``bias``.

    ``"none"``: A_hat H W (no bias parameter, the paper); ``"after"``: A_hat (H W) + b;
    ``"inside"``: A_hat (H W + b). A_hat (m, m) is the degree-normalised batch graph.
    The ReLU of Eq. (6) is applied by the caller (`GCNHash`).
    """

    def __init__(self, in_dim: int, out_dim: int, bias: str = "none") -> None:
        super().__init__()
        if bias not in GCN_BIASES:
            raise ValueError(f"bias: expected one of {GCN_BIASES}, got {bias!r}")
        self.mode = bias
        self.linear = nn.Linear(in_dim, out_dim, bias=bias == "inside")
        self.bias = nn.Parameter(torch.zeros(out_dim)) if bias == "after" else None

    def forward(self, H: Tensor, A_hat: Tensor) -> Tensor:
        """H (m, in_dim), A_hat (m, m) -> (m, out_dim)."""
        out = A_hat.to(H.dtype) @ self.linear(H)  # (m, out_dim)
        return out if self.bias is None else out + self.bias


class GCNHash(nn.Module):
    """One modality's GCN: graph conv -> ReLU -> graph conv -> ReLU -> Linear -> tanh."""

    def __init__(
        self, in_dim: int = 4096, gcn_dim: int = 2048, code_length: int = 32, bias: str = "none"
    ) -> None:
        super().__init__()
        self.gc1 = GraphConvolution(in_dim, gcn_dim, bias)
        self.gc2 = GraphConvolution(gcn_dim, gcn_dim, bias)
        self.hash = nn.Linear(gcn_dim, code_length)

    def forward(self, f: Tensor, A_hat: Tensor) -> Tensor:
        """f (m, in_dim), A_hat (m, m) -> B^g (m, c)."""
        H = torch.relu(self.gc1(f, A_hat))  # (m, gcn_dim)
        H = torch.relu(self.gc2(H, A_hat))  # (m, gcn_dim)
        return torch.tanh(self.hash(H))
