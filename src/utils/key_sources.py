"""The key a user gave, for a value derived from it (issue 22: ``paths.root_dir=<a file>`` was
refused under ``[paths.data_dir]``, ``paths.output_dir=<a file>`` under
``trainer.default_root_dir``: keys the user never gave).

Many values are interpolations of others (``data.path: ${paths.data_dir}/wiki.h5``,
``paths.data_dir: ${paths.root_dir}/data``, ``trainer.default_root_dir: ${paths.output_dir}``).
`given_key` follows a key's interpolations back to a key set on the command line, so a check
of the derived value names what the user typed; `renamed` rewrites a refusal of the derived
key that way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from omegaconf import DictConfig, OmegaConf

from src.utils.errors import AGCHError, ConfigError, DataError

# ${a.b}, ${oc.select:a.b,default}, ${hydra:runtime.output_dir}, ${unique_dir:${paths.log_dir},..}
_REFERENCE = re.compile(r"\$\{(?:(oc\.select|hydra):)?([A-Za-z_][\w.]*)(?=[},])")


def command_line(config: DictConfig | None = None, part: str = "task") -> list[str]:
    """The overrides of the command line as typed: ``config``'s ``hydra.overrides.<part>``
    (``task`` or ``hydra``) when it has a ``hydra`` node, else Hydra's run config's; [] outside
    Hydra. Read unresolved: an override is text, and iterating OmegaConf's list would resolve a
    ``${...}`` in it (``seed=${nope}`` raised InterpolationKeyError with a traceback, trial 10
    F1) or unescape a ``\\${`` the user typed."""
    from hydra.core.hydra_config import HydraConfig

    key = f"hydra.overrides.{part}"
    found = OmegaConf.select(config, key, default=None) if config else None
    if found is None and HydraConfig.initialized():
        found = OmegaConf.select(HydraConfig.get(), f"overrides.{part}", default=None)
    if found is None:
        return []
    return [str(o) for o in OmegaConf.to_container(found, resolve=False)]


def given_here(key: str, words: Iterable[str]) -> bool:
    """Whether ``words`` set ``key`` (``key=``, ``+key=``, ``++key=``)."""
    return any(w.lstrip("+~").partition("=")[0] == key for w in words)


def references(config: DictConfig, key: str) -> list[str]:
    """The keys that ``key``'s configured (unresolved) value interpolates, in order (Hydra's
    ``${hydra:x}`` as ``hydra.x``)."""
    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(config, parent, default=None) if parent else config
    if not isinstance(node, DictConfig) or leaf not in node:
        return []
    raw = node._get_node(leaf)._value()  # omegaconf keeps no public raw accessor
    if not isinstance(raw, str):
        return []
    return [f"hydra.{name}" if via == "hydra" else name for via, name in _REFERENCE.findall(raw)]


def given_key(config: DictConfig, key: str, words: Iterable[str] | None = None) -> str:
    """``key`` when the command line (``words``, default `command_line`) set it or nothing it
    derives from; else the first key it interpolates, followed back through interpolations,
    that the command line set (``data.path`` -> ``paths.data_dir`` -> ``paths.root_dir``)."""
    words = command_line(config) if words is None else list(words)
    if given_here(key, words):
        return key
    seen, todo = {key}, references(config, key)
    while todo:
        source = todo.pop(0)
        if source in seen:
            continue
        seen.add(source)
        if given_here(source, words):
            return source
        todo.extend(references(config, source))
    return key


def renamed(
    error: AGCHError, key: str, config: DictConfig, words: Iterable[str] | None = None
) -> AGCHError:
    """``error`` (a refusal naming ``key``: ``key: ...`` or ``<path> [key]: ...``) naming the
    key the user gave instead (`given_key`), with the derived key kept as what it names;
    ``error`` itself when the user gave ``key`` or nothing it derives from."""
    given = given_key(config, key, words)
    if given == key:
        return error
    text = str(error)  # the refusal's own words, "expected ..." included, follow
    if isinstance(error, DataError) and error.key == key:
        said = f"{key} derived from it: " + text.split(f"[{key}]: ", 1)[1]
        return DataError(error.path, given, said)
    said = f"{given}: {key} derived from it: " + (
        text[len(key) + 2 :] if text.startswith(f"{key}: ") else text
    )
    return ConfigError(said)
