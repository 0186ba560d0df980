"""How a command-line job ends: one line for a user error, a recorded failure in a sweep, the
command that resumes after Ctrl-C.

A single run prints a user error as one ``error:`` line and exits with status 2. A sweep's
jobs are checked at the door before the first one runs, as a single run is
(src/utils/sweep_door.py: a refused job refuses the sweep, exit 2, nothing written). A job of a
sweep (``-m``) must not end the process that runs the other jobs: its failure, whatever the
exception, is written to its results.json (``status: failed`` and why) and the job returns;
``FailedJobsSummary`` (a Hydra callback, configs/hydra/default.yaml) then lists the failed
jobs and exits with status 1 once every job has run.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Callable

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from src.utils.composition_errors import composition_error
from src.utils.hydra_argv import hydra_argv
from src.utils.last_good import good_checkpoints, last_good_words
from src.utils.commands import eval_command, same_command, start_over, train_command
from src.utils.errors import (
    EXIT_INTERRUPTED,
    EXIT_USER_ERROR,
    AGCHError,
    ConfigError,
    exit_on_user_error,
    lightning_interrupt,
    one_line_errors,
    user_error,
)
from src.utils.pylogger import RankedLogger, quiet_interrupt_notices
from src.utils.machine_checks import run_launch
from src.utils.records import FAILED, INCOMPLETE, git_commit, write_failed_record
from src.utils.run_dir_guard import restore_run_dir
from src.utils.run_dirs import (  # noqa: F401  (RUN_SCAFFOLD: re-exported)
    RUN_SCAFFOLD,
    claimed_dirs,
    drop_unused_run_dir,
    earlier_run,
    made_dirs,
    drop_made_parents,
    hold_run_dir,
    made_here,
    pin_run_dir,
    release_run_dir,
)
from src.utils.startup import started
from src.utils.sweep_stop import signal_name, sweep_words

log = RankedLogger(__name__, rank_zero_only=True)


def is_multirun() -> bool:
    """True inside a job of a sweep (``python src/train.py -m ...``)."""
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def failure_reason(exc: BaseException) -> str:
    """One line saying why a job failed: the project error's message, else the exception."""
    error = user_error(exc)
    text = str(error) if error is not None else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())


def _failed_value() -> float | None:
    """What a failed job returns to the sweeper: the worst value for a search with a direction
    (Optuna records the trial and goes on), else None (the basic sweeper ignores it)."""
    direction = OmegaConf.select(HydraConfig.get().sweeper, "direction", default=None)
    return {"maximize": -math.inf, "minimize": math.inf}.get(str(direction).lower())


_JOB_STARTED = False  # set once Hydra has composed a configuration and called the job
_FIT_STARTED = False  # set by `fit_started` when training begins (train.py, before fit)


def fit_started() -> None:
    """Mark that training begins: from here a refused or interrupted run keeps its folder
    (what was trained is resumable; its logs say how far it went)."""
    global _FIT_STARTED
    _FIT_STARTED = True


def run_cli(main: Callable[[], Any], door: Callable[[DictConfig], None] | None = None) -> None:
    """Call a ``@hydra.main`` entry so that a failure before the job starts -- Hydra's
    composition errors (an unknown config name, a misspelt key without ``+``, ``logger=null``,
    a bad override) and a run directory that cannot be made -- is one ``error:`` line and exit
    2 instead of Hydra's multi-line message and exit 1; Hydra's flags are read wherever they
    stand (`hydra_argv`). Errors of the job itself are handled by `run_job`; a bug in it keeps
    its traceback. ``door``: the checks the script's job makes before any work, which a
    sweep makes for every job before the first runs (src/utils/sweep_door.py)."""
    from src.utils.notices import notices_to_stdout
    from src.utils.sweep_door import use_door

    use_door(door)
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")  # Hydra re-raises instead of printing
    started()  # Ctrl-C and SIGTERM raise KeyboardInterrupt from here (src/utils/startup.py)
    quiet_interrupt_notices()  # the job's one line says it was interrupted, not Lightning
    notices_to_stdout()  # stderr: the project's lines alone (src/utils/notices.py)
    try:
        _run_main(main)
    except SystemExit as exit_:  # refused or interrupted: no folder left, the run folder's
        if exit_.code in (EXIT_USER_ERROR, EXIT_INTERRUPTED):  # parents made for it included
            for claimed in {*claimed_dirs(), *made_dirs()}:  # made for an explicit run dir
                drop_unused_run_dir(Path(claimed))  # too (trial 8 D03: a full disk)
            drop_made_parents()
        raise


def _run_main(main: Callable[[], Any]) -> None:
    """`run_cli` up to the exit: Hydra's errors before the job and Ctrl-C as one line."""
    try:
        sys.argv[1:] = hydra_argv(sys.argv[1:], Path(sys.argv[0]).name)
        main()
    except KeyboardInterrupt as exc:  # while Hydra composes, ends, or starts a sweep's job
        swept = sweep_words() if _JOB_STARTED else None
        when = "after the run" if _JOB_STARTED else "while starting; nothing was run"
        when = f"while the sweep ran; {swept}" if swept else when
        exit_on_user_error(AGCHError(f"interrupted ({signal_name(exc)}) {when}"), EXIT_INTERRUPTED)
    except Exception as exc:
        if _JOB_STARTED:
            raise
        exit_on_user_error(ConfigError(composition_error(exc)))


def run_job(cfg: DictConfig, task: Callable[[DictConfig], Any]) -> Any:
    """Run ``task(cfg)`` as a command-line job: see the module docstring.

    Ctrl-C ends the job (and a sweep) with status 130 and one line with ``resume_hint``.
    """
    global _JOB_STARTED
    _JOB_STARTED = True
    pin_run_dir()
    with one_line_errors():  # a directory in use: one line, and the other run's files stay
        held = hold_run_dir(Path(HydraConfig.get().runtime.output_dir))
    try:
        with run_launch():  # processes Lightning starts are this run's (machine_checks)
            return _run_held(cfg, task)
    finally:
        release_run_dir(held)


def _run_held(cfg: DictConfig, task: Callable[[DictConfig], Any]) -> Any:
    """`run_job` once the run directory is held."""
    if not is_multirun():
        try:
            with one_line_errors():
                return _interruptible(cfg, task)
        except SystemExit as exit_:
            if exit_.code in (EXIT_USER_ERROR, EXIT_INTERRUPTED):  # refused or interrupted:
                output_dir = Path(HydraConfig.get().runtime.output_dir)  # a folder that existed
                if not restore_run_dir(output_dir):  # is put back as it was, one made for the
                    discard_untrained_run_dir(output_dir, cfg)  # run is removed
            raise
    try:
        return _interruptible(cfg, task)
    except Exception as exc:
        reason = failure_reason(exc)
        if user_error(exc) is None:  # a bug: its traceback goes to the job's log
            log.exception(f"Job failed: {reason}")
        else:
            log.error(f"Job failed: {reason}")
        write_failed_record(cfg, reason, git_commit())
        return _failed_value()


def scaffold(cfg: DictConfig) -> frozenset[str]:
    """`RUN_SCAFFOLD` plus the log file this run's Hydra logging writes (``<task_name>.log``:
    ``debug.log`` under the debug presets, whatever file ``job_logging`` names)."""
    names = {f"{cfg.get('task_name')}.log"}
    if HydraConfig.initialized():
        handler = OmegaConf.select(HydraConfig.get(), "job_logging.handlers.file.filename")
        names |= {Path(str(handler)).name} if handler else set()
    return RUN_SCAFFOLD | names


def discard_untrained_run_dir(run_dir: Path, cfg: DictConfig) -> None:
    """After a refusal or Ctrl-C: a folder this process made (`made_here`) before training
    began holds only this start-up's files (.hydra/, the log, a logger's first files), so it
    goes whole; any other folder loses only the start-up files (`drop_unused_run_dir`), and a
    folder holding a checkpoint or results.json is kept. A run that stopped before its first
    checkpoint (a non-finite loss at step 0, a full disk) made nothing to resume or test: its
    folder goes whole too (trial 8 C02, D01: logs and health_initial.pt were left)."""
    started = _FIT_STARTED and wrote_work(run_dir, cfg)
    if made_here(run_dir) and not started and earlier_run(run_dir) is None:
        shutil.rmtree(run_dir, ignore_errors=True)
    else:
        drop_unused_run_dir(run_dir, scaffold(cfg))


def wrote_work(run_dir: Path, cfg: DictConfig) -> bool:
    """Whether the run left something to resume, test or read: a checkpoint in its folder or
    its checkpoint folder (``callbacks.model_checkpoint.dirpath``), or a results.json."""
    folders = {run_dir, last_checkpoint(cfg).parent}
    found = (next(f.rglob("*.ckpt"), None) for f in folders if f.is_dir())
    return any(p is not None for p in found) or (run_dir / "results.json").exists()


def _interruptible(cfg: DictConfig, task: Callable[[DictConfig], Any]) -> Any:
    """``task(cfg)``; on Ctrl-C or SIGTERM, in any Lightning stage too (`lightning_interrupt`),
    one line that says how to resume, and exit 130."""
    try:
        return task(cfg)
    except (KeyboardInterrupt, SystemExit) as exc:
        if isinstance(exc, SystemExit) and lightning_interrupt(exc) is None:
            raise
        swept = sweep_words(HydraConfig.get().runtime.output_dir) if is_multirun() else None
        others = f"; the sweep's other jobs: {swept}" if swept else ""  # (sweep_stop.py)
        exit_on_user_error(AGCHError(f"interrupted; {resume_hint(cfg)}{others}"), EXIT_INTERRUPTED)


def last_checkpoint(cfg: DictConfig) -> Path:
    """Where this run writes last.ckpt (the checkpoint callback's folder)."""
    folder = OmegaConf.select(cfg, "callbacks.model_checkpoint.dirpath", default=None)
    return Path(folder or Path(cfg.paths.output_dir, "checkpoints"), "last.ckpt")


def resume_hint(cfg: DictConfig, named: bool = False) -> str:
    """The command that goes on with this run from its latest intact checkpoint that holds the
    optimiser state (`good_checkpoints`: last.ckpt, written every ``last_every_n_epochs``,
    unless damaged): train.py resuming it in its own directory, or -- when that checkpoint
    finished ``trainer.max_epochs`` (a resume would have nothing to train) -- eval.py testing
    it (`src.utils.commands`); or what to do when there is none."""
    if cfg.get("task_name") != "train":
        return f"nothing to resume (not a training run); run it again with: {same_command()}"
    folder = last_checkpoint(cfg).parent
    good = good_checkpoints(folder, cfg.get("ckpt_path"))
    resumable = next((g for g in good if g.resumable), None)
    if resumable is None:  # ``named``: the line has said what the disk holds already
        said = "" if named else f"{last_good_words(folder, cfg.get('ckpt_path'), cfg=cfg)}; "
        return said + start_over(cfg, wrote_work(Path(cfg.paths.output_dir), cfg))
    max_epochs = OmegaConf.select(cfg, "trainer.max_epochs", default=None)
    if isinstance(max_epochs, int) and 0 <= max_epochs <= resumable.epochs:
        return (
            f"its training finished ({resumable.epochs} epochs, {resumable.path}); test it with: "
            + eval_command(cfg, resumable.path)
        )
    return (
        f"resume (from the end of epoch {resumable.epochs}, the last checkpoint written) with: "
        + train_command(resumable.path, **{"hydra__run__dir": Path(cfg.paths.output_dir)})
    )


def _job_record(job_dir: Path) -> tuple[str, str, list[str]]:
    """(status, why, overrides) of one job folder of a sweep (a job that wrote no results.json
    stopped before its end: it counts as failed)."""
    try:
        record = json.loads((job_dir / "results.json").read_text())
    except (OSError, ValueError):
        record = {"status": FAILED, "error": "no readable results.json (stopped before it)"}
    overrides = record.get("overrides") or []
    if (job_dir / ".hydra" / "overrides.yaml").is_file():
        overrides = list(OmegaConf.load(job_dir / ".hydra" / "overrides.yaml"))
    return str(record.get("status")), str(record.get("error")), [str(o) for o in overrides]


def sweep_failures(sweep_dir: Path) -> tuple[int, list[str]]:
    """(number of jobs, one line per failed job) of a sweep directory.

    Job folders are the sub-folders that Hydra gave a ``.hydra`` record or that hold a
    results.json; a line names the folder, the overrides that set the job apart from the
    others, and why it failed.
    """
    jobs = [
        p for p in sweep_dir.iterdir() if (p / ".hydra").is_dir() or (p / "results.json").exists()
    ]
    jobs.sort(key=lambda p: (len(p.name), p.name))  # 2 before 10
    records = [_job_record(job) for job in jobs]
    shared = set.intersection(*(set(r[2]) for r in records)) if len(records) > 1 else set()
    lines = []
    for job, (status, why, overrides) in zip(jobs, records):
        if status in (FAILED, INCOMPLETE):
            own = " ".join(o for o in overrides if o not in shared)
            lines.append(f"  {job} ({own}): {why}")
    return len(jobs), lines


class FailedJobsSummary(Callback):
    """At the end of a sweep: list the failed jobs on stderr and exit with status 1."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        if not sweep_dir.is_dir():
            return
        n_jobs, failed = sweep_failures(sweep_dir)
        if not failed:
            return
        lines = [f"error: {len(failed)} of {n_jobs} jobs of the sweep failed:", *failed]
        print("\n".join(lines), file=sys.stderr, flush=True)
        sys.exit(1)
