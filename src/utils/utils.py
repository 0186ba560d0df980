"""Run helpers: pre-run extras, the task wrapper, the metric a sweeper optimises."""

import warnings
from functools import wraps
from typing import Any, Callable

from omegaconf import DictConfig

from src.utils import rich_utils
from src.utils.errors import ConfigError
from src.utils.pylogger import RankedLogger

log = RankedLogger(__name__, rank_zero_only=True)


def extras(cfg: DictConfig) -> None:
    """Apply `cfg.extras` before the task: silence warnings, ask for tags, print the config."""
    if not cfg.get("extras"):
        return
    if cfg.extras.get("ignore_warnings"):
        log.info("Disabling python warnings! <cfg.extras.ignore_warnings=True>")
        warnings.filterwarnings("ignore")
    if cfg.extras.get("enforce_tags"):
        rich_utils.enforce_tags(cfg, save_to_file=True)
    if cfg.extras.get("print_config"):
        rich_utils.print_config_tree(cfg, resolve=True, save_to_file=True)


def task_wrapper(task_func: Callable) -> Callable:
    """Run a task and log where its outputs went, whether it succeeded or failed.

    The task returns (metric_dict, object_dict). Exceptions are logged and re-raised, so that
    the command-line entry point decides how to report them.
    """

    @wraps(task_func)
    def wrap(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            result = task_func(cfg=cfg)
        except Exception as ex:  # a refused run's directory may be removed: not named here
            log.error(f"{type(ex).__name__}: {ex}")
            raise
        log.info(f"Output dir: {cfg.paths.output_dir}")
        return result

    return wrap


def get_metric_value(
    metric_dict: dict[str, Any], metric_name: str | None, cut: str | None = None
) -> float | None:
    """The value of the metric a sweeper optimises (None when no metric is named). ``cut``:
    why the run stopped short of its schedule (`src.utils.coverage.partial_training`), named
    as the cause when no validation metric was logged (trial 9, fault 14)."""
    if not metric_name:
        log.info("Metric name is None! Skipping metric value retrieval...")
        return None
    if metric_name not in metric_dict:
        # selection reads validation metrics only: test metrics are never offered
        cadence = (
            "check the validation cadence: trainer.check_val_every_n_epoch, "
            "val_check_interval, limit_val_batches"
        )
        if cut:
            cadence = (
                f"it was cut short before a validation ran: {cut}; lift that limit or {cadence}"
            )
        available = ", ".join(sorted(k for k in metric_dict if k.startswith("val/"))) or (
            f"a validation metric, and this run logged none ({cadence})"
        )
        raise ConfigError(
            f"optimized_metric: '{metric_name}' was not logged; expected one of: {available}"
        )
    value = metric_dict[metric_name]
    value = float(value.item() if hasattr(value, "item") else value)
    log.info(f"Retrieved metric value! <{metric_name}={value}>")
    return value
