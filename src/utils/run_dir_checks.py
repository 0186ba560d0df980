"""Where a run folder may go, checked before Hydra makes it (`src.utils.run_dirs.HoldRunDir`
calls these): every value that becomes the folder's path on its resolved value (`resolve_key`;
an interpolation error is one line naming its key), the folder Hydra derives inside
``paths.log_dir`` (`derived_run_dir`), a folder that can be made and written, not a user's
folder of other files, not one holding an earlier run.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID")  # set on ranks > 0


def derived_run_dir(log_dir: str, below: str) -> str:
    """``log_dir/below``, the run folder Hydra derives from ``paths.log_dir``, ``task_name`` and
    the time, checked on its resolved value: ``log_dir`` must be a folder that can be made and
    written (the error names paths.log_dir, the key the user gave), and the joined path must
    stay inside it (``task_name=a/../../b`` or any interpolation that climbs out). A folder
    elsewhere is given as ``hydra.run.dir=...``. Raises ConfigError."""
    from src.utils.errors import ConfigError
    from src.utils.rule_kinds import FOLDER

    FOLDER.check("paths.log_dir", log_dir)
    root = os.path.normpath(os.path.abspath(log_dir))
    joined = os.path.normpath(os.path.join(root, below))
    if not inside(root, joined):
        raise ConfigError(
            f"hydra.run.dir: the run folder derived from task_name and paths.log_dir, {joined}, "
            f"lies outside paths.log_dir ({root}); expected a task_name that is a plain name, "
            "or give the folder itself as hydra.run.dir=..."
        )
    return os.path.join(log_dir, below)


def inside(root: str, path: str) -> bool:
    """Whether ``path`` lies strictly inside the folder ``root`` (not ``root`` itself), both
    made absolute and normalised (``..`` applied) as the folders they name."""
    root, path = (os.path.normpath(os.path.abspath(p)) for p in (root, path))
    return path != root and os.path.commonpath([root, path]) == root


def check_job_folder(job: DictConfig, sweep_dir: str) -> None:
    """A sweep job's folder (``hydra.runtime.output_dir``: its ``hydra.sweep.dir`` joined with
    its ``hydra.sweep.subdir``, resolved for the job) must lie strictly inside the sweep
    folder ``sweep_dir`` (``hydra.sweep.dir`` resolved once for the sweep: the folder Hydra's
    launcher makes); ``hydra.sweep.subdir=../../x``, an absolute one or a ``hydra.sweep.dir``
    that differs from job to job wrote a job's files elsewhere. Raises ConfigError naming
    hydra.sweep.dir when the job resolves it to another folder, else hydra.sweep.subdir."""
    from src.utils.errors import ConfigError
    from src.utils.run_dirs import dry_claims

    folder = str(job.hydra.runtime.output_dir)
    if inside(sweep_dir, folder):
        return
    with dry_claims():
        own = str(resolve_key(job, "hydra.sweep.dir"))
    root = os.path.normpath(os.path.abspath(sweep_dir))
    if os.path.normpath(os.path.abspath(own)) != root:
        raise ConfigError(
            f"hydra.sweep.dir: resolves to {own} for this job but to {root} for the sweep, and "
            f"the job's folder {folder} lies outside the sweep folder; expected one folder for "
            "every job (no ${hydra.job.num} or swept key in it)"
        )
    raise ConfigError(
        f"hydra.sweep.subdir: the job's folder {folder} lies outside the sweep folder {root} "
        "or is the sweep folder itself; expected a relative path inside it, such as the "
        "default ${hydra.job.num}"
    )


def earlier_run(run_dir: Path) -> str | None:
    """What of an earlier run ``run_dir`` holds (its results.json, its checkpoints), or None
    for a missing or fresh directory (Hydra's start-up files, a user's notes)."""
    if not run_dir.is_dir():
        return None
    found = [p.name for p in (run_dir / "results.json",) if p.is_file()]
    found += sorted(
        {p.name for p in run_dir.glob("checkpoints/*.ckpt")}
        | {p.name for p in run_dir.glob("*.ckpt")}
    )
    return ", ".join(found[:3]) + (", ..." if len(found) > 3 else "") if found else None


def check_run_dir_free(
    run_dir: str | os.PathLike, config: DictConfig, key: str = "hydra.run.dir"
) -> None:
    """Refuse (ConfigError naming ``key``: hydra.run.dir, or hydra.sweep.dir for a sweep's job)
    to start a run in a directory holding an earlier run's results or checkpoints, which it
    would overwrite; the one exception is train.py resuming from a checkpoint inside that
    directory, as the printed resume command does
    (``ckpt_path=<dir>/checkpoints/last.ckpt hydra.run.dir=<dir>``)."""
    from src.utils.errors import ConfigError

    if any(int(os.environ.get(name) or 0) > 0 for name in RANK_VARIABLES):
        return  # another rank of a run that rank zero started here
    run_dir = Path(run_dir)
    found = earlier_run(run_dir)
    if found is None:
        return
    ckpt = OmegaConf.select(config, "ckpt_path", default=None, throw_on_resolution_failure=False)
    inside = ckpt is not None and Path(os.path.realpath(str(ckpt))).is_relative_to(
        os.path.realpath(run_dir)
    )
    training = OmegaConf.select(config, "train", default=False) is True
    if inside and training and OmegaConf.select(config, "task_name", default=None) == "train":
        return
    raise ConfigError(
        f"{key}: {run_dir} holds an earlier run ({found}) that this run would "
        f"overwrite; expected a new or empty directory: give another {key}" + going_on(run_dir)
    )


def going_on(run_dir: Path) -> str:
    """How to go on with the run in ``run_dir`` (its ``checkpoints/last.ckpt``), whole commands
    (`src.utils.commands.folder_resume_command`, the run's own overrides): resume it, or --
    when it finished its ``trainer.max_epochs`` -- train it one epoch more; "" when it has no
    intact last.ckpt (`read_checkpoint`)."""
    from src.utils.checkpoints import epochs_done, read_checkpoint
    from src.utils.commands import folder_resume_command, recorded_max_epochs
    from src.utils.errors import DataError

    last = run_dir / "checkpoints" / "last.ckpt"
    try:
        done = epochs_done(read_checkpoint(last))
    except DataError:
        return ""
    max_epochs = recorded_max_epochs(run_dir)
    if max_epochs is not None and 0 <= max_epochs <= done:
        extend = folder_resume_command(run_dir, last, trainer__max_epochs=done + 1)
        return f", or train it on (it finished its {done} epochs) with: {extend}"
    return f", or resume it with: {folder_resume_command(run_dir, last)}"


def check_run_folder_path(run_dir: str, key: str = "hydra.run.dir") -> None:
    """Refuse (ConfigError naming ``key``) a run folder that cannot be made and written
    (`folder_problem`: under /proc, below a file, a name too long, a read-only disk), before
    anything is made: Hydra's own attempt ended in Errno text."""
    from src.utils.errors import ConfigError
    from src.utils.rule_kinds import FOLDER, folder_problem

    problem = folder_problem(str(run_dir)) if str(run_dir) else "an empty path, the current folder"
    if problem:
        raise ConfigError(f"{key}: expected {FOLDER.expected()} ({problem}), got {str(run_dir)!r}")


def check_not_a_user_folder(
    run_dir: str | os.PathLike, key: str = "hydra.run.dir", sweep: bool = False
) -> None:
    """Refuse (ConfigError naming ``key``) a run folder -- or, with ``sweep``, a sweep folder
    -- that exists, holds files and is not one of this project (`project_folder`): Hydra would
    add .hydra/, multirun.yaml and the logs to a user's own folder ("/", $HOME, a data
    folder). An empty folder and a run (sweep) folder are accepted."""
    from src.utils.errors import ConfigError

    run_dir = Path(run_dir)
    if not run_dir.is_dir() or project_folder(run_dir, sweep):
        return  # an earlier run's folder: `check_run_dir_free` says what it holds
    names = sorted(p.name for p in run_dir.iterdir())
    if names:
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        kind, mark = ("sweep", "multirun.yaml") if sweep else ("run", ".hydra/")
        raise ConfigError(
            f"{key}: {run_dir} is a folder of other files ({shown}), not a {kind} folder "
            f"of this project (no {mark}); expected a new or empty folder, or a {kind} folder"
        )


def project_folder(folder: Path, sweep: bool) -> bool:
    """Whether the existing ``folder`` is a run folder of this project (``.hydra/``, an
    earlier run's results or checkpoints) or, with ``sweep``, a sweep folder (its
    ``multirun.yaml``, or nothing but job folders)."""
    if not sweep:
        return (folder / ".hydra").is_dir() or earlier_run(folder) is not None
    entries = list(folder.iterdir())
    jobs = all(p.is_dir() and project_folder(p, False) for p in entries)
    return (folder / "multirun.yaml").is_file() or (bool(entries) and jobs)


def resolve_key(config: DictConfig, key: str) -> Any:
    """The value of ``key`` with its interpolations resolved; a failure is one ConfigError
    naming the key (a project error raised by a resolver, such as `derived_run_dir`'s, as it
    is), never OmegaConf's multi-line message."""
    from src.utils.errors import ConfigError, user_error

    try:
        return OmegaConf.select(config, key, throw_on_resolution_failure=True)
    except Exception as exc:  # noqa: BLE001  omegaconf's resolution errors and their causes
        error = user_error(exc)
        if error is not None:
            raise error from exc
        reason = " ".join(str(exc).split("\n")[0].split())
        raise ConfigError(
            f"{key}: cannot resolve its value ({reason}); expected an interpolation that resolves"
        ) from exc


# Hydra's own values joined to the run folder: its config copy's folder and the log file's
# name (hydra.output_subdir=../../x wrote .hydra's files outside the run folder)
HYDRA_NAMES = ("hydra.output_subdir", "hydra.job.name")


def check_before_run_folder(config: DictConfig, sweep: bool) -> None:
    """What decides where the run folder goes, checked before it is made: the project's
    folders (`check_paths`), task_name a plain name (``task_name=../..`` made a folder outside
    logs/), and a search preset (hparams_search) only with ``-m`` (without it the preset's
    sweeper is not run)."""
    from src.utils.config_rules import RULES
    from src.utils.errors import ConfigError
    from src.utils.rule_kinds import PART

    check_paths(config)
    resolve_key(config, "paths.log_dir")  # an interpolation error names the key it is in
    RULES["task_name"].check("task_name", resolve_key(config, "task_name"))
    for key in HYDRA_NAMES:  # joined to the run folder by Hydra: each a plain name (or null)
        PART.check(key, resolve_key(config, key))
    search = OmegaConf.select(config, "hydra.runtime.choices.hparams_search", default=None)
    if search is not None and not sweep:
        from src.utils.key_sources import command_line

        overrides = command_line(config)
        words = ["python", sys.argv[0], "-m", *[str(o) for o in overrides]]
        raise ConfigError(
            f"hparams_search: {search} runs a search of many jobs and needs -m; expected: "
            + shlex.join(words)
        )


def check_paths(config: DictConfig) -> None:
    """Every value of `PATHS_RULES` that the configuration has and Hydra does not set at run
    time (not a ``${hydra:...}`` value: the run folder, the folder it started in), resolved,
    by its rule; a refusal names the key the user gave (`src.utils.key_sources.renamed`:
    ``paths.root_dir=<a file>`` names paths.root_dir, not the paths.log_dir derived from it).
    Raises ConfigError."""
    from src.utils.config_rules import PATHS_RULES
    from src.utils.errors import ConfigError
    from src.utils.key_sources import references, renamed

    for key, rule in PATHS_RULES.items():
        parent, _, name = key.rpartition(".")
        node = OmegaConf.select(config, parent, default=None)
        if not isinstance(node, DictConfig) or name not in node:
            continue
        if any(r.split(".")[0] == "hydra" for r in references(config, key)):
            continue
        try:
            rule.check(key, resolve_key(config, key))
        except ConfigError as err:
            raise renamed(err, key, config) from None
