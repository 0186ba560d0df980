"""Two jobs of one sweep never share a folder, and a sweep never writes into a user's folder
(issue 22, trial 9: ``-m seed=0,1 hydra.sweep.subdir=same`` ran both jobs into one folder --
results.json of seed 1 only, checkpoints of two runs mixed; ``-m seed=0,1 hydra.sweep.dir=/``
wrote /0, /1 and /multirun.yaml). Refused at the door (src/utils/sweep_door.py,
`check_own_folder`; src/utils/run_dir_checks.py, `check_not_a_user_folder`): one line per job
(per sweep for its folder), exit 2, nothing written.

Generated: subdirs of swept and unswept keys over sweeps of one or two keys, the expected
refusals by a plain computation (each job's subdir with its values put in; a job is refused
when an earlier job has the same folder); sweep folders of other files, of an earlier sweep,
empty and missing."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from test_sweep_door import door, tree

from cli_runs import TINY_ARGS

from src.utils.errors import ConfigError

SWEEPS = {"seed": ["0", "1"], "model.alpha": ["0.25", "0.75"]}
SUBDIRS = [
    "same",
    "a/b",
    "${seed}",
    "s_${seed}",
    "${model.alpha}",
    "${seed}_${model.alpha}",
    "${hydra.job.num}",
    "${hydra.job.num}/same",
    "same/../${seed}",
]
SWEPT = [["seed"], ["seed", "model.alpha"]]


def expected(subdir: str, keys: list[str]) -> list[int]:
    """The job numbers (from 0) whose folder an earlier job of the sweep has."""
    jobs = list(itertools.product(*(SWEEPS[k] for k in keys)))
    defaults = {"seed": "12345", "model.alpha": "DEFAULT"}
    seen, refused = set(), []
    for number, values in enumerate(jobs):
        folder = subdir.replace("${hydra.job.num}", str(number))
        for key, value in {**defaults, **dict(zip(keys, values))}.items():
            folder = folder.replace("${" + key + "}", value)
        folder = str(Path("/s", folder).resolve())
        if folder in seen:
            refused.append(number)
        seen.add(folder)
    return refused


@pytest.mark.parametrize("keys", SWEPT, ids=["seed", "seed_alpha"])
@pytest.mark.parametrize("subdir", SUBDIRS)
def test_two_jobs_of_one_folder_are_refused(
    subdir: str, keys: list[str], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "data").mkdir()
    where = [f"hydra.sweep.dir={tmp_path / 'sw'}", f"hydra.sweep.subdir='{subdir}'"]
    where.append(f"paths.data_dir={tmp_path / 'data'}")
    sweep = [f"{k}={','.join(SWEEPS[k])}" for k in keys]
    status, lines = door("train", [*TINY_ARGS, *where, *sweep], capsys)
    refused = expected(subdir, keys)
    assert status == (2 if refused else 0) and len(lines) == len(refused), (subdir, lines)
    n_jobs = 2 ** len(keys)
    for line, number in zip(lines, refused):
        assert line.startswith(f"error: src/train.py: job {number + 1} of {n_jobs} ("), line
        assert ": hydra.sweep.subdir: resolves to " in line and "of an earlier job" in line, line
    assert tree(tmp_path) == ["data"]


def _folder(tmp: Path, kind: str) -> Path:
    """A sweep folder of ``kind``: refused ones hold other things than a sweep of this
    project; accepted ones are missing, empty or an earlier sweep's."""
    folder = tmp / "sw"
    if kind == "missing":
        return folder
    folder.mkdir()
    made = {
        "a file": ["notes.txt"],
        "a data folder": ["wiki.h5", "labels.mat"],
        "a subfolder": ["photos/"],
        "jobs and a file": ["0/.hydra/", "notes.txt"],
        "an earlier sweep": ["multirun.yaml", "0/.hydra/"],
        "earlier jobs only": ["0/.hydra/", "1/.hydra/"],
        "empty": [],
    }[kind]
    for name in made:
        (
            (folder / name).mkdir(parents=True)
            if name.endswith("/")
            else (folder / name).write_text("x\n")
        )
    return folder


REFUSED = ["a file", "a data folder", "a subfolder", "jobs and a file"]
ACCEPTED = ["an earlier sweep", "earlier jobs only", "empty", "missing"]


@pytest.mark.parametrize("kind", REFUSED + ACCEPTED)
def test_a_sweep_folder_of_other_files_is_refused(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "data").mkdir()
    folder = _folder(tmp_path, kind)
    where = [f"hydra.sweep.dir={folder}", f"paths.data_dir={tmp_path / 'data'}", "seed=3,4"]
    before = tree(tmp_path)
    if kind in ACCEPTED:
        assert door("train", [*TINY_ARGS, *where], capsys) == (0, [])
    else:  # the sweep's own folder: one line (src/utils/run_dirs.py prints it, exit 2)
        with pytest.raises(ConfigError, match=f"^hydra.sweep.dir: {folder} is a folder of other"):
            door("train", [*TINY_ARGS, *where], capsys)
    assert tree(tmp_path) == before


def test_the_root_folder_is_refused(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    """The trial's case: hydra.sweep.dir=/ (nothing is written: checked at the door)."""
    (tmp_path / "data").mkdir()
    where = ["hydra.sweep.dir=/", f"paths.data_dir={tmp_path / 'data'}", "seed=0,1"]
    with pytest.raises(ConfigError, match="^hydra.sweep.dir: / is a folder of other files"):
        door("train", [*TINY_ARGS, *where], capsys)
