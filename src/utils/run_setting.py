"""The variant of a run: the command-line overrides that can change its results beyond the
dataset, the method and the code length (which results.json names on their own).

A run's ``overrides`` (Hydra's task overrides, kept in results.json) mix settings that change
the numbers (``model.use_gcn=false``) with ones that cannot (``logger=csv``, ``hydra.*``).
``variant`` keeps the former, so that runs of a results table row share everything but the seed,
and ``archive_results.py`` stores an ablation apart from the experiment as configured.
"""

from __future__ import annotations

from typing import Iterable

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
