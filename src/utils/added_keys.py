"""Keys added on the command line with ``+key=value`` or ``++key=value``.

Hydra refuses a key that the configuration does not have unless it is written with ``+``, and
then adds it whatever it is: ``+foo=1`` or a misspelt ``+trainer.max_epoch=3`` was accepted and
ignored. Every added key must be one that something reads: a key of `RULES`
(src/utils/config_rules.py), or an argument of the class or function that the nearest
``_target_`` above it builds (``+trainer.profiler=simple``, ``+model.<hyper-parameter>=...``,
``+callbacks.model_checkpoint.<argument>=...``), or of the function that takes a mapping of
them (`NESTED`: ``+data.synthetic.noise=1.0``). A config group added with ``+`` (``+hydra/...``,
``+experiment=...``) is Hydra's to check; so are Hydra's own keys (``hydra.*``).

Keys deleted with ``~key`` are refused when the run reads them (`check_deleted_key`): a key of
`RULES`, a ``_target_``, or a group every run builds (``~data.batch_size`` was a traceback).
A refusal names the script that runs (eval.py takes no ``model.*``: the checkpoint holds it).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from src.utils.errors import ConfigError
from src.utils.suggest import did_you_mean, script_name

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
# groups every run builds (a deleted one was a traceback where it is read)
REQUIRED_NODES = ("data", "model", "trainer", "paths")
# mappings that a function takes as its keyword arguments (not a ``_target_`` of their own)
NESTED = {"data.synthetic": "src.data.synthetic.make_synthetic"}


def added_keys(overrides: Iterable[str]) -> list[str]:
    """The keys (not config groups, not ``hydra.*``) that ``overrides`` add with ``+``/``++``.

    >>> added_keys(["+foo=1", "++trainer.x=2", "seed=1", "+experiment=a", "+hydra.job.id=3"])
    ['foo', 'trainer.x']
    """
    return _keys(overrides, lambda o: o.is_add() or o.is_force_add(), groups=False)


def deleted_keys(overrides: Iterable[str]) -> list[str]:
    """The keys and config groups (not ``hydra.*``) that ``overrides`` delete with ``~``.

    >>> deleted_keys(["~data.batch_size", "seed=1", "~callbacks.model_checkpoint", "~hydra.x"])
    ['data.batch_size', 'callbacks.model_checkpoint']
    """
    return _keys(overrides, lambda o: o.is_delete(), groups=True)


def _keys(overrides: Iterable[str], chosen: Callable[[Any], bool], groups: bool) -> list[str]:
    """The keys of the ``overrides`` that ``chosen`` (an Override -> bool) picks, without
    ``hydra.*`` and, unless ``groups``, without config groups."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    keys = []
    for override in OverridesParser.create().parse_overrides(list(overrides)):
        key = override.key_or_group
        if not chosen(override) or key.split(".")[0] == "hydra":
            continue
        if groups:
            keys.append(key.replace("/", "."))
            continue
        if "/" in key or (CONFIGS / key).is_dir():  # a config group: Hydra checks its name
            continue
        keys.append(key)
    return keys


def parameters(target: str) -> set[str] | None:
    """The keyword arguments that ``target`` (a dotted class or function name) takes, through
    the ``**kwargs`` of a subclass to its bases; None when it takes any (``**kwargs`` that
    reach ``object``) or cannot be imported (the instantiation says why)."""
    module, _, name = target.rpartition(".")
    try:
        found = getattr(importlib.import_module(module), name)
    except Exception:  # noqa: BLE001 (a bad _target_ is reported where it is built)
        return None
    chain = inspect.getmro(found) if inspect.isclass(found) else (found,)
    names: set[str] = set()
    for item in chain:
        function = item.__init__ if inspect.isclass(item) else item
        if inspect.isclass(item) and item is object:
            return None
        signature = inspect.signature(function)
        names |= {n for n, p in signature.parameters.items() if p.kind not in (p.VAR_POSITIONAL,)}
        if not any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values()):
            return names - {"self", "args", "kwargs"}
    return None


def check_deleted_key(key: str, declared: Iterable[str]) -> None:
    """Raise ConfigError naming ``key`` (deleted with ``~``) when the run reads it: a
    ``declared`` key (`RULES`), a ``_target_`` or one of `REQUIRED_NODES`. Deleting anything
    else (a callback, a logger: ``~callbacks.model_checkpoint``) turns it off."""
    if key in set(declared) or key in REQUIRED_NODES or key.rpartition(".")[2] == "_target_":
        raise ConfigError(
            f"{key}: required, {script_name()} reads it; remove the ~ (~{key} deleted it; set "
            f"another value with {key}=...)"
        )


def check_added_key(key: str, values: Mapping[str, Any], declared: Iterable[str]) -> None:
    """Raise ConfigError naming ``key`` (added with ``+``) when nothing reads it: not a
    ``declared`` key, and not an argument of the nearest ``_target_`` above it in
    ``values`` (the resolved configuration)."""
    if key in set(declared):
        return
    parent, _, name = key.rpartition(".")
    if parent in NESTED:
        accepted = (parameters(NESTED[parent]) or set()) - {"path"}  # path is data.path
        if accepted is None or name in accepted:
            return
        raise ConfigError(
            f"{key}: unknown key (added with +); expected an argument of {NESTED[parent]}: "
            + ", ".join(sorted(accepted))
            + did_you_mean(key, {f"{parent}.{a}" for a in accepted})
        )
    parts = key.split(".")
    nodes: list[Any] = [values]
    for part in parts[:-1]:
        node = nodes[-1]
        nodes.append(node.get(part) if isinstance(node, Mapping) else None)
    for depth in range(len(parts) - 1, -1, -1):
        node = nodes[depth]
        if isinstance(node, Mapping) and isinstance(node.get("_target_"), str):
            accepted = parameters(node["_target_"])
            if accepted is None or parts[depth] in accepted:
                return
            where = ".".join(parts[:depth]) or "the configuration"
            prefix = ".".join(parts[:depth] + [""])
            raise ConfigError(
                f"{key}: unknown key (added with +); expected an argument of {where}'s "
                f"{node['_target_']}: {', '.join(sorted(accepted))}"
                + did_you_mean(key, {prefix + a for a in accepted} | set(declared))
            )
    script = script_name()
    if script == "eval.py" and parts[0] == "model":
        raise ConfigError(
            f"{key}: eval.py takes no model.* key: it evaluates the checkpoint's model with "
            "the hyper-parameters saved in it (eval_topk included); remove the override"
        )
    raise ConfigError(
        f"{key}: unknown key (added with +); expected a key the configuration has "
        f"(python src/{script} --cfg job lists them) or a declared option "
        "(src/utils/config_rules.py RULES)" + did_you_mean(key)
    )
