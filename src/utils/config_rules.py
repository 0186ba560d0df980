"""Every configuration value a user sets is checked here, before any work: its type and range,
by declaration. An option joins by a line of `RULES` (``"group.key": rule``); a method's own
hyper-parameters by its ``RULES`` (src/models/checks.py), applied to ``cfg.model`` here as well.

The first value that breaks its rule raises one `ConfigError` line naming the key, the value
and what is allowed, e.g. ``trainer.max_epochs: expected an integer >= 1, got 'abc'``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

from src.utils.errors import ConfigError
from src.utils.lightning_rules import AT_MOST, LIGHTNING_RULES, OVERRIDDEN_BY, WITHIN_RUN
from src.utils.rule_kinds import (  # noqa: F401  (re-exported: the rules' vocabulary)
    BOOL,
    EXISTING,
    FOLDER,
    FRACTION,
    NAME,
    SEED_MAX,
    STR,
    Rule,
    RuleBroken,
    choice,
    integer,
    is_int,
    is_real,
    real,
)

# a run is reproducible by its seed: the data order, the splits carved and the weights follow
# it (and the data loaders' seeding takes no null)
REPRODUCIBLE = "a run is reproducible by its seed; null is not a seed"

# Every option of the configuration groups (configs/*) and the entry configs, by dotted key.
RULES: dict[str, Rule] = {
    "seed": integer(0, SEED_MAX, why=REPRODUCIBLE),
    "train": BOOL,
    "test": BOOL,
    "ckpt_path": Rule("str", nullable=True),
    "task_name": NAME,
    "tags": Rule("list_str"),
    "optimized_metric": Rule("str", nullable=True),
    "export_codes": BOOL,
    "codes_path": STR,
    "overwrite_codes": BOOL,
    "extras.print_config": BOOL,
    "extras.enforce_tags": BOOL,
    "extras.ignore_warnings": BOOL,
    "data.path": STR,
    "data.batch_size": integer(2),  # the similarity graph of one pair is degenerate
    "data.eval_batch_size": integer(1),
    "data.num_workers": integer(0),
    "data.cache_in_memory": BOOL,
    "data.cache_dtype": choice("float32", "float16", "bfloat16"),
    "data.device_cache": BOOL,
    "data.pin_memory": BOOL,
    "data.drop_last": BOOL,
    "data.seed": integer(0, SEED_MAX, why=REPRODUCIBLE),
    "data.val_retrieval_limit": integer(1, nullable=True),
    "data.val_mode": choice("official", "heldout"),
    "data.prepare_hint": Rule("str", nullable=True),
    "data.raw_source": Rule("str", nullable=True),
    **{f"data.synthetic.{k}": integer(1) for k in ("n_items", "n_query")},
    **{f"data.synthetic.{k}": integer(1) for k in ("image_dim", "text_dim")},
    # one class makes every item relevant to every query (mAP 1 whatever the codes)
    "data.synthetic.n_classes": integer(2),
    "data.synthetic.n_train": integer(2),  # a batch needs two pairs (data.batch_size >= 2)
    "data.synthetic.n_val": integer(0),
    "data.synthetic.seed": integer(0, SEED_MAX),
    "data.synthetic.noise": real(0),
    **LIGHTNING_RULES,
}


# The project's folders (configs/paths/), checked before the run folder is made
# (src/utils/run_dir_checks.py, check_paths), each refusal naming the key the user gave: the
# root and the folder Hydra started in must exist; logs and a run's outputs are written
# (output_dir is Hydra's run folder unless given); the stores' folder, data_dir, is checked
# with the store (src/data/preflight.py: a store given by data.path does not read it)
PATHS_RULES: dict[str, Rule] = {
    "paths.root_dir": EXISTING,
    "paths.work_dir": EXISTING,
    "paths.log_dir": FOLDER,
    "paths.output_dir": FOLDER,
}

# The sweeper's own settings (hydra.sweeper.*: a search, hparams_search=optuna, or the basic
# sweeper), checked by src/utils/sweep_door.py before any job runs or any study is made
SEARCH_RUNS = "train.py returns one value, optimized_metric"
SWEEPER_RULES: dict[str, Rule] = {
    "hydra.sweeper.n_trials": integer(1, why="a search of no trial runs nothing"),
    "hydra.sweeper.n_jobs": integer(1, why="trials are launched n_jobs at a time"),
    "hydra.sweeper.direction": choice("maximize", "minimize", why=SEARCH_RUNS),
    "hydra.sweeper.storage": Rule("database", nullable=True),
    "hydra.sweeper.study_name": Rule("str", nullable=True),
    "hydra.sweeper.custom_search_space": Rule("str", nullable=True),
    "hydra.sweeper.sampler.seed": integer(0, SEED_MAX, nullable=True),
    "hydra.sweeper.sampler.n_startup_trials": integer(0),
    "hydra.sweeper.max_batch_size": integer(1, nullable=True),
}


def check_sweeper(config: DictConfig) -> None:
    """Every value of `SWEEPER_RULES` that the multirun ``config``'s sweeper has, resolved
    (an interpolation error names its key); an Enum (Optuna's Direction) by its name. Raises
    ConfigError naming the first bad ``hydra.sweeper.<key>``."""
    from enum import Enum

    from src.utils.run_dir_checks import resolve_key

    for key, rule in SWEEPER_RULES.items():
        parent, _, name = key.rpartition(".")
        node = OmegaConf.select(config, parent, default=None)
        if isinstance(node, DictConfig) and name in node:
            value = resolve_key(config, key)
            rule.check(key, value.name if isinstance(value, Enum) else value)


def resolved(cfg: DictConfig) -> dict[str, Any]:
    """``cfg`` as plain containers with every interpolation resolved; an interpolation that
    fails (``${oc.env:NOPE}``, a key that is not there) is a ConfigError."""
    from src.utils.interpolation_errors import interpolation_refusal

    try:
        return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    except Exception as exc:  # omegaconf's InterpolationResolutionError and its kin
        refusal = interpolation_refusal(exc)
        if refusal is None:
            raise
        raise refusal from exc


def select_key(tree: Mapping[str, Any], key: str) -> tuple[bool, Any]:
    """(present, value) of dotted ``key`` in nested mappings."""
    node: Any = tree
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def check_config(cfg: DictConfig) -> None:
    """Check every key deleted with ``~`` or added with ``+`` (`src.utils.added_keys`), every
    value of `RULES` present in ``cfg`` and the model's hyper-parameters
    (`check_model_config`), before any work; raise ConfigError on the first bad one."""
    from src.utils.config_groups import folder_refusal
    from src.utils.key_sources import command_line, renamed
    from src.utils.added_keys import (
        added_keys,
        check_added_key,
        check_deleted_key,
        check_group_keys,
        deleted_keys,
    )

    overrides = command_line()  # as typed, unresolved
    # +hydra/x=y goes to Hydra's own overrides; when no group hydra/x exists it is a key too
    own = command_line(part="hydra")
    refused = folder_refusal(overrides)  # +common=data, local=<a file not created>
    if refused:
        raise ConfigError(refused)
    deleted = deleted_keys(overrides)
    unresolved = OmegaConf.to_container(cfg, resolve=False) if deleted else {}
    for key in deleted:  # ~key: before a value is read (an interpolation of it included)
        check_deleted_key(key, unresolved, RULES)
    values = resolved(cfg)
    check_group_keys(values, overrides + own)  # +foo/bar=baz without a group foo/bar: a plain key
    for key in added_keys(overrides):  # keys added on the command line with +key=...
        check_added_key(key, values, RULES, overrides + own)
    for key, rule in RULES.items():
        present, value = select_key(values, key)
        if present and value != "???":
            try:
                rule.check(key, value)
            except ConfigError as err:  # a derived value: the key the user gave is named
                raise renamed(err, key, cfg, overrides) from None
    check_cross_keys(values)
    if isinstance(values.get("model"), Mapping):
        check_model_config(values["model"])


def _number(tree: Mapping[str, Any], key: str) -> float | None:
    """The value of ``key`` in ``tree`` when it is a number (not a bool), else None."""
    value = select_key(tree, key)[1]
    return value if is_real(value) else None


def check_cross_keys(values: Mapping[str, Any]) -> None:
    """Refuse a combination in which Lightning would silently ignore a value (after each value
    passed its own rule): a key above its limit (`AT_MOST`, the limit not -1), a limit that a
    debugging flag replaces (`OVERRIDDEN_BY`, the limit set at all), a schedule in epochs
    longer than the run (`WITHIN_RUN`). Raises ConfigError naming both keys and values."""
    for key, limit_key in WITHIN_RUN:
        value, limit = _number(values, key), _number(values, limit_key)
        if value is not None and limit is not None and limit != -1 and value > limit:
            raise ConfigError(
                f"{key}: {value} epochs is longer than the run ({limit_key} {limit}): the run "
                "would end inside this schedule (a learning-rate warm-up that never ends trains "
                f"almost nothing); expected {key} <= {limit_key}: lower {key} or raise "
                f"{limit_key}"
            )
    for key, limit_key in AT_MOST:
        value, limit = _number(values, key), _number(values, limit_key)
        if value is not None and limit is not None and limit != -1 and value > limit:
            raise ConfigError(
                f"{key}: {value} is above {limit_key} {limit}; Lightning stops at {limit_key} "
                f"and would ignore {key}; expected {key} <= {limit_key}: lower {key} or raise "
                f"{limit_key}"
            )
    for key, flag in OVERRIDDEN_BY:
        value, by = select_key(values, key)[1], select_key(values, flag)[1]
        if value is not None and by not in (None, False, 0, 0.0):
            raise ConfigError(
                f"{key}: {value} would be ignored: {flag} {by} replaces it (Lightning's "
                f"debugging flags); expected one of them: remove {key} or set {flag} off"
            )


def check_model_config(model: Mapping[str, Any]) -> None:
    """The method's hyper-parameters as the model config sets them (`check_model_values`),
    before data is read. The feature dimensions come from the data later (checked then)."""
    from hydra.utils import get_class

    target = model.get("_target_")
    try:
        cls = get_class(str(target))
    except Exception as exc:
        raise ConfigError(f"model._target_: expected a model class, got {target!r}") from exc
    given = {k: v for k, v in model.items() if not k.startswith("_")}
    check_model_values(cls, given | {"image_dim": 1, "text_dim": 1})


def check_model_values(cls: type, given: Mapping[str, Any]) -> None:
    """``given`` hyper-parameters of method ``cls`` (its constructor's defaults for the rest)
    checked by the method's ``RULES`` and the evaluation keys' rules: the ones a model config
    and a checkpoint's saved hyper-parameters (`src.utils.checkpoint_rules`) both pass.
    Raises `RuleBroken` (a ConfigError) naming ``model.<key>``."""
    from src.models.checks import check_eval_hparams, check_rules

    defaults = {
        name: p.default
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    hp = defaults | dict(given)
    check_eval_hparams(hp)
    check_rules(hp, **getattr(cls, "RULES", {}), derived=getattr(cls, "DERIVED", ()))
