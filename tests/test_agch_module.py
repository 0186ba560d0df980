"""AGCHModule under a real Lightning Trainer: gradient isolation of the two phases,
determinism, resume, collapse detection, non-finite losses, safe checkpoints."""

import math
import warnings
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

from src.data.datamodule import AGCHDataModule
from src.models.agch_module import AGCHModule
from src.models.losses import compute_loss
from src.callbacks.checkpointing import EpochEndCheckpoint
from src.utils.errors import ConfigError, TrainingError
from training_checks import make_trainer

TINY = dict(hidden_dim=32, gcn_dim=16, code_length=8, eval_ks=[1, 10])


def make_module(dm: AGCHDataModule, **overrides) -> AGCHModule:
    image_dim, text_dim = dm.feature_dims()
    model = AGCHModule(image_dim=image_dim, text_dim=text_dim, **(TINY | overrides))
    model.set_input_stats(dm.train_statistics())
    return model


# the modules each optimiser holds, per hash_grouping (docs/model.md)
GROUPS = {
    "design": (
        ("image_encoder", "text_encoder", "fusion"),
        ("gcn_image", "gcn_text", "hash_layer"),
    ),
    "paper": (
        ("image_encoder", "text_encoder", "fusion", "hash_layer"),
        ("gcn_image", "gcn_text"),
    ),
}


def named_groups(model: AGCHModule) -> tuple[dict, dict]:
    """Parameters of opt_f's and opt_b's modules, by name, written out per grouping."""
    f_mods, b_mods = GROUPS[model.hparams.hash_grouping]
    f = {n: p for n, p in model.named_parameters() if n.split(".")[0] in f_mods}
    b = {n: p for n, p in model.named_parameters() if n.split(".")[0] in b_mods}
    assert len(f) + len(b) == len(list(model.parameters()))
    return f, b


class PhaseRecorder:
    """Wraps `_step` to record, at each optimiser step, which parameters hold a gradient and
    which parameters the step changed."""

    def __init__(self, model: AGCHModule) -> None:
        self.model, self.records = model, []
        original = model._step

        def step(opt, loss):
            before = {n: p.detach().clone() for n, p in model.named_parameters()}
            grads_before = {
                n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()
            }
            original(opt, loss)
            self.records.append(
                {
                    "changed": {
                        n
                        for n, p in model.named_parameters()
                        if not torch.equal(p.detach(), before[n])
                    },
                    "grad_changed": {
                        n
                        for n, p in model.named_parameters()
                        if not _same(p.grad, grads_before[n])
                    },
                }
            )

        model._step = step


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return torch.equal(a, b)


@pytest.mark.parametrize("grouping", ["design", "paper"])
def test_phases_update_only_their_own_parameters(synthetic_store, tmp_path, grouping):
    dm = AGCHDataModule(str(synthetic_store), batch_size=16, eval_batch_size=64)
    model = make_module(dm, hash_grouping=grouping)
    recorder = PhaseRecorder(model)
    make_trainer(tmp_path, limit_train_batches=3, limit_val_batches=0).fit(model, dm)
    f_names, b_names = (set(g) for g in named_groups(model))
    assert len(recorder.records) == 6  # phase F then phase B, three batches
    for i, rec in enumerate(recorder.records):
        own, other = (f_names, b_names) if i % 2 == 0 else (b_names, f_names)
        assert rec["changed"] == own, f"step {i}: a parameter outside the phase moved"
        # the backward of a phase left every gradient of the frozen group untouched
        assert not (rec["grad_changed"] & other), f"step {i}: gradient reached a frozen group"
        assert rec["grad_changed"] == own


@pytest.mark.parametrize("grouping", ["design", "paper"])
def test_each_optimiser_holds_its_grouping(grouping):
    model = AGCHModule(image_dim=4, text_dim=4, hash_grouping=grouping, lr_hash=0.5, **TINY)
    opt_f, opt_b = model.configure_optimizers()
    held = [{id(p) for g in opt.param_groups for p in g["params"]} for opt in (opt_f, opt_b)]
    want = [{id(p) for p in group.values()} for group in named_groups(model)]
    assert held == want
    lrs = {
        g["name"]: (g["lr"], {id(p) for p in g["params"]})
        for opt in (opt_f, opt_b)
        for g in opt.param_groups
    }
    hp = model.hparams
    if grouping == "paper":  # each hash layer at its encoder's learning rate, no "hash" group
        image = {
            id(p) for m in (model.image_encoder, model.hash_layer.image) for p in m.parameters()
        }
        text = {id(p) for m in (model.text_encoder, model.hash_layer.text) for p in m.parameters()}
        assert lrs["image"] == (hp.lr_image, image) and lrs["text"] == (hp.lr_text, text)
        assert "hash" not in lrs
    else:
        assert lrs["hash"] == (0.5, {id(p) for p in model.hash_layer.parameters()})
        assert lrs["image"] == (hp.lr_image, {id(p) for p in model.image_encoder.parameters()})


def test_phase_f_targets_are_detached(synthetic_store):
    dm = AGCHDataModule(str(synthetic_store), batch_size=16)
    model = make_module(dm)
    x_v, x_t = torch.rand(16, 64), torch.rand(16, 48)
    S, A_hat = model._similarity(x_v, x_t)
    assert not S.requires_grad and not A_hat.requires_grad
    f_v, f_t = model.features(x_v, x_t)
    with torch.no_grad():
        B_gv = model.gcn_image(f_v, A_hat)
    assert not B_gv.requires_grad  # the GCN code is a constant target in phase F


def test_joint_schedule_steps_everything(synthetic_store, tmp_path):
    dm = AGCHDataModule(str(synthetic_store), batch_size=16)
    model = make_module(dm, schedule="joint")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    make_trainer(tmp_path, limit_train_batches=1, limit_val_batches=0).fit(model, dm)
    moved = {n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])}
    assert moved == set(before)
    assert model.trainer.global_step == 2  # both optimisers stepped once


class LossLog(Callback):
    def __init__(self) -> None:
        self.losses: list[tuple[float, float]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        m = trainer.callback_metrics
        self.losses.append((float(m["train/loss_f_step"]), float(m["train/loss_b_step"])))


def run_seeded(store: Path, tmp_path: Path, seed: int, epochs: int = 4):
    """100 training iterations (4 epochs of 25 batches of 8) and one evaluation."""
    L.seed_everything(seed, workers=True)
    dm = AGCHDataModule(str(store), batch_size=8, eval_batch_size=64, seed=seed)
    model = make_module(dm)
    log = LossLog()
    trainer = make_trainer(
        tmp_path, max_epochs=epochs, callbacks=[log], check_val_every_n_epoch=epochs
    )
    trainer.fit(model, dm)
    assert trainer.global_step == 2 * 25 * epochs
    val = float(trainer.callback_metrics["val/map@50"])
    return log.losses, model.state_dict(), val


def test_same_seed_is_bit_identical(synthetic_store, tmp_path):
    losses_a, state_a, val_a = run_seeded(synthetic_store, tmp_path / "a", seed=3)
    losses_b, state_b, val_b = run_seeded(synthetic_store, tmp_path / "b", seed=3)
    assert len(losses_a) == 100
    assert [tuple(round(x, 6) for x in p) for p in losses_a] == [
        tuple(round(x, 6) for x in p) for p in losses_b
    ]
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        assert torch.equal(state_a[key], state_b[key]), key
    assert val_a == val_b
    _, state_c, _ = run_seeded(synthetic_store, tmp_path / "c", seed=4, epochs=1)
    _, state_d, _ = run_seeded(synthetic_store, tmp_path / "d", seed=3, epochs=1)
    assert not torch.equal(state_c["fusion.proj.weight"], state_d["fusion.proj.weight"])


def test_resume_matches_uninterrupted_run(synthetic_store, tmp_path):
    def fit(epochs: int, root: Path, ckpt: str | None = None) -> AGCHModule:
        L.seed_everything(0, workers=True)
        dm = AGCHDataModule(str(synthetic_store), batch_size=16, eval_batch_size=64)
        model = make_module(dm)
        checkpoint = ModelCheckpoint(dirpath=root / "checkpoints", save_last=True)
        make_trainer(root, max_epochs=epochs, callbacks=[checkpoint]).fit(
            model, dm, ckpt_path=ckpt
        )
        return model

    full = fit(4, tmp_path / "full")
    fit(2, tmp_path / "part")
    # a fresh process would not share the RNG state: reseed differently before resuming
    L.seed_everything(123)
    resumed = fit(4, tmp_path / "resumed", ckpt=str(tmp_path / "part/checkpoints/last.ckpt"))
    for (key, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), key


def test_checkpoint_loads_with_weights_only(synthetic_store, tmp_path):
    dm = AGCHDataModule(str(synthetic_store), batch_size=16, eval_batch_size=64)
    model = make_module(dm)
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ck", save_last=True)
    make_trainer(tmp_path, callbacks=[checkpoint], limit_train_batches=2).fit(model, dm)
    path = tmp_path / "ck" / "last.ckpt"
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert raw["hyper_parameters"]["code_length"] == 8
    loaded = AGCHModule.load_from_checkpoint(path, weights_only=True)
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    x_v, x_t = torch.rand(5, 64), torch.rand(5, 48)
    codes = loaded.encode(x_v, x_t)
    assert all(set(c.unique().tolist()) <= {-1.0, 1.0} for c in codes)


class PoisonAfterFirstEpoch(Callback):
    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == 1:
            with torch.no_grad():
                pl_module.fusion.proj.weight.fill_(math.nan)


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(synthetic_store, tmp_path):
    from checkpoint_files import settings_of

    from src.callbacks.checkpoint_io import use_atomic_checkpoint_io

    dm = AGCHDataModule(str(synthetic_store), batch_size=16, eval_batch_size=64)
    model = make_module(dm)
    # the project's callback, monitoring as configs/callbacks/model_checkpoint.yaml does
    checkpoint = EpochEndCheckpoint(
        dirpath=tmp_path / "ck", monitor="val/map@50", mode="max", save_last=True
    )
    trainer = make_trainer(tmp_path, max_epochs=3, callbacks=[checkpoint, PoisonAfterFirstEpoch()])
    use_atomic_checkpoint_io(trainer)  # checkpoints as train.py writes them (digest, settings)
    model.run_settings = settings_of(dm)
    with pytest.raises(TrainingError) as err:
        trainer.fit(model, dm)
    message = str(err.value)
    assert "\n" not in message
    assert "phase F at epoch 1" in message and "global step 24" in message
    assert "rec_hh" in message  # a term that sees the fused code B^h
    last = tmp_path / "ck" / "last.ckpt"
    assert str(last) in message
    good = torch.load(last, map_location="cpu", weights_only=True)
    assert good["epoch"] == 0
    assert all(torch.isfinite(v).all() for v in good["state_dict"].values())


def test_collapse_is_detected(synthetic_store, tmp_path):
    """The paper's Wiki lambda put on the gap MEANS (m times its weight in Eq. (16); S
    unscaled) collapses the codes within two epochs, as it did on Wiki."""
    dm = AGCHDataModule(str(synthetic_store), batch_size=16, eval_batch_size=64)
    collapse = dict(
        alpha=0.4,
        beta=0.3,
        lam=5.0,
        tuned_lam_factor=1.0,
        lr_image=1.0,
        lr_text=1.0,
        lr_fusion=1.0,
        lr_hash=1.0,
        lr_gcn=1.0,
        s_scale="none",
    )
    model = make_module(dm, **collapse)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make_trainer(tmp_path, max_epochs=2, limit_val_batches=0).fit(model, dm)
    assert any("code collapse" in str(w.message) for w in caught)
    model = make_module(dm, stop_on_collapse=True, **collapse)
    with pytest.raises(TrainingError, match="code collapse"):
        make_trainer(tmp_path, max_epochs=2, limit_val_batches=0).fit(model, dm)


def test_defaults_do_not_collapse_on_tiny_synthetic(synthetic_store, tmp_path):
    L.seed_everything(0, verbose=False)  # not the RNG state earlier tests leave
    dm = AGCHDataModule(str(synthetic_store), batch_size=16, eval_batch_size=64)
    model = make_module(dm)
    trainer = make_trainer(tmp_path, max_epochs=2, limit_val_batches=0)
    trainer.fit(model, dm)
    assert float(trainer.callback_metrics["train/distinct_codes_image"]) > 0.5


@pytest.mark.parametrize("m", [3, 5])
def test_paper_loss_scale_reads_m_from_the_batch(m):
    """loss_scale=paper weights the gaps by lambda/m and delta/m with m the batch's size."""
    model = AGCHModule(image_dim=4, text_dim=4, lam=5.0, loss_scale="paper", **TINY)
    torch.manual_seed(m)
    S = torch.rand(m, m)
    codes = {k: torch.tanh(torch.randn(m, 8)) for k in ("B_v", "B_t", "B_h", "B_gv", "B_gt")}
    got = model._loss(S, codes, "F")
    want = compute_loss(S, codes, model.hparams.alpha, model.hparams.beta, 5.0 / m, 0.01, 1 / m)
    for name in ("L2", "L3", "L"):
        torch.testing.assert_close(got[name], want[name])
    tuned = AGCHModule(image_dim=4, text_dim=4, lam=5.0, **TINY)._loss(S, codes, "F")
    torch.testing.assert_close(tuned["L"], compute_loss(S, codes, 1.0, 1.0, 0.3, 0.01)["L"])


@pytest.mark.parametrize(
    "key,value",
    [
        ("code_length", -3),
        ("code_length", 2.5),
        ("lam", -1.0),
        ("loss_scale", "sum"),
        ("gcn_bias", "before"),
        ("tuned_lam_factor", -0.1),
        ("rho", 0.0),
        ("schedule", "both"),
        ("eval_ks", [0]),
        ("alpha", "high"),
    ],
)
def test_impossible_values_fail_naming_the_key(key, value):
    with pytest.raises(ConfigError, match=rf"^model\.{key}: expected"):
        AGCHModule(image_dim=4, text_dim=4, **(TINY | {key: value}))


def test_bf16_autocast_training_step_is_finite(synthetic_store, tmp_path):
    dm = AGCHDataModule(str(synthetic_store), batch_size=16, eval_batch_size=64)
    model = make_module(dm)
    log = LossLog()
    make_trainer(
        tmp_path,
        precision="bf16-mixed",
        callbacks=[log],
        limit_train_batches=3,
        limit_val_batches=0,
    ).fit(model, dm)
    assert len(log.losses) == 3 and all(math.isfinite(x) for p in log.losses for x in p)


@pytest.mark.parametrize("ablation", [{"use_gcn": False}, {"use_fusion": False}])
def test_ablations_train_and_leave_the_removed_module_untouched(
    ablation, synthetic_store, tmp_path
):
    dm = AGCHDataModule(str(synthetic_store), batch_size=16, eval_batch_size=64)
    model = make_module(dm, **ablation)
    removed = "gcn_" if "use_gcn" in ablation else "fusion"
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer = make_trainer(tmp_path, limit_train_batches=2)
    trainer.fit(model, dm)
    for name, p in model.named_parameters():
        moved = not torch.equal(p.detach(), before[name])
        assert moved != name.startswith(removed), name
    assert 0.0 <= float(trainer.callback_metrics["val/map@50"]) <= 1.0


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_fused_optimizer_matches_the_for_loop_update(synthetic_store, tmp_path, optimizer):
    """fused_optimizer only changes how the update is computed: after 50 steps of each phase
    the weights equal those of torch's for-loop implementation up to float rounding."""
    states, initial = {}, {}
    for fused in (True, False):
        L.seed_everything(0, workers=True)
        dm = AGCHDataModule(str(synthetic_store), batch_size=8, eval_batch_size=64, seed=0)
        model = make_module(dm, fused_optimizer=fused, optimizer=optimizer)
        initial = {k: v.clone() for k, v in model.state_dict().items()}
        trainer = make_trainer(tmp_path / str(fused), max_epochs=2, limit_val_batches=0)
        trainer.fit(model, dm)
        for opt in model.optimizers():
            assert bool(opt.optimizer.defaults["fused"]) is fused
        states[fused] = model.state_dict()
    moved = 0.0
    for key, value in states[True].items():
        torch.testing.assert_close(value, states[False][key], rtol=1e-4, atol=1e-5, msg=key)
        if value.is_floating_point():
            moved = max(moved, float((value - initial[key]).abs().max()))
    assert moved > 1e-3  # the comparison is between trained weights, not two initialisations


def test_checkpoint_from_before_the_options_loads_as_it_was_trained(tmp_path):
    """A checkpoint without gcn_bias / loss_scale (written before they existed) loads with
    the GCN bias inside the aggregation and lam as the L3 gap weight itself."""
    old = AGCHModule(image_dim=4, text_dim=4, gcn_bias="inside", lam=0.3, **TINY)
    hparams = {k: v for k, v in old.hparams.items() if k not in ("gcn_bias", "loss_scale")}
    hparams.pop("tuned_lam_factor")
    path = tmp_path / "old.ckpt"
    torch.save(
        {
            "state_dict": old.state_dict(),
            "hyper_parameters": hparams,
            "pytorch-lightning_version": L.__version__,
        },
        path,
    )
    loaded = AGCHModule.load_from_checkpoint(path, weights_only=True)
    assert loaded.hparams.gcn_bias == "inside" and loaded.gcn_image.gc1.mode == "inside"
    for key, value in old.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    S = torch.rand(4, 4)
    codes = {k: torch.tanh(torch.randn(4, 8)) for k in ("B_v", "B_t", "B_h", "B_gv", "B_gt")}
    want = compute_loss(S, codes, 1.0, 1.0, 0.3, 0.01)["L"]
    torch.testing.assert_close(loaded._loss(S, codes, "F")["L"], want)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_gcn_lr_on_sets_the_gcn_groups_step(optimizer):
    """gcn_lr_on=L2: lr_gcn / delta (Adam: lr_gcn) and weight_decay x delta on L; "L": as set."""
    hp = dict(delta=0.05, lr_gcn=0.01, weight_decay=0.1, optimizer=optimizer)
    for on, lr, wd in (
        ("L2", 0.01 / 0.05 if optimizer == "sgd" else 0.01, 0.1 * 0.05),
        ("L", 0.01, 0.1),
    ):
        model = AGCHModule(image_dim=4, text_dim=4, gcn_lr_on=on, **hp, **TINY)
        group = next(g for g in model.configure_optimizers()[1].param_groups if g["name"] == "gcn")
        assert (group["lr"], group["weight_decay"]) == (pytest.approx(lr), pytest.approx(wd))


def test_gcn_step_on_l2_is_sgd_on_l2_itself():
    """One phase-B SGD step (no momentum) on L with gcn_lr_on=L2 moves each GCN parameter by
    -lr_gcn (grad of L2 + weight_decay theta): SGD on the GCNs' own objective."""
    torch.manual_seed(0)
    model = AGCHModule(
        image_dim=6,
        text_dim=5,
        delta=0.05,
        lr_gcn=0.01,
        weight_decay=0.1,
        momentum=0.0,
        fused_optimizer=False,
        **TINY,
    )
    x_v, x_t = torch.rand(8, 6), torch.rand(8, 5)
    S, A_hat = model._similarity(x_v, x_t)
    with torch.no_grad():
        f_v, f_t = model.features(x_v, x_t)
    codes = model._codes(f_v, f_t, A_hat, fusion_grad=False, gcn_grad=True)
    terms = model._loss(S, codes, "B")
    gcn = [*model.gcn_image.parameters(), *model.gcn_text.parameters()]
    grad_l2 = torch.autograd.grad(terms["L2"], gcn, retain_graph=True)
    expected = [p.detach() - 0.01 * (g + 0.1 * p.detach()) for p, g in zip(gcn, grad_l2)]
    opt_b = model.configure_optimizers()[1]
    opt_b.zero_grad()
    terms["L"].backward()
    opt_b.step()
    for p, e in zip(gcn, expected):
        assert torch.allclose(p.detach(), e, rtol=1e-5, atol=1e-7)
