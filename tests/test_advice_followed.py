"""Advice that names a value is checked against the same door before it is printed (trial 9,
faults 10 and 11: ``trainer.limit_train_batches=0`` was answered "expected
+trainer.limit_train_batches=0", then refused; ``trainer.num_nodes=2`` advised
``+trainer.num_nodes=2``, then refused under ``[trainer.devices]``, listing
"trainer.devices=1" twice). Generated: every key of `RULES` that train.py's configuration
lacks (the ones advised with ``+``) x values around its rule's bounds; the refusal's advice,
when it names an override, is followed literally (parsed from the line, the command line
run again through the door in-process): it is never refused."""

from __future__ import annotations

import re

import pytest

from door import ROOT, composed_run, door
from src.utils.advice_check import door_refusal
from src.utils.config_rules import RULES, select_key

ADVICE = re.compile(r"expected (\+[\w.]+=\S+?)(?= \(|;|$)")
VALUES = ("0", "1", "2", "-1", "0.5", "100", "0.0")


def _absent_keys() -> list[str]:
    cfg = composed_run([])
    from omegaconf import OmegaConf

    tree = OmegaConf.to_container(cfg, resolve=False)
    groups = ("trainer.", "data.", "model.")
    return sorted(k for k in RULES if k.startswith(groups) and not select_key(tree, k)[0])


@pytest.fixture(autouse=True)
def trains(monkeypatch: pytest.MonkeyPatch) -> None:
    """train.py's own door, as `run_cli` sets it, on this checkout's stores."""
    monkeypatch.setenv("PROJECT_ROOT", str(ROOT))
    from src.train import train_door
    from src.utils.sweep_door import use_door

    use_door(train_door)


CASES = [(key, value) for key in _absent_keys() for value in VALUES]


@pytest.mark.parametrize(
    "key, value",  # every fourth case in the default suite (each composes a run, ~1 s), all
    [c if i % 4 == 0 else pytest.param(*c, marks=pytest.mark.slow) for i, c in enumerate(CASES)],
)  # under `make test-full`
def test_advice_to_add_a_key_is_never_refused_when_followed(key: str, value: str) -> None:
    refusal, _ = door([f"{key}={value}"])
    assert refusal, (key, value)
    advised = ADVICE.search(refusal)
    if advised is None or "<" in advised[1]:
        return  # no literal override advised (the rule's words instead)
    again = door_refusal([advised[1]])
    assert again is None, (refusal, again)
