"""What a signal that stops a sweep leaves undone (trial 12 H7: SIGTERM between the jobs of
``-m seed=0,1,2`` printed "interrupted (Ctrl-C) after the run": it was no Ctrl-C, two of the
three jobs never ran, and nothing said how to run them).

The sweep door (src/utils/sweep_door.py) expands a basic sweep into its jobs before the first
one runs; `plan_sweep` keeps each job's label, overrides and folder. When a signal stops the
sweep, `sweep_words` says which jobs completed (a results.json says so), which failed, and
which did not run or finish, with the single-run commands that run those in the folders the
sweep gave them. An Optuna search's trials are not known in advance: its words say so.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

from src.utils.records import COMPLETED, FAILED
from src.utils.sweep_jobs import typed_form

# (label, overrides, folder) of each job of the running basic sweep, in launch order
_PLANNED: list[tuple[str, list[str], str]] = []
_FOLDERS: dict[int, str] = {}  # job number -> folder, as the door composed it
_SEARCH: list[bool] = []  # holds True for a sweep whose jobs are not listed (Optuna's)


def note_folder(number: int, folder: str) -> None:
    """The folder job ``number`` will run in (`src.utils.sweep_door.compose_job`)."""
    _FOLDERS[number] = os.path.abspath(folder)


def plan_sweep(jobs: list[tuple[str, list[str]]] | None) -> None:
    """Keep the (label, overrides) of the sweep's jobs with their folders; None: a search."""
    _SEARCH[:] = [jobs is None]
    _PLANNED[:] = [(lab, list(o), _FOLDERS.get(n, "")) for n, (lab, o) in enumerate(jobs or [])]


def signal_name(interrupt: BaseException) -> str:
    """ "SIGTERM" for `src.utils.io.Interrupted` ("stopped by signal SIGTERM"), else "Ctrl-C"."""
    return str(interrupt).rsplit(" ", 1)[-1] if str(interrupt) else "Ctrl-C"


def job_status(folder: str) -> str | None:
    """The status a job's results.json records, None when it wrote none (not run or stopped)."""
    try:
        return str(json.loads((Path(folder) / "results.json").read_text()).get("status"))
    except (OSError, ValueError, AttributeError):
        return None


def single_run(overrides: list[str], folder: str) -> str:
    """The command that runs one job of the sweep alone, in the sweep's folder for it."""
    words = ["python", sys.argv[0], *(typed_form(o) for o in overrides)]
    return shlex.join([*words, f"hydra.run.dir={folder}"])


def sweep_words(current: str | None = None) -> str | None:
    """What the stopped sweep did and did not do, and the commands that run the rest; the job
    in ``current`` (stopped while it ran: its own line says how to go on) is left out. None
    outside a sweep."""
    if _SEARCH == [True]:
        return "its remaining jobs did not run (this sweeper's jobs are not known in advance)"
    if not _PLANNED:
        return None
    jobs = [job for job in _PLANNED if job[2] != os.path.abspath(current or "\0")]
    done = [label for label, _, folder in jobs if job_status(folder) == COMPLETED]
    failed = [label for label, _, folder in jobs if job_status(folder) == FAILED]
    rest = [(label, o, folder) for label, o, folder in jobs if job_status(folder) is None]
    parts = [f"completed: {', '.join(done) or 'none'}"]
    parts += [f"failed: {', '.join(failed)}"] if failed else []
    if rest:
        parts.append(f"did not run: {', '.join(label for label, _, _ in rest)}")
        parts.append("run them with: " + " && ".join(single_run(o, f) for _, o, f in rest))
    return "; ".join(parts)
