"""Eq. (1): sign(0) = -1. An exact zero goes through each method's test-time code path
(AGCH, DJSRH, CCA-ITQ) and through ITQ's training-time binarisation, and comes out as -1."""

import torch

from src.models.agch_module import AGCHModule
from src.models.base import sign_codes
from src.models.cca_itq import CCAITQModule, itq
from src.models.djsrh_module import DJSRHModule

DIMS = dict(image_dim=6, text_dim=5, code_length=4, eval_ks=[1])


def test_sign_codes_follows_eq_1():
    x = torch.tensor([[-2.0, -0.0, 0.0, 1e-30, -1e-30, 3.0]])
    want = torch.tensor([[-1.0, -1.0, -1.0, 1.0, -1.0, 1.0]])
    assert torch.equal(sign_codes(x), want)


def _zero(*layers: torch.nn.Linear) -> None:
    with torch.no_grad():
        for layer in layers:
            layer.weight.zero_()
            layer.bias.zero_()


def _assert_all_minus_one(model, x_v: torch.Tensor, x_t: torch.Tensor) -> None:
    B_v, B_t = model.continuous_codes(x_v, x_t)
    assert torch.all(B_v == 0) and torch.all(B_t == 0)  # exact zeros reach the sign
    b_v, b_t = model.encode(x_v, x_t)
    assert torch.all(b_v == -1) and torch.all(b_t == -1)


def test_exact_zero_is_minus_one_for_every_method():
    x_v, x_t = torch.rand(7, 6), torch.rand(7, 5)
    agch = AGCHModule(hidden_dim=8, gcn_dim=8, **DIMS)
    _zero(agch.hash_layer.image, agch.hash_layer.text)  # B^v = tanh(0 f^v + 0)
    _assert_all_minus_one(agch, x_v, x_t)
    djsrh = DJSRHModule(hidden_dim=8, **DIMS)
    _zero(djsrh.image_net.hash, djsrh.text_net.hash)  # tanh(alpha h) with h = 0
    _assert_all_minus_one(djsrh, x_v, x_t)
    cca_itq = CCAITQModule(**DIMS)  # unfitted: W_image = W_text = 0, so x W R = 0
    _assert_all_minus_one(cca_itq, x_v, x_t)


def test_itq_binarises_a_zero_projection_to_minus_one():
    # a zero row of V is binarised by ITQ's B = sign(V R) as -1 in every bit
    V = torch.cat([torch.randn(20, 4, dtype=torch.float64), torch.zeros(1, 4)])
    R, _ = itq(V, n_iter=3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(sign_codes(V @ R)[-1], -torch.ones(4))
