"""The CONTENT of a resumed checkpoint's optimiser states: what `check_optimizer_state`
(src/utils/resume_state.py) leaves once the number, groups, kind and shapes fit (ninth trial,
faults 1 and 2: a weight_decay of 0.5 the run never had, or an optimiser's per-parameter state
emptied, the file re-signed, resumed and completed with other numbers; an lr of NaN silently
replaced by the configured one).

Each group's settings are those the configuration builds (`check_group_settings`): equal and
finite, the learning rate the one the run had at the checkpoint's step (`expected_lr`: the
scheduler's last lr where a scheduler is saved, else the module's ``resumed_lr`` -- AGCH's
warm-up -- else the configured lr). Once the optimiser stepped, every trainable parameter has
its state (`check_param_states`): the entries a step of the same optimiser makes (Adam's step,
exp_avg, exp_avg_sq; SGD's momentum_buffer), each finite, of its shape, and a step count equal
to the optimiser's steps the loop counted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from src.utils.checkpoint_rules import refusal


def check_optimizer_content(
    path: str | Path,
    where: str,
    state: Mapping[str, Any],
    optimizer: torch.optim.Optimizer,
    run: Mapping[str, Any],
) -> None:
    """Raise DataError (one line naming ``where`` and the key) when ``state``'s settings or
    per-parameter states are not those ``optimizer`` has at the checkpoint's step. ``run``:
    ``steps`` (this optimiser's steps), ``lr`` (a callable group index -> expected lr)."""
    check_group_settings(path, where, state["param_groups"], optimizer, run["lr"])
    check_param_states(path, where, state.get("state") or {}, optimizer, run["steps"])


def _same(saved: Any, built: Any) -> bool:
    """Equal settings, floats up to rounding, tuples element by element."""
    if isinstance(built, (tuple, list)) and isinstance(saved, (tuple, list)):
        return len(saved) == len(built) and all(map(_same, saved, built))
    if isinstance(built, float) and isinstance(saved, (int, float)):
        return not isinstance(saved, bool) and math.isclose(saved, built, rel_tol=1e-9)
    return type(saved) is type(built) and saved == built


def _finite(value: Any) -> bool:
    """False for a NaN or infinite number, in a tuple too."""
    if isinstance(value, (tuple, list)):
        return all(map(_finite, value))
    return not isinstance(value, float) or math.isfinite(value)


def check_group_settings(
    path: str | Path, where: str, groups: list[Any], optimizer: torch.optim.Optimizer, lr: Any
) -> None:
    """Every setting of every group (weight_decay, betas, eps, momentum, nesterov, initial_lr,
    ...) equal to the built optimiser's and finite; ``lr`` the one ``lr(index)`` expects."""
    for index, (group, mine) in enumerate(zip(groups, optimizer.state_dict()["param_groups"])):
        for key, built in mine.items():
            if key == "params":
                continue
            saved, at = group[key], f"{where}.param_groups.{index}.{key}"
            if not _finite(saved):
                raise refusal(path, at, saved, "a finite value")
            expected = lr(index) if key == "lr" else built
            if not _same(saved, expected):
                what = (
                    "the run's learning rate at the checkpoint's step"
                    if key == "lr"
                    else (f"the value the configuration builds for {type(optimizer).__name__}")
                )
                raise refusal(path, at, saved, f"{expected!r}, {what}")


def probe_state(optimizer: torch.optim.Optimizer) -> dict[int, dict[str, Any]]:
    """The per-parameter state one step of ``optimizer``'s kind and settings makes, on copies
    of its trainable parameters (zero gradients), keyed by the parameter's number."""
    groups, numbers = [], []
    for group, mine in zip(optimizer.param_groups, optimizer.state_dict()["param_groups"]):
        pairs = [(n, p) for n, p in zip(mine["params"], group["params"]) if p.requires_grad]
        copies = [p.detach().clone().requires_grad_(True) for _, p in pairs]
        for copy in copies:
            copy.grad = torch.zeros_like(copy)
        groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": copies})
        numbers += [n for n, _ in pairs]
    probe = type(optimizer)(groups)
    probe.step()
    params = [p for group in probe.param_groups for p in group["params"]]
    return {n: dict(probe.state.get(p, {})) for n, p in zip(numbers, params)}


def check_param_states(
    path: str | Path,
    where: str,
    saved: Mapping[Any, Any],
    optimizer: torch.optim.Optimizer,
    steps: int,
) -> None:
    """After ``steps`` > 0 steps, each trainable parameter's state holds the entries a step
    makes, finite, of their shape; a ``step`` entry equals ``steps``."""
    if steps <= 0:
        return
    for number, expected in probe_state(optimizer).items():
        entry = saved.get(number)
        if not expected and not entry:
            continue  # a setting that keeps no state (SGD without momentum)
        at = f"{where}.state.{number}"
        if not isinstance(entry, Mapping) or set(entry) != set(expected):
            found = sorted(entry) if isinstance(entry, Mapping) else "none"
            what = f"its parameter's state after {steps} steps: {sorted(expected)}"
            raise refusal(path, at, found, what)
        for name, value in expected.items():
            check_entry(path, f"{at}.{name}", entry[name], value, steps)


def check_entry(path: str | Path, at: str, saved: Any, probe: Any, steps: int) -> None:
    """One state entry against the probe's: a tensor of its shape, finite; a step count equal
    to the optimiser's steps."""
    if not isinstance(probe, torch.Tensor):
        if saved != probe and not at.endswith(".step"):
            raise refusal(path, at, saved, repr(probe))
        return
    if not isinstance(saved, torch.Tensor) or saved.shape != probe.shape:
        found = list(saved.shape) if isinstance(saved, torch.Tensor) else type(saved).__name__
        raise refusal(path, at, found, f"a tensor of shape {list(probe.shape)}")
    if saved.is_floating_point() and not bool(torch.isfinite(saved).all()):
        raise refusal(path, at, "a non-finite value", "finite values")
    if at.endswith(".step") and float(saved) != steps:
        raise refusal(path, at, float(saved), f"{steps}, the optimiser's steps the loop counts")
