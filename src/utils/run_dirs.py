"""Run directories that no two processes share.

Hydra names a run directory by the time to the second, and creates it with ``exist_ok=True``:
two runs started in the same second wrote into one folder (results.json of one seed, last.ckpt
of another). The ``unique_dir`` resolver used in configs/hydra/default.yaml claims a fresh
directory instead: ``os.mkdir`` is atomic, so of several processes trying the same name one
gets it and the others move on to ``<name>_1``, ``<name>_2``, ...

Processes that must share a directory get it without claiming: the other ranks of a DDP run
that Lightning starts are given ``hydra.run.dir`` (see ``pin_run_dir``); the tasks of one
multi-task SLURM step (``srun``) all name ``<name>_job<id>.<step>``; the jobs of a sweep read
the sweep directory from the config cache of the process that launched them.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from src.utils.run_dir_checks import (  # noqa: F401  (check_*: re-exported for callers)
    RANK_VARIABLES,
    check_before_run_folder,
    check_not_a_user_folder,
    check_run_dir_free,
    check_run_folder_path,
    derived_run_dir,
    earlier_run,
    resolve_key,
)

RESOLVER = "unique_dir"
# what Hydra and the loggers write into a run directory before the run itself writes anything
RUN_SCAFFOLD = frozenset({".hydra", "config_tree.log", "tags.log", "train.log", "eval.log"})
# base name -> directory claimed by this process (a config copy re-resolves the name)
_CLAIMED: dict[str, str] = {}
# run folders this process made (claimed, or made from an explicit hydra.run.dir)
_MADE: set[str] = set()
# folders above them that this process made (logs/train/runs/ in a fresh clone), deepest last
_PARENTS_MADE: list[str] = []
# while true (`dry_claims`), `claim_dir` names the folder it would claim and makes nothing
_DRY: list[bool] = [False]


@contextmanager
def dry_claims() -> Iterator[None]:
    """Inside the block, ``${unique_dir:...}`` resolves to the folder it would claim first
    (not made, not remembered): the door of a sweep (src/utils/sweep_door.py) resolves its
    jobs' folders before anything may be made."""
    _DRY[0] = True
    try:
        yield
    finally:
        _DRY[0] = False


def make_folder(path: Path) -> None:
    """``path.mkdir(parents=True, exist_ok=True)``, recording the folders above ``path`` that
    did not exist (`drop_made_parents` removes them again after a refusal)."""
    missing = [p for p in (*reversed(path.parents), path) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    _PARENTS_MADE.extend(str(p) for p in missing if str(p) not in _PARENTS_MADE)


def drop_made_parents() -> None:
    """Remove the folders above a run folder that this process made (`make_folder`), deepest
    first, each only while it is empty: a refused run in a fresh clone left an empty
    logs/train/runs/ behind. A folder another run has put something in meanwhile stays."""
    for folder in reversed(_PARENTS_MADE):
        try:
            os.rmdir(folder)
        except OSError:  # not empty (another run's folder), or gone already
            continue
    _PARENTS_MADE.clear()


def made_here(run_dir: str | os.PathLike) -> bool:
    """Whether this process made ``run_dir`` (so every file in it is this run's own)."""
    return os.path.realpath(run_dir) in _MADE


def _shared_suffix() -> str | None:
    """A name shared by all tasks of one multi-task SLURM step, else None."""
    if int(os.environ.get("SLURM_NTASKS", "1")) <= 1 or "SLURM_JOB_ID" not in os.environ:
        return None
    return f"job{os.environ['SLURM_JOB_ID']}.{os.environ.get('SLURM_STEP_ID', '0')}"


def claim_dir(base: str, below: str | None = None) -> str:
    """Create and return the first free one of ``base``, ``base_1``, ``base_2``, ...

    With ``below`` (``${unique_dir:${paths.log_dir},<task>/runs/<time>}``: the folder Hydra
    derives) the name is ``base/below``, which must lie inside ``base`` (`derived_run_dir`).
    Creating the directory is the claim (``os.mkdir`` fails on an existing one), so concurrent
    processes never get the same directory and an existing one is never reused. Repeated calls
    with the same arguments in one process return the same directory. Raises ConfigError
    (`check_run_folder_path`) when no folder can be made there, before anything is made.
    """
    if _DRY[0]:
        return base if below is None else derived_run_dir(base, below)
    key = base if below is None else f"{base}\0{below}"
    if key in _CLAIMED:
        return _CLAIMED[key]
    base = base if below is None else derived_run_dir(base, below)
    path = Path(base)
    check_run_folder_path(base)
    shared = _shared_suffix()
    if shared is not None:
        claimed = path.with_name(f"{path.name}_{shared}")
        make_folder(claimed)  # every task of the step names this one
    else:
        for number in itertools.count():
            claimed = path if number == 0 else path.with_name(f"{path.name}_{number}")
            try:
                make_folder(path.parent)  # again: a refused run may drop an empty parent
                claimed.mkdir()
                break
            except FileExistsError:
                continue
            except FileNotFoundError:  # its parent dropped meanwhile (`drop_made_parents`)
                continue
    _CLAIMED[key] = str(claimed)
    if shared is None:
        _MADE.add(os.path.realpath(claimed))
    return str(claimed)


def drop_unused_run_dir(run_dir: Path, names: frozenset[str] = RUN_SCAFFOLD) -> bool:
    """Remove ``run_dir`` when it holds only the start-up files ``names`` (`scaffold`), so
    that a run refused on bad input leaves nothing behind (its error line said why); return
    whether it was removed. A directory holding anything else (a checkpoint, results.json, a
    file of the user's) is kept whole."""
    if not run_dir.is_dir() or any(p.name not in names for p in run_dir.iterdir()):
        return False
    for path in run_dir.iterdir():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    run_dir.rmdir()
    return True


def register_resolvers() -> None:
    """Register ``${unique_dir:...}`` and ``${synthetic_store:...}`` (before Hydra composes
    the config)."""
    from src.data.synthetic import register_resolver

    register_resolver()
    if not OmegaConf.has_resolver(RESOLVER):
        # cached: every job of a sweep, in any launcher process, sees the launcher's value
        OmegaConf.register_new_resolver(RESOLVER, claim_dir, use_cache=True)


def pin_run_dir() -> None:
    """Set ``hydra.run.dir`` to this job's output directory.

    Lightning starts the other DDP ranks with ``hydra.run.dir=<HydraConfig.get().run.dir>``;
    re-resolved, the timestamped name could name a new directory (a second later, or claimed
    anew). Pinned, every rank writes into the directory of rank zero.
    """
    if not HydraConfig.initialized():
        return
    hydra_cfg = HydraConfig.get()
    with read_write(hydra_cfg), open_dict(hydra_cfg):
        hydra_cfg.run.dir = hydra_cfg.runtime.output_dir


# resolved directory -> descriptor of the lock this process holds on it
_HELD: dict[str, int] = {}


def hold_run_dir(run_dir: str | os.PathLike) -> int | None:
    """Hold ``run_dir`` for this process: an exclusive ``flock`` on the directory itself, which
    the kernel releases when the process ends however it ends (kill -9 included), so no stale
    lock is ever left. Returns the descriptor to give to `release_run_dir`; None on the other
    ranks of a DDP or multi-task SLURM run (which share the directory of rank 0) and when this
    process holds the directory already (`HoldRunDir` took it before Hydra wrote anything).

    Raises ConfigError when another process holds it (a second copy of the same resume
    command): two runs writing one train.log, last.ckpt and results.json would interleave.
    """
    import fcntl

    from src.utils.errors import ConfigError

    if any(int(os.environ.get(name) or 0) > 0 for name in RANK_VARIABLES):
        return None
    key = os.path.realpath(run_dir)
    if key in _HELD:
        return None
    descriptor = os.open(run_dir, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise ConfigError(
            f"hydra.run.dir: {run_dir} is in use by another running process (same command "
            "started twice?); wait for it to end, or give another hydra.run.dir"
        ) from None
    _HELD[key] = descriptor
    return descriptor


def release_run_dir(descriptor: int | None) -> None:
    """Release a directory held by `hold_run_dir` (a sweep's next job runs in this process)."""
    if descriptor is None:
        return
    for key, held in list(_HELD.items()):
        if held == descriptor:
            del _HELD[key]
    os.close(descriptor)


class HoldRunDir(Callback):
    """Hydra callback: hold the run directory (a sweep's directory) before Hydra writes
    ``.hydra/*.yaml`` and the log into it. Hydra calls ``on_run_start`` before it creates the
    output directory; a process refused there exits with one line and has written nothing, so
    the files of the process that holds the directory stay as they are."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._hold(config, sweep=False)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from src.utils.errors import one_line_errors
        from src.utils.sweep_door import check_sweep

        try:  # every job checked first: a refused job or a sweep of no job exits 2, nothing made
            with one_line_errors():
                check_sweep(config)
        except Exception:  # a bug in the door: Hydra warns with it; the folder is held anyway
            self._hold(config, sweep=True)
            raise
        self._hold(config, sweep=True)

    @staticmethod
    def _hold(config: DictConfig, sweep: bool) -> None:
        """Check where the folder goes (`check_before_run_folder`; for a single run also the
        store's contents, `src.data.preflight.preflight_store`, and that the folder can be made
        and is not a user's folder), then make and hold it for the whole
        process; a directory in use, or holding an earlier run (`check_run_dir_free`, single
        runs), ends it (exit 2: Hydra turns a callback's exception into a warning). A single
        run's folder that existed before (not made for this run) is recorded first, so that a
        refused run leaves it as it was (`src.utils.run_dir_guard`)."""
        from src.data.preflight import preflight_store
        from src.utils.errors import exit_on_user_error, user_error
        from src.utils.run_dir_guard import snapshot_run_dir

        try:
            check_before_run_folder(config, sweep)
            if not sweep:  # the store's contents, before the folder exists (a sweep's jobs
                preflight_store(config)  # differ: each job checks its own and records it)
            run_dir = str(resolve_key(config, f"hydra.{'sweep' if sweep else 'run'}.dir"))
            if not sweep:
                check_run_folder_path(run_dir)
                check_not_a_user_folder(run_dir)
            claimed = {os.path.realpath(d) for d in _CLAIMED.values()}
            existed = Path(run_dir).is_dir() and os.path.realpath(run_dir) not in claimed
            if not Path(run_dir).exists():
                make_folder(Path(run_dir).parent)
                Path(run_dir).mkdir()
                _MADE.add(os.path.realpath(run_dir))
            held = hold_run_dir(run_dir)
            if not sweep:  # held first: a second copy is told "in use"
                check_run_dir_free(run_dir, config)
                if existed and held is not None:  # a refused run leaves it as it was
                    snapshot_run_dir(run_dir)
        except Exception as exc:  # noqa: BLE001  also through OmegaConf's resolver wrapper
            error = user_error(exc)
            if error is not None:
                exit_on_user_error(error)
            return  # not resolvable: Hydra's own attempt reports that as one line (run_cli)


def made_dirs() -> list[str]:
    """The run folders this process made (claimed, or made for an explicit hydra.run.dir)."""
    return sorted(_MADE)


def claimed_dirs() -> list[str]:
    """The run folders this process claimed (`claim_dir`)."""
    return list(_CLAIMED.values())
