"""A warm-up the run ends inside is refused, whichever limit ends the run (issue 22 leftover).

The configuration's rule (`src.utils.config_rules.check_cross_keys`, ``WITHIN_RUN``) refuses
``model.warmup_epochs`` above ``trainer.max_epochs``; ``trainer.max_steps`` can end the run
sooner: Lightning stops once ``global_step`` (the optimiser steps, ``STEPS_PER_BATCH`` of the
method a batch: AGCH 2, UCCH 1) reaches it, after the batch that reached it. Here, once the
batches of an epoch are known (`src.utils.run_checks.check_trains_something`), the batches the
run takes are compared with the batches of the warm-up (``warmup_epochs`` x batches an epoch,
as AGCH's `_warmup` and UCCH's `in_warmup` count them)."""

from __future__ import annotations

import math

from omegaconf import DictConfig, OmegaConf

from src.utils.errors import ConfigError


def steps_per_batch(cfg: DictConfig) -> int | None:
    """The optimiser steps a training batch of ``cfg.model``'s method counts
    (``STEPS_PER_BATCH``), or None when the method does not declare it."""
    from hydra.utils import get_class

    target = OmegaConf.select(cfg, "model._target_", default=None)
    if target is None:
        return None
    return getattr(get_class(str(target)), "STEPS_PER_BATCH", None)


def run_batches(epochs: int, batches: int, max_steps: int | None, steps: int) -> int:
    """Training batches of a run of ``epochs`` epochs of ``batches`` batches, ended earlier by
    ``max_steps`` optimiser steps (None or -1: no limit) at ``steps`` a batch: Lightning
    checks max_steps after each batch, so the batch that reaches it is the last."""
    total = epochs * batches
    if max_steps is None or max_steps == -1:
        return total
    return min(total, math.ceil(max_steps / steps))


def check_warmup_in_run(cfg: DictConfig, batches: int) -> None:
    """Refuse a run that ``trainer.max_steps`` ends inside the warm-up of
    ``model.warmup_epochs`` (``batches``: the training batches of an epoch, after the train
    limit). A debugging run (``fast_dev_run``) and a method without a declared step count
    are not checked; warmup_epochs above max_epochs is the configuration rule's. Raises
    ConfigError naming both keys."""
    warmup = OmegaConf.select(cfg, "model.warmup_epochs", default=None)
    max_steps = OmegaConf.select(cfg, "trainer.max_steps", default=None)
    epochs = OmegaConf.select(cfg, "trainer.max_epochs", default=None)
    if not warmup or max_steps in (None, -1) or not isinstance(epochs, int) or warmup > epochs:
        return  # no warm-up, no step limit, or one longer than max_epochs (the config rule's)
    steps = steps_per_batch(cfg)
    if steps is None or OmegaConf.select(cfg, "trainer.fast_dev_run", default=None):
        return
    taken = run_batches(epochs, batches, max_steps, steps)
    if taken >= warmup * batches:
        return
    needed = steps * (math.ceil(warmup * batches) - 1) + 1  # the fewest steps that end it
    raise ConfigError(
        f"model.warmup_epochs: {warmup} epochs ({math.ceil(warmup * batches)} batches of "
        f"{batches} an epoch) is longer than the run: trainer.max_steps {max_steps} ends it "
        f"after {taken} batches ({steps} optimiser steps a batch); the run would end inside "
        "this schedule (a learning-rate warm-up that never ends trains almost nothing); "
        f"expected trainer.max_steps >= {needed}: lower "
        "model.warmup_epochs or raise trainer.max_steps"
    )
