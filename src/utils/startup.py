"""Ctrl-C or SIGTERM while a command starts (Python importing torch and Lightning, before Hydra
runs): one ``error:`` line and exit 130, never a traceback. Standard library only, so that it
is in place before the heavy imports; `started` hands both signals back to Python
(`src.utils.io.interrupts_raise`: KeyboardInterrupt), where `src.utils.jobs.run_cli` and the
job's handlers report them.

A process started in the background by a non-interactive shell (``python src/train.py ... &``
in a script) inherits SIGINT ignored; it is handled all the same (issue 22, trial 34:
``kill -INT`` did nothing to such a run), so a run stops on SIGINT wherever it was started.
"""

import os
import re
import signal
import sys
from typing import Any

EXIT_INTERRUPTED = 130  # as src.utils.errors.EXIT_INTERRUPTED (128 + SIGINT)
STARTING = "error: interrupted (Ctrl-C) while starting; nothing was run or written"
SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _interrupted_while_starting(signum: int, frame: object) -> None:
    """The handler of both signals: the line, then exit at once (nothing to clean up:
    nothing was written)."""
    name = signal.Signals(signum).name
    line = STARTING if signum == signal.SIGINT else STARTING.replace("Ctrl-C", name)
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
    os._exit(EXIT_INTERRUPTED)


def quiet_start() -> None:
    """Until `started`, SIGINT (default or ignored: a background job) and SIGTERM (default)
    end the process with `STARTING` and exit 130. A handler someone else installed stays."""
    for signum in SIGNALS:
        if signal.getsignal(signum) in (
            signal.default_int_handler,
            signal.SIG_IGN,
            signal.SIG_DFL,
        ):
            signal.signal(signum, _interrupted_while_starting)


def started() -> None:
    """From here SIGINT raises KeyboardInterrupt, even where the process started with it
    ignored, and SIGTERM raises `src.utils.io.Interrupted` (a KeyboardInterrupt): the job
    reports either as an interruption, with its one line (each signal that `quiet_start`
    took; another's handler stays)."""
    from src.utils.io import raise_interrupted, raise_keyboard_interrupt

    handlers = {signal.SIGINT: raise_keyboard_interrupt, signal.SIGTERM: raise_interrupted}
    for signum, handler in handlers.items():
        if signal.getsignal(signum) is _interrupted_while_starting:
            signal.signal(signum, handler)


RACE_NOTICE = re.compile(r"Signal \d+ ignored due to race condition")


def quiet_race_notices() -> None:
    """Drop CPython's "OSError: Signal 15 ignored due to race condition" (with the traceback
    of wherever the main thread was): a signal of a burst that arrived before the handler of
    the first one ran finds SIG_IGN in its place -- set by `src.utils.io._stopping` or by
    Lightning on a KeyboardInterrupt -- and Python reports it through `sys.unraisablehook`
    (trial 12 H4: an INT,TERM,INT,TERM burst 10 ms apart). The process is stopping: that
    signal is meant to be ignored. Any other unraisable exception is reported as before."""
    previous = sys.unraisablehook
    if getattr(previous, "quiet_races", False):
        return

    def hook(unraisable: Any) -> None:
        value = unraisable.exc_value
        if not (isinstance(value, OSError) and RACE_NOTICE.fullmatch(str(value))):
            previous(unraisable)

    hook.quiet_races = True  # type: ignore[attr-defined]
    sys.unraisablehook = hook
