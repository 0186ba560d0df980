"""Keys added on the command line with ``+key=value`` or ``++key=value``.

Hydra refuses a key that the configuration does not have unless it is written with ``+``, and
then adds it whatever it is: ``+foo=1`` or a misspelt ``+trainer.max_epoch=3`` was accepted and
ignored. Every added key must be one that something reads: a key of `RULES`
(src/utils/config_rules.py), or an argument of the class or function that the nearest
``_target_`` above it builds (``+trainer.profiler=simple``, ``+model.<hyper-parameter>=...``,
``+callbacks.model_checkpoint.<argument>=...``), or of the function that takes a mapping of
them (`NESTED`: ``+data.synthetic.noise=1.0``). A config group added with ``+`` (``+hydra/...``,
``+experiment=...``) is Hydra's to check; so are Hydra's own keys (``hydra.*``). A ``/`` name
that is no config group (``+foo/bar=baz``, Hydra's own hint for ``foo/bar=baz``;
``+model/foo=bar``) is added by Hydra as a top-level key named ``foo/bar`` that nothing reads:
refused (`check_group_keys`).

Keys deleted with ``~key`` are refused when the run reads them (`check_deleted_key`): a key of
`RULES` or of any method's ``RULES``, a ``_target_``, an argument of the nearest ``_target_``
above it (``~model.code_length``, ``~model.lam``: the constructor's default was used
silently), a leaf of the config groups every run reads (`read_leaves`) or a group every run
builds (``~data.batch_size`` was a traceback). Deleting a whole callback or logger entry
(``~callbacks.early_stopping``, ``~logger.tensorboard``, ``~logger``) turns it off. A refusal
names the script that runs (eval.py takes no ``model.*``: the checkpoint holds it).
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from src.utils.config_groups import groups_words
from src.utils.errors import ConfigError
from src.utils.suggest import CONFIGS as _CONFIGS, config_trees, script_name

CONFIGS: Path = _CONFIGS
# groups every run builds (a deleted one was a traceback where it is read)
REQUIRED_NODES = ("data", "model", "trainer", "paths")
# groups whose every leaf a run reads (callbacks and loggers are optional entries)
READ_GROUPS = ("model", "data", "trainer", "paths", "extras")
# top-level nodes that are not values (a null logger or callbacks group turns it off)
OPTIONAL_GROUPS = ("defaults", "callbacks", "logger", "hydra")
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


def check_group_keys(values: Mapping[str, Any], overrides: Iterable[str]) -> None:
    """Raise ConfigError when the configuration holds a key named like a config group
    (``foo/bar``): Hydra composes ``+foo/bar=baz`` as the group foo/bar with option baz only
    when that group exists, and otherwise adds a plain top-level key ``foo/bar`` that no code
    reads (the run trained to "completed"). The line names the override that added it."""
    for key in values:
        if not isinstance(key, str) or "/" not in key:
            continue
        override = next(
            (o for o in overrides if o.lstrip("+~").partition("=")[0] == key), f"+{key}=..."
        )
        raise ConfigError(
            f"{override}: {key} is not a config group (no configs/{key}/), so Hydra would add "
            "it as a key that nothing reads; expected an existing group and option "
            f"(+<group>=<option>, groups: {groups_words()}; hydra/<group> for Hydra's) or a "
            f"key the run reads, written with dots (python src/{script_name()} --cfg job lists "
            "them)"
        )


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


@functools.lru_cache(maxsize=1)
def read_leaves() -> frozenset[str]:
    """The dotted keys of every leaf (a value that is not a mapping) the config files set
    under `READ_GROUPS`, and the top-level ones of every file (``seed``, ``tags``,
    ``optimized_metric``...; not `OPTIONAL_GROUPS`), by each file's package
    (src/utils/suggest.py)."""
    leaves: set[str] = set()

    def walk(prefix: str, node: Mapping[str, Any]) -> None:
        for key, value in node.items():
            if key in OPTIONAL_GROUPS or not isinstance(key, str):
                continue
            if isinstance(value, Mapping):
                walk(f"{prefix}{key}.", value)
            elif not prefix or prefix.split(".")[0] in READ_GROUPS:
                leaves.add(f"{prefix}{key}")

    for package, tree in config_trees():
        walk(f"{package}." if package else "", tree)
    return frozenset(leaves)


@functools.lru_cache(maxsize=1)
def method_keys() -> frozenset[str]:
    """``model.<name>`` of every hyper-parameter any method's ``RULES`` declares (each
    configs/model/*.yaml ``_target_``'s class; src/models/checks.py)."""
    keys: set[str] = set()
    for package, tree in config_trees():
        target = tree.get("_target_") if package == "model" else None
        module, _, name = str(target).rpartition(".")
        try:
            rules = getattr(importlib.import_module(module), name).RULES
        except Exception:  # noqa: BLE001 (a bad _target_ is reported where it is built)
            continue
        keys.update(f"model.{n}" for names in rules.values() for n in names)
    return frozenset(keys)


def nearest_target(key: str, values: Mapping[str, Any]) -> tuple[int, str] | None:
    """(depth, ``_target_``) of the nearest mapping above ``key`` in ``values`` that has a
    string ``_target_`` (depth: how many of the key's parts lead to it), or None."""
    parts = key.split(".")
    nodes: list[Any] = [values]
    for part in parts[:-1]:
        node = nodes[-1]
        nodes.append(node.get(part) if isinstance(node, Mapping) else None)
    for depth in range(len(parts) - 1, -1, -1):
        node = nodes[depth]
        if isinstance(node, Mapping) and isinstance(node.get("_target_"), str):
            return depth, node["_target_"]
    return None


def target_argument(key: str, values: Mapping[str, Any]) -> str | None:
    """The ``_target_`` (or `NESTED` function) of which ``key`` is an argument: the nearest
    one above it in ``values``; None when there is none or it takes any keyword."""
    parent, _, name = key.rpartition(".")
    if parent in NESTED:
        return NESTED[parent] if name in (parameters(NESTED[parent]) or ()) else None
    found = nearest_target(key, values)
    if found is None:
        return None
    depth, target = found
    return target if key.split(".")[depth] in (parameters(target) or set()) else None


def check_deleted_key(key: str, values: Mapping[str, Any], declared: Iterable[str]) -> None:
    """Raise ConfigError naming ``key`` (deleted with ``~``) when the run reads it: a
    ``declared`` key (`RULES`) or a method's (`method_keys`), one of `REQUIRED_NODES`, a
    ``_target_``, an argument of the nearest ``_target_`` above it in ``values`` (the
    configuration after the deletion; `target_argument`) or a leaf of `read_leaves`.
    Deleting anything else (a callback, a logger: ``~callbacks.model_checkpoint``) turns it
    off."""
    reader = target_argument(key, values)
    reads = (
        key in set(declared) | method_keys() | read_leaves()
        or key in REQUIRED_NODES
        or key.rpartition(".")[2] == "_target_"
        or reader is not None
    )
    if reads:
        by = f" ({reader} takes it; its default would be used silently)" if reader else ""
        raise ConfigError(
            f"{key}: required, {script_name()} reads it{by}; remove the ~ (~{key} deleted "
            f"it; set another value with {key}=...)"
        )


def check_added_key(
    key: str, values: Mapping[str, Any], declared: Iterable[str], words: Iterable[str] = ()
) -> None:
    """Raise ConfigError naming ``key`` (added with ``+``) when nothing reads it: not a
    ``declared`` key, and not an argument of the nearest ``_target_`` above it in ``values``
    (the resolved configuration; `takes_key`), or one the script sets itself
    (`SET_BY_THE_RUN`: ``+model.image_dim`` was replaced by the data's silently). The line
    offers the keys of the presets that ``words`` (the command line) choose
    (`unknown_key_words`)."""
    from src.utils.composed_keys import SET_BY_THE_RUN, added_key_refusal

    parent, _, name = key.rpartition(".")
    set_by_run = name in SET_BY_THE_RUN.get(parent, ())
    if not set_by_run and (key in set(declared) or takes_key(key, values)):
        return
    raise ConfigError(added_key_refusal(key, words))


def takes_key(key: str, values: Mapping[str, Any]) -> bool:
    """Whether what builds the node above ``key`` takes it: an argument of the `NESTED`
    function or of the nearest ``_target_`` above it in ``values`` (or one taking any
    keyword)."""
    parent, _, name = key.rpartition(".")
    if parent in NESTED:
        return name in (parameters(NESTED[parent]) or set()) - {"path"}  # path is data.path
    found = nearest_target(key, values)
    if found is None:
        return False
    depth, target = found
    accepted = parameters(target)
    return accepted is None or key.split(".")[depth] in accepted
