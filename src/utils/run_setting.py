"""The variant of a run: the command-line overrides that can change its results beyond the
dataset, the method and the code length (which results.json names on their own).

A run's ``overrides`` (Hydra's task overrides, kept in results.json) mix settings that change
the numbers (``model.use_gcn=false``) with ones that cannot (``logger=csv``, ``hydra.*``).
``variant`` keeps the former, so that runs of a results table row share everything but the seed,
and ``archive_results.py`` stores an ablation apart from the experiment as configured.

Overrides say what a command changed, not what its defaults were: when a default changes later
(the image learning rate, the GCN bias), a run made before and a run made after carry the same
overrides. ``result_settings`` records the resolved values themselves in results.json
(``settings``): every ``model.*`` value, the ``data.*`` values that can change the numbers, and
``trainer.max_epochs``; not paths, worker counts and caching (tested not to change the numbers),
the seed (a row averages over it), the hardware and precision. ``src/report/drift.py`` compares
them with today's configuration of the run's experiment.
"""

from __future__ import annotations

from typing import Any, Iterable

from omegaconf import DictConfig, OmegaConf

# Overrides that never change a run's numbers (or that results.json records elsewhere: the
# dataset, method and code length are keys of their own; the seed is what a row averages over;
# ckpt_path= resumes a run, which goes on as it would have).
# data.num_workers is here because the train order does not depend on it (tests/test_datamodule).
NEUTRAL_PREFIXES = (
    "seed=",
    "ckpt_path=",
    "experiment=",
    "data=",
    "model=",
    "model.code_length=",
    "logger=",
    "extras.",
    "hydra.",
    "hydra/",
    "paths.",
    "tags=",
    "task_name=",
    "test=",
    "data.num_workers=",
    "trainer.enable_progress_bar=",
    "data.raw_source=",
    "callbacks.retrieval_gallery.",
)


def variant(overrides: Iterable[str] | None) -> str:
    """The result-changing overrides, sorted and joined by ``,``; "" for the experiment as
    configured.

    >>> variant(["experiment=wiki_agch_32bit", "seed=1", "logger=csv", "model.use_gcn=false"])
    'model.use_gcn=false'
    >>> variant(["experiment=wiki_agch_32bit", "seed=0", "hydra.run.dir=logs/x"])
    ''
    """
    return ",".join(variant_parts(overrides))


def variant_parts(overrides: Iterable[str] | None) -> list[str]:
    """The result-changing overrides, sorted, each once (``variant`` before the join)."""
    kept = {o for o in overrides or [] if not o.lstrip("+~").startswith(NEUTRAL_PREFIXES)}
    return sorted(kept)


def variant_folder(overrides: Iterable[str] | None) -> str:
    """``variant`` as one folder name ("" for the experiment as configured)."""
    return variant(overrides).replace("/", "_")


# data.* keys that cannot change a run's numbers, or that results.json records elsewhere
NEUTRAL_DATA = {
    "_target_",
    "path",
    "prepare_hint",
    "raw_source",
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
