"""The wall-clock time of a run, as results.json records it (``timing``).

``RunClock`` starts when src/train.py starts a run and times its phases (``fit``, ``test``);
``RunClock.record`` gives the ``timing`` field of results.json::

    {"total_s": 1234.5, "fit_s": 1200.1, "test_s": 30.2, "resumed": false,
     "device": "cpu", "threads": 1}

``total_s`` runs from the start of ``train`` (before the store is read) to the writing of
results.json; a resumed run (``ckpt_path`` given) times only its own part, so the report leaves
it out of a time per run (src/report/headline.py). ``device`` is the device the trainer ran on
(a CUDA device's name, else its type) and ``threads`` torch's intra-op CPU threads: times are
comparable only between runs of one machine.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch


def device_name(trainer: Any) -> str:
    """The device a Lightning trainer ran on: ``torch.cuda.get_device_name`` for a CUDA device,
    else the device type (``cpu``, ``mps``); ``unknown`` without a strategy's root device."""
    try:
        device = trainer.strategy.root_device
    except (AttributeError, RuntimeError):
        return "unknown"
    if device.type == "cuda" and torch.cuda.is_available():
        return torch.cuda.get_device_name(device)
    return str(device.type)


class RunClock:
    """Seconds since the run started (``time.monotonic``), and per phase."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.phases: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Add the wall-clock seconds of the ``with`` block to phase ``name`` (also when it
        raises: the time was spent)."""
        began = time.monotonic()
        try:
            yield
        finally:
            self.phases[name] = self.phases.get(name, 0.0) + time.monotonic() - began

    def record(self, trainer: Any, resumed: bool) -> dict[str, Any]:
        """The ``timing`` field of results.json (module docstring); a phase that did not run is
        null. Seconds rounded to 1 ms (a small run's test takes well under 0.1 s)."""
        return {
            "total_s": _rounded(time.monotonic() - self.start),
            "fit_s": _rounded(self.phases.get("fit")),
            "test_s": _rounded(self.phases.get("test")),
            "resumed": bool(resumed),
            "device": device_name(trainer),
            "threads": torch.get_num_threads(),
        }


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)
