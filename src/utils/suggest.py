""" "Did you mean ...?" for a misspelt configuration key (``model.alhpa=1``,
``trainer.max_epoch=3``): the closest of the given keys, by difflib's ratio. A refusal gives
the keys of the configuration its command line composes to (src/utils/composed_keys.py).

`known_keys` are those every config file defines (configs/**/*.yaml, each under its package),
the declared options (`RULES`, src/utils/config_rules.py) and the arguments of every
``_target_`` the config files name: the vocabulary of the project as a whole, which no
refusal offers (the keys of other presets are not the run's).
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
PACKAGE = "# @package "


def _package(path: Path) -> str:
    """The package a config file's keys go under: its ``# @package`` header, else its group
    (the folder below configs/, dotted; "" for the entry configs)."""
    for line in path.read_text(encoding="utf-8").splitlines()[:5]:
        if line.startswith(PACKAGE):
            package = line[len(PACKAGE) :].strip()
            return "" if package == "_global_" else package
    return ".".join(path.relative_to(CONFIGS).parent.parts)


def _flatten(prefix: str, node: Mapping[str, Any], keys: set[str]) -> None:
    """Add the dotted keys of ``node`` (and of the arguments of a ``_target_`` in it)."""
    from src.utils.added_keys import parameters

    if isinstance(node.get("_target_"), str):
        keys.update(f"{prefix}{name}" for name in parameters(node["_target_"]) or ())
    for key, value in node.items():
        if key == "defaults" or not isinstance(key, str):
            continue
        keys.add(f"{prefix}{key}")
        if isinstance(value, Mapping):
            _flatten(f"{prefix}{key}.", value, keys)


@functools.lru_cache(maxsize=1)
def config_trees() -> tuple[tuple[str, Mapping[str, Any]], ...]:
    """(package, parsed tree) of every config file (configs/**/*.yaml, sorted by path) that
    parses to a mapping; a broken local file is left to Hydra to report."""
    trees = []
    for path in sorted(CONFIGS.rglob("*.yaml")):
        try:
            tree = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(tree, Mapping):
            trees.append((_package(path), tree))
    return tuple(trees)


@functools.lru_cache(maxsize=1)
def known_keys() -> frozenset[str]:
    """Every dotted key the configuration knows (see the module docstring)."""
    from src.utils.config_rules import RULES

    keys: set[str] = set(RULES)
    for package, tree in config_trees():
        _flatten(f"{package}." if package else "", tree, keys)
    return frozenset(keys)


def closest(key: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``key``: among the keys of the same parent first (by the last
    name, ratio >= 0.6), else among all (ratio >= 0.8); None when none is close or ``key`` is
    one of them."""
    candidates = sorted(set(candidates))
    if key in candidates:  # a key of another preset (data.synthetic.* under data=wiki)
        return None
    parent, _, name = key.rpartition(".")
    siblings = [c.rpartition(".")[2] for c in candidates if c.rpartition(".")[0] == parent]
    match = difflib.get_close_matches(name, siblings, n=1, cutoff=0.6)
    if match:
        return f"{parent}.{match[0]}" if parent else match[0]
    match = difflib.get_close_matches(key, candidates, n=1, cutoff=0.8)
    return match[0] if match else None


def did_you_mean(key: str, candidates: Iterable[str]) -> str:
    """``"; did you mean <closest>?"`` (`closest` among ``candidates``), or "" when no key is
    close."""
    match = closest(key, candidates)
    return f"; did you mean {match}?" if match else ""


def unknown_key_hint(key: str, candidates: Iterable[str]) -> str:
    """What an unknown-key refusal adds: `did_you_mean` when a key is close, else the keys
    accepted beside it (``"; accepted under data.synthetic: image_dim, n_classes, ..."``:
    the ``candidates`` of the same parent), else "". The candidates are those of the
    configuration the command line composes to (`src.utils.composed_keys`), never every
    config file's (`known_keys`: another method's keys were offered)."""
    pool = sorted(set(candidates))
    close = did_you_mean(key, pool)
    if close:
        return close
    parent = key.rpartition(".")[0]
    siblings = sorted({c.rpartition(".")[2] for c in pool if c.rpartition(".")[0] == parent})
    if not siblings:
        return ""
    return f"; accepted {'under ' + parent if parent else 'at the top level'}: " + ", ".join(
        siblings
    )


def script_name() -> str:
    """The entry script that runs ("train.py", "eval.py"), for lines that name it: the Hydra
    job's config name once Hydra runs, else the command's own file; "train.py" elsewhere (a
    check called in-process)."""
    import sys

    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized() and HydraConfig.get().job.config_name in ("train", "eval"):
        return f"{HydraConfig.get().job.config_name}.py"
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return name if name in ("train.py", "eval.py") else "train.py"
