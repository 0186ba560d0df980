"""Every job of a sweep checked at the door, before the first job runs (issue 22, sixth trial).

A single run with a bad value is refused with one ``error:`` line and exit 2 before anything
is made; a sweep (``-m``) used to compose and check each job only when its turn came, so the
jobs before a bad one trained first and the bad one ended as a failed job folder (exit 1). Here
the sweep is expanded as its sweeper expands it -- Hydra's own `OverridesParser` and
`BasicSweeper.split_arguments`, or, for an Optuna search (whose trials cannot be enumerated),
each searched parameter's choices and interval ends (`search_probes`) -- each job is composed
as the launcher composes it (`ConfigLoader.load_sweep_config`, its run folder resolved without
being made: `src.utils.run_dirs.dry_claims`) and given the checks a single run gets before its
work starts (`check_job`: where its folder goes, its store, and the script's own door, e.g.
train.py's rules, machine and checkpoint checks). Any refused job: one line per refused job,
naming it and its overrides, and exit 2 before the sweep folder exists. A sweep of no job is
refused the same way, and so are two jobs of one folder (`check_own_folder`) and a sweep folder
of other files ("/", $HOME: `check_not_a_user_folder`). Failures after the door (a diverging
loss) stay per job (src/utils/jobs.py).
"""

from __future__ import annotations

import copy
import json
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from src.utils.errors import EXIT_USER_ERROR, ConfigError, error_line, user_error
from src.utils.sweep_jobs import BASIC_SWEEPER, FIXED, OPTUNA_SWEEPER, script_path, sweep_jobs
from src.utils.sweep_processes import note_processes, processes_line
from src.utils.sweep_stop import note_folder, plan_sweep

Door = Callable[[DictConfig], None]
SWEEP_DIR = "hydra.sweep.dir"  # the key a job's folder is named under in a refusal
_DOOR: list[Door] = []  # the entry script's own door (`use_door`), checked for each job


def use_door(door: Door | None) -> None:
    """Set the entry script's door: the checks its job makes before any work, on a job's
    configuration without its ``hydra`` node (train.py: `train_door`; eval.py: `eval_door`)."""
    _DOOR[:] = [door] if door is not None else []


def compose_job(config: DictConfig, loader: Any, overrides: list[str], number: int) -> DictConfig:
    """Job ``number``'s configuration as Hydra's launcher composes it (`load_sweep_config`,
    ``hydra.job.num``/``id``; hydra/_internal/core_plugins/basic_launcher.py), with
    ``hydra.runtime.output_dir`` the folder it would get (`hydra.core.utils.run_job`),
    resolved under `dry_claims`: no folder is made. Raises Hydra's composition errors, or
    ConfigError for a folder that does not resolve."""
    from src.utils.run_dir_checks import resolve_key
    from src.utils.run_dirs import dry_claims

    job = loader.load_sweep_config(config, list(overrides))
    with open_dict(job):
        job.hydra.job.id = number
        job.hydra.job.num = number
    with dry_claims():
        folder = os.path.join(
            str(resolve_key(job, "hydra.sweep.dir")), str(resolve_key(job, "hydra.sweep.subdir"))
        )
    with read_write(job.hydra.runtime), open_dict(job.hydra.runtime):
        job.hydra.runtime.output_dir = os.path.abspath(folder)
    note_folder(number, folder)  # where the job runs: named if a signal stops the sweep
    return job


def check_job(job: DictConfig, memo: dict[tuple[str, str], Any], sweep_dir: str) -> None:
    """The checks a single run gets before its work starts, on one composed job (Hydra's run
    config set to it): where its folder goes (`check_before_run_folder`, inside the sweep
    folder ``sweep_dir``: `check_job_folder`, `check_run_folder_path`), its store
    (`preflight_store`), the entry script's door (`use_door`) on the job's configuration
    without its ``hydra`` node, as the job receives it, and, when the store exists, what its
    split sizes allow (`check_sizes`). A store is read once per distinct data setting
    (``memo``, `once`); a job Lightning would run in several processes is noted there
    (`note_processes`: refused for the whole sweep). Raises the first refusal (ConfigError,
    DataError)."""
    from hydra.core.hydra_config import HydraConfig

    from src.data.preflight import preflight_store
    from src.utils.run_dir_checks import (
        check_before_run_folder,
        check_job_folder,
        check_not_a_user_folder,
        check_run_dir_free,
        check_run_folder_path,
    )

    HydraConfig.instance().set_config(job)
    check_before_run_folder(job, sweep=True)
    check_job_folder(job, sweep_dir)
    folder = str(job.hydra.runtime.output_dir)
    check_own_folder(job, memo)
    check_run_folder_path(folder, SWEEP_DIR)
    check_not_a_user_folder(folder, SWEEP_DIR)  # a job's folder holding an earlier run: the
    check_run_dir_free(folder, job, SWEEP_DIR)  # job would overwrite it (seventh trial)
    setting = data_setting(job)
    once(memo, ("store", setting), lambda: preflight_store(job))
    task = copy.deepcopy(job)
    with read_write(task), open_dict(task):
        del task["hydra"]
    for door in _DOOR:
        door(task)
    note_processes(job, task, script_path(job), memo)  # refused for the whole sweep
    sizes = once(memo, ("sizes", setting), lambda: split_sizes(task))
    if sizes is not None:
        check_sizes(task, sizes)


def check_own_folder(job: DictConfig, memo: dict[tuple[str, str], Any]) -> None:
    """Refuse (ConfigError naming hydra.sweep.subdir) a job whose folder is an earlier job's
    of the same sweep (``hydra.sweep.subdir=same``, or one without ``${hydra.job.num}`` or a
    swept key): the second job would replace the first one's results.json and mix their
    checkpoints. The first job of each folder is kept in ``memo``."""
    folder = str(job.hydra.runtime.output_dir)
    first = memo.setdefault(("folder", os.path.realpath(folder)), job.hydra.job.num)
    if first != job.hydra.job.num:
        raise ConfigError(
            f"hydra.sweep.subdir: resolves to {folder}, the folder of an earlier job of this "
            f"sweep (hydra.job.num={first}), whose results and checkpoints this job would "
            "replace; expected a folder of its own for each job, such as the default "
            "${hydra.job.num}"
        )


def data_setting(job: DictConfig) -> str:
    """The job's data setting: its resolved ``data`` node and ``data=`` choice, as JSON (a
    unique text for a node that does not resolve: `preflight_store` names its key)."""
    try:
        data = OmegaConf.to_container(job.get("data"), resolve=True)
    except Exception:  # noqa: BLE001  an interpolation that fails
        return f"unresolved {id(job)}"
    choice = OmegaConf.select(job, "hydra.runtime.choices.data", default=None)
    return json.dumps([data, choice], sort_keys=True, default=str)


def once(memo: dict[tuple[str, str], Any], key: tuple[str, str], read: Callable[[], Any]) -> Any:
    """``read()``, or what it returned or raised for an earlier job of the same ``key``."""
    if key not in memo:
        try:
            memo[key] = (read(), None)
        except Exception as exc:
            memo[key] = (None, exc)
    value, error = memo[key]
    if error is not None:
        raise error
    return value


def split_sizes(task: DictConfig) -> dict[str, int] | None:
    """The run's split sizes from its store's header and splits, as the datamodule gives them
    before any feature is read (`split_sizes`); None while the store is a synthetic one yet
    to be generated (its job generates it, then checks them)."""
    import hydra.utils

    from src.utils.paths import classify

    if classify(str(task.data.path)).kind == "missing":
        return None
    return hydra.utils.instantiate(task.data).split_sizes()


def check_sizes(task: DictConfig, sizes: dict[str, int]) -> None:
    """`check_run` as train.py and eval.py make it once the sizes are known: a run that would
    train or evaluate nothing, retrieval cut-offs above the data (eval.py: the checkpoint's
    ``eval_topk``)."""
    from src.utils.checkpoints import read_checkpoint
    from src.utils.run_checks import check_run

    if "train" in task:
        check_run(task, sizes, OmegaConf.select(task, "model.eval_topk", default=None))
        return
    saved = read_checkpoint(task.ckpt_path)["hyper_parameters"].get("eval_topk")
    check_run(task, sizes, saved, str(task.ckpt_path))


def job_problem(
    config: DictConfig, loader: Any, overrides: list[str], number: int, memo: dict, sweep: str
) -> str | None:
    """Why job ``number`` would be refused (a composition error as `composition_error`
    words it, or the first refusal of `check_job` in the sweep folder ``sweep``), or None. A
    bug keeps its traceback."""
    from src.utils.composition_errors import composition_error

    try:
        job = compose_job(config, loader, overrides, number)
    except Exception as exc:  # noqa: BLE001  Hydra's composition errors
        return composition_error(exc, overrides)
    try:
        check_job(job, memo, sweep)
    except Exception as exc:
        error = user_error(exc)
        if error is None:
            raise
        return " ".join(str(error).split())
    return None


def check_sweep(config: DictConfig) -> None:
    """Check the sweeper's own settings (`check_sweeper`: ``hydra.sweeper.n_trials``...),
    expand the sweep of the multirun ``config`` (`sweep_jobs`) and check each job
    (`job_problem`) before any is launched; Hydra's run config is restored afterwards.
    Raises ConfigError for a bad sweeper setting and a sweep of no job; prints one
    ``error:`` line per refused job and exits 2 (`refuse`) when any is refused."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    from src.utils.config_rules import check_sweeper
    from src.utils.run_dir_checks import (
        check_before_run_folder,
        check_not_a_user_folder,
        resolve_key,
    )
    from src.utils.run_dirs import dry_claims

    check_sweeper(config)  # the sweeper's own settings (n_trials...), before any study
    check_before_run_folder(config, sweep=True)  # what all jobs share: one line, not one a job
    with dry_claims():  # the sweep folder, as the launcher resolves it (nothing made)
        sweep = str(resolve_key(config, SWEEP_DIR))
    check_not_a_user_folder(sweep, SWEEP_DIR, sweep=True)  # "/", $HOME, a data folder
    loader = GlobalHydra.instance().config_loader()
    script = script_path(config)
    jobs = sweep_jobs(config, loader)
    kept, memo = HydraConfig.instance().cfg, {}
    lines = []
    try:
        for number, (label, overrides) in enumerate(jobs):
            problem = job_problem(config, loader, overrides, number, memo, sweep)
            if problem is not None:
                lines.append(f"{script}: {label}: {problem}")
                if label == FIXED:  # every trial has it: one line, not one per probe
                    break
    finally:
        HydraConfig.instance().cfg = kept
    search = OmegaConf.select(config, "hydra.sweeper._target_", default="") == OPTUNA_SWEEPER
    processes = processes_line(memo, script, search)
    if not lines and processes is not None:
        lines = [processes]
    if lines:
        refuse(lines)
    basic = OmegaConf.select(config, "hydra.sweeper._target_", default=None) == BASIC_SWEEPER
    plan_sweep(jobs if basic else None)  # what a signal leaves undone (src/utils/sweep_stop.py)


def refuse(lines: list[str]) -> NoReturn:
    """Print each refusal as an ``error:`` line on stderr and exit 2."""
    for line in lines:
        print(error_line(ConfigError(line)), file=sys.stderr)
    sys.stderr.flush()
    sys.exit(EXIT_USER_ERROR)
