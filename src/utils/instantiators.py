"""Build callbacks and loggers from their config groups."""

from typing import Any

import hydra
from hydra.errors import InstantiationException
from lightning import Callback
from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from omegaconf import DictConfig

from src.utils.errors import ConfigError
from src.utils.pylogger import RankedLogger

log = RankedLogger(__name__, rank_zero_only=True)


def _instantiate_group(group_cfg: DictConfig | None, group: str, kind: type) -> list:
    """Instantiate every entry of a group that has a `_target_`; check the built type."""
    objects: list = []
    if not group_cfg:
        log.warning(f"No {group} configs found! Skipping...")
        return objects
    if not isinstance(group_cfg, DictConfig):
        raise ConfigError(f"{group}: expected a mapping of named configs, got {group_cfg!r}")
    for name, entry in group_cfg.items():
        if isinstance(entry, DictConfig) and "_target_" in entry:
            log.info(f"Instantiating {group[:-1]} <{entry._target_}>")
            built = build(entry, f"{group}.{name}")
            if not isinstance(built, kind):
                raise ConfigError(
                    f"{group}.{name}: {entry._target_} is not a {kind.__name__}; expected one"
                )
            objects.append(built)
    return objects


def build(node: DictConfig, key: str, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate(node, **kwargs)``; a value the built class refuses
    (Lightning's MisconfigurationException, a ValueError: a key added with ``+`` that no rule
    of src/utils/config_rules.py covers) is a ConfigError naming ``key``, not a traceback."""
    try:
        return hydra.utils.instantiate(node, **kwargs)
    except InstantiationException as exc:
        cause = exc.__cause__
        if isinstance(cause, (MisconfigurationException, ValueError)):
            reason = " ".join(str(cause).split())
            raise ConfigError(
                f"{key}: {node.get('_target_')} refused its settings: {reason}; expected "
                "settings it takes"
            )
        raise


def instantiate_callbacks(callbacks_cfg: DictConfig | None) -> list[Callback]:
    """Instantiate the callbacks of `cfg.callbacks` (an empty list when there are none)."""
    return _instantiate_group(callbacks_cfg, "callbacks", Callback)


def instantiate_loggers(logger_cfg: DictConfig | None) -> list[Logger]:
    """Instantiate the loggers of `cfg.logger` (an empty list when there are none)."""
    return _instantiate_group(logger_cfg, "loggers", Logger)
