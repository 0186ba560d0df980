"""JDSH: the joint-modal similarity, the DSDW fit and weighting and the loss against plain
loops; one step updates both networks and nothing else; determinism, resume, learning; an
end-to-end train.py run."""

import json
import math
import random
from pathlib import Path

import pytest
import torch

from src.data.datamodule import AGCHDataModule
from src.models.jdsh_module import JDSHModule, dsdw_weighting, fit_dsdw, jdsh_loss
from src.models.jdsh_module import joint_modal_similarity
from src.utils.errors import ConfigError
from test_djsrh_module import TINY_RUN, compose_run, loop_cosine
from training_checks import assert_learns, assert_resume_matches, assert_same_seed_same_weights
from training_checks import make_trainer

TINY = dict(hidden_dim=32, code_length=8, eval_ks=[1, 10])


def loop_joint(xv, xt, w_i, w_t, w_j, rescale_v, rescale_t) -> list[list[float]]:
    """S_C entry by entry: S_H_ij = cosine of row i of S_I and row j of S_T."""
    m = len(xv)

    def sims(x, rescale):
        return [
            [2 * loop_cosine(x, i, j) - 1 if rescale else loop_cosine(x, i, j) for j in range(m)]
            for i in range(m)
        ]

    S_I, S_T = sims(xv, rescale_v), sims(xt, rescale_t)

    def s_h(i, j):
        return loop_cosine([S_I[i], S_T[j]], 0, 1)

    return [
        [w_i * S_I[i][j] + w_t * S_T[i][j] + w_j * (s_h(i, j) + s_h(j, i)) / 2 for j in range(m)]
        for i in range(m)
    ]


@pytest.mark.parametrize("rescale_v, rescale_t", [(True, True), (True, False), (False, False)])
def test_joint_modal_similarity_matches_loop(rescale_v: bool, rescale_t: bool) -> None:
    g = torch.Generator().manual_seed(0)
    xv, xt = torch.rand(6, 5, generator=g), torch.randn(6, 4, generator=g)
    S = joint_modal_similarity(xv, xt, 0.5, 0.1, 0.4, rescale_v, rescale_t)
    want = loop_joint(xv.tolist(), xt.tolist(), 0.5, 0.1, 0.4, rescale_v, rescale_t)
    assert S.dtype == torch.float32 and not S.requires_grad
    torch.testing.assert_close(S, torch.tensor(want), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("seed", range(4))
def test_dsdw_fit_matches_the_formulas_written_out(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randrange(5, 40)
    values = [rng.gauss(-0.4, 0.1) if rng.random() < 0.7 else rng.expovariate(8) for _ in range(n)]
    a_l, a_r = rng.uniform(0.5, 3), rng.uniform(0.5, 5)
    loc = sorted(values)[(n - 1) // 2]  # the lower median
    below = [v for v in values if v < loc]
    above = [v for v in values if v > loc]
    sigma = math.sqrt(sum((v - loc) ** 2 for v in below) / len(below))
    b = sum(v - loc for v in above) / len(above)
    want = [loc - a_l * sigma, loc + a_r * b, min(values), max(values)]
    got = fit_dsdw(torch.tensor(values, dtype=torch.float64), a_l, a_r)
    assert got.tolist() == pytest.approx(want, rel=1e-5, abs=1e-6)


def test_dsdw_fit_refuses_non_finite_values() -> None:
    with pytest.raises(ValueError, match="DSDW"):
        fit_dsdw(torch.tensor([0.1, float("nan")]), 2.0, 4.0)


def test_dsdw_weighting_matches_loop() -> None:
    g = torch.Generator().manual_seed(2)
    S = torch.rand(7, 7, generator=g) * 2 - 1
    left, right, s_min, s_max = -0.3, 0.4, float(S.min()), float(S.max())
    thresholds = torch.tensor([left, right, s_min, s_max])
    got = dsdw_weighting(S, thresholds, 0.1, 0.2)
    for i in range(7):
        for j in range(7):
            s = S[i, j].item()
            if s < left:
                want = (1 + 0.1 * math.exp(-(s - s_min))) * s
            elif s > right:
                want = (1 + 0.2 * math.exp(s - s_max)) * s
            else:
                want = s
            assert got[i, j].item() == pytest.approx(want, rel=1e-5, abs=1e-6)


def test_loss_matches_loop() -> None:
    g = torch.Generator().manual_seed(1)
    m, c = 5, 4
    S = torch.randn(m, m, generator=g)
    B_I = torch.tanh(torch.randn(m, c, generator=g))
    B_T = torch.tanh(torch.randn(m, c, generator=g))

    def unit(X):
        return [[v / math.sqrt(sum(a * a for a in row)) for v in row] for row in X.tolist()]

    ui, ut = unit(B_I), unit(B_T)

    def dot(a, b):
        return sum(x * y for x, y in zip(a, b))

    def rec(X, Y):
        return sum((S[i, j].item() - dot(X[i], Y[j])) ** 2 for i in range(m) for j in range(m))

    pair = sum(dot(ui[i], ut[i]) for i in range(m)) / m
    want = 0.3 * (rec(ui, ui) + rec(ut, ut)) / m**2 + (rec(ui, ut) + rec(ut, ui)) / m**2
    want -= 0.7 * pair
    terms = jdsh_loss(S, B_I, B_T, lambda_intra=0.3, pair_weight=0.7)
    assert terms["rec_TI"].item() == pytest.approx(rec(ut, ui) / m**2, rel=1e-5)
    assert terms["pair"].item() == pytest.approx(pair, rel=1e-5)
    assert terms["L"].item() == pytest.approx(want, rel=1e-5)


def make_module(dm: AGCHDataModule, **overrides) -> JDSHModule:
    image_dim, text_dim = dm.feature_dims()
    model = JDSHModule(image_dim=image_dim, text_dim=text_dim, **(TINY | overrides))
    model.set_input_stats(dm.train_statistics())
    return model


def test_dsdw_is_fitted_once_on_the_first_epoch_batches(synthetic_store, tmp_path) -> None:
    """Fitted before the first step on the S_C of exactly the first epoch's batches; the
    training steps then change both networks' every layer, never the fit."""
    dm = AGCHDataModule(str(synthetic_store), batch_size=16)
    model = make_module(dm)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    fits = []
    original = model.fit_similarity_distribution

    def record(batches):
        batches = list(batches)
        original(batches)
        fits.append((model.dsdw.clone(), batches))

    model.fit_similarity_distribution = record
    trainer = make_trainer(tmp_path, 2, limit_train_batches=3, limit_val_batches=0)
    trainer.fit(model, dm)
    assert len(fits) == 1 and trainer.global_step == 2 * 2 * 3
    thresholds, batches = fits[0]
    assert len(batches) == len(dm.train_dataloader())  # the whole first epoch
    values = torch.cat([model.joint_similarity(b[0], b[1]).flatten() for b in batches])
    assert torch.equal(thresholds, fit_dsdw(values, 2.0, 4.0))
    assert torch.equal(model.dsdw, thresholds) and bool(model.dsdw_fitted)
    moved = {n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])}
    assert moved == set(before) and {n.split(".")[0] for n in moved} == {"image_net", "text_net"}


def test_target_is_mu_times_the_weighted_joint_similarity(synthetic_store) -> None:
    dm = AGCHDataModule(str(synthetic_store), batch_size=16)
    model = make_module(dm, mu=1.3)
    model.dsdw.copy_(torch.tensor([-0.2, 0.1, -1.0, 1.0]))
    x_v, x_t = torch.rand(6, 64), torch.rand(6, 48)
    S_C = joint_modal_similarity(x_v, x_t, 0.5, 0.1, 0.4)
    want = 1.3 * dsdw_weighting(S_C, model.dsdw, 0.1, 0.2)
    torch.testing.assert_close(model.target_similarity(x_v, x_t), want)


def test_same_seed_is_bit_identical(synthetic_store, tmp_path) -> None:
    assert_same_seed_same_weights(make_module, synthetic_store, tmp_path)


def test_resume_matches_uninterrupted_run(synthetic_store, tmp_path) -> None:
    assert_resume_matches(make_module, synthetic_store, tmp_path)


def test_every_module_learns_and_the_loss_falls(synthetic_store, tmp_path) -> None:
    changes = assert_learns(make_module, synthetic_store, tmp_path)
    assert set(changes) == {
        f"{n}.{p}" for n in ("image_net", "text_net") for p in ("encoder", "hash")
    }


@pytest.mark.parametrize(
    "key, value", [("code_length", 0), ("mu", 0.0), ("weight_left", -1.0), ("tanh_scale", "x")]
)
def test_impossible_values_fail_naming_the_key(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=rf"^model\.{key}: expected"):
        JDSHModule(image_dim=4, text_dim=4, **(TINY | {key: value}))


def test_train_py_runs_jdsh_and_the_checkpoint_evaluates_identically(tmp_path: Path) -> None:
    from src.train import train

    overrides = [f"data.path={tmp_path / 'tiny.h5'}", "model=jdsh", *TINY_RUN]
    overrides += ["model.code_length=16", "model.hidden_dim=64"]
    metrics, objects = train(compose_run(overrides, tmp_path / "run"))
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["method"] == "jdsh" and results["code_length"] == 16
    assert 0.0 <= results["metrics"]["test/map@50"] <= 1.0
    loaded = JDSHModule.load_from_checkpoint(results["last_ckpt_path"], weights_only=True)
    assert torch.equal(loaded.dsdw, objects["model"].dsdw) and bool(loaded.dsdw_fitted)
    x_v, x_t = torch.rand(5, 32), torch.rand(5, 24)
    for a, b in zip(objects["model"].encode(x_v, x_t), loaded.encode(x_v, x_t)):
        assert torch.equal(a, b)
