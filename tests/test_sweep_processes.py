"""A sweep whose jobs Lightning would run in several processes (trial 12 H1).

Lightning starts a job's other processes by running the whole command again, ``-m`` included:
each rank-1 process ran a sweep of its own, its jobs were refused as launcher variables set by
hand, and the sweep still exited 0 with "completed" folders. Generated: sweeps of 1-4 jobs over
the trainer presets and ``trainer.devices``; a sweep with any job of several processes is
refused in one line, exit 2, nothing made, naming one command per job; others pass.
"""

import itertools
import random
import shlex
from pathlib import Path

import pytest

from cli_runs import TINY_ARGS
from test_sweep_door import door, tree

PRESETS = {"cpu": 1, "ddp_sim": 2, "default": 1}


def draw(rng: random.Random) -> tuple[list[str], list[int]]:
    """(sweep overrides, processes per job in launch order): a trainer preset or a list of
    them, devices of ddp_sim, seeds."""
    presets = rng.sample(sorted(PRESETS), rng.randint(1, 2))
    seeds = [str(s) for s in rng.sample(range(9), rng.randint(1, 2))]
    sweep = [f"trainer={','.join(presets)}", f"seed={','.join(seeds)}"]
    devices = rng.choice([None, 1, 3]) if presets == ["ddp_sim"] else None
    if devices is not None:
        sweep.append(f"trainer.devices={devices}")
    per_job = [
        (devices or PRESETS[p]) if p == "ddp_sim" else PRESETS[p]
        for p, _ in itertools.product(presets, seeds)
    ]
    return sweep, per_job


def check_sweep(
    sweep: list[str], per_job: list[int], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The door on ``sweep`` (``per_job``: processes of each job): refused in one line when a
    job runs several processes, naming each such job's single-run command; nothing made."""
    where = [f"paths.log_dir={tmp_path / 'logs'}", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    status, lines = door("train", [*TINY_ARGS, *where, *sweep], capsys)
    assert tree(tmp_path) == [], sweep
    several = [n for n, count in enumerate(per_job) if count > 1]
    if not several:
        assert (status, lines) == (0, []), (sweep, lines)
        return
    assert status == 2 and len(lines) == 1, (sweep, lines)
    line = lines[0]
    assert line.startswith("error: src/train.py: trainer.devices: "), line
    assert "running this whole command again" in line, line
    commands = line.split("expected one command per job: ")[1].split(" (or ")[0].split(" ; ")
    assert len(commands) == len(several), line
    for number, command in zip(several, commands):
        words = shlex.split(command)
        assert words[:2] == ["python", "src/train.py"] and "-m" not in words, command
        assert f"hydra.run.dir={tmp_path / 'sweep' / str(number)}" in words, command
        assert not any(w.startswith(("hydra.sweep", "hydra.mode")) for w in words), command


def test_a_sweep_of_several_process_jobs_is_refused(tmp_path: Path, capsys) -> None:
    check_sweep(["trainer=cpu,ddp_sim"], [1, 2], tmp_path, capsys)


@pytest.mark.slow  # about 30 s each on a busy machine
@pytest.mark.parametrize("seed", range(8))
def test_drawn_sweeps_of_several_process_jobs(seed: int, tmp_path: Path, capsys) -> None:
    check_sweep(*draw(random.Random(seed)), tmp_path, capsys)
