"""The similarity, the losses and the networks against plain loops and hand-computed cases."""

import math

import numpy as np
import pytest
import torch

from src.models.components import GCNHash, GraphConvolution
from src.models.losses import compute_loss, gap, gap_weights, rec
from src.models.similarity import aggregated_similarity, graph_adjacency


def loop_similarity(xv, xt, gv, gt, rho, gamma_mode="squared", distance="plain", scale="none"):
    """S_ij by a double loop over pairs, written from Eqs. (8)-(12) (docs/method.md)."""
    xv = xv / np.linalg.norm(xv, axis=1, keepdims=True)
    xt = xt / np.linalg.norm(xt, axis=1, keepdims=True)
    wv, wt = (gv, gt) if gamma_mode == "squared" else (math.sqrt(gv), math.sqrt(gt))
    m = xv.shape[0]
    S = np.zeros((m, m))
    for i in range(m):
        for j in range(m):
            zi = np.concatenate([wv * xv[i], wt * xt[i]])
            zj = np.concatenate([wv * xv[j], wt * xt[j]])
            d = np.linalg.norm(zi - zj)
            if distance == "sqrt":
                d = math.sqrt(d)
            S[i, j] = float(zi @ zj) * math.exp(-d / rho)
    return S / (wv**2 + wt**2) if scale == "max" else S


def test_similarity_hand_computed():
    xv = torch.tensor([[1.0, 0.0], [0.0, 3.0]])
    xt = torch.tensor([[2.0, 0.0], [5.0, 0.0]])
    S = aggregated_similarity(xv, xt, gamma_v=1.0, gamma_t=1.0, rho=4.0)
    # pair (0, 1): cos_v = 0, cos_t = 1 -> C = 1; ||Z_0 - Z_1|| = sqrt(2) -> D = exp(-sqrt(2)/4)
    assert S[0, 1].item() == pytest.approx(math.exp(-math.sqrt(2) / 4), abs=1e-6)
    assert S[0, 0].item() == pytest.approx(2.0, abs=1e-6)  # C_ii = gamma_v^2 + gamma_t^2
    S_max = aggregated_similarity(xv, xt, 1.0, 1.0, 4.0, scale="max")
    assert S_max[0, 0].item() == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("gamma_mode", ["squared", "linear"])
@pytest.mark.parametrize("distance", ["plain", "sqrt"])
@pytest.mark.parametrize("scale", ["none", "max"])
def test_similarity_matches_loop(gamma_mode, distance, scale):
    rng = np.random.default_rng(0)
    xv, xt = rng.random((7, 5)), rng.random((7, 3))
    got = aggregated_similarity(
        torch.tensor(xv), torch.tensor(xt), 2.0, 0.3, 4.0, gamma_mode, distance, scale
    )
    want = loop_similarity(xv, xt, 2.0, 0.3, 4.0, gamma_mode, distance, scale)
    assert got.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), want, atol=1e-5)


def test_similarity_float32_under_bf16_autocast():
    x = torch.rand(6, 9)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        S = aggregated_similarity(x, x, 1.0, 0.8, 4.0)
    assert S.dtype == torch.float32
    torch.testing.assert_close(S, aggregated_similarity(x, x, 1.0, 0.8, 4.0))


def test_adjacency_is_degree_normalised():
    S = torch.tensor([[1.0, 0.5, -0.2], [0.5, 1.0, 0.0], [-0.2, 0.0, 1.0]])
    A = S.clamp_min(0).numpy()
    d = A.sum(1)
    want = np.array([[A[i, j] / math.sqrt(d[i] * d[j]) for j in range(3)] for i in range(3)])
    np.testing.assert_allclose(graph_adjacency(S).numpy(), want, atol=1e-6)
    A2 = np.clip(2 * S.numpy() - 1, 0, None)
    d2 = A2.sum(1)
    want2 = A2 / np.sqrt(d2[:, None] * d2[None, :])
    np.testing.assert_allclose(graph_adjacency(S, "2S-1").numpy(), want2, atol=1e-6)


def loop_rec(S, X, Y):
    X = X / np.linalg.norm(X, axis=1, keepdims=True)
    Y = Y / np.linalg.norm(Y, axis=1, keepdims=True)
    m = X.shape[0]
    return sum((2 * S[i, j] - 1 - X[i] @ Y[j]) ** 2 for i in range(m) for j in range(m)) / m**2


def loop_gap(X, Y):
    X = X / np.linalg.norm(X, axis=1, keepdims=True)
    Y = Y / np.linalg.norm(Y, axis=1, keepdims=True)
    return sum(np.sum((X[i] - Y[i]) ** 2) for i in range(X.shape[0])) / X.shape[0]


def test_total_loss_matches_loop():
    rng = np.random.default_rng(1)
    m, c = 6, 8
    S = rng.random((m, m))
    codes = {k: np.tanh(rng.normal(size=(m, c))) for k in ("B_v", "B_t", "B_h", "B_gv", "B_gt")}
    alpha, beta, lam, delta = 0.4, 0.3, 5.0, 0.01
    L1 = sum(loop_rec(S, codes[k], codes[k]) for k in ("B_v", "B_t", "B_h"))
    L2 = (
        loop_rec(S, codes["B_gv"], codes["B_gv"])
        + loop_rec(S, codes["B_gt"], codes["B_gt"])
        + loop_gap(codes["B_gv"], codes["B_v"])
        + loop_gap(codes["B_gt"], codes["B_t"])
    )
    L3 = beta * (loop_rec(S, codes["B_v"], codes["B_h"]) + loop_rec(S, codes["B_t"], codes["B_h"]))
    L3 += lam * (loop_gap(codes["B_v"], codes["B_h"]) + loop_gap(codes["B_t"], codes["B_h"]))
    t = {k: torch.tensor(v, dtype=torch.float32) for k, v in codes.items()}
    terms = compute_loss(torch.tensor(S, dtype=torch.float32), t, alpha, beta, lam, delta)
    for name, want in (("L1", L1), ("L2", L2), ("L3", L3)):
        assert terms[name].item() == pytest.approx(want, rel=1e-5), name
    assert terms["L"].item() == pytest.approx(alpha * L1 + delta * L2 + L3, rel=1e-5)


def test_rec_and_gap_zero_at_their_optimum():
    B = torch.tensor([[1.0, 1.0], [1.0, 1.0], [-1.0, -1.0]])
    S_target = B @ B.T / 2  # 2S - 1 equal to the inner products of the unit codes
    assert rec(S_target, B, B).item() == pytest.approx(0.0, abs=1e-7)
    assert gap(B, 3 * B).item() == pytest.approx(0.0, abs=1e-7)


def test_losses_under_bf16_autocast_agree_with_float32():
    torch.manual_seed(0)
    m, c = 32, 16
    S = torch.rand(m, m)
    x = torch.randn(m, 64)
    layers = {k: torch.nn.Linear(64, c) for k in ("B_v", "B_t", "B_h", "B_gv", "B_gt")}
    ref = compute_loss(S, {k: torch.tanh(f(x)) for k, f in layers.items()}, 1.0, 1.0, 0.1, 0.01)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        codes = {k: torch.tanh(f(x)) for k, f in layers.items()}
        assert codes["B_v"].dtype == torch.bfloat16
        got = compute_loss(S, codes, 1.0, 1.0, 0.1, 0.01)
    assert got["L"].dtype == torch.float32
    # bf16 keeps 8 bits of mantissa: the codes carry ~0.4 % relative error, the loss less.
    for name in ("L1", "L2", "L3", "L"):
        assert got[name].item() == pytest.approx(ref[name].item(), rel=2e-2), name


def test_gcn_uses_the_graph():
    torch.manual_seed(0)
    gcn = GCNHash(in_dim=8, gcn_dim=6, code_length=4)
    f = torch.randn(5, 8)
    eye = torch.eye(5)
    # With the identity graph each item is encoded alone: permuting items permutes codes.
    perm = torch.tensor([3, 1, 4, 0, 2])
    torch.testing.assert_close(gcn(f, eye)[perm], gcn(f[perm], eye))
    # With a full uniform graph every item gets the same (mean-aggregated) code.
    full = torch.full((5, 5), 1 / 5)
    out = gcn(f, full)
    torch.testing.assert_close(out, out[:1].expand(5, -1))
    assert out.shape == (5, 4) and out.abs().max() < 1


@pytest.mark.parametrize("components", ["C", "D"])
def test_similarity_ablations_match_loop(components):
    rng = np.random.default_rng(2)
    xv, xt = rng.random((6, 5)), rng.random((6, 3))
    gv, gt, rho = 2.0, 0.3, 4.0
    zv = xv / np.linalg.norm(xv, axis=1, keepdims=True)
    zt = xt / np.linalg.norm(xt, axis=1, keepdims=True)
    want = np.zeros((6, 6))
    for i in range(6):
        for j in range(6):
            C = gv**2 * zv[i] @ zv[j] + gt**2 * zt[i] @ zt[j]
            d = math.sqrt(
                gv**2 * np.sum((zv[i] - zv[j]) ** 2) + gt**2 * np.sum((zt[i] - zt[j]) ** 2)
            )
            want[i, j] = C / (gv**2 + gt**2) if components == "C" else math.exp(-d / rho)
    got = aggregated_similarity(
        torch.tensor(xv), torch.tensor(xt), gv, gt, rho, scale="max", components=components
    )
    np.testing.assert_allclose(got.numpy(), want, atol=1e-5)


def test_loss_without_fusion_or_gcn_matches_loop():
    rng = np.random.default_rng(3)
    m, c = 5, 8
    S = rng.random((m, m))
    codes = {k: np.tanh(rng.normal(size=(m, c))) for k in ("B_v", "B_t")}
    alpha, beta, lam = 0.4, 0.3, 2.0
    L1 = loop_rec(S, codes["B_v"], codes["B_v"]) + loop_rec(S, codes["B_t"], codes["B_t"])
    L3 = 2 * beta * loop_rec(S, codes["B_v"], codes["B_t"])
    L3 += 2 * lam * loop_gap(codes["B_v"], codes["B_t"])
    t = {k: torch.tensor(v, dtype=torch.float32) for k, v in codes.items()}
    terms = compute_loss(torch.tensor(S, dtype=torch.float32), t, alpha, beta, lam, 0.01)
    assert terms["L2"].item() == 0.0
    assert terms["L"].item() == pytest.approx(alpha * L1 + L3, rel=1e-5)


def _unit_rows(X):
    return [[v / math.sqrt(sum(w * w for w in row)) for v in row] for row in X.tolist()]


def literal_sums(S, codes, alpha, beta, lam, delta):
    """Eqs. (13)-(16) as the paper writes them: sums over the m^2 pairs and the m items, on
    row-normalised codes, with plain loops (no mean, no vectorisation)."""
    u = {k: _unit_rows(v) for k, v in codes.items()}
    m = len(S)

    def rec_sum(X, Y):
        total = 0.0
        for i in range(m):
            for j in range(m):
                dot = sum(a * b for a, b in zip(u[X][i], u[Y][j]))
                total += (2 * S[i][j] - 1 - dot) ** 2
        return total

    def gap_sum(X, Y):
        return sum(sum((a - b) ** 2 for a, b in zip(u[X][i], u[Y][i])) for i in range(m))

    L1 = rec_sum("B_v", "B_v") + rec_sum("B_t", "B_t") + rec_sum("B_h", "B_h")  # Eq. (13)
    L2 = rec_sum("B_gv", "B_gv") + rec_sum("B_gt", "B_gt")  # Eq. (14)
    L2 += gap_sum("B_gv", "B_v") + gap_sum("B_gt", "B_t")
    L3 = beta * (rec_sum("B_v", "B_h") + rec_sum("B_t", "B_h"))  # Eq. (15)
    L3 += lam * (gap_sum("B_v", "B_h") + gap_sum("B_t", "B_h"))
    return {"L1": L1, "L2": L2, "L3": L3, "L": alpha * L1 + delta * L2 + L3}  # Eq. (16)


@pytest.mark.parametrize("m", [3, 4])
@pytest.mark.parametrize("weights", [(0.4, 0.3, 5.0, 0.01), (1.0, 1.0, 10.0, 0.01)])
def test_paper_loss_scale_is_the_literal_sums_over_m_squared(m, weights):
    rng = np.random.default_rng(m)
    S = rng.random((m, m))
    codes = {k: np.tanh(rng.normal(size=(m, 5))) for k in ("B_v", "B_t", "B_h", "B_gv", "B_gt")}
    alpha, beta, lam, delta = weights
    want = literal_sums(S.tolist(), codes, alpha, beta, lam, delta)
    lam_gap, l2_gap = gap_weights(lam, m, "paper")
    assert (lam_gap, l2_gap) == (lam / m, 1 / m)
    t = {k: torch.tensor(v, dtype=torch.float32) for k, v in codes.items()}
    got = compute_loss(
        torch.tensor(S, dtype=torch.float32), t, alpha, beta, lam_gap, delta, l2_gap
    )
    for name in ("L1", "L2", "L3", "L"):
        assert got[name].item() == pytest.approx(want[name] / m**2, rel=1e-5), name


def test_tuned_loss_scale_is_the_factor_times_lambda_whatever_m():
    for m in (2, 32, 100):
        assert gap_weights(5.0, m, "tuned", 0.06) == pytest.approx((0.3, 1.0))
        assert gap_weights(10.0, m, "tuned", 0.06) == pytest.approx((0.6, 1.0))
    with pytest.raises(ValueError, match="loss_scale"):
        gap_weights(5.0, 32, "sum")


def test_graph_convolution_bias_hand_computed():
    # H (2, 2), W (2, 1) -> H W = [[1], [2]]; A_hat = [[0.5, 0.5], [0.5, 0.5]] -> [[1.5], [1.5]]
    H = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    A_hat = torch.full((2, 2), 0.5)
    layers = {mode: GraphConvolution(2, 1, bias=mode) for mode in ("none", "after", "inside")}
    for layer in layers.values():
        layer.linear.weight.data = torch.tensor([[1.0, 1.0]])
    assert [n for n, _ in layers["none"].named_parameters()] == ["linear.weight"]
    torch.testing.assert_close(layers["none"](H, A_hat), torch.tensor([[1.5], [1.5]]))
    layers["after"].bias.data = torch.tensor([-2.0])  # relu(A_hat (H W) + b) = relu(-0.5) = 0
    out = torch.relu(layers["after"](H, A_hat))
    torch.testing.assert_close(out, torch.tensor([[0.0], [0.0]]))
    # inside: A_hat (H W + b) with A_hat's rows summing to 1 adds b once: the same here, so use
    # a graph whose rows sum to 2: A_hat (H W + b) = [[2 * 1.5 - 4]] = [[-1]]
    layers["inside"].linear.bias.data = torch.tensor([-2.0])
    got = layers["inside"](H, torch.ones(2, 2))
    torch.testing.assert_close(got, torch.tensor([[-1.0], [-1.0]]))
    with_after = layers["after"](H, torch.ones(2, 2))  # A (H W) + b = [[3 - 2]] = [[1]]
    torch.testing.assert_close(with_after, torch.tensor([[1.0], [1.0]]))


@pytest.mark.parametrize("input_norm", ["standardize", "none"])
@pytest.mark.parametrize("text_norm", [None, "standardize", "none", "l2", "rms"])
def test_encoder_inputs_follow_input_norm_and_text_norm(input_norm, text_norm):
    from src.models.djsrh_module import DJSRHModule

    model = DJSRHModule(
        image_dim=2, text_dim=2, hidden_dim=4, input_norm=input_norm, text_norm=text_norm
    )
    model.set_input_stats(
        {
            "image_mean": [1.0, 2.0],
            "image_std": [2.0, 4.0],
            "text_mean": [0.5, 0.5],
            "text_std": [0.5, 0.25],
        }
    )
    x_v, x_t = torch.tensor([[3.0, 6.0]]), torch.tensor([[3.0, 4.0]])
    got_v, got_t = model.normalise_inputs(x_v, x_t)
    want_v = [[1.0, 1.0]] if input_norm == "standardize" else [[3.0, 6.0]]
    text_mode = text_norm or input_norm
    rms = [[0.6 * 2**0.5, 0.8 * 2**0.5]]  # x / (||x|| / sqrt(2)), ||x|| = 5
    want = {"standardize": [[5.0, 14.0]], "none": [[3.0, 4.0]], "l2": [[0.6, 0.8]], "rms": rms}
    want_t = want[text_mode]
    torch.testing.assert_close(got_v, torch.tensor(want_v))
    torch.testing.assert_close(got_t, torch.tensor(want_t))


@pytest.mark.parametrize("seed", range(4))
def test_distance_part_is_a_function_of_the_cosine_part(seed):
    """With unit rows, ||Z_i - Z_j||^2 = 2 (max C - C_ij): D = exp(-sqrt(2 (max C - C)) / rho)
    is a decreasing function of C, so S = C * D reshapes C and adds no information
    (docs/model.md, "Aggregated similarity")."""
    generator = torch.Generator().manual_seed(seed)
    x_v, x_t = torch.rand(9, 7, generator=generator), torch.rand(9, 5, generator=generator)
    gv, gt, rho = 0.5 + seed, 0.3 * (seed + 1), 4.0
    C = aggregated_similarity(x_v, x_t, gv, gt, rho, components="C")
    D = aggregated_similarity(x_v, x_t, gv, gt, rho, components="D")
    c_max = gv**2 + gt**2
    expected = torch.exp(-(2.0 * (c_max - C)).clamp_min(0.0).sqrt() / rho)
    assert torch.allclose(D, expected, atol=1e-3)
