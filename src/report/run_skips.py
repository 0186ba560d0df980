"""Why report.py uses no run: the reason a results.json of another task is left out
(``--tasks``), the flag's type, and the one line when no results.json is usable. Split from
src/report/runs.py."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable
from pathlib import Path

from src.utils.errors import DataError

TASK_SKIP = "task {!r} not in --tasks"  # the reason a run of another task is left out


def task_flag(text: str) -> str:
    """An argparse ``type`` for ``--tasks``: a ``task_name`` as train.py accepts one
    (`src.utils.rule_kinds.is_plain_name`: not empty, no '/', not '.' or '..')."""
    from src.utils.rule_kinds import is_plain_name

    if not is_plain_name(text):
        raise argparse.ArgumentTypeError(
            f"expected a task_name (a name without '/', e.g. train or eval), got {text!r}"
        )
    return text


def no_runs_error(dirs: Iterable[Path], tasks: set[str] | None, skipped: list[str]) -> DataError:
    """The one line when no results.json under ``dirs`` is usable: when every one found was
    left out by ``--tasks``, that (with the tasks they are of), else how many were found and
    the first reason (`collect`'s ``skipped`` lines, "<path>: <reason>")."""
    where = ", ".join(map(str, dirs))
    found = [re.search(r"task (.*) not in --tasks$", line) for line in skipped]
    if skipped and all(found):
        names = ", ".join(sorted({m.group(1) for m in found if m}))
        return DataError(
            where,
            "--tasks",
            f"no run of task {', '.join(map(repr, sorted(tasks or ())))}: the {len(skipped)} "
            f"results.json found are of task {names}; expected --tasks naming one of these "
            "(--tasks with no value keeps every task)",
        )
    if not skipped:
        return DataError(where, None, "no results.json found; expected folders of runs")
    return DataError(
        where,
        None,
        f"expected usable results.json, none of the {len(skipped)} found is: {skipped[0]}"
        + (f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""),
    )
