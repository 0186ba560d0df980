"""Checkpoints as the project writes them, for tests that build one by hand: the integrity
records every checkpoint of src/train.py carries (its run's settings, then its content digest
over everything else), so that `read_checkpoint` accepts them."""

from typing import Any

from src.utils.checkpoint_content import with_digest

# a run's settings as src.utils.resume_checks.run_settings records them (a few keys)
RUN_SETTINGS = {"seed": 0, "data.batch_size": 32}  # no data.synthetic: eval on any store


def as_written(checkpoint: dict[str, Any], settings: dict[str, Any] | None = None) -> dict:
    """``checkpoint`` with ``run_settings`` (``settings``, else `RUN_SETTINGS`, unless it has
    its own) and the content digest, as `AtomicCheckpointIO` saves a training run's."""
    settings = checkpoint.get("run_settings") or settings or RUN_SETTINGS
    return with_digest({**checkpoint, "run_settings": settings})


def settings_of(datamodule: Any) -> dict[str, Any]:
    """`RUN_SETTINGS` with ``datamodule``'s batch size: a checkpoint of a fit records the
    datamodule's arguments too, and the two records agree in a checkpoint train.py writes
    (src/utils/checkpoint_rules.py refuses one whose records differ)."""
    return {**RUN_SETTINGS, "data.batch_size": datamodule.hparams.batch_size}
