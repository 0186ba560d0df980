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

from src.models.cca_itq import CCAITQModule, cca, itq

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
    W_x, W_y, rho = cca(torch.from_numpy(X), torch.from_numpy(Y), c=8, reg=0.0)
    assert W_x.shape == (6, 8) and W_y.shape == (4, 8) and rho.shape == (8,)
    assert rho[0] > 0.99 and rho[1] > 0.99  # the two latent directions
    assert rho[2] < 0.2  # noise only beyond them
    P, Q = X @ W_x.numpy(), Y @ W_y.numpy()  # (n, 8) canonical variates
    for k in range(4):  # the paired directions: correlation = rho_k, unit variance
        assert np.corrcoef(P[:, k], Q[:, k])[0, 1] == pytest.approx(float(rho[k]), abs=1e-6)
        assert P[:, k].var() == pytest.approx(1.0, abs=1e-4)
        assert Q[:, k].var() == pytest.approx(1.0, abs=1e-4)
    # the image's directions are uncorrelated with each other (whitened)
    np.testing.assert_allclose(np.cov(P[:, :6].T, bias=True), np.eye(6), atol=1e-4)
    # beyond the text's 4 dimensions and the image's 6: zero columns, zero correlation
    assert np.all(W_y.numpy()[:, 4:] == 0) and np.all(W_x.numpy()[:, 6:] == 0)
    assert np.all(rho.numpy()[4:] == 0)


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
        "data.synthetic.n_items=300",
        "data.synthetic.n_query=40",
        "data.synthetic.n_train=160",
        "data.synthetic.n_val=40",
        "data.synthetic.image_dim=32",
        "data.synthetic.text_dim=24",
        "data.synthetic.n_classes=5",
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
    expected = np.where(x_std @ model.W_image.numpy() @ model.R.numpy() >= 0, 1.0, -1.0)
    np.testing.assert_array_equal(loaded.encode(x_v, x_t)[0].numpy(), expected)
