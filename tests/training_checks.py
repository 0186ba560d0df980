"""Checks every trained method shares, under a real Lightning Trainer on the tiny synthetic
store: same seed gives the same weights bit for bit, a run resumed from last.ckpt ends where
the uninterrupted one ends, and each trainable module moves from its initial weights while
the loss falls. A method's test module passes a `ModelFactory` (a datamodule -> new module)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

from src.data.datamodule import AGCHDataModule

ModelFactory = Callable[[AGCHDataModule], L.LightningModule]


def make_trainer(root: Path, max_epochs: int = 1, callbacks=(), **kwargs) -> L.Trainer:
    """A quiet deterministic CPU trainer writing under ``root``."""
    args = dict(
        max_epochs=max_epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        deterministic=True,
        num_sanity_val_steps=0,
        default_root_dir=root,
        callbacks=list(callbacks),
    )
    args.setdefault("enable_checkpointing", any(isinstance(c, ModelCheckpoint) for c in callbacks))
    return L.Trainer(**(args | kwargs))


class EpochLoss(Callback):
    """The epoch mean of ``train/loss`` (from its logged value) after each epoch."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.losses.append(float(trainer.callback_metrics["train/loss_epoch"]))


def fit(
    factory: ModelFactory,
    store: Path,
    root: Path,
    seed: int,
    epochs: int,
    ckpt: str | None = None,
    data_seed: int | None = None,
) -> tuple[L.LightningModule, L.Trainer]:
    """Seed the process with ``seed``, build, fit ``epochs`` epochs on batches of 16 drawn with
    ``data_seed`` (default ``seed``); last.ckpt under root/checkpoints."""
    L.seed_everything(seed, workers=True)
    data_seed = seed if data_seed is None else data_seed
    dm = AGCHDataModule(str(store), batch_size=16, eval_batch_size=64, seed=data_seed)
    model = factory(dm)
    checkpoint = ModelCheckpoint(dirpath=root / "checkpoints", save_last=True)
    trainer = make_trainer(root, epochs, [checkpoint, EpochLoss()], limit_val_batches=0)
    trainer.fit(model, dm, ckpt_path=ckpt)
    return model, trainer


def assert_same_seed_same_weights(factory: ModelFactory, store: Path, tmp_path: Path) -> None:
    """Two runs with seed 3 end with identical state dicts and codes; seed 4 differs."""
    a, _ = fit(factory, store, tmp_path / "a", seed=3, epochs=2)
    b, _ = fit(factory, store, tmp_path / "b", seed=3, epochs=2)
    c, _ = fit(factory, store, tmp_path / "c", seed=4, epochs=2)
    state_a, state_b, state_c = a.state_dict(), b.state_dict(), c.state_dict()
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        assert torch.equal(state_a[key], state_b[key]), key
    x_v, x_t = torch.rand(20, a.hparams.image_dim), torch.rand(20, a.hparams.text_dim)
    for code_a, code_b in zip(a.encode(x_v, x_t), b.encode(x_v, x_t)):
        assert torch.equal(code_a, code_b)
    assert any(not torch.equal(state_a[k], state_c[k]) for k in state_a)


def assert_resume_matches(factory: ModelFactory, store: Path, tmp_path: Path) -> None:
    """3 epochs in one go equal 1 epoch, then 2 more resumed from last.ckpt in a process
    whose RNG was reseeded differently (the data order is the run's: same data seed)."""
    full, _ = fit(factory, store, tmp_path / "full", seed=0, epochs=3)
    fit(factory, store, tmp_path / "part", seed=0, epochs=1)
    last = str(tmp_path / "part" / "checkpoints" / "last.ckpt")
    resumed, _ = fit(factory, store, tmp_path / "resumed", 123, 3, ckpt=last, data_seed=0)
    for (key, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), key


def relative_changes(before: dict[str, torch.Tensor], model: torch.nn.Module, depth: int = 2):
    """||W - W0|| / ||W0|| per module (parameter names cut to ``depth`` dotted parts)."""
    now = dict(model.named_parameters())
    groups: dict[str, tuple[float, float]] = {}
    for name, initial in before.items():
        module = ".".join(name.split(".")[:depth])
        diff, norm = groups.get(module, (0.0, 0.0))
        change = float((now[name].detach() - initial).pow(2).sum())
        groups[module] = (diff + change, norm + float(initial.pow(2).sum()))
    return {module: (d / n) ** 0.5 for module, (d, n) in groups.items()}


def assert_learns(
    factory: ModelFactory, store: Path, tmp_path: Path, epochs: int = 4, min_change: float = 0.01
) -> dict[str, float]:
    """A few epochs move every trainable module by more than ``min_change`` of its initial
    norm and lower the epoch-mean loss; returns the relative changes."""
    L.seed_everything(0, workers=True)
    dm = AGCHDataModule(str(store), batch_size=16, eval_batch_size=64, seed=0)
    model = factory(dm)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    log = EpochLoss()
    make_trainer(tmp_path, epochs, [log], limit_val_batches=0).fit(model, dm)
    changes = relative_changes(before, model)
    assert changes and all(v > min_change for v in changes.values()), changes
    assert log.losses[-1] < log.losses[0], log.losses
    return changes


def fit_without_trainer(model, X, Y):
    """Fit a closed-form module (`src.models.closed_form`) on X (n, Dv), Y (n, Dt), taken as
    its standardised features, by its own `fit_closed_form`, with no trainer attached."""
    model._train_features = [(torch.as_tensor(X).float(), torch.as_tensor(Y).float())]
    model.log = lambda *args, **kwargs: None
    model.optimizers = lambda: type("Step", (), {"step": lambda self: None})()
    model.fit_closed_form()
    return model
