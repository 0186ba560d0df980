"""A sweep's jobs as its sweeper will run them, listed before any runs (src/utils/sweep_door.py
checks each): a basic sweep's every job by Hydra's own expansion (`OverridesParser`,
`BasicSweeper.split_arguments`), and for an Optuna search, whose trials are drawn as it runs,
one job per choice and interval end of each searched parameter (`search_probes`).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from src.utils.errors import ConfigError

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
OPTUNA_SWEEPER = "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"
FIXED = "the search's fixed overrides"  # the label of the job every trial of a search shares
# a character of Hydra's override grammar escaped by a backslash (its ESC token: \()[]{}:=, tab)
HYDRA_ESCAPED = re.compile(r"\\([\\()\[\]{}:=, \t])")
# the first interval(a, b) of a search-space argument, its two ends
INTERVAL = re.compile(r"interval\(\s*([^,()]+?)\s*,\s*([^,()]+?)\s*\)")


def sweep_arguments(config: DictConfig) -> list[str]:
    """The sweeper's arguments as its ``sweep`` builds them: ``hydra.sweeper.params`` (each
    ``key=value``) then the command line's task overrides."""
    params = OmegaConf.select(config, "hydra.sweeper.params", default=None) or {}
    task = OmegaConf.to_container(config.hydra.overrides.task, resolve=False)
    return [f"{key!s}={value}" for key, value in params.items()] + [str(t) for t in task]


def basic_jobs(config: DictConfig, loader: Any) -> list[list[str]]:
    """The overrides of every job of a basic sweep, in launch order (Hydra's own expansion:
    `BasicSweeper.split_arguments`, batches flattened). Raises ConfigError when it has none,
    naming the sweep override that expands to nothing."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = OverridesParser.create(config_loader=loader).parse_overrides(
        sweep_arguments(config)
    )
    jobs = [job for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]
    if not jobs:
        raise ConfigError(f"{script_path(config)}: {_no_job(overrides, loader)}")
    return jobs


def _no_job(overrides: Sequence[Any], loader: Any) -> str:
    """Why a sweep has no job: the sweep override that expands to no value (a glob over a
    config group: the options it was matched against)."""
    from hydra.core.override_parser.types import Glob

    for override in overrides:
        if not override.is_sweep_override() or list(override.sweep_string_iterator()):
            continue
        value = override.value()
        if isinstance(value, Glob):
            return _empty_glob(override, value, loader)
        return (
            f"{override.input_line}: the sweep has no job: it expands to no value; expected "
            "a sweep of at least one value"
        )
    return "the sweep has no job; expected at least one job"


def _empty_glob(override: Any, glob: Any, loader: Any) -> str:
    """Why a glob over a config group selects nothing: its include patterns match none of the
    group's options (listed), or its exclude patterns remove every option they matched."""
    from hydra.core.override_parser.types import Glob

    key = override.get_key_element()
    options = sorted(loader.get_group_options(override.key_or_group))
    matched = Glob(include=glob.include, exclude=[]).filter(options)
    if matched:
        shown = ", ".join(matched[:12]) + (", ..." if len(matched) > 12 else "")
        return (
            f"{override.input_line}: the sweep has no job: the glob's include matched "
            f"{len(matched)} options of {key} ({shown}) and its exclude removed them all; "
            "expected an exclude that leaves at least one"
        )
    shown = ", ".join(options[:12]) + (", ..." if len(options) > 12 else "")
    return (
        f"{override.input_line}: the sweep has no job: the glob matched none of the "
        f"{len(options)} options of {key} ({shown}); expected a pattern that matches "
        f"at least one (the files of configs/{override.key_or_group}/)"
    )


def search_probes(config: DictConfig) -> list[tuple[str, list[str]]]:
    """An Optuna search's trials cannot be listed before it runs; its parameters can: one job
    per choice of each searched parameter and per end of each interval or range (the other
    searched parameters left at their configured values), with the fixed overrides, as (label,
    overrides). The parameters are read by the sweeper's own `create_params_from_overrides`.
    Values of two parameters are not checked together (only each alone)."""
    arguments = sweep_arguments(config)
    space, fixed = search_space(arguments, script_path(config))
    given = {a.split("=", 1)[0].lstrip("+~"): a for a in arguments}
    fixed_job = [f"{key}={value}" for key, value in fixed.items()]
    probes: dict[tuple[str, ...], str] = {tuple(fixed_job): FIXED}
    for name, distribution in space.items():
        for value in _values(distribution):
            label = f"search space {given.get(name, name)}: its value {name}={value}"
            probes.setdefault((*fixed_job, f"{name}={value}"), label)
    return [(label, list(job)) for job, label in probes.items()]


def search_space(arguments: list[str], script: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Optuna sweeper's own `create_params_from_overrides` of ``arguments``; a parameter
    whose distribution Optuna refuses (ends reversed, a log scale from 0 or below: a
    ValueError that left a sweep folder and Hydra's warning) raises ConfigError naming it,
    with what it takes (`space_advice`)."""
    from hydra_plugins.hydra_optuna_sweeper._impl import create_params_from_overrides

    try:
        return create_params_from_overrides(arguments)
    except ValueError as error:
        for argument in arguments:  # the one Optuna refuses alone
            try:
                create_params_from_overrides([argument])
            except ValueError as exc:
                reason = " ".join(str(exc).split()).rstrip(".")
                raise ConfigError(
                    f"{script}: search space {argument}: {reason}; expected "
                    + space_advice(argument, reason)
                ) from None
        raise error


def space_advice(argument: str, reason: str) -> str:
    """What a refused search-space ``argument`` takes, with the argument mended where it is an
    ``interval(a, b)`` (shell-quoted, to type as printed)."""
    key, found = argument.split("=", 1)[0], INTERVAL.search(argument)
    if "log" in reason:
        words = "a lower end > 0 on a log scale, or no log tag"
        try:
            high = float(found[2]) if found else 0.0
        except ValueError:
            high = 0.0
        if high <= 0:
            plain = shlex.quote(f"{key}=interval({found[1]},{found[2]})") if found else ""
            return words + (f", e.g. {plain}" if plain else "")
        mended = f"interval({high / 1000:g},{found[2]})"
    elif "smaller than or equal" in reason:
        words = "the lower end first"
        mended = f"interval({found[2]},{found[1]})" if found else ""
    else:
        return (
            "a distribution Optuna builds: interval(low,high) or range(start,stop) with the "
            "lower end first, a log scale from a lower end > 0, or choice(...)"
        )
    if not mended:
        return words
    example = argument[: found.start()] + mended + argument[found.end() :]
    return f"{words}, e.g. {shlex.quote(example)}"


def _values(distribution: Any) -> list[Any]:
    """The values of an Optuna distribution worth a check: its choices, or its two ends."""
    choices = getattr(distribution, "choices", None)
    return list(choices) if choices is not None else [distribution.low, distribution.high]


def typed_form(override: str) -> str:
    """A job's override as the user typed it in the sweep (``seed=${nope}``), without the
    backslashes Hydra's sweeper puts before its grammar's special characters when it writes
    a job's overrides (``seed=$\\{nope\\}``; Hydra's ``escape_special_characters``)."""
    return HYDRA_ESCAPED.sub(r"\1", override)


def sweep_jobs(config: DictConfig, loader: Any) -> list[tuple[str, list[str]]]:
    """(label, overrides) of the jobs to check: every job of a basic sweep ("job 2 of 4
    (seed=abc)", naming the overrides that set it apart from the other jobs), the probes of an
    Optuna search; none for another sweeper (its jobs are checked as they run)."""
    target = str(OmegaConf.select(config, "hydra.sweeper._target_", default=""))
    if target == OPTUNA_SWEEPER:
        return search_probes(config)
    if target != BASIC_SWEEPER:
        return []
    jobs = basic_jobs(config, loader)
    shared = set.intersection(*(set(job) for job in jobs))
    labels = []
    for number, job in enumerate(jobs, start=1):
        own = " ".join(typed_form(o) for o in job if o not in shared or len(jobs) == 1)
        labels.append(f"job {number} of {len(jobs)}" + (f" ({own})" if own else ""))
    return list(zip(labels, jobs))


def script_path(config: DictConfig) -> str:
    """The entry script of the Hydra app whose multirun ``config`` this is ("src/train.py")."""
    name = OmegaConf.select(config, "hydra.job.config_name", default=None) or "train"
    return f"src/{Path(str(name)).stem}.py"  # @hydra.main names "train.yaml"
