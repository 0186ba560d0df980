"""Trainer values whose valid range depends on the data are refused at the door exactly when
Lightning would refuse them at fit time (fifth trial: ``+trainer.val_check_interval=0`` was a
ZeroDivisionError in Lightning's loop, ``=1000`` above the training batches Lightning's own
error, both after the run folder was made). Lightning's Trainer, fitting a tiny manually
optimised module on a loader of known length, is the oracle; the project's door is its rules
(`RULES`), its cross-key check and its data check (`check_trains_something`)."""

from __future__ import annotations

import random
import warnings
from typing import Any

import lightning as L
import pytest
import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from src.utils.config_rules import RULES, check_cross_keys
from src.utils.errors import ConfigError
from src.utils.run_checks import check_trains_something

TRAIN_BATCHES, BATCH = 8, 4  # the oracle's loader and the door's sizes: 8 batches of 4 pairs


class Manual(L.LightningModule):
    """Two optimiser steps by hand per batch, as the project's methods do."""

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.layer = torch.nn.Linear(1, 1)
        self.validated = 0  # validation batches run outside the sanity check

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        opt = self.optimizers()
        opt.zero_grad()
        self.manual_backward(self.layer(batch).sum())
        opt.step()

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        self.validated += not self.trainer.sanity_checking
        self.log("val/x", self.layer(batch).sum())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


def lightning_refuses(args: dict[str, Any]) -> bool:
    """Whether Lightning raises building a Trainer with ``args`` or fitting one epoch, or the
    fit, with validation on, never validates (a selection run without a validation metric;
    Lightning runs it silently: sixth trial, val_check_interval above all the batches with
    check_val_every_n_epoch=null)."""
    loader = DataLoader(torch.zeros(TRAIN_BATCHES * BATCH, 1), batch_size=BATCH)
    val = DataLoader(torch.zeros(6, 1), batch_size=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            trainer = L.Trainer(
                accelerator="cpu",
                max_epochs=1,
                logger=False,
                enable_checkpointing=False,
                enable_progress_bar=False,
                enable_model_summary=False,
                **args,
            )
            module = Manual()
            trainer.fit(module, train_dataloaders=loader, val_dataloaders=val)
        except Exception:  # noqa: BLE001  (MisconfigurationException, ValueError, ZeroDivision)
            return True
    return args.get("limit_val_batches", 1.0) != 0 and module.validated == 0


def door_refuses(args: dict[str, Any]) -> bool:
    """Whether the project's door refuses the trainer values ``args`` on data of
    `TRAIN_BATCHES` batches; any other exception than ConfigError fails the test."""
    trainer = {"max_epochs": 1, "devices": 1, "num_nodes": 1, "check_val_every_n_epoch": 1}
    trainer |= args
    values = {"trainer": trainer, "data": {"batch_size": BATCH, "drop_last": True}}
    cfg = OmegaConf.create(values)
    try:
        for key, value in args.items():
            RULES[f"trainer.{key}"].check(f"trainer.{key}", value)
        check_cross_keys(values)
        check_trains_something(cfg, {"train": TRAIN_BATCHES * BATCH})
    except ConfigError:
        return True
    return False


def stricter(args: dict[str, Any]) -> bool:
    """Values the project refuses although Lightning runs them, each for a stated reason: a
    val_check_interval of 0 (a division by zero whenever validation is on; runs only with it
    off), of 0.0 (validation after every batch, not the fraction it reads as) or one that
    fast_dev_run replaces silently, a gradient_clip_val below 0 (ignored under manual
    optimisation)."""
    interval = args.get("val_check_interval")
    clip = args.get("gradient_clip_val")
    return (
        (interval is not None and interval == 0)
        or (interval is not None and bool(args.get("fast_dev_run")))
        or (clip is not None and clip < 0)
    )


def generated_cases(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` trainer settings drawn over the data-dependent keys and their neighbours."""
    rng = random.Random(seed)
    intervals = [0, 1, 3, TRAIN_BATCHES, TRAIN_BATCHES + 1, 1000, 0.0, 0.05, 0.25, 0.5, 1.0]
    draws = {
        "val_check_interval": intervals,
        "check_val_every_n_epoch": [1, 1, None],
        "limit_train_batches": [1.0, 1.0, 0.5, 3, 20],
        "limit_val_batches": [1.0, 1.0, 0, 0.0],
        "log_every_n_steps": [1, 5, 50],
        "num_sanity_val_steps": [-1, 0, 2, 50],
        "accumulate_grad_batches": [1, 1, 1, 2],
        "gradient_clip_val": [None, None, 0.0, 0, 0.5, -1.0],
        "fast_dev_run": [False, False, False, 2],
    }
    cases = []
    for _ in range(n):
        case = {k: rng.choice(v) for k, v in draws.items() if rng.random() < 0.6}
        case.setdefault("val_check_interval", rng.choice(intervals))
        if case.get("fast_dev_run"):  # a limit beside it is refused by test_cross_keys
            case = {k: v for k, v in case.items() if not k.startswith("limit_")}
        cases.append(case)
    return cases


def check_cases(cases: list[dict[str, Any]]) -> None:
    wrong = []
    for args in cases:
        expected = lightning_refuses(args) or stricter(args)
        if door_refuses(args) != expected:
            wrong.append((args, "refused" if expected else "accepted"))
    assert not wrong, f"the door should have: {wrong}"


def test_the_door_refuses_what_lightning_refuses_at_fit_time() -> None:
    """The fifth trial's two values, then 8 generated settings (150: the slow test)."""
    check_cases(
        [{"val_check_interval": 0}, {"val_check_interval": 1000}, {"val_check_interval": 0.0}]
        + [{"val_check_interval": n, "check_val_every_n_epoch": None} for n in (8, 9, 40)]
        + generated_cases(8, seed=30)
    )


@pytest.mark.slow
def test_the_door_refuses_what_lightning_refuses_at_fit_time_many() -> None:
    check_cases(generated_cases(150, seed=31))


def test_a_too_large_interval_names_the_batches() -> None:
    cfg = OmegaConf.create(
        {
            "trainer": {"val_check_interval": 9, "check_val_every_n_epoch": 1},
            "data": {"batch_size": BATCH, "drop_last": True},
        }
    )
    with pytest.raises(ConfigError, match=r"^trainer\.val_check_interval: 9 .* 8 training batch"):
        check_trains_something(cfg, {"train": TRAIN_BATCHES * BATCH})
