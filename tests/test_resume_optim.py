"""A resumed checkpoint's optimiser states hold what the run had: each group's settings as the
configuration builds them (finite, the learning rate of the checkpoint's step) and, once it
stepped, every trainable parameter's state, finite, with the optimiser's step count -- or the
resume is refused in one line naming the optimiser and the key (ninth trial, faults 1 and 2:
weight_decay 0.5 or an emptied state re-signed resumed and completed; lr=NaN replaced).
Generated cases: every setting of every group of every optimiser changed or made NaN; every
optimiser's state emptied, a parameter's state dropped, an entry dropped, made NaN or its
step count changed; for AGCH (SGD and Adam, with and without warm-up), DJSRH, JDSH, DGCPN and
UCCH; the unedited files resume."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from src.utils.checkpoint_content import with_digest
from src.utils.errors import DataError
from src.utils.resume_state import check_resume_fits

from tests_helpers_resume import METHODS, train_method  # noqa: E402


@pytest.fixture(scope="module", params=sorted(METHODS))
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One method's one-epoch run: its module and last.ckpt."""
    return train_method(request.param, tmp_path_factory.mktemp(request.param))


def refused(run: dict, edit: Any, folder: Path) -> str | None:
    """`check_resume_fits`'s line for the run's checkpoint edited by ``edit``, else None."""
    checkpoint = copy.deepcopy(run["checkpoint"])
    edit(checkpoint)
    checkpoint.pop("content_sha256", None)
    path = folder / "edited.ckpt"
    torch.save(with_digest(checkpoint), path)
    try:
        check_resume_fits(run["model"], [], path)
    except DataError as exc:
        return str(exc)
    return None


def setting_edits(checkpoint: dict) -> list[tuple[str, Any]]:
    """(key, edit) for every numeric setting of every group: changed, and made NaN."""
    edits = []
    for i, state in enumerate(checkpoint["optimizer_states"]):
        for g, group in enumerate(state["param_groups"]):
            for key, value in group.items():
                if isinstance(value, bool) or not isinstance(value, (int, float, tuple)):
                    continue
                for how, new in (("changed", _changed(value)), ("nan", _nan(value))):
                    edits.append((f"{i}.param_groups.{g}.{key}", (i, g, key, new, how)))
    return edits


def _changed(value: Any) -> Any:
    return tuple(v * 0.5 + 0.01 for v in value) if isinstance(value, tuple) else value * 3 + 0.5


def _nan(value: Any) -> Any:
    return tuple(math.nan for _ in value) if isinstance(value, tuple) else math.nan


def test_every_setting_changed_or_nan_is_refused(run: dict, tmp_path: Path) -> None:
    """Each numeric group setting (lr, initial_lr, weight_decay, momentum, betas, eps, ...)."""
    cases = setting_edits(run["checkpoint"])
    assert cases
    for key, (i, g, name, new, how) in cases:

        def edit(c: dict) -> None:
            c["optimizer_states"][i]["param_groups"][g][name] = new

        line = refused(run, edit, tmp_path)
        assert line is not None, (key, how)
        assert f"[optimizer_states.{key}]" in line, (key, how, line)


def state_edits(checkpoint: dict) -> list[tuple[str, Any]]:
    """(where, edit) per optimiser: state emptied, a parameter's dropped; per entry kind of its
    first parameter: dropped, made NaN, its step changed."""
    edits = []
    for i, state in enumerate(checkpoint["optimizer_states"]):
        edits.append((f"{i}.state", lambda c, i=i: c["optimizer_states"][i].update(state={})))
        first = next(iter(state["state"]))
        edits.append(
            (
                f"{i}.state.{first}",
                lambda c, i=i, n=first: c["optimizer_states"][i]["state"].pop(n),
            )
        )
        for name in state["state"][first]:
            edits.append(
                (
                    f"{i}.state.{first}",
                    lambda c, i=i, n=first, k=name: c["optimizer_states"][i]["state"][n].pop(k),
                )
            )
            edits.append(
                (
                    f"{i}.state.{first}.{name}",
                    lambda c, i=i, n=first, k=name: _spoil(
                        c["optimizer_states"][i]["state"][n], k
                    ),
                )
            )
    return edits


def _spoil(entry: dict, name: str) -> None:
    value = entry[name]
    entry[name] = value + 1 if name == "step" else value.clone().fill_(math.nan)


def test_a_state_emptied_partial_or_spoilt_is_refused(run: dict, tmp_path: Path) -> None:
    """Momentum or Adam moments dropped, NaN, or a step count the loop never made."""
    for where, edit in state_edits(run["checkpoint"]):
        line = refused(run, edit, tmp_path)
        assert line is not None and f"[optimizer_states.{where}" in line, (where, line)


def test_the_unedited_checkpoint_resumes(run: dict, tmp_path: Path) -> None:
    """The reference: the file as train.py wrote it passes."""
    assert refused(run, lambda c: None, tmp_path) is None


def test_agch_warmup_lr_is_derived_from_the_step(tmp_path: Path) -> None:
    """Within AGCH's warm-up the saved lr is initial_lr x the warm-up factor: passes; the
    configured lr (no warm-up applied) is refused."""
    run = train_method("agch_warmup", tmp_path)
    assert refused(run, lambda c: None, tmp_path) is None
    group = run["checkpoint"]["optimizer_states"][0]["param_groups"][0]
    assert group["lr"] < group["initial_lr"]

    def full(c: dict) -> None:
        for g in c["optimizer_states"][0]["param_groups"]:
            g["lr"] = g["initial_lr"]

    line = refused(run, full, tmp_path)
    assert line is not None and "[optimizer_states.0.param_groups.0.lr]" in line, line
