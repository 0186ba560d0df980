"""A Lightning callback that records the cost of every whole training epoch of a run: CPU
time of the process (user + system, s), wall time (s), minor page faults and bytes written
(``wchar`` of /proc/self/io), from one epoch's start to the next one's (so the validation,
the checkpoint writes and the figures of the epoch are included) and to the end of fit for
the last. Standalone (imports Lightning only), so that it can be added to a run of any
commit of the project without that commit's code knowing it:

    PYTHONPATH=<tree>:<this folder> python src/train.py ... \
        +callbacks.epoch_clock._target_=epoch_clock.EpochClock \
        +callbacks.epoch_clock.out=<file.json>

Used by benchmarks/bench_epoch.py.
"""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path

from lightning.pytorch.callbacks import Callback


def _wchar() -> int:
    """Bytes this process has passed to write() so far (Linux /proc/self/io)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    return -1


def _now() -> dict[str, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "wall_s": time.perf_counter(),
        "minflt": float(usage.ru_minflt),
        "wchar": float(_wchar()),
    }


class EpochClock(Callback):
    """Per-epoch CPU s, wall s, minor faults and bytes written, as a JSON list into `out`."""

    def __init__(self, out: str) -> None:
        self.out, self.marks = Path(out), []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.marks.append(_now())

    def on_fit_end(self, trainer, pl_module) -> None:
        self.marks.append(_now())
        epochs = [{k: b[k] - a[k] for k in a} for a, b in zip(self.marks, self.marks[1:])]
        self.out.write_text(json.dumps(epochs))
