"""The settings a run's numbers depend on, recorded in results.json as ``settings``.

A run's ``overrides`` say what its command changed, not what its defaults were: when a default
changes later (the image learning rate, the GCN bias), a run made before and a run made after
carry the same overrides and would be averaged into one row. ``settings`` records the resolved
values themselves, so that ``src/report/drift.py`` can compare a run with today's configuration
of its experiment.

Recorded: every ``model.*`` value, the ``data.*`` values that can change the numbers, and
``trainer.max_epochs``. Not recorded: paths, worker counts and caching (tested not to change the
numbers), the seed (a row averages over it), the hardware and precision.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

# data.* keys that cannot change a run's numbers, or that results.json records elsewhere
NEUTRAL_DATA = {
    "_target_",
    "path",
    "prepare_hint",
    "num_workers",
    "pin_memory",
    "cache_in_memory",
    "device_cache",
    "eval_batch_size",
    "seed",
    "synthetic",
}
NEUTRAL_MODEL = {"seed"}  # CCA-ITQ's model.seed follows seed


def result_settings(cfg: DictConfig) -> dict[str, Any]:
    """``{"model.<key>": value, "data.<key>": value, "trainer.max_epochs": n}``, resolved,
    JSON-ready (lists for sequences). A value that does not resolve (a failed run's record) is
    left out, as are the keys of absent groups."""
    settings: dict[str, Any] = {}
    for group, neutral in (("model", NEUTRAL_MODEL), ("data", NEUTRAL_DATA)):
        node = cfg.get(group)
        for key in node.keys() if node is not None else []:
            if key in neutral:
                continue
            try:
                value = node[key]
            except Exception:  # noqa: BLE001 (an unresolvable value is not recorded)
                continue
            if OmegaConf.is_config(value):
                value = OmegaConf.to_container(value, resolve=True)
            settings[f"{group}.{key}"] = value
    trainer = cfg.get("trainer") or {}
    if trainer.get("max_epochs") is not None:
        settings["trainer.max_epochs"] = trainer.get("max_epochs")
    return settings
