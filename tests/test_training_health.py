"""Training health (src/callbacks/health.py): the figures against hand computations, and the
test that every trainable module of each method learns with its default optimisation."""

import math
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from src.callbacks.health import TrainingHealth, pairwise_cosine, relative_change
from src.data.datamodule import AGCHDataModule
from training_checks import make_trainer

ROOT = Path(__file__).resolve().parents[1]


def test_relative_change_matches_hand_computation():
    initial = [torch.tensor([3.0, 0.0]), torch.tensor([[0.0], [4.0]])]  # ||theta_0|| = 5
    params = [torch.tensor([3.0, 1.0]), torch.tensor([[0.0], [4.0 + 2.0]])]  # diff (0,1,0,2)
    assert relative_change(params, initial) == pytest.approx(math.sqrt(5.0) / 5.0, rel=1e-12)
    assert relative_change(initial, initial) == 0.0
    assert relative_change([torch.ones(2)], [torch.zeros(2)]) == math.inf


@pytest.mark.parametrize("seed", range(5))
def test_pairwise_cosine_matches_a_plain_loop(seed):
    generator = torch.Generator().manual_seed(seed)
    m, c = 3 + seed, 4 + 2 * seed
    X = torch.randn(m, c, generator=generator)
    pairs = [
        float(X[i] @ X[j] / (X[i].norm() * X[j].norm()))
        for i in range(m)
        for j in range(m)
        if i != j
    ]
    assert float(pairwise_cosine(X)) == pytest.approx(sum(pairs) / len(pairs), abs=1e-6)
    same = X[:1].repeat(m, 1)  # every row the same: fully smoothed
    assert float(pairwise_cosine(same)) == pytest.approx(1.0, abs=1e-6)


def default_model(model: str, overrides: list[str], dm: AGCHDataModule) -> L.LightningModule:
    """The method as configs/model/<model>.yaml (and the overrides) builds it."""
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=[f"model={model}", *overrides])
    image_dim, text_dim = dm.feature_dims()
    module = instantiate(cfg.model, image_dim=image_dim, text_dim=text_dim)
    module.set_input_stats(dm.train_statistics())
    return module


def fit_with_health(module, dm, tmp_path: Path, epochs: int) -> TrainingHealth:
    health = TrainingHealth(min_weight_change=0.0)
    make_trainer(tmp_path, epochs, [health], limit_val_batches=0).fit(module, dm)
    return health


# every module must move at least this far from its initial weights in the 78 steps below, and
# its own loss terms must fall. With the defaults before the training-health change, the image
# encoder moved about 0.01 % and the GCNs 0.04-0.15 % here (the learning test failed); the
# encoders at the paper's text rate 1e-2 move about 0.7 %.
MIN_CHANGE = 0.003


@pytest.mark.parametrize(
    "model, overrides",
    [
        ("agch", []),
        ("agch", ["experiment=wiki_agch_32bit"]),
        ("djsrh", []),
        ("djsrh", ["experiment=wiki_djsrh_32bit"]),
        ("jdsh", ["experiment=wiki_jdsh_32bit"]),
        ("dgcpn", ["experiment=wiki_dgcpn_32bit"]),
        # the release's width 8192 (68 M weights) takes about 18 min here: a narrower network
        # with every other value of the experiment (Adam 1e-4, clipping, the warm-up, the bank)
        ("ucch", ["experiment=wiki_ucch_32bit", "model.hidden_dim=512"]),
    ],
    ids=["agch", "agch-wiki", "djsrh", "djsrh-wiki", "jdsh-wiki", "dgcpn-wiki", "ucch-wiki"],
)
def test_every_module_learns_with_the_default_optimisation(
    synthetic_store, tmp_path, model, overrides
):
    """A few epochs of the method's defaults (configs/model/<name>.yaml, or an experiment's
    model settings; full network widths) on a small generated dataset: every trainable module
    moves measurably from its initial weights and the loss terms that depend on it fall."""
    L.seed_everything(0, verbose=False)
    dm = AGCHDataModule(str(synthetic_store), batch_size=16, eval_batch_size=128)
    module = default_model(model, overrides, dm)
    health = fit_with_health(module, dm, tmp_path, epochs=6)  # 78 steps of 16 pairs
    names = set(module.health_modules())
    moved = {n: health.final[f"{n}/weight_change"] for n in names}
    assert all(v > MIN_CHANGE for v in moved.values()), f"barely moved: {moved}"
    ratios = {n: health.final[f"{n}/own_loss_ratio"] for n in names}
    assert all(v < 1.0 for v in ratios.values()), f"own terms did not fall: {ratios}"
