"""A warm-up the run ends inside is refused whichever limit ends the run (issue 22 leftover):
``trainer.max_steps`` ends a run after the batch whose optimiser steps reach it (AGCH counts 2 a
batch, UCCH 1), and a run it ends before ``model.warmup_epochs`` epochs of batches is refused
as ``warmup_epochs > max_epochs`` is (`src.utils.warmup_checks`).

Generated over warmup_epochs x max_epochs x max_steps x batches an epoch for both methods with
a warm-up; the expected refusal comes from a plain simulation of the training loop's steps."""

from __future__ import annotations

import itertools

import pytest
from omegaconf import OmegaConf

from src.utils.config_rules import check_cross_keys
from src.utils.errors import ConfigError
from src.utils.run_checks import check_trains_something

METHODS = {
    "agch": ("src.models.agch_module.AGCHModule", 2),
    "ucch": ("src.models.ucch_module.UCCHModule", 1),
}
WARMUPS = [0, 0.5, 1, 2, 3.5]
EPOCHS = [1, 2, 4]
STEPS = [-1, 1, 2, 3, 5, 8, 13, 40]
BATCHES = [1, 3, 4]
BATCH_SIZE = 8


def simulated_batches(epochs: int, batches: int, max_steps: int, steps: int) -> int:
    """The batches the loop trains: after each batch the step counter grows by ``steps`` and
    the fit stops once it reaches ``max_steps`` (-1: never), or after ``epochs`` epochs."""
    done = counted = 0
    for _ in range(epochs):
        for _ in range(batches):
            done, counted = done + 1, counted + steps
            if max_steps != -1 and counted >= max_steps:
                return done
    return done


def config(method: str, warmup: float, epochs: int, max_steps: int, batches: int):
    return OmegaConf.create(
        {
            "trainer": {"max_epochs": epochs, "max_steps": max_steps, "devices": 1},
            "data": {"batch_size": BATCH_SIZE, "drop_last": True},
            "model": {"_target_": METHODS[method][0], "warmup_epochs": warmup},
        }
    )


CASES = list(itertools.product(sorted(METHODS), WARMUPS, EPOCHS, STEPS, BATCHES))


@pytest.mark.parametrize("method,warmup,epochs,max_steps,batches", CASES)
def test_a_run_ended_inside_the_warmup_is_refused(
    method: str, warmup: float, epochs: int, max_steps: int, batches: int
) -> None:
    """Refused (naming model.warmup_epochs) exactly when the simulated run trains fewer
    batches than warmup_epochs epochs hold; the config rule or the run check refuses it."""
    cfg = config(method, warmup, epochs, max_steps, batches)
    trained = simulated_batches(epochs, batches, max_steps, METHODS[method][1])
    inside = trained < warmup * batches
    try:
        check_cross_keys(OmegaConf.to_container(cfg))
        check_trains_something(cfg, {"train": batches * BATCH_SIZE})
    except ConfigError as error:
        assert inside, str(error)
        assert str(error).startswith("model.warmup_epochs: "), str(error)
        assert "\n" not in str(error)
        return
    assert not inside, (trained, warmup * batches)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_the_advised_max_steps_ends_the_warmup(method: str) -> None:
    """The message's smallest max_steps is accepted and one step fewer is refused."""
    cfg = config(method, 1.5, 4, 1, 4)
    with pytest.raises(ConfigError) as info:
        check_trains_something(cfg, {"train": 4 * BATCH_SIZE})
    advised = int(str(info.value).split("trainer.max_steps >= ")[1].split(":")[0])
    cfg.trainer.max_steps = advised
    check_trains_something(cfg, {"train": 4 * BATCH_SIZE})
    cfg.trainer.max_steps = advised - 1
    with pytest.raises(ConfigError, match="^model.warmup_epochs"):
        check_trains_something(cfg, {"train": 4 * BATCH_SIZE})
