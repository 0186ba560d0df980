"""A signal that stops a sweep says truly what stopped it and what is left (trial 12 H7:
SIGTERM between the jobs of ``-m seed=0,1,2`` printed "interrupted (Ctrl-C) after the run",
exit 130; two jobs never ran and nothing said how to run them). Generated: sweeps of 1-3 jobs
whose folders hold a completed, a failed or no results.json, stopped by SIGINT or SIGTERM
between jobs: one line naming the signal, the completed, failed and not-run jobs, and the
single-run commands that run the rest in the sweep's folders; and a real 3-job sweep stopped
by SIGTERM as Hydra starts its second job (slow)."""

from __future__ import annotations

import itertools
import json
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli_runs import ROOT, TINY_ARGS, TINY_STORE

from src.data.synthetic import make_synthetic
from src.utils import jobs, sweep_stop
from src.utils.errors import EXIT_INTERRUPTED
from src.utils.io import Interrupted

STATES = ("completed", "failed", None)
CASES = [s for n in (1, 2, 3) for s in itertools.product(STATES, repeat=n)]
SIGNALS = {
    "INT": (KeyboardInterrupt(), "Ctrl-C"),
    "TERM": (Interrupted("stopped by signal SIGTERM"), "SIGTERM"),
}


@pytest.fixture(autouse=True)
def fresh_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    """No sweep planned before the test, none after; the command line of a sweep's process."""
    for name in ("_PLANNED", "_SEARCH"):
        monkeypatch.setattr(sweep_stop, name, [])
    monkeypatch.setattr(sweep_stop, "_FOLDERS", {})
    monkeypatch.setattr(sys, "argv", ["src/train.py", "-m", "seed=0,1"])


def planned_sweep(tmp_path: Path, states: tuple) -> list[tuple[str, list[str], str]]:
    """A sweep of ``len(states)`` jobs (seed=0,1,...) planned as the door plans it, each job's
    folder holding a results.json of that status (None: no folder, the job did not run)."""
    jobs_ = [
        (f"job {n + 1} of {len(states)} (seed={n})", [f"seed={n}", "x=a b"])
        for n in range(len(states))
    ]
    for number, state in enumerate(states):
        folder = tmp_path / "sweep" / str(number)
        sweep_stop.note_folder(number, str(folder))
        if state is not None:
            folder.mkdir(parents=True)
            (folder / "results.json").write_text(json.dumps({"status": state}))
    sweep_stop.plan_sweep(jobs_)
    return [(lab, o, str(tmp_path / "sweep" / str(n))) for n, (lab, o) in enumerate(jobs_)]


@pytest.mark.parametrize("sig", SIGNALS)
@pytest.mark.parametrize("states", CASES, ids=lambda s: "-".join(str(x) for x in s))
def test_a_signal_between_jobs_names_it_and_the_jobs_left(
    states: tuple, sig: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    planned = planned_sweep(tmp_path, states)
    monkeypatch.setattr(jobs, "_JOB_STARTED", True)
    interrupt, name = SIGNALS[sig]

    def main() -> None:
        raise interrupt

    with pytest.raises(SystemExit) as exit_:
        jobs._run_main(main)
    lines = capsys.readouterr().err.splitlines()
    assert exit_.value.code == EXIT_INTERRUPTED and len(lines) == 1, lines
    line = lines[0]
    assert line.startswith(f"error: interrupted ({name}) while the sweep ran; completed: "), line
    for (label, overrides, folder), state in zip(planned, states):
        command = shlex.join(["python", sys.argv[0], *overrides, f"hydra.run.dir={folder}"])
        assert (command in line) == (state is None), (command, line)
        assert label in line
    assert ("did not run: " in line) == (None in states)
    assert ("failed: " in line) == ("failed" in states)


def test_a_search_says_its_trials_are_not_listed(monkeypatch, capsys) -> None:
    sweep_stop.plan_sweep(None)
    monkeypatch.setattr(jobs, "_JOB_STARTED", True)
    with pytest.raises(SystemExit):
        jobs._run_main(lambda: (_ for _ in ()).throw(Interrupted("stopped by signal SIGTERM")))
    line = capsys.readouterr().err.strip()
    assert line.startswith("error: interrupted (SIGTERM) while the sweep ran; its remaining jobs")


@pytest.mark.slow
def test_a_real_sweep_stopped_between_jobs(tmp_path: Path) -> None:
    store = tmp_path / "tiny.h5"
    make_synthetic(store, seed=0, **TINY_STORE)
    sweep = tmp_path / "sweep"
    args = [f"data.path={store}", *TINY_ARGS, "model.eval_ks=[1]", "logger=none", "-m"]
    args += ["seed=0,1,2", f"hydra.sweep.dir={sweep}", f"paths.log_dir={tmp_path / 'logs'}"]
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "src" / "train.py"), *args], cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while not (sweep / "1").exists() and time.monotonic() < deadline:  # Hydra starts job 2
        time.sleep(0.002)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    lines = [line for line in err.splitlines() if line.startswith("error")]
    assert process.returncode == EXIT_INTERRUPTED and len(lines) == 1, err[-3000:]
    line = lines[0]  # between jobs, or in job 2's first moments: its own resume line first
    assert "(SIGTERM) while the sweep ran" in line or "; the sweep's other jobs: " in line, line
    assert "Ctrl-C" not in line and "completed: job 1 of 3 (seed=0)" in line, line
    assert "seed=2 " in line and f"hydra.run.dir={sweep / '2'}" in line, line
