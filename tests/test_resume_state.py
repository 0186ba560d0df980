"""A checkpoint given to resume holds every piece of state a bit-exact resume needs, each
consistent with the run and the module, or is refused in one line before anything is written
(eighth trial, faults 1, 5, 6, 10, 12, 22 and R_no_callbacks: pieces deleted and the file
re-signed resumed from epoch 1 or with fresh momentum; swapped optimiser states a traceback;
a callback state naming another run's best file made its numbers the results; a weights-only
best file advised a setting, then a traceback; epoch 99 after 2 epochs' batches believed).
Generated cases: every piece deleted, null or of another type; every path of the checkpoint
callback's state moved out of its folder in several ways; epoch counts that the batches
cannot make; optimiser states dropped, reordered, repeated, regrouped, reshaped or of another
kind; each stateful callback's state deleted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from cli_runs import start
from test_checkpoint_records import door_line, edited, trained  # noqa: F401  (the fixture)
from test_run_lifecycle import finish, one_error_line

from src.callbacks.checkpointing import drop_training_state
from src.models.agch_module import AGCHModule
from src.utils.errors import DataError
from src.utils.instantiators import instantiate_callbacks
from src.utils.resume_state import RESUME_STATE, check_resume_fits

PIECE_CASES = [
    (key, how)
    for key in RESUME_STATE
    for how in ("deleted", "null", "text")
    if not (key == "callbacks" and how == "deleted")  # with optimizer_states: weights-only
] + [("callbacks", "deleted")]


def _piece(checkpoint: dict, key: str, how: str) -> None:
    """Delete ``key``, make it null or a string."""
    if how == "deleted":
        del checkpoint[key]
    else:
        checkpoint[key] = None if how == "null" else "x"


@pytest.mark.parametrize(("key", "how"), PIECE_CASES, ids=repr)
def test_a_resume_without_a_piece_of_its_state_is_refused(
    trained: dict[str, Any], key: str, how: str, tmp_path: Path  # noqa: F811
) -> None:
    """Refused at train.py's door naming the piece; eval.py (weights only) is not asked."""
    path = edited(trained, lambda c: _piece(c, key, how), tmp_path)
    line = door_line(trained, "resume", path)
    assert line.startswith(f"{path} [{key}]: "), line
    assert "give " not in line, line


def _check_key(checkpoint: dict) -> tuple[str, dict]:
    """(its key, the checkpoint callback's state)."""
    return next((k, v) for k, v in checkpoint["callbacks"].items() if "dirpath" in v)


OTHER = "/tmp/another_run/checkpoints/epoch_001.ckpt"
PATH_VALUES = {"another run": OTHER, "relative": "../x.ckpt", "sub-folder": "sub/epoch_001.ckpt"}
PATH_CASES = [
    (field, name)
    for field in ("best_model_path", "kth_best_model_path", "last_model_path", "best_k_models")
    for name in PATH_VALUES
]


def _move(checkpoint: dict, field: str, value: str, folder: Path) -> None:
    """Point ``field`` of the checkpoint callback's state at ``value`` (relative to
    ``folder`` unless absolute), the best score 0.99."""
    _, state = _check_key(checkpoint)
    target = value if value.startswith("/") else str(folder / value)
    if field == "best_k_models":
        state["best_k_models"] = {target: torch.tensor(0.99)}
    else:
        state[field] = target
    state["best_model_score"] = torch.tensor(0.99)


@pytest.mark.parametrize(("field", "name"), PATH_CASES, ids=repr)
def test_a_callback_state_naming_a_file_outside_its_folder_is_refused(
    trained: dict[str, Any], field: str, name: str, tmp_path: Path  # noqa: F811
) -> None:
    """Lightning restores the best path whatever the folder: the run would test another run's
    file as its best and rewrite it; refused naming the state's key."""
    path = edited(trained, lambda c: _move(c, field, PATH_VALUES[name], tmp_path), tmp_path)
    line = door_line(trained, "resume", path)
    key = _check_key(torch.load(path, weights_only=True))[0]
    assert line.startswith(f"{path} [callbacks.{key}.{field}]: the checkpoint records "), line


EPOCHS = [2, 5, 99]


def _epochs(checkpoint: dict, count: int, batches: int | None) -> None:
    """Claim ``count`` epochs everywhere the loop counts them (the trial's edit), and --
    when given -- ``batches`` batches in all."""
    fit = checkpoint["loops"]["fit_loop"]
    for part in ("total", "current"):
        fit["epoch_progress"][part] = {k: count for k in fit["epoch_progress"][part]}
    fit["epoch_progress"]["total"]["completed"] = count - 1
    fit["epoch_progress"]["current"]["completed"] = count - 1
    checkpoint["epoch"] = count - 1
    if batches is not None:
        fit["epoch_loop.batch_progress"]["total"] = {
            k: batches for k in fit["epoch_loop.batch_progress"]["total"]
        }


@pytest.mark.parametrize("count", EPOCHS)
@pytest.mark.parametrize("batches", ["as before", "one more"])
def test_epochs_the_batches_cannot_make_are_refused(
    trained: dict[str, Any], count: int, batches: str, tmp_path: Path  # noqa: F811
) -> None:
    """Epoch counts raised alone, or with a batch total that is no multiple of an epoch's."""
    per_epoch = trained["checkpoint"]["loops"]["fit_loop"]["epoch_loop.batch_progress"]
    total = None if batches == "as before" else count * per_epoch["current"]["completed"] + 1
    path = edited(trained, lambda c: _epochs(c, count, total), tmp_path)
    line = door_line(trained, "resume", path)
    assert line.startswith(f"{path} [loops.fit_loop.epoch_progress.total.processed]: "), line


@pytest.mark.parametrize("beside", [True, False])
@pytest.mark.parametrize("settings_differ", [True, False])
def test_a_weights_only_file_is_named_as_one_at_once(
    trained: dict[str, Any], beside: bool, settings_differ: bool, tmp_path: Path  # noqa: F811
) -> None:
    """A best file without its training state: said to be unresumable before any settings
    difference, naming the run's last.ckpt when there is one beside it; no setting advised."""

    def differ(checkpoint: dict) -> None:
        if settings_differ:
            checkpoint["run_settings"]["trainer.val_check_interval"] = 0.5

    path = edited(trained, differ, tmp_path)
    drop_training_state(path)
    if beside:
        (tmp_path / "last.ckpt").write_bytes(b"")
    line = door_line(trained, "resume", path)
    assert line.startswith(f"{path} [optimizer_states]: a weights-only checkpoint"), line
    assert "cannot be resumed" in line and "give " not in line and "val_check" not in line
    assert (f"ckpt_path={tmp_path / 'last.ckpt'}" in line) == beside, line


def _drop(c: dict, i: int) -> None:
    del c["optimizer_states"][i]


def _regroup(c: dict) -> None:
    c["optimizer_states"][0]["param_groups"].pop()


def _fewer_params(c: dict) -> None:
    c["optimizer_states"][0]["param_groups"][0]["params"].pop()


def _reshape(c: dict) -> None:
    state = c["optimizer_states"][1]["state"]
    number = next(iter(state))
    state[number] = {k: v.reshape(-1, 1) if v.dim() else v for k, v in state[number].items()}


def _stray(c: dict) -> None:
    c["optimizer_states"][0]["state"][999] = {"momentum_buffer": torch.zeros(2)}


def _kind(c: dict) -> None:
    for group in c["optimizer_states"][0]["param_groups"]:
        group.pop("momentum", None)
        group["betas"] = (0.9, 0.999)


OPTIMISER_EDITS = {
    "none": lambda c: c.update(optimizer_states=[]),
    "swapped": lambda c: c["optimizer_states"].reverse(),
    "first dropped": lambda c: _drop(c, 0),
    "last dropped": lambda c: _drop(c, -1),
    "repeated": lambda c: c["optimizer_states"].append(c["optimizer_states"][0]),
    "a group less": _regroup,
    "a parameter less": _fewer_params,
    "a state reshaped": _reshape,
    "a state of no parameter": _stray,
    "another optimiser kind": _kind,
}


def fits_error(trained: dict[str, Any], path: Path) -> str | None:  # noqa: F811
    """`check_resume_fits`'s refusal of ``path`` for the run's module and callbacks, else
    None."""
    from hydra.core.hydra_config import HydraConfig

    cfg, HydraConfig.instance().cfg = trained["doors"]["resume"]
    model = AGCHModule(**trained["checkpoint"]["hyper_parameters"])
    try:
        check_resume_fits(model, instantiate_callbacks(cfg.get("callbacks")), path)
    except DataError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("case", sorted(OPTIMISER_EDITS))
def test_optimiser_states_that_are_not_the_modules_are_refused(
    trained: dict[str, Any], case: str, tmp_path: Path  # noqa: F811
) -> None:
    """Checked against the optimisers the module configures, before the trainer starts."""
    path = edited(trained, OPTIMISER_EDITS[case], tmp_path)
    line = fits_error(trained, path)
    assert line is not None and line.startswith(f"{path} [optimizer_states"), line


@pytest.mark.parametrize("which", ["TrainingHealth", "Checkpoint"])
def test_a_stateful_callbacks_state_deleted_is_refused(
    trained: dict[str, Any], which: str, tmp_path: Path  # noqa: F811
) -> None:
    """Each callback that keeps a state must find it (its state key named)."""

    def delete(checkpoint: dict) -> None:
        key = next(k for k in checkpoint["callbacks"] if which in k)
        del checkpoint["callbacks"][key]

    path = edited(trained, delete, tmp_path)
    line = fits_error(trained, path)
    assert line is not None and line.startswith(f"{path} [callbacks."), line
    assert which in line.split("]")[0], line


def test_the_checkpoint_as_written_fits(trained: dict[str, Any], tmp_path) -> None:  # noqa: F811
    """The reference: the unedited file passes the door and the module's check."""
    path = edited(trained, lambda c: None, tmp_path)
    assert fits_error(trained, path) is None


@pytest.mark.parametrize("case", ["weights-only", "swapped"])
def test_train_py_refuses_in_one_line_and_writes_nothing(
    trained: dict[str, Any], case: str, tmp_path: Path  # noqa: F811
) -> None:
    """On the command line: exit 2, the one line, no traceback, no run folder made."""
    path = edited(trained, OPTIMISER_EDITS["swapped"], tmp_path)
    if case == "weights-only":
        drop_training_state(path)
    run = tmp_path / "run"
    words = [*trained["words"], "trainer.max_epochs=2", f"hydra.run.dir={run}"]
    status, out, err = finish(start("train.py", [*words, f"ckpt_path={path}"], tmp_path))
    line = one_error_line(err, out)
    assert status == 2 and line.startswith(f"error: {path} [optimizer_states"), line
    assert not run.exists() or not [p for p in run.rglob("*") if ".hydra" not in str(p)]


@pytest.mark.parametrize("best", [OTHER, "/tmp/x/epoch_000.ckpt", "relative.ckpt"])
def test_a_state_of_another_folder_restores_no_best_path(best: str, tmp_path: Path) -> None:
    """A copied or moved run's state (another dirpath): Lightning restores its best path
    alone; the project's checkpoint callback restores none, so no other folder's file is
    tested as the run's best or rewritten."""
    from src.callbacks.checkpointing import EpochEndCheckpoint

    callback = EpochEndCheckpoint(dirpath=str(tmp_path / "checkpoints"), monitor="val/objective")
    state = EpochEndCheckpoint(dirpath=str(Path(best).parent), monitor="val/objective")
    state.best_model_path = best
    callback.load_state_dict(state.state_dict())
    assert callback.best_model_path == ""
