"""A resume never skips a check silently (issue 22 leftover): a checkpoint written before the
split record (``data_splits``) or the training-health digest (``initial_digest``) existed used
to resume without those checks; now the resume is refused with one line naming each missing
record, saying the checkpoint predates the check and what to do, and eval.py still evaluates it.

Generated in process: every subset of the records missing x a model with or without its splits
x the health callback present or not (`check_resume_records`). At the command line: a tiny run's
checkpoint with records deleted and re-signed with the project's digest (as an older commit
wrote it): each resume exits 2 with the line and changes no file; eval.py evaluates it."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest
import torch
from torch import nn

from cli_runs import TINY_ARGS, TINY_STORE, start
from test_resume_refusals import state
from test_run_lifecycle import finish, one_error_line

from src.callbacks.health import TrainingHealth
from src.models.base import HealthSpec
from src.utils.checkpoint_content import DIGEST_KEY, with_digest
from src.utils.errors import DataError
from src.utils.resume_records import HEALTH_DIGEST, check_resume_records
from src.utils.split_record import SPLITS_KEY


class Model:
    """What the check reads of a method: its splits record and its watched modules."""

    def __init__(self, splits: bool) -> None:
        self.data_splits = {"train": {"size": 3, "sha256": "0" * 64}} if splits else None

    def health_modules(self) -> dict[str, HealthSpec]:
        return {"enc": HealthSpec(nn.Linear(2, 2))}


def checkpoint_of(missing: set[str], health: TrainingHealth) -> dict:
    """A checkpoint's records as train.py writes them, less the ``missing`` ones."""
    checkpoint: dict = {SPLITS_KEY: {"train": {"size": 3, "sha256": "0" * 64}}}
    checkpoint["callbacks"] = {health.state_key: {HEALTH_DIGEST: "a" * 64, "first_loss": {}}}
    if SPLITS_KEY in missing:
        del checkpoint[SPLITS_KEY]
    if HEALTH_DIGEST in missing:
        del checkpoint["callbacks"][health.state_key][HEALTH_DIGEST]
    return checkpoint


RECORDS = [SPLITS_KEY, HEALTH_DIGEST]
SUBSETS = [set(s) for n in range(3) for s in itertools.combinations(RECORDS, n)]


@pytest.mark.parametrize(
    "missing,splits,watched", list(itertools.product(SUBSETS, [True, False], [True, False]))
)
def test_a_missing_record_refuses_the_resume(missing: set, splits: bool, watched: bool) -> None:
    """Refused exactly when a record a check of this resume needs is missing (the splits when
    the model has them, the digest when the health callback watches the model), naming every
    such record; one line with what to do."""
    health = TrainingHealth()
    callbacks = [health] if watched else []
    needed = {SPLITS_KEY} if splits else set()
    needed |= {HEALTH_DIGEST} if watched else set()
    expected = [k for k in (SPLITS_KEY, HEALTH_DIGEST) if k in missing & needed]
    checkpoint = checkpoint_of(missing, health)
    if not expected:
        check_resume_records(checkpoint, "run/last.ckpt", Model(splits), callbacks)
        return
    with pytest.raises(DataError) as info:
        check_resume_records(checkpoint, "run/last.ckpt", Model(splits), callbacks)
    line = str(info.value)
    assert line.startswith(f"run/last.ckpt [{expected[0]}]: the checkpoint predates "), line
    assert all(f"{key} (" in line for key in expected) and "\n" not in line, line
    assert "start the run again without ckpt_path" in line
    assert "src/eval.py ckpt_path=run/last.ckpt still evaluates" in line


def older(source: Path, target: Path, missing: list[str]) -> None:
    """``source`` without the ``missing`` records, re-signed with the project's content
    digest: a checkpoint as a commit of before the records wrote it."""
    checkpoint = torch.load(source, map_location="cpu", weights_only=True)
    if SPLITS_KEY in missing:
        del checkpoint[SPLITS_KEY]
    if HEALTH_DIGEST in missing:
        for name, value in checkpoint["callbacks"].items():
            if name.startswith("TrainingHealth"):
                del value[HEALTH_DIGEST]
    checkpoint.pop(DIGEST_KEY)
    torch.save(with_digest(checkpoint), target)


def test_older_checkpoints_refused_at_resume_and_evaluated(tmp_path: Path) -> None:
    """A one-epoch run; copies of its folder whose last.ckpt lacks data_splits, the health
    digest or both: the resume exits 2 with the one line, every file as it was; eval.py on
    each checkpoint exits 0 and writes its results."""
    from src.data.synthetic import make_synthetic

    store = tmp_path / "tiny.h5"
    make_synthetic(store, seed=0, **TINY_STORE)
    base = [f"data.path={store}", *TINY_ARGS, "model.eval_ks=[1]", "logger=none"]
    base.append(f"paths.log_dir={tmp_path / 'logs'}")
    run = tmp_path / "run"
    status, _, err = finish(
        start("train.py", [*base, "trainer.max_epochs=1", f"hydra.run.dir={run}"], tmp_path)
    )
    assert status == 0, err[-2000:]
    cases = {
        "splits": [SPLITS_KEY],
        "digest": [HEALTH_DIGEST],
        "both": [SPLITS_KEY, HEALTH_DIGEST],
    }
    resumes, evals, before = {}, {}, {}
    for name, missing in cases.items():
        copy = tmp_path / name
        shutil.copytree(run, copy, symlinks=True)
        ckpt = copy / "checkpoints" / "last.ckpt"
        ckpt.unlink()
        older(run / "checkpoints" / "last.ckpt", ckpt, missing)
        before[name] = state(copy)
        args = [*base, f"ckpt_path={ckpt}", "trainer.max_epochs=2", f"hydra.run.dir={copy}"]
        resumes[name] = finish(start("train.py", args, tmp_path))
        given = [a for a in base if not a.startswith("model.")]
        evals[name] = finish(start("eval.py", [*given, f"ckpt_path={ckpt}"], tmp_path))
    for name, missing in cases.items():
        status, out, err = resumes[name]
        line = one_error_line(err, out)
        assert status == 2 and f"[{missing[0]}]: the checkpoint predates" in line, line
        assert all(f"{key} (" in line for key in missing), line
        assert state(tmp_path / name) == before[name], name
        status, _, err = evals[name]
        assert status == 0, err[-2000:]
