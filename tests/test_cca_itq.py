"""CCA-ITQ: CCA on data with a known shared latent, the ITQ rotation and its loss, and an
end-to-end train.py run whose checkpoint evaluates identically."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from src.models.cca_itq import CCAITQModule, cca, correlated_directions, itq
from src.utils.errors import TrainingError
from conftest import TINY_DATA
from training_checks import fit_without_trainer

ROOT = Path(__file__).resolve().parents[1]


def shared_latent(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """X (n, 6), Y (n, 4), centred, both linear in a 2-d latent z plus small noise."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 2))
    X = z @ rng.standard_normal((2, 6)) + 0.05 * rng.standard_normal((n, 6))
    Y = z @ rng.standard_normal((2, 4)) + 0.05 * rng.standard_normal((n, 4))
    return X - X.mean(0), Y - Y.mean(0)


def test_cca_finds_the_shared_latent() -> None:
    X, Y = shared_latent()
    W_x, W_y, rho = cca(torch.from_numpy(X), torch.from_numpy(Y), reg=0.0)
    assert W_x.shape == (6, 4) and W_y.shape == (4, 4) and rho.shape == (4,)  # k = min(6, 4)
    assert rho[0] > 0.99 and rho[1] > 0.99  # the two latent directions
    assert rho[2] < 0.2  # noise only beyond them
    P, Q = X @ W_x.numpy(), Y @ W_y.numpy()  # (n, 4) canonical variates
    for k in range(4):  # the paired directions: correlation = rho_k, unit variance
        assert np.corrcoef(P[:, k], Q[:, k])[0, 1] == pytest.approx(float(rho[k]), abs=1e-6)
        assert P[:, k].var() == pytest.approx(1.0, abs=1e-4)
        assert Q[:, k].var() == pytest.approx(1.0, abs=1e-4)
    # each modality's variates are uncorrelated with each other (whitened)
    np.testing.assert_allclose(np.cov(P.T, bias=True), np.eye(4), atol=1e-4)
    np.testing.assert_allclose(np.cov(Q.T, bias=True), np.eye(4), atol=1e-4)


def numpy_canonical_correlations(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Canonical correlations of centred X, Y without regularisation, by another route: the
    singular values of Q_x^T Q_y for orthonormal bases Q of the column spaces (Bjorck-Golub)."""
    return np.linalg.svd(np.linalg.qr(X)[0].T @ np.linalg.qr(Y)[0], compute_uv=False)


@pytest.mark.parametrize("seed", range(3))
def test_cca_correlations_match_an_independent_computation(seed: int) -> None:
    rng = np.random.default_rng(seed)
    X, Y = shared_latent(500, seed)
    X = np.hstack([X, rng.standard_normal((500, 3))])
    X, Y = X - X.mean(0), Y - Y.mean(0)
    rho = cca(torch.from_numpy(X), torch.from_numpy(Y), reg=0.0)[2].numpy()
    np.testing.assert_allclose(rho, numpy_canonical_correlations(X, Y), atol=1e-8)


def planted(n: int, noise_dims: int, seed: int, rng_noise: int) -> tuple[np.ndarray, ...]:
    """Image X (n, 3 + noise_dims): 3 columns linear in a 2-d latent shared with the text
    Y (n, 3), then noise columns drawn from ``rng_noise``, made exactly uncorrelated with the
    signal and text columns (projected out). Returns centred X, Y and the signal columns."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 2))
    signal = z @ rng.standard_normal((2, 3)) + 0.3 * rng.standard_normal((n, 3))
    Y = z @ rng.standard_normal((2, 3)) + 0.3 * rng.standard_normal((n, 3))
    signal, Y = signal - signal.mean(0), Y - Y.mean(0)
    noise = np.random.default_rng(rng_noise).standard_normal((n, noise_dims)) * 2.0
    basis = np.linalg.qr(np.hstack([np.ones((n, 1)), signal, Y]))[0]
    noise -= basis @ (basis.T @ noise)  # centred, uncorrelated with signal and text
    return np.hstack([signal, noise]), Y, signal


def fit_module(X: np.ndarray, Y: np.ndarray, c: int, **hparams) -> CCAITQModule:
    """A CCAITQModule fitted on X (n, Dv), Y (n, Dt) by its own `fit_closed_form` (unit input
    statistics: X and Y are the standardised features)."""
    model = CCAITQModule(X.shape[1], Y.shape[1], code_length=c, n_iter=30, **hparams)
    return fit_without_trainer(model, torch.from_numpy(X), torch.from_numpy(Y))


def fit_codes(X: np.ndarray, Y: np.ndarray, c: int, queries: np.ndarray) -> np.ndarray:
    """Image codes (q, c) of `queries` by CCA-ITQ fitted on X, Y (rho_power 1)."""
    model = fit_module(X, Y, c, rho_power=1.0)
    text = torch.zeros(queries.shape[0], Y.shape[1])
    return model.encode(torch.from_numpy(queries).float(), text)[0].numpy()


@pytest.mark.parametrize("seed, noise_dims, c", [(0, 5, 16), (1, 9, 8), (2, 2, 32), (3, 4, 2)])
def test_codes_use_only_the_planted_correlated_subspace(seed, noise_dims, c) -> None:
    """Replacing the image's noise columns (uncorrelated with the text) changes neither the
    fitted projection nor any code, at code lengths above and below the 3 canonical pairs."""
    X, Y, signal = planted(400, noise_dims, seed, rng_noise=10)
    X_other, _, _ = planted(400, noise_dims, seed, rng_noise=11)
    rng = np.random.default_rng(seed + 50)
    queries = rng.standard_normal((300, 3 + noise_dims)) * 3.0
    replaced = queries.copy()
    replaced[:, 3:] = rng.standard_normal((300, noise_dims)) * 3.0
    codes = fit_codes(X, Y, c, queries)
    assert codes.shape == (300, c)
    np.testing.assert_array_equal(codes, fit_codes(X, Y, c, replaced))  # query noise
    np.testing.assert_array_equal(codes, fit_codes(X_other, Y, c, queries))  # train noise
    # the projection reads the signal columns only, through min(c, 3) directions
    W_x = fit_module(X, Y, c).W_image.numpy()  # (3 + noise_dims, c)
    np.testing.assert_allclose(W_x[3:], 0.0, atol=1e-6)
    assert np.count_nonzero(np.abs(W_x).sum(axis=0) > 1e-6) == min(c, 3)


def test_pairs_at_or_below_the_floor_are_dropped() -> None:
    """Text proportions summing to 1 (Wiki's LDA): one text direction has no variance, so its
    canonical pair has no correlation and is dropped; the others are kept in order."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal((600, 3))
    T = np.exp(z @ rng.standard_normal((3, 5)) + 0.5 * rng.standard_normal((600, 5)))
    T /= T.sum(axis=1, keepdims=True)  # (600, 5) proportions: rank 4 after centring
    X = np.hstack([z, rng.standard_normal((600, 4))]) @ rng.standard_normal((7, 7))
    X, T = X - X.mean(0), (T - T.mean(0)) / T.std(0)
    W_x, W_y, rho = cca(torch.from_numpy(X), torch.from_numpy(T), 1e-3)
    assert rho.shape == (5,) and float(rho[4]) < 1e-3 < float(rho[3])
    kept = correlated_directions(W_x, W_y, rho, 8, 1e-3)
    np.testing.assert_array_equal(kept[2].numpy()[:4], rho.numpy()[:4])
    assert np.all(kept[2].numpy()[4:] == 0)
    for W, full in zip(kept[:2], (W_x, W_y)):
        np.testing.assert_array_equal(W.numpy()[:, :4], full.numpy()[:, :4])
        assert np.all(W.numpy()[:, 4:] == 0)
    short = correlated_directions(W_x, W_y, rho, 2, 1e-3)  # c below k: the top-c pairs
    np.testing.assert_array_equal(short[0].numpy(), W_x.numpy()[:, :2])
    with pytest.raises(TrainingError, match="min_correlation"):
        correlated_directions(W_x, W_y, rho, 8, 0.99)


def numpy_quantisation_loss(V: np.ndarray, R: np.ndarray) -> float:
    B = np.where(V @ R >= 0, 1.0, -1.0)
    return float(np.sqrt(((B - V @ R) ** 2).sum()))


def test_itq_rotation_is_orthogonal_and_its_loss_never_increases() -> None:
    rng = np.random.default_rng(1)
    V = rng.standard_normal((500, 8)) @ rng.standard_normal((8, 8))
    V -= V.mean(0)
    R, losses = itq(torch.from_numpy(V), n_iter=50, generator=torch.Generator().manual_seed(0))
    R = R.numpy()
    np.testing.assert_allclose(R.T @ R, np.eye(8), atol=1e-10)
    assert len(losses) == 100
    assert all(b <= a + 1e-9 for a, b in zip(losses, losses[1:]))
    assert losses[-1] < losses[0]
    # the loss of the final R, computed independently, is the recorded one
    assert numpy_quantisation_loss(V, R) == pytest.approx(losses[-1], rel=1e-9)


@pytest.mark.parametrize("power", [0.0, 1.0, 2.0])
def test_module_weights_each_canonical_pair_by_a_power_of_its_correlation(power: float) -> None:
    """After the fit, the image and text projections (before the rotation) are uncorrelated
    across pairs, pair k has variance rho_k^(2p) in each modality and cross-covariance
    rho_k^(2p+1); columns beyond the 3 planted pairs are zero (c = 8)."""
    X, Y, _ = planted(800, 4, seed=5, rng_noise=12)
    model = fit_module(X, Y, 8, reg=0.0, rho_power=power)
    P = X @ model.W_image.double().numpy()  # (n, 8)
    Q = Y @ model.W_text.double().numpy()  # (n, 8)
    rho = numpy_canonical_correlations(X, Y)  # (3,), computed independently
    expected = np.zeros(8)
    expected[:3] = rho ** (2 * power)
    np.testing.assert_allclose(P.T @ P / 800, np.diag(expected), atol=1e-4)
    np.testing.assert_allclose(Q.T @ Q / 800, np.diag(expected), atol=1e-4)
    np.testing.assert_allclose(np.diag(P.T @ Q / 800)[:3], rho ** (2 * power + 1), atol=1e-4)


def compose_run(overrides: list[str], run_dir: Path) -> DictConfig:
    """Compose train.yaml as Hydra would for a run writing into `run_dir`."""
    os.environ.setdefault("PROJECT_ROOT", str(ROOT))
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        cfg = compose(config_name="train.yaml", overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(run_dir)
        cfg.hydra.job.num = 0
        cfg.paths.output_dir = str(run_dir)
    HydraConfig().set_config(cfg)
    return cfg


def test_train_py_fits_cca_itq_and_the_checkpoint_evaluates_identically(
    tmp_path: Path,
) -> None:
    from src.train import train

    overrides = [
        f"data.path={tmp_path / 'tiny.h5'}",
        *TINY_DATA,
        "data.drop_last=false",
        "model=cca_itq",
        "model.code_length=16",
        "trainer=cpu",
        "trainer.max_epochs=1",
        "logger=csv",
        "extras.print_config=false",
        "extras.enforce_tags=false",
    ]
    metrics, objects = train(compose_run(overrides, tmp_path / "run"))
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["method"] == "cca_itq" and results["code_length"] == 16
    # synthetic classes are linear in both modalities: far above chance (1/5)
    assert results["metrics"]["test/map@50"] > 0.5
    model = objects["model"]
    assert float(model.correlations[0]) > 0.5
    R = model.R.double()
    torch.testing.assert_close(R.T @ R, torch.eye(16, dtype=torch.float64), atol=1e-5, rtol=0)
    loaded = CCAITQModule.load_from_checkpoint(results["last_ckpt_path"], weights_only=True)
    x_v, x_t = torch.rand(20, 32), torch.rand(20, 24)
    for a, b in zip(model.encode(x_v, x_t), loaded.encode(x_v, x_t)):
        assert torch.equal(a, b)
    # the test codes are sign(x_std W R), written out independently in numpy
    x_std = ((x_v - model.image_mean) / model.image_std).numpy()
    expected = np.where(x_std @ model.W_image.numpy() @ model.R.numpy() > 0, 1.0, -1.0)
    np.testing.assert_array_equal(loaded.encode(x_v, x_t)[0].numpy(), expected)
