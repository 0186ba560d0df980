"""A resumed run measures its training health from the run's own initial weights or is
refused (trial 8, R_h_del / R_h_trunc / R_no_callbacks: health_initial.pt deleted, truncated
or the callback state removed; the resume "completed" with weight changes measured from the
resumed weights, a wrong health_initial.pt saved, or a 97-line traceback). Generated: every
way the file or the state can fail to prove it is the run's theta_0; a null own-loss ratio is
explained in a warning (R_health_firstloss_zero)."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from src.callbacks.health import INITIAL_FILE, KEY, TrainingHealth
from src.models.base import HealthSpec
from src.utils.errors import DataError


class Model:
    """What the callback reads of a method: its watched modules."""

    def __init__(self, seed: int) -> None:
        torch.manual_seed(seed)
        self.mods = {
            "enc": nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3)),
            "gcn": nn.Linear(3, 2),
        }

    def health_modules(self) -> dict[str, HealthSpec]:
        return {name: HealthSpec(module, ("L",)) for name, module in self.mods.items()}


def trainer(root: Path, ckpt: str | None) -> SimpleNamespace:
    return SimpleNamespace(ckpt_path=ckpt, default_root_dir=str(root), is_global_zero=True)


def started(root: Path, seed: int = 0) -> dict:
    """A run started in ``root``: its health file written; the callback's checkpoint state."""
    health = TrainingHealth()
    health.on_fit_start(trainer(root, None), Model(seed))
    return health.state_dict()


def resume(root: Path, state: dict | None, seed: int = 1) -> TrainingHealth:
    health = TrainingHealth()
    if state is not None:
        health.load_state_dict(state)
    health.on_fit_start(trainer(root, str(root / "last.ckpt")), Model(seed))
    return health


def _truncate(size: int):
    def damage(root: Path, state: dict) -> None:
        path = root / INITIAL_FILE
        path.write_bytes(path.read_bytes()[:size])

    return damage


def _replace(make) -> object:
    def damage(root: Path, state: dict) -> None:
        torch.save(make(torch.load(root / INITIAL_FILE, weights_only=True)), root / INITIAL_FILE)

    return damage


def _other_run(root: Path, state: dict) -> None:
    other = root / "other"
    other.mkdir()
    started(other, seed=7)
    (root / INITIAL_FILE).write_bytes((other / INITIAL_FILE).read_bytes())


def _nudge(saved: dict) -> dict:
    saved["gcn"][0] = saved["gcn"][0] + 1e-6
    return saved


DAMAGES = {
    "deleted": lambda root, state: (root / INITIAL_FILE).unlink(),
    "empty": _truncate(0),
    "garbage": lambda root, state: (root / INITIAL_FILE).write_bytes(b"\x00junk" * 50),
    "other_run": _other_run,
    "a_module_missing": _replace(lambda s: {"enc": s["enc"]}),
    "a_tensor_missing": _replace(lambda s: {"enc": s["enc"][:-1], "gcn": s["gcn"]}),
    "transposed": _replace(lambda s: {"enc": s["enc"], "gcn": [s["gcn"][0].t(), s["gcn"][1]]}),
    "a_list": _replace(lambda s: list(s.values())),
    "nudged": _replace(_nudge),
    "half": _replace(lambda s: {k: [t.half() for t in v] for k, v in s.items()}),
    "a_tensor_not_a_list": _replace(lambda s: {k: v[0] for k, v in s.items()}),
    **{f"truncated_{n}": _truncate(n) for n in (10, 100, 400, 1000, 1500)},
}


def files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_damaged_initial_file_refused(tmp_path: Path, damage: str) -> None:
    """Each damage: one DataError naming the file and the key; no file written or changed."""
    state = started(tmp_path)
    DAMAGES[damage](tmp_path, state)
    before = files(tmp_path)
    with pytest.raises(DataError) as info:
        resume(tmp_path, state)
    message = str(info.value)
    assert f"[{KEY}]" in message and INITIAL_FILE in message and "\n" not in message
    assert files(tmp_path) == before


@pytest.mark.parametrize("seed", range(4))
def test_intact_file_is_the_reference(tmp_path: Path, seed: int) -> None:
    """An intact file: theta_0 is the first start's weights, not the resumed ones."""
    state = started(tmp_path, seed=seed)
    first = Model(seed)
    health = resume(tmp_path, state, seed=seed + 10)
    for name, module in first.mods.items():
        for a, b in zip(health._initial[name], module.parameters()):
            assert torch.equal(a, b.detach())


@pytest.mark.parametrize("moved", [False, True])
def test_moved_run_uses_its_own_file(tmp_path: Path, moved: bool) -> None:
    """The state names the first folder's file; a run copied elsewhere proves its own."""
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    state = started(first)
    (second / INITIAL_FILE).write_bytes((first / INITIAL_FILE).read_bytes())
    if moved:
        (first / INITIAL_FILE).unlink()
    resume(second, state)


@pytest.mark.parametrize("file_there", [False, True])
def test_no_callback_state_refused(tmp_path: Path, file_there: bool) -> None:
    """A resumed checkpoint without the callback's state: refused naming the checkpoint."""
    started(tmp_path)
    if not file_there:
        (tmp_path / INITIAL_FILE).unlink()
    before = files(tmp_path)
    with pytest.raises(DataError, match=rf"last\.ckpt \[{KEY}\]: expected the training-health"):
        resume(tmp_path, None)
    assert files(tmp_path) == before


@pytest.mark.parametrize("how", ["missing", "null"])
def test_checkpoint_without_digest_refused(tmp_path: Path, how: str) -> None:
    """A checkpoint of before the digest: refused naming the checkpoint and initial_digest,
    even with an intact file (the file cannot be proved the run's own); nothing written."""
    state = started(tmp_path)
    state.pop("initial_digest") if how == "missing" else state.update(initial_digest=None)
    before = files(tmp_path)
    with pytest.raises(DataError, match=r"last\.ckpt \[initial_digest\]: the checkpoint predates"):
        resume(tmp_path, state)
    assert files(tmp_path) == before


@pytest.mark.parametrize("first", [0.0, -0.0, float("nan"), float("inf")])
def test_null_own_loss_ratio_is_explained(first: float) -> None:
    """A first-epoch own loss of 0 (or not finite): ratio NaN and a warning naming why."""
    health = TrainingHealth()
    with pytest.warns(UserWarning, match="own_loss_ratio is null"):
        ratio = health._ratio("gcn", 0.5, first)
    assert math.isnan(ratio)
    assert health._ratio("enc", 0.5, 2.0) == 0.25
