"""A training run that stops with a user error after fit began but before its first
checkpoint (a non-finite loss at step 0, a full disk: trial 8 C02, C03, C25, D01) made
nothing to resume or test: the folder it made goes whole, not a folder of logs and
health_initial.pt. A folder with a checkpoint (in it or in the checkpoint folder) or a
results.json is kept as the run left it."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from omegaconf import OmegaConf

import src.utils.jobs as jobs

START_FILES = [
    ".hydra/config.yaml",
    "train.log",
    "health_initial.pt",
    "tensorboard/version_0/events.out.tfevents.1",
    "csv/version_0/metrics.csv",
]
WORK_FILES = [None, "checkpoints/epoch_000.ckpt", "checkpoints/last.ckpt", "results.json"]


def _cases() -> list[tuple[tuple[str, ...], str | None, bool]]:
    """(start-up files written, a work file or None, checkpoints in a folder of their own)."""
    cases = []
    for n in range(1, len(START_FILES) + 1):
        for files, work in itertools.product(itertools.combinations(START_FILES, n), WORK_FILES):
            if "train.log" in files:
                cases.append((files, work, work is not None and work.endswith(".ckpt")))
                cases.append((files, work, False))
    return sorted(set(cases), key=repr)


@pytest.mark.parametrize("files, work, outside", _cases())
def test_a_run_stopped_before_its_first_checkpoint_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files, work, outside
) -> None:
    run_dir, ckpt_dir = tmp_path / "run", tmp_path / ("ckpts" if outside else "run/checkpoints")
    for name in files:
        (run_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (run_dir / name).write_bytes(b"x")
    if work is not None:
        target = ckpt_dir / Path(work).name if work.endswith(".ckpt") else run_dir / work
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"x")
    cfg = OmegaConf.create(
        {
            "task_name": "train",
            "paths": {"output_dir": str(run_dir)},
            "callbacks": {"model_checkpoint": {"dirpath": str(ckpt_dir)}},
        }
    )
    monkeypatch.setattr(jobs, "_FIT_STARTED", True)
    monkeypatch.setattr(jobs, "made_here", lambda path: True)
    monkeypatch.setattr(jobs, "earlier_run", lambda path: None)
    jobs.discard_untrained_run_dir(run_dir, cfg)
    if work is None:
        assert not run_dir.exists(), sorted(p.name for p in run_dir.rglob("*"))
    else:
        assert (run_dir / "health_initial.pt").exists() == ("health_initial.pt" in files)
        assert (run_dir / "train.log").exists() or (outside and set(files) <= SCAFFOLD)


SCAFFOLD = {".hydra/config.yaml", "train.log"}
