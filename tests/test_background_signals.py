"""A run started in the background stops on SIGINT as in the foreground, and SIGTERM prints
the project's line alone (issue 22, trial 34: ``python src/train.py ... &`` from a script
inherits SIGINT ignored, and ``kill -INT <pid>`` did nothing; SIGTERM printed Lightning's
"Received SIGTERM" beside the project's line). Each signal, sent to a run started with SIGINT
ignored once its first epoch is written: exit 130, one line saying it was interrupted and how
to resume, no other notice of it, and the last checkpoint intact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli_runs import ROOT, TINY_ARGS, TINY_STORE
from test_run_lifecycle import wait_for

from src.data.synthetic import make_synthetic
from src.utils.checkpoints import epochs_done, read_checkpoint

# what Lightning prints of an interruption by itself (its signal connector, its fit's catch)
NOTICES = ("Received SIGTERM", "Detected KeyboardInterrupt", "Traceback")
STOPPED_WITHIN = 120  # seconds after the signal: an epoch of the tiny run takes about one


def start_in_background(args: list[str], cwd: Path) -> subprocess.Popen:
    """src/train.py as ``cmd &`` in a non-interactive shell starts it: SIGINT ignored."""
    return subprocess.Popen(
        [sys.executable, str(ROOT / "src" / "train.py"), *args],
        cwd=cwd,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )


def start_long_run(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    """A tiny 500-epoch run in ``tmp_path/run`` started in the background, writing last.ckpt
    every epoch; returned once its first epoch is written, with that last.ckpt."""
    store = tmp_path / "tiny.h5"
    make_synthetic(store, seed=0, **TINY_STORE)
    run = tmp_path / "run"
    args = [f"data.path={store}", *TINY_ARGS, "model.eval_ks=[1]", "logger=none"]
    args += ["trainer.max_epochs=500", "callbacks.model_checkpoint.last_every_n_epochs=1"]
    args += [f"paths.log_dir={tmp_path / 'logs'}", f"hydra.run.dir={run}"]
    process = start_in_background(args, tmp_path)
    last = run / "checkpoints" / "last.ckpt"
    wait_for(last, process)  # the first epoch is written
    return process, last


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_a_background_run_stops_on_a_signal_with_one_line(
    signum: signal.Signals, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    process, last = start_long_run(tmp_path)
    time.sleep(0.5)
    process.send_signal(signum)
    try:
        out, err = process.communicate(timeout=STOPPED_WITHIN)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"{signum.name} did not stop the run within {STOPPED_WITHIN} s")
    assert process.returncode == 130, err[-2000:]
    lines = [line for line in err.splitlines() if line.startswith("error")]
    assert len(lines) == 1 and lines[0].startswith("error: interrupted; resume"), err[-2000:]
    assert f"ckpt_path={last}" in lines[0] and f"hydra.run.dir={run}" in lines[0], lines[0]
    for notice in NOTICES:
        assert notice not in out + err, notice
    assert epochs_done(read_checkpoint(last)) >= 1  # intact, the first epoch at least
