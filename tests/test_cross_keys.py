"""Keys that Lightning silently ignores given another key are refused at the door, naming both
(trial 28 c56: ``trainer.min_epochs=5 trainer.max_epochs=1`` trained one epoch). Generated over
values; Lightning's own Trainer is the oracle of what a debugging flag overrides."""

import warnings
from pathlib import Path

import lightning as L
import numpy as np
import pytest

from src.utils.config_rules import check_cross_keys
from src.utils.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def trainer_values(**keys: object) -> dict:
    return {"trainer": {k: v for k, v in keys.items() if v is not None}}


def test_a_minimum_above_its_maximum_is_refused() -> None:
    """300 generated (min, max) pairs of epochs and of steps: refused exactly when the maximum
    is not -1 and the minimum exceeds it (Lightning stops at the maximum); the line names both
    keys and values."""
    rng = np.random.default_rng(56)
    for _ in range(300):
        kind = ("epochs", "steps")[int(rng.integers(0, 2))]
        low = int(rng.integers(0, 12))
        high = int(rng.choice([-1, *range(1, 12)]))
        values = trainer_values(**{f"min_{kind}": low, f"max_{kind}": high})
        if high != -1 and low > high:
            message = rf"^trainer\.min_{kind}: {low} is above trainer\.max_{kind} {high};"
            with pytest.raises(ConfigError, match=message):
                check_cross_keys(values)
        else:
            check_cross_keys(values)


def lightning_limits(**flags: object) -> dict[str, object]:
    """The batch limits a Lightning Trainer applies for ``flags`` (its own debugging flags)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = L.Trainer(
            accelerator="cpu",
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            **{k: v for k, v in flags.items() if v is not None},
        )
    return {s: getattr(trainer, f"limit_{s}_batches") for s in ("train", "val", "test")}


def test_a_limit_that_a_debugging_flag_replaces_is_refused() -> None:
    """60 generated limit/flag combinations (values drawn so that no flag sets the limit's own
    value): refused exactly when Lightning's Trainer does not apply the limit set."""
    rng = np.random.default_rng(5)
    limits, overfits, fast = [None, 1.0, 0.5, 0.25, 2, 7], [0, 3, 0.1], [False, True, 4]
    for _ in range(60):
        stage = ("train", "val", "test")[int(rng.integers(0, 3))]
        limit = limits[int(rng.integers(0, len(limits)))]
        overfit = overfits[int(rng.integers(0, len(overfits)))]
        fast_dev_run = fast[int(rng.integers(0, len(fast)))]
        flags = {f"limit_{stage}_batches": limit, "overfit_batches": overfit}
        flags["fast_dev_run"] = fast_dev_run
        applied = lightning_limits(**flags)[stage]
        ignored = limit is not None and (applied, type(applied)) != (limit, type(limit))
        if ignored:
            with pytest.raises(ConfigError, match=rf"^trainer\.limit_{stage}_batches: {limit} "):
                check_cross_keys(trainer_values(**flags))
        else:
            check_cross_keys(trainer_values(**flags))
