"""A run's store checked before its run folder exists (issue 22): a store refused for its
contents (NaN features, rows without a label, another schema), a synthetic store made with
other parameters, or generator parameters that cannot make one leave no folder and print no
Lightning line. `src.utils.run_dirs.HoldRunDir` calls `preflight_store` before Hydra makes
the folder; the run's datamodule then skips a second scan of the same unchanged file
(`src.data.store.values_checked`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from src.data.store import check_store_values, missing_store
from src.data.synthetic import check_params
from src.data.synthetic_checks import check_existing_store
from src.utils.paths import classify, input_problem, input_reason
from src.utils.errors import DataError
from src.utils.key_sources import renamed
from src.utils.trained_data import explain_by_checkpoint

DATA_CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "data"


def chosen_option(group: str) -> str | None:
    """The option chosen for a config group in this Hydra run (None outside a Hydra run)."""
    if not HydraConfig.initialized():
        return None
    return HydraConfig.get().runtime.choices.get(group)


def store_dataset(
    path: str | os.PathLike, attrs: Mapping[str, Any], chosen: str | None = None
) -> str | None:
    """The dataset the store at `path` holds (its ``dataset`` attribute, docs/data.md),
    checked against the ``data=`` choice of the run (``chosen``, default: the Hydra run's).

    Raises DataError when the store names another dataset that has a config of its own
    (``data=wiki data.path=data/uci.h5``): the run would be filed under the wrong dataset. A
    store of a dataset without a config (``prepare_data.py arrays``) is taken as it is.
    """
    stored = attrs.get("dataset")
    stored = None if stored is None else str(stored)
    chosen = chosen or chosen_option("data")
    known = {config.stem for config in DATA_CONFIGS.glob("*.yaml")}
    if chosen and stored and stored != chosen and stored in known:
        raise DataError(
            path,
            "dataset",
            f"the store holds {stored!r}, the config data={chosen}: choose data={stored} "
            f"or give data.path of a {chosen} store",
        )
    return stored or chosen


def given_on_command_line(config: DictConfig, key: str) -> bool:
    """Whether ``key`` was set by a command-line override (``key=``, ``+key=``, ``++key=``)."""
    from src.utils.key_sources import command_line

    overrides = command_line(config)
    return any(str(o).lstrip("+~").partition("=")[0] == key for o in overrides)


def check_store_folder(config: DictConfig, path: Path, synthetic: bool) -> None:
    """The folder of the store comes first: a ``paths.data_dir`` that is no folder (a file, a
    missing path) is refused under ``paths.data_dir`` -- the key the user gave, when data.path
    is derived from it -- not under the derived data.path (sixth trial); a synthetic store to
    generate also needs its folder to exist (fifth trial h12: ``paths.data_dir=/nonexistent``
    was made silently, with a store in it). A fresh clone has data/ (data/.gitkeep). Raises
    ConfigError naming the key and the path."""
    from src.utils.errors import ConfigError
    from src.utils.key_sources import given_key
    from src.utils.paths import output_reason
    from src.utils.run_dir_checks import resolve_key

    reason = input_reason(path.parent, "dir")
    if reason is None and synthetic and classify(path).kind == "missing":
        reason = output_reason(path, "file", parents=False)  # it is written there
    if reason is None:
        return
    data_dir = OmegaConf.select(config, "paths.data_dir", default=None)
    by_data_dir = data_dir is not None and Path(str(resolve_key(config, "paths.data_dir"))) == (
        path.parent
    )
    by_data_dir = by_data_dir and not given_on_command_line(config, "data.path")
    if not (by_data_dir or synthetic):
        return  # a store's own path given: `missing_store` names data.path
    key, folder = ("paths.data_dir", path.parent) if by_data_dir else ("data.path", path)
    key = given_key(config, key)  # paths.root_dir=<a file>: the key the user gave
    what = "the synthetic store" if synthetic else f"the store {path.name}"
    raise ConfigError(
        f"{key}: {folder}: expected an existing{', writable' if synthetic else ''} folder for "
        f"{what}, {reason} (no folder is made for it: a mistyped path would hide a store "
        "there); make it first or give an existing one"
    )


def _data_values(config: DictConfig) -> Mapping[str, Any] | None:
    """The ``data`` group with its interpolations resolved (None without one), its values
    checked by their `RULES` (the rest of the configuration is checked in the job). Raises
    ConfigError naming the key."""
    from src.utils.config_rules import RULES, select_key
    from src.utils.run_dir_checks import resolve_key

    node = OmegaConf.select(config, "data", default=None)
    if not isinstance(node, DictConfig):
        return None
    data = OmegaConf.to_container(resolve_key(config, "data"), resolve=True)
    for key, rule in RULES.items():
        present, value = select_key({"data": data}, key)
        if present and value != "???":
            source = _source_key(config, key)  # data.seed: ${seed} is named as `seed`
            if source in RULES:
                RULES[source].check(source, value)
            rule.check(source or key, value)
    return data


def _source_key(config: DictConfig, key: str) -> str | None:
    """The key whose value ``key`` takes when it is a bare interpolation (``${seed}`` or
    ``${oc.select:seed,0}`` give "seed"), else None: an error then names the key the user
    set (`seed=null`, not the ``data.seed`` it flows into). None when the command line set
    ``key`` itself (``'data.path=${oc.select:nope}'`` is named ``data.path``, not ``nope``:
    trial 11 G4)."""
    from src.utils.key_sources import command_line, given_here

    if given_here(key, command_line(config)):
        return None
    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(config, parent, default=None) if parent else config
    if not isinstance(node, DictConfig) or leaf not in node:
        return None
    raw = node._get_node(leaf)._value()
    raw = raw if isinstance(raw, str) else ""
    match = re.fullmatch(r"\$\{(?:oc\.select:)?([\w.]+)(?:,[^{}]*)?\}", raw)
    return match.group(1) if match else None


def preflight_store(config: DictConfig) -> None:
    """Check the run's store (``data.path``) before anything is made: a synthetic one's
    parameters (and, when the file exists, that it holds the store of these parameters), a
    missing or unreadable file (named truly: `src.utils.paths`), then the schema and every
    value (`check_store_values`), and the dataset it holds against the ``data=`` choice
    (`store_dataset`). Raises ConfigError or DataError; a missing synthetic store
    is generated later, in the job, under a temporary name."""
    data = _data_values(config)
    if data is None or not isinstance(data.get("path"), str):
        return
    path = Path(data["path"])
    synthetic = data.get("synthetic")
    if isinstance(synthetic, Mapping):
        check_params(synthetic)
    check_store_folder(config, path, isinstance(synthetic, Mapping))
    if isinstance(synthetic, Mapping):
        if classify(path).kind == "missing":
            return
        try:
            check_existing_store(path, synthetic)
        except DataError:  # a checkpoint of synthetic data given a real store: said as such
            explain_by_checkpoint(config)
            raise
    elif input_problem(path, "file") is not None:
        hint = data.get("prepare_hint") or "prepare it with scripts/prepare_data.py"
        raise renamed(missing_store(path, hint), "data.path", config)  # the key given
    info = check_store_values(path)
    chosen = OmegaConf.select(config, "hydra.runtime.choices.data", default=None)
    store_dataset(path, info.attrs, chosen)  # data=wiki data.path=<a UCI store>: refused
