"""Every job of a sweep writes inside its sweep folder (issue 22 leftover): a
``hydra.sweep.subdir`` that climbs out (``../../x``, ``${hydra.job.num}/../../x``), an absolute
one, one that is the sweep folder itself, and a ``hydra.sweep.dir`` that differs from job to job
are refused at the door (src/utils/sweep_door.py, `check_job_folder`) with one line per job,
exit 2, before anything is written.

Generated: subdirs drawn from path parts (``..``, ``.``, plain names, ``${hydra.job.num}``), the
expected refusals by a plain computation of each job's folder (the parts joined and
normalised, ``${hydra.job.num}`` replaced by the job's number)."""

from __future__ import annotations

import posixpath
import random
from pathlib import Path

import pytest
from test_sweep_door import door, multirun, tree

from cli_runs import TINY_ARGS

PARTS = ["..", ".", "a", "${hydra.job.num}", "b_${hydra.job.num}", "c/d"]
SEEDS = ["0", "1", "2"]


def drawn_subdirs(count: int) -> list[str]:
    """``count`` subdirs of one to four drawn parts, a fifth of them absolute."""
    rng = random.Random(9)
    drawn = []
    for _ in range(count):
        parts = [rng.choice(PARTS) for _ in range(rng.randint(1, 4))]
        drawn.append(("/elsewhere/" if rng.random() < 0.2 else "") + "/".join(parts))
    return drawn


SUBDIRS = ["../../x", "${hydra.job.num}/../../x", "", ".", "${hydra.job.num}", "/tmp/x"]
SUBDIRS += [s for s in drawn_subdirs(30) if s not in SUBDIRS]


def job_outside(sweep: str, subdir: str, number: int) -> bool:
    """The plain computation: job ``number``'s folder is not strictly inside ``sweep``."""
    folder = posixpath.normpath(
        posixpath.join(sweep, subdir.replace("${hydra.job.num}", str(number)))
    )
    return not folder.startswith(posixpath.normpath(sweep) + "/")


def job_shared(sweep: str, subdir: str, number: int) -> bool:
    """The plain computation: job ``number``'s folder is an earlier job's inside ``sweep``
    (two jobs of one folder are refused too: tests/test_sweep_shared.py)."""

    def folder(n: int) -> str:
        return posixpath.normpath(
            posixpath.join(sweep, subdir.replace("${hydra.job.num}", str(n)))
        )

    earlier = [n for n in range(number) if not job_outside(sweep, subdir, n)]
    return any(folder(n) == folder(number) for n in earlier)


@pytest.mark.parametrize("subdir", SUBDIRS)
def test_subdir_outside_the_sweep_folder_is_refused(
    subdir: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Each job whose folder leaves the sweep folder: one line naming hydra.sweep.subdir and
    the folder; the others pass; nothing is written."""
    sweep = str(tmp_path / "sweep")
    (tmp_path / "data").mkdir()
    where = [f"hydra.sweep.dir={sweep}", f"hydra.sweep.subdir='{subdir}'"]
    where.append(f"paths.data_dir={tmp_path / 'data'}")
    before = tree(tmp_path)
    status, lines = door("train", [*TINY_ARGS, *where, f"seed={','.join(SEEDS)}"], capsys)
    assert tree(tmp_path) == before
    refused = [n for n in range(len(SEEDS)) if job_outside(sweep, subdir, n)]
    shared = [n for n in range(len(SEEDS)) if n not in refused and job_shared(sweep, subdir, n)]
    expected = sorted(refused + shared)
    assert status == (2 if expected else 0) and len(lines) == len(expected), (subdir, lines)
    for line, number in zip(lines, expected):
        assert line.startswith(f"error: src/train.py: job {number + 1} of 3 (seed={number}): ")
        why = "the job's folder " if number in refused else "resolves to "
        assert f": hydra.sweep.subdir: {why}" in line and "\n" not in line, line


@pytest.mark.parametrize(
    "dir_tail,refused", [("s/${seed}", 4), ("s/x_${model.alpha}", 4), ("s/${seed}/../t", 0)]
)
def test_sweep_dir_differing_by_job_is_refused(
    dir_tail: str, refused: int, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A hydra.sweep.dir of a swept key (swept values other than the defaults): each job's
    folder is elsewhere than the sweep folder the launcher makes; every job refused naming
    hydra.sweep.dir. One that resolves to the same folder for every job passes."""
    (tmp_path / "data").mkdir()
    where = [f"hydra.sweep.dir={tmp_path / dir_tail}", f"paths.data_dir={tmp_path / 'data'}"]
    sweep = ["seed=5,6", "model.alpha=0.25,0.75"]
    status, lines = door("train", [*TINY_ARGS, *where, *sweep], capsys)
    assert status == (2 if refused else 0) and len(lines) == refused, lines
    assert all(": hydra.sweep.dir: resolves to " in line for line in lines), lines
    assert tree(tmp_path) == ["data"]


def test_sweep_dir_of_the_job_number_is_refused(tmp_path: Path, capsys) -> None:
    """hydra.sweep.dir naming ${hydra.job.num}: the sweep folder has no job number; one line
    naming hydra.sweep.dir."""
    from src.utils.errors import ConfigError

    where = [f"hydra.sweep.dir={tmp_path}/s/${{hydra.job.num}}", "seed=0,1"]
    with pytest.raises(ConfigError, match=r"^hydra\.sweep\.dir: cannot resolve its value"):
        door("train", [*TINY_ARGS, *where], capsys)
    assert tree(tmp_path) == []


def test_climbing_subdir_writes_nothing(tmp_path: Path) -> None:
    """The command itself: exit 2, one line per job, no folder made outside or inside."""
    (tmp_path / "data").mkdir()
    where = [f"paths.log_dir={tmp_path / 'logs'}", f"paths.data_dir={tmp_path / 'data'}"]
    args = [*TINY_ARGS, *where, "seed=0,1", "hydra.sweep.subdir=${hydra.job.num}/../../x"]
    result = multirun("train.py", args, tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 2 and all("hydra.sweep.subdir" in line for line in lines), lines
    assert "Traceback" not in result.stderr
    assert tree(tmp_path) == ["data"]
