"""DJSRH: the joint-semantics affinity and the loss against plain loops, one training step,
weights-only checkpoints, one-line config errors, and an end-to-end train.py run."""

import json
import math
import os
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, open_dict

from src.data.datamodule import AGCHDataModule
from src.models.djsrh_module import DJSRHModule, djsrh_loss, joint_semantics_affinity
from src.utils.errors import ConfigError
from conftest import TINY_DATA

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(hidden_dim=32, code_length=8, eval_ks=[1, 10])


def loop_cosine(x: list[list[float]], i: int, j: int) -> float:
    dot = sum(a * b for a, b in zip(x[i], x[j]))
    return dot / math.sqrt(sum(a * a for a in x[i]) * sum(b * b for b in x[j]))


def loop_affinity(xv, xt, beta, eta, mu, rescale_v, rescale_t) -> list[list[float]]:
    """S_ij = mu ((1 - eta) S~_ij + eta sum_k S~_ik S~_jk / m), entry by entry."""
    m = len(xv)

    def s(x, rescale, i, j):
        cos = loop_cosine(x, i, j)
        return 2 * cos - 1 if rescale else cos

    tilde = [
        [beta * s(xv, rescale_v, i, j) + (1 - beta) * s(xt, rescale_t, i, j) for j in range(m)]
        for i in range(m)
    ]
    return [
        [
            mu
            * (
                (1 - eta) * tilde[i][j]
                + eta * sum(tilde[i][k] * tilde[j][k] for k in range(m)) / m
            )
            for j in range(m)
        ]
        for i in range(m)
    ]


@pytest.mark.parametrize("rescale_v, rescale_t", [(True, True), (True, False), (False, False)])
def test_affinity_matches_loop(rescale_v: bool, rescale_t: bool) -> None:
    g = torch.Generator().manual_seed(0)
    xv = torch.rand(7, 5, generator=g)  # non-negative, like SIFT or fc7
    xt = torch.randn(7, 4, generator=g)  # signed, like UCI's Karhunen-Loeve
    S = joint_semantics_affinity(xv, xt, 0.3, 0.4, 1.5, rescale_v, rescale_t)
    expected = loop_affinity(xv.tolist(), xt.tolist(), 0.3, 0.4, 1.5, rescale_v, rescale_t)
    assert S.dtype == torch.float32 and not S.requires_grad
    torch.testing.assert_close(S, torch.tensor(expected), rtol=1e-5, atol=1e-5)


def test_affinity_is_float32_under_bf16_autocast() -> None:
    xv, xt = torch.rand(6, 5), torch.rand(6, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        S = joint_semantics_affinity(xv.bfloat16(), xt.bfloat16(), 0.9, 0.4, 1.5)
    assert S.dtype == torch.float32


def test_loss_matches_loop() -> None:
    g = torch.Generator().manual_seed(1)
    m, c = 5, 3
    S = torch.randn(m, m, generator=g)
    B_I = torch.tanh(torch.randn(m, c, generator=g))  # (m, c)
    B_T = torch.tanh(torch.randn(m, c, generator=g))  # (m, c)

    def rec(X: list, Y: list) -> float:
        unit = [[v / math.sqrt(sum(a * a for a in row)) for v in row] for row in X]
        unit_y = [[v / math.sqrt(sum(a * a for a in row)) for v in row] for row in Y]
        total = 0.0
        for i in range(m):
            for j in range(m):
                dot = sum(unit[i][k] * unit_y[j][k] for k in range(c))
                total += (S[i, j].item() - dot) ** 2
        return total / (m * m)

    bi, bt = B_I.tolist(), B_T.tolist()
    terms = djsrh_loss(S, B_I, B_T, lambda1=0.3, lambda2=0.7)
    assert terms["rec_II"].item() == pytest.approx(rec(bi, bi), rel=1e-5)
    assert terms["rec_IT"].item() == pytest.approx(rec(bi, bt), rel=1e-5)
    assert terms["rec_TT"].item() == pytest.approx(rec(bt, bt), rel=1e-5)
    expected = 0.3 * rec(bi, bi) + rec(bi, bt) + 0.7 * rec(bt, bt)
    assert terms["L"].item() == pytest.approx(expected, rel=1e-5)


def make_module(dm: AGCHDataModule, **overrides) -> DJSRHModule:
    image_dim, text_dim = dm.feature_dims()
    model = DJSRHModule(image_dim=image_dim, text_dim=text_dim, **(TINY | overrides))
    model.set_input_stats(dm.train_statistics())
    return model


def make_trainer(tmp_path: Path, **kwargs) -> L.Trainer:
    args = dict(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
        default_root_dir=tmp_path,
    )
    return L.Trainer(**(args | kwargs))


def test_one_step_changes_both_networks(synthetic_store: Path, tmp_path: Path) -> None:
    dm = AGCHDataModule(str(synthetic_store), batch_size=16)
    model = make_module(dm)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer = make_trainer(tmp_path, limit_train_batches=1, limit_val_batches=0)
    trainer.fit(model, dm)
    moved = {n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])}
    assert moved == set(before)  # every layer of both networks
    assert {n.split(".")[0] for n in moved} == {"image_net", "text_net"}
    assert trainer.global_step == 2  # one step of each optimiser


def test_codes_are_sign_of_the_hash_layer(synthetic_store: Path) -> None:
    dm = AGCHDataModule(str(synthetic_store), batch_size=16)
    model = make_module(dm)
    x_v, x_t = torch.rand(9, 64), torch.rand(9, 48)
    B_I, B_T = model.encode(x_v, x_t)
    h_v = model.image_net((x_v - model.image_mean) / model.image_std)
    assert torch.equal(B_I, torch.where(h_v > 0, 1.0, -1.0))
    assert set(B_T.unique().tolist()) <= {-1.0, 1.0}


def test_checkpoint_loads_with_weights_only(synthetic_store: Path, tmp_path: Path) -> None:
    dm = AGCHDataModule(str(synthetic_store), batch_size=16, eval_batch_size=64)
    model = make_module(dm)
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ck", save_last=True)
    trainer = make_trainer(
        tmp_path, callbacks=[checkpoint], enable_checkpointing=True, limit_train_batches=2
    )
    trainer.fit(model, dm)
    path = tmp_path / "ck" / "last.ckpt"
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert raw["hyper_parameters"]["code_length"] == 8
    loaded = DJSRHModule.load_from_checkpoint(path, weights_only=True)
    x_v, x_t = torch.rand(5, 64), torch.rand(5, 48)
    for a, b in zip(model.encode(x_v, x_t), loaded.encode(x_v, x_t)):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    "key, value",
    [("code_length", 0), ("beta", 1.5), ("mu", 0.0), ("tanh_scale", "exp"), ("eval_ks", [])],
)
def test_impossible_values_fail_naming_the_key(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=rf"^model\.{key}: expected"):
        DJSRHModule(image_dim=4, text_dim=4, **(TINY | {key: value}))


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


TINY_RUN = [
    *TINY_DATA,
    "extras.print_config=false",
    "extras.enforce_tags=false",
    "trainer=cpu",
    "trainer.max_epochs=1",
    "logger=csv",
]


def test_train_py_runs_djsrh(tmp_path: Path) -> None:
    from src.train import train

    overrides = [f"data.path={tmp_path / 'tiny.h5'}", "model=djsrh", *TINY_RUN]
    overrides += ["model.code_length=16", "model.hidden_dim=64"]
    metrics, _ = train(compose_run(overrides, tmp_path / "run"))
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["method"] == "djsrh" and results["code_length"] == 16
    assert 0.0 <= results["metrics"]["test/map@50"] <= 1.0
    assert results["metrics"]["test/map@50"] == pytest.approx(metrics["test/map@50"])
    assert Path(results["last_ckpt_path"]).is_file()
