"""Training lengths as protocols of their own: runs shortened (or lengthened) on the command line.

A run whose command set ``trainer.max_epochs=N`` to another value than its experiment's
configured epochs (the obvious thing to do on a CPU) was trained under another protocol than
the experiment's: its numbers are comparable with other runs of N epochs, not with the runs as
configured. The report therefore splits the runs by training length before it groups them
(src/report/runs.py): the runs of the configured epochs (``None``) make the protocol tables as
before, and the runs of each N make tables of their own, in which ``trainer.max_epochs=N`` is
no variant: a shortened run of the experiment is "as configured" among the runs of N epochs,
so code-length tables, plots, margins, ablations and held-out references compare like with
like. An override equal to the configured epochs was already dropped from the variant
(src/report/drift.py, ``normalise_overrides``); a change of the configured epochs since a run
was made (a drift, not named by the command) stays a drift.
"""

from __future__ import annotations

from dataclasses import replace

from src.report.runs import Run

EPOCHS_KEY = "trainer.max_epochs"


def epochs_override(part: str) -> int | None:
    """N when the override ``part`` is ``trainer.max_epochs=N`` (an integer), else None.

    >>> epochs_override("trainer.max_epochs=5"), epochs_override("model.alpha=5")
    (5, None)
    """
    key, _, value = part.partition("=")
    if key != EPOCHS_KEY or not value.isdigit():
        return None
    return int(value)


def _without(joined: str, part: str) -> str:
    """``joined`` (overrides joined by ",") without the override ``part``. A list value
    (``a=[1,2]``) is split into pieces here, but no piece equals ``part``, so joining the kept
    pieces again restores it exactly."""
    return ",".join(piece for piece in joined.split(",") if piece and piece != part)


def run_epochs(run: Run) -> int | None:
    """The epochs a run's command chose (``trainer.max_epochs=N`` among its own overrides,
    which holds only values that differ from the configured one); None for the configured
    epochs."""
    found = [n for piece in run.own.split(",") if (n := epochs_override(piece)) is not None]
    return found[-1] if found else None


def in_protocol(run: Run) -> Run:
    """``run`` with its ``trainer.max_epochs=N`` override taken out of its variant (a copy;
    the run itself unchanged), as the runs of N epochs see it."""
    epochs = run_epochs(run)
    if epochs is None:
        return run
    part = f"{EPOCHS_KEY}={epochs}"
    return replace(run, own=_without(run.own, part), variant=_without(run.variant, part))


def by_epochs(runs: list[Run]) -> dict[int | None, list[Run]]:
    """The runs by training length, in order: None (the experiments' configured epochs) first
    when present, then each N that a command chose, ascending; each run as :func:`in_protocol`
    gives it."""
    split: dict[int | None, list[Run]] = {}
    for run in runs:
        split.setdefault(run_epochs(run), []).append(in_protocol(run))
    return dict(sorted(split.items(), key=lambda item: (item[0] is not None, item[0] or 0)))


def protocol_note(epochs: int, n_runs: int) -> str:
    """The one line that opens the section of the runs of ``epochs`` epochs."""
    return (
        f"{n_runs} runs trained for {epochs} epochs (`{EPOCHS_KEY}={epochs}`) instead of their "
        f"experiments' configured epochs: every table of this section compares them only with "
        f"one another (same epochs; `{EPOCHS_KEY}={epochs}` is no variant here); they are not "
        "the protocol's numbers, and the paper's are not shown beside them."
    )
