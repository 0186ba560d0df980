"""A checkpoint given to RESUME a run holds every piece of state a bit-exact resume restores,
each consistent with the run and the module, or the resume is refused in one line before any
file is written (eighth trial: a ``loops``, ``callbacks`` or ``optimizer_states`` entry deleted
or swapped and the file re-signed resumed from epoch 1, with fresh momentum, or a traceback;
a callback state naming another run's checkpoint as best made that run's numbers the results
and rewrote its file; a weights-only best file was advised a setting, then a traceback).

The pieces (`RESUME_STATE`): the loop state, epoch and global step, the optimisers' and
schedulers' states and the callbacks' (`check_resume_pieces`; a file without the optimiser
and callback states is a weights-only best checkpoint, named as such, with the run's
last.ckpt); the checkpoint callback's paths inside its own folder, the folder the file lies in
(`check_checkpoint_paths`); the batches counted against the epochs counted (`check_batches`);
once the module is built, one optimiser state per optimiser it configures, each of its
groups and parameter shapes, and a state for every stateful callback (`check_resume_fits`).
eval.py reads weights only and keeps its own checks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from src.utils.checkpoint_rules import CONTRADICTS, REMEDY, refusal
from src.utils.errors import DataError
from src.utils.resume_optim import check_optimizer_content

# key -> (what it holds, its type): what Lightning's fit restores from a checkpoint
RESUME_STATE: dict[str, tuple[str, type | tuple[type, ...]]] = {
    "epoch": ("the epochs counted", int),
    "global_step": ("the optimiser steps counted", int),
    "loops": ("the training loop's state (fit_loop)", Mapping),
    "optimizer_states": ("the optimisers' states (momentum, steps)", list),
    "lr_schedulers": ("the learning-rate schedulers' states", list),
    "callbacks": ("the callbacks' states (best checkpoint, training health)", Mapping),
}
WEIGHTS_ONLY = ("optimizer_states", "callbacks")  # what a best file loses (drop_training_state)
PATH_KEYS = ("best_model_path", "kth_best_model_path", "last_model_path")


def check_resume_pieces(path: str | Path, checkpoint: Mapping[str, Any]) -> None:
    """Raise DataError when ``checkpoint`` lacks a piece of `RESUME_STATE` or holds one of
    another type: a weights-only file first (`weights_only_refusal`)."""
    if not any(key in checkpoint for key in WEIGHTS_ONLY):
        raise weights_only_refusal(path)
    for key, (what, kind) in RESUME_STATE.items():
        value = checkpoint.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            found = "none" if key not in checkpoint else f"a {type(value).__name__}"
            raise DataError(
                path,
                key,
                f"expected {what}, which a resume restores and every last.ckpt of src/train.py "
                f"holds, found {found}: resuming would not go on where its run stopped "
                f"({CONTRADICTS}); resume from the run's last.ckpt as train.py wrote it, or "
                "start a new run without ckpt_path",
            )


def weights_only_refusal(path: str | Path) -> DataError:
    """The refusal of a weights-only checkpoint (a best file once a later last.ckpt was
    written): it cannot be resumed; its run's last.ckpt can, and the file can be evaluated."""
    from src.utils.commands import train_command

    last = Path(path).parent / "last.ckpt"
    other = (
        f"resume from its run's last.ckpt: {train_command(last)}"
        if last.is_file() and last.resolve() != Path(path).resolve()
        else "its run has no last.ckpt beside it: start a new run without ckpt_path"
    )
    return DataError(
        path,
        "optimizer_states",
        "a weights-only checkpoint (a best epoch's file keeps its weights alone), which "
        f"cannot be resumed; expected a checkpoint with its training state: {other}, or "
        f"evaluate this file with python src/eval.py ckpt_path={path}",
    )


def check_checkpoint_paths(path: str | Path, checkpoint: Mapping[str, Any]) -> None:
    """Raise DataError when a checkpoint callback's state (one holding ``dirpath``) names a
    file (best, k-th best, last, kept best files) outside its own folder: the run would test
    that file as its best and rewrite it weights-only. (A state of another folder -- a copied
    run -- restores no path: `EpochEndCheckpoint.load_state_dict`.)"""
    for name, state in checkpoint["callbacks"].items():
        if not isinstance(state, Mapping) or "dirpath" not in state:
            continue
        where = f"callbacks.{name}"
        if not isinstance(state["dirpath"], str):
            raise refusal(path, f"{where}.dirpath", state["dirpath"], "a folder's path")
        own = Path(state["dirpath"]).resolve()
        named = [(key, state.get(key)) for key in PATH_KEYS]
        named += [("best_k_models", key) for key in state.get("best_k_models") or {}]
        for key, value in named:
            if value in ("", None):
                continue
            if not isinstance(value, str) or Path(value).resolve().parent != own:
                raise refusal(path, f"{where}.{key}", value, f"a file in {own}, its dirpath")


def check_batches(path: str | Path, checkpoint: Mapping[str, Any]) -> None:
    """Raise DataError when the loop's batches cannot be the epochs it counts: at an epoch's
    end (the last batch) every epoch trained the batches of the current one, so the total is
    the epochs times those; within an epoch the total is at least the current epoch's."""
    fit = checkpoint["loops"].get("fit_loop") or {}
    batches, epochs = fit.get("epoch_loop.batch_progress"), fit.get("epoch_progress")
    try:
        total, current = batches["total"]["completed"], batches["current"]["completed"]
        done, last = epochs["total"]["processed"], bool(batches.get("is_last_batch"))
    except (KeyError, TypeError):
        return  # not recorded: `check_loop_state` checks what is
    key = "loops.fit_loop.epoch_progress.total.processed"
    if last and current and total != done * current:
        what = (
            f"{total / current:g}: the batches it counts ({total}, loops.fit_loop."
            f"epoch_loop.batch_progress.total.completed) over an epoch's ({current})"
        )
        raise refusal(path, key, done, what)
    if total < current:
        key = "loops.fit_loop.epoch_loop.batch_progress.total.completed"
        raise refusal(path, key, total, f"at least the current epoch's batches ({current})")


def expected_optimizers(model: Any) -> list[torch.optim.Optimizer]:
    """The optimisers ``model`` configures, as Lightning lists them (its mock one for none)."""
    from lightning.pytorch.core.optimizer import _configure_optimizers, _MockOptimizer

    conf = model.configure_optimizers()
    return [_MockOptimizer()] if conf is None else _configure_optimizers(conf)[0]


def check_resume_fits(model: Any, callbacks: Sequence[Any], path: str | Path) -> None:
    """Raise DataError when the checkpoint's optimiser states are not those of the optimisers
    ``model`` configures -- their number, order, kind (the groups' settings), the parameters of
    each group and the shapes of their state tensors -- or lack the state of a callback that
    keeps one (`callback_states`)."""
    from src.utils.checkpoints import read_checkpoint

    checkpoint = read_checkpoint(path)
    states = checkpoint["optimizer_states"]
    built = expected_optimizers(model)
    if len(states) != len(built):
        what = f"{len(built)} optimiser states, one per optimiser of the module, in its order"
        raise refusal(path, "optimizer_states", f"{len(states)} states", what)
    for index, (state, optimizer) in enumerate(zip(states, built)):
        check_optimizer_state(path, f"optimizer_states.{index}", state, optimizer)
        if optimizer.state_dict().get("param_groups") is not None:
            run = {"steps": checkpoint["global_step"] // len(built)}
            run["lr"] = expected_lr(model, checkpoint, index, optimizer)
            check_optimizer_content(path, f"optimizer_states.{index}", state, optimizer, run)
    check_callback_states(path, checkpoint, callbacks)


def expected_lr(
    model: Any, checkpoint: Mapping[str, Any], index: int, optimizer: torch.optim.Optimizer
) -> Callable[[int], float]:
    """Group -> the learning rate optimiser ``index`` had at the checkpoint's step: its
    scheduler's last (a saved scheduler state), the module's warm-up (``resumed_lr``) or the
    configured one."""
    schedulers = checkpoint["lr_schedulers"]
    saved = schedulers[index] if index < len(schedulers) else None
    last = saved.get("_last_lr") if isinstance(saved, Mapping) else None
    groups = optimizer.param_groups

    def lr(group: int) -> float:
        if isinstance(last, list) and group < len(last):
            return last[group]
        if hasattr(model, "resumed_lr") and "initial_lr" in groups[group]:
            try:
                return model.resumed_lr(groups[group]["initial_lr"], checkpoint["loops"])
            except (KeyError, TypeError):  # a loop state `check_batches` leaves to others
                pass
        return groups[group]["lr"]

    return lr


def check_optimizer_state(
    path: str | Path, where: str, state: Any, optimizer: torch.optim.Optimizer
) -> None:
    """One optimiser state against the optimiser the module builds: its groups (number, keys,
    parameter counts) and each parameter state's tensors of the parameter's shape."""
    own = optimizer.state_dict().get("param_groups")
    if own is None:  # Lightning's mock optimiser of a method without one: nothing to restore
        return
    groups = state.get("param_groups") if isinstance(state, Mapping) else None
    if not isinstance(groups, list) or len(groups) != len(own):
        found = len(groups) if isinstance(groups, list) else type(state).__name__
        raise refusal(path, f"{where}.param_groups", found, f"{len(own)} parameter groups")
    params = [p for group in optimizer.param_groups for p in group["params"]]
    numbers = [number for group in own for number in group["params"]]
    shapes = {number: tuple(param.shape) for number, param in zip(numbers, params)}
    for index, (group, mine) in enumerate(zip(groups, own)):
        if not isinstance(group, Mapping) or set(group) != set(mine):
            found = sorted(group) if isinstance(group, Mapping) else group
            expected = f"the settings of {type(optimizer).__name__}: {sorted(mine)}"
            raise refusal(path, f"{where}.param_groups.{index}", found, expected)
        if list(group["params"]) != list(mine["params"]):
            expected = f"parameters {mine['params']}"
            raise refusal(path, f"{where}.param_groups.{index}.params", group["params"], expected)
    for number, values in (state.get("state") or {}).items():
        for name, tensor in values.items() if isinstance(values, Mapping) else ():
            if number not in shapes:
                raise refusal(path, f"{where}.state.{number}", "a state", "one per parameter")
            size = tuple(getattr(tensor, "shape", ()))
            if size and size != shapes[number]:
                expected = f"shape {list(shapes[number])}, its parameter's"
                raise refusal(path, f"{where}.state.{number}.{name}", list(size), expected)


def check_callback_states(
    path: str | Path, checkpoint: Mapping[str, Any], callbacks: Sequence[Any]
) -> None:
    """Every callback that keeps a state (its class defines ``state_dict``) has one in the
    checkpoint, under its ``state_key``."""
    from lightning.pytorch.callbacks import Callback

    saved = checkpoint["callbacks"]
    for callback in callbacks:
        if type(callback).state_dict is Callback.state_dict or callback.state_key in saved:
            continue
        raise DataError(
            path,
            f"callbacks.{callback.state_key}",
            f"the checkpoint records none; expected the state of {type(callback).__name__}, "
            f"which a resume restores ({CONTRADICTS}); {REMEDY}",
        )
