"""CMFH: the objective against a plain loop, each block update is the exact minimiser (zero
gradient of the objective, by autograd), the objective never increases, the fit touches only
the projections, same seed gives the same codes, and an end-to-end train.py run whose
checkpoint evaluates identically."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from src.models.cmfh import CMFHModule, cmfh_fit, cmfh_objective, cmfh_update
from src.utils.errors import ConfigError
from test_cca_itq import compose_run
from conftest import TINY_DATA
from training_checks import fit_without_trainer

LAM, MU, GAMMA = 0.3, 2.0, 0.1


def data(seed: int, n: int = 30, dv: int = 6, dt: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 2, generator=g, dtype=torch.float64)
    X = z @ torch.randn(2, dv, generator=g, dtype=torch.float64)
    Y = z @ torch.randn(2, dt, generator=g, dtype=torch.float64)
    X = X + 0.1 * torch.randn(n, dv, generator=g, dtype=torch.float64)
    Y = Y + 0.1 * torch.randn(n, dt, generator=g, dtype=torch.float64)
    return X - X.mean(0), Y - Y.mean(0)


def loop_objective(X, Y, f, lam, mu, gamma) -> float:
    """The objective entry by entry (items as rows; paper: lam ||X1 - U1 V||^2 + ...)."""
    X, Y = X.tolist(), Y.tolist()
    V, U1, U2, W1, W2 = (f[k].tolist() for k in ("V", "U1", "U2", "W1", "W2"))
    n, c = len(V), len(V[0])
    total = 0.0
    for weight, F, U in ((lam, X, U1), (1 - lam, Y, U2)):
        for i in range(n):
            for d in range(len(F[0])):
                total += weight * (F[i][d] - sum(V[i][k] * U[d][k] for k in range(c))) ** 2
    for F, W in ((X, W1), (Y, W2)):
        for i in range(n):
            for k in range(c):
                total += mu * (V[i][k] - sum(F[i][d] * W[d][k] for d in range(len(F[0])))) ** 2
    for M in (U1, U2, W1, W2, V):
        total += gamma * sum(v * v for row in M for v in row)
    return total


def random_factors(seed: int, n: int, dv: int, dt: int, c: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    shapes = {"V": (n, c), "U1": (dv, c), "U2": (dt, c), "W1": (dv, c), "W2": (dt, c)}
    return {k: torch.randn(*s, generator=g, dtype=torch.float64) for k, s in shapes.items()}


def test_objective_matches_loop() -> None:
    X, Y = data(0, n=7, dv=4, dt=3)
    f = random_factors(1, 7, 4, 3, 2)
    got = cmfh_objective(X, Y, f, LAM, MU, GAMMA)
    assert got == pytest.approx(loop_objective(X, Y, f, LAM, MU, GAMMA), rel=1e-10)


@pytest.mark.parametrize("seed", range(3))
def test_each_update_is_the_exact_minimiser_of_its_block(seed: int) -> None:
    """After a round, the objective's gradient is zero in V (the last block updated), and in
    W and U at the V they were computed from: each step is the block's exact minimiser."""
    X, Y = data(seed)
    start = random_factors(seed + 10, 30, 6, 4, 3)
    new = cmfh_update(X, Y, start, LAM, MU, GAMMA)
    for block, fixed in (
        ("V", new),
        ("W1", new | {"V": start["V"]}),
        ("U2", new | {"V": start["V"]}),
    ):
        tensors = {k: v.clone().requires_grad_(k == block) for k, v in fixed.items()}
        V, U1, U2, W1, W2 = (tensors[k] for k in ("V", "U1", "U2", "W1", "W2"))
        objective = (
            LAM * (X - V @ U1.T).pow(2).sum()
            + (1 - LAM) * (Y - V @ U2.T).pow(2).sum()
            + MU * ((V - X @ W1).pow(2).sum() + (V - Y @ W2).pow(2).sum())
            + GAMMA * sum(t.pow(2).sum() for t in (U1, U2, W1, W2, V))
        )
        (grad,) = torch.autograd.grad(objective, tensors[block])
        assert grad.abs().max() < 1e-8 * max(1.0, float(objective)), block


def test_objective_never_increases_and_falls() -> None:
    X, Y = data(4, n=60)
    f, objectives = cmfh_fit(X, Y, 4, 0.5, 100.0, 0.01, 30, torch.Generator().manual_seed(0))
    assert len(objectives) == 30
    assert all(b <= a * (1 + 1e-10) for a, b in zip(objectives, objectives[1:]))
    assert objectives[-1] < objectives[0]
    assert cmfh_objective(X, Y, f, 0.5, 100.0, 0.01) == pytest.approx(objectives[-1])


def fit_module(X: torch.Tensor, Y: torch.Tensor, c: int, seed: int = 0) -> CMFHModule:
    """A CMFHModule fitted by its own `fit_closed_form` on X, Y (unit input statistics)."""
    model = CMFHModule(X.shape[1], Y.shape[1], code_length=c, n_iter=20, seed=seed)
    return fit_without_trainer(model, X, Y)


def test_fit_sets_only_the_projections_and_codes_are_their_signs() -> None:
    X, Y = data(5, n=80)
    fresh = CMFHModule(6, 4, code_length=3, n_iter=20)
    model = fit_module(X, Y, 3)
    changed = {
        k for k, v in model.state_dict().items() if not torch.equal(v, fresh.state_dict()[k])
    }
    assert changed == {"W_image", "W_text"}
    f, _ = cmfh_fit(X, Y, 3, 0.5, 100.0, 0.01, 20, torch.Generator().manual_seed(0))
    np.testing.assert_allclose(model.W_image.numpy(), f["W1"].numpy(), rtol=1e-5, atol=1e-6)
    queries = torch.randn(25, 6)
    expected = np.where(queries.numpy() @ f["W1"].numpy() > 0, 1.0, -1.0)
    np.testing.assert_array_equal(model.encode(queries, torch.zeros(25, 4))[0].numpy(), expected)


def test_same_seed_same_codes_other_seed_other_start() -> None:
    X, Y = data(6, n=80)
    a, b, other = fit_module(X, Y, 4, seed=1), fit_module(X, Y, 4, seed=1), fit_module(X, Y, 4, 2)
    assert torch.equal(a.W_image, b.W_image) and torch.equal(a.W_text, b.W_text)
    assert not torch.equal(a.W_image, other.W_image)


@pytest.mark.parametrize("key, value", [("lam", 1.0), ("lam", 0.0), ("mu", 0.0), ("n_iter", 0)])
def test_impossible_values_fail_naming_the_key(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=rf"^model\.{key}: expected"):
        CMFHModule(image_dim=4, text_dim=4, **{key: value})


def test_train_py_fits_cmfh_and_the_checkpoint_evaluates_identically(tmp_path: Path) -> None:
    from src.train import train

    overrides = [
        f"data.path={tmp_path / 'tiny.h5'}",
        *TINY_DATA,
        "data.drop_last=false",
        "model=cmfh",
        "model.code_length=16",
        "trainer=cpu",
        "trainer.max_epochs=1",
        "logger=csv",
        "extras.print_config=false",
        "extras.enforce_tags=false",
    ]
    metrics, objects = train(compose_run(overrides, tmp_path / "run"))
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["method"] == "cmfh" and results["code_length"] == 16
    # synthetic classes are linear in both modalities: far above chance (1/5)
    assert results["metrics"]["test/map@50"] > 0.5
    loaded = CMFHModule.load_from_checkpoint(results["last_ckpt_path"], weights_only=True)
    x_v, x_t = torch.rand(20, 32), torch.rand(20, 24)
    for a, b in zip(objects["model"].encode(x_v, x_t), loaded.encode(x_v, x_t)):
        assert torch.equal(a, b)
