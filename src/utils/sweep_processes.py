"""A sweep whose jobs would each run in several processes started by Lightning's own launcher
(trial 12 H1), refused at the sweep door (src/utils/sweep_door.py).

Lightning starts a job's other processes (trainer=ddp_sim, trainer=ddp) by running this
command's whole ``sys.argv`` again (``_hydra_subprocess_cmd`` in
lightning/pytorch/strategies/launchers/subprocess_script.py), with the ``-m`` and the sweep
in it, and ``hydra.run.dir`` the single-run folder, not the job's: each rank-1 process ran a
sweep of its own, refused its jobs as launcher variables set by hand, and the sweep ended with
exit 0 and "completed" folders whose training no one can vouch for. A cluster launcher
(SLURM, torchrun, LSF) starts the processes itself and is not concerned. The door refuses such
a sweep in one line that gives one command per job: a single run of the job's overrides in
the job's own folder.
"""

from __future__ import annotations

import os
import shlex
from typing import Any

from omegaconf import DictConfig, OmegaConf

from src.utils.machine_checks import cluster_environment, world_size

PROCESSES = ("processes", "")  # the memo key of the jobs that would start processes
SHOWN = 3  # commands written out in the line; the others are counted
# Hydra overrides that make a sweep, not a run: left out of a job's own command
SWEEP_ONLY = ("hydra.mode", "hydra.sweep", "hydra/sweeper", "hydra.run.dir", "hydra.launcher")
SWEEP_ONLY += ("hydra/launcher",)


def launches_processes(trainer: DictConfig) -> bool:
    """Whether a run of ``trainer`` has Lightning start its other processes by running the
    command again: several processes and no cluster launcher that starts them."""
    return world_size(trainer) > 1 and cluster_environment() is None


def job_command(job: DictConfig, script: str) -> str:
    """The single run of a composed sweep ``job``: ``python <script>`` with the job's task
    overrides, the command's Hydra overrides that are not the sweep's, and the folder the
    sweep would have given it (``hydra.run.dir``)."""
    hydra = job.hydra.overrides
    words = [str(o) for o in OmegaConf.to_container(hydra.task, resolve=False)]
    words += [
        str(o)
        for o in OmegaConf.to_container(hydra.hydra, resolve=False)
        if not str(o).lstrip("+~").startswith(SWEEP_ONLY)
    ]
    words.append(f"hydra.run.dir={os.path.abspath(str(job.hydra.runtime.output_dir))}")
    return shlex.join(["python", script, *words])


def note_processes(job: DictConfig, task: DictConfig, script: str, memo: dict) -> None:
    """Keep in ``memo`` the single-run command of a job that would start processes; not for a
    sweep launched on SLURM (hydra/launcher=slurm), whose job tasks SLURM starts."""
    trainer = task.get("trainer")
    launcher = str(OmegaConf.select(job, "hydra.launcher._target_", default=""))
    on_slurm = launcher.endswith("SlurmLauncher")
    if isinstance(trainer, DictConfig) and not on_slurm and launches_processes(trainer):
        memo.setdefault(PROCESSES, []).append((world_size(trainer), job_command(job, script)))


def processes_line(memo: dict[Any, Any], script: str, search: bool) -> str | None:
    """The refusal of a sweep with jobs that would start processes (`note_processes`), one
    line naming why and what to run instead, or None."""
    noted = memo.get(PROCESSES)
    if not noted:
        return None
    count = noted[0][0]
    why = (
        f"{script}: trainer.devices: {len(noted)} job(s) of this sweep would each run in {count} "
        "processes, which Lightning starts by running this whole command again, sweep (-m) "
        "included, so each process would run a sweep of its own; a sweep cannot run them"
    )
    if search:
        return why + (
            "; expected the search with trainer.devices=1 (trainer=cpu), then the setting "
            "it finds trained in one command without -m"
        )
    commands = " ; ".join(command for _, command in noted[:SHOWN])
    more = len(noted) - SHOWN
    rest = f" ; and {more} more, one per job (its overrides and folder)" if more > 0 else ""
    return (
        f"{why}; expected one command per job: {commands}{rest} (or trainer.devices=1 in the "
        "sweep)"
    )
