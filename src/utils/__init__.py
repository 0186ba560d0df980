"""Framework utilities: instantiation, logging, run directories, run records, run helpers.

Names are imported on first use, so that `from src.utils.errors import ...` in light scripts
(data preparation) does not pull in Lightning, Hydra and rich.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "AGCHError": "src.utils.errors",
    "ConfigError": "src.utils.errors",
    "DataError": "src.utils.errors",
    "TrainingError": "src.utils.errors",
    "instantiate_callbacks": "src.utils.instantiators",
    "instantiate_loggers": "src.utils.instantiators",
    "log_hyperparameters": "src.utils.logging_utils",
    "RankedLogger": "src.utils.pylogger",
    "enforce_tags": "src.utils.rich_utils",
    "print_config_tree": "src.utils.rich_utils",
    "extras": "src.utils.utils",
    "get_metric_value": "src.utils.utils",
    "git_commit": "src.utils.records",
    "task_wrapper": "src.utils.utils",
    "write_json": "src.utils.jsonio",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'src.utils' has no attribute '{name}'")
    return getattr(import_module(_EXPORTS[name]), name)
