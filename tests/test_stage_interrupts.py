"""A signal in any Lightning stage stops a job as one in fit does (trial 12 H2: one Ctrl-C or a
burst of SIGTERMs in the final test of train.py, or in eval.py's test, ended with exit 1, no
line and no advice). Lightning's ``_call_and_handle_interrupt`` turns a KeyboardInterrupt in
fit, validate, test or predict into ``sys.exit(1)``; `src.utils.errors.lightning_interrupt`
finds the interrupt behind that exit. Generated: every stage x SIGINT/SIGTERM (one or a burst)
x the moment in the stage (its start, a batch, its end), sent to this process with the
project's handlers in place: exit 130, one ``error: interrupted`` line with the command to run
again, no traceback; and an exit of Lightning that no interrupt caused keeps its status."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from typing import Any

import lightning.pytorch as L
import pytest
from lightning.pytorch.demos.boring_classes import BoringModel
from omegaconf import OmegaConf

from src.utils import io
from src.utils.errors import EXIT_INTERRUPTED, lightning_interrupt, one_line_errors
from src.utils.jobs import _interruptible

STAGES = ("fit", "validate", "test", "predict")
HOOKS = {  # the moments of each stage: its start, a batch, its end
    "fit": ("on_train_start", "on_train_batch_end", "on_validation_batch_start"),
    "validate": ("on_validation_start", "on_validation_batch_end", "on_validation_end"),
    "test": ("on_test_start", "on_test_batch_start", "on_test_end"),
    "predict": ("on_predict_start", "on_predict_batch_end", "on_predict_end"),
}
BURSTS = {"INT": [signal.SIGINT], "TERM": [signal.SIGTERM], "TERMx3": [signal.SIGTERM] * 3}
CASES = [(s, h, b) for s in STAGES for h in HOOKS[s] for b in BURSTS]


class SignalAt(L.Callback):
    """Sends ``burst`` to this process when Lightning calls the hook ``hook``."""

    def __init__(self, hook: str, burst: list[signal.Signals]) -> None:
        self.burst = burst
        setattr(self, hook, self._send)

    def _send(self, *args: Any, **kwargs: Any) -> None:
        for signum in self.burst:
            os.kill(os.getpid(), signum)


def run_stage(stage: str, callback: L.Callback) -> None:
    """``stage`` of a tiny model on the CPU with ``callback``."""
    trainer = L.Trainer(
        accelerator="cpu", max_epochs=1, limit_train_batches=2, limit_val_batches=2,
        limit_test_batches=2, limit_predict_batches=2, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[callback],
    )  # fmt: skip
    getattr(trainer, stage)(BoringModel())


@pytest.fixture
def project_handlers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The handlers a command installs (`interrupts_raise`), put back afterwards."""
    monkeypatch.setattr(io, "_STOPPING", [])  # a fresh process: no signal yet
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)
    monkeypatch.setattr(io.atexit, "register", lambda *args: None)
    kept = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    io.interrupts_raise()
    yield
    for signum, handler in kept.items():
        signal.signal(signum, handler)


@pytest.mark.parametrize("stage,hook,burst", CASES, ids=["-".join(c) for c in CASES])
def test_a_signal_in_any_stage_is_one_line_and_130(
    stage: str, hook: str, burst: str, project_handlers: None, capsys: pytest.CaptureFixture
) -> None:
    cfg = OmegaConf.create({"task_name": "eval"})
    with pytest.raises(SystemExit) as exit_:
        _interruptible(cfg, lambda _: run_stage(stage, SignalAt(hook, BURSTS[burst])))
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert exit_.value.code == EXIT_INTERRUPTED, err
    assert len(lines) == 1 and lines[0].startswith("error: interrupted; "), err
    assert "run it again with: python " in lines[0] and "Traceback" not in err


@pytest.mark.parametrize("stage", STAGES)
def test_scripts_one_line_errors_see_a_stage_interrupt(
    stage: str, project_handlers: None, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as exit_:
        with one_line_errors("x.py"):
            run_stage(stage, SignalAt(HOOKS[stage][1], [signal.SIGTERM]))
    assert exit_.value.code == EXIT_INTERRUPTED
    assert capsys.readouterr().err.startswith("error: x.py: interrupted (stopped by signal")


@pytest.mark.parametrize("code", [0, 1, 2, None])
def test_an_exit_without_an_interrupt_keeps_its_status(code: int | None) -> None:
    with pytest.raises(SystemExit) as exit_:
        _interruptible(OmegaConf.create({"task_name": "eval"}), lambda _: sys.exit(code))
    assert exit_.value.code == code and lightning_interrupt(exit_.value) is None
