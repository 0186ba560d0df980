"""Lightning's notices go to stdout, so that stderr holds the project's lines alone: a refusal
made once the trainer is set up (a checkpoint's non-finite inputs at test, a training-health
record refused at fit start) leaves stderr with its one ``error:`` line (ninth trial: 5 to 24
lines -- "GPU available", "TPU available", the tip, "Restoring states", the model summary,
Lightning's own warnings -- came before it).

`notices_to_stdout` moves the handlers of Lightning's loggers (``lightning.pytorch``,
``lightning.fabric``: ``rank_zero_info``) from stderr to stdout and shows the warnings raised
inside Lightning, torchmetrics and lightning_utilities on stdout; the project's own warnings
(``rank_zero_warn`` from src/, whose frame is the caller's) stay on stderr.
"""

from __future__ import annotations

import logging
import sys
import warnings
from typing import Any, TextIO

LOGGERS = ("lightning.pytorch", "lightning.fabric", "lightning_utilities")
# path parts of the frameworks whose own warnings are notices, not the project's
FRAMEWORKS = ("/lightning/", "/lightning_fabric/", "/lightning_utilities/", "/torchmetrics/")
_SHOWN: dict[str, Any] = {}


def _show(
    message: Any,
    category: Any,
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """`warnings.showwarning` with a framework's warnings on stdout."""
    if file is None and any(part in filename.replace("\\", "/") for part in FRAMEWORKS):
        file = sys.stdout
    _SHOWN["show"](message, category, filename, lineno, file, line)


def notices_to_stdout() -> None:
    """Lightning's info lines and its warnings on stdout (once per process)."""
    for name in LOGGERS:
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr:
                handler.setStream(sys.stdout)
    if "show" not in _SHOWN:
        _SHOWN["show"] = warnings.showwarning
        warnings.showwarning = _show
