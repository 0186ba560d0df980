"""Ctrl-C while a command starts (Python importing torch and Lightning, before Hydra runs):
one ``error:`` line and exit 130, never a traceback. Standard library only, so that it is in
place before the heavy imports; `started` hands Ctrl-C back to Python (KeyboardInterrupt),
where `src.utils.jobs.run_cli` and the job's handlers report it.
"""

import os
import signal
import sys

EXIT_INTERRUPTED = 130  # as src.utils.errors.EXIT_INTERRUPTED (128 + SIGINT)
STARTING = "error: interrupted (Ctrl-C) while starting; nothing was run or written"


def _interrupted_while_starting(signum: int, frame: object) -> None:
    """SIGINT handler: the line, then exit at once (nothing to clean up: nothing was written)."""
    sys.stderr.write(STARTING + "\n")
    sys.stderr.flush()
    os._exit(EXIT_INTERRUPTED)


def quiet_start() -> None:
    """Until `started`, Ctrl-C ends the process with `STARTING` and exit 130. A SIGINT that the
    shell ignores (a background job) stays ignored."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupted_while_starting)


def started() -> None:
    """From here Ctrl-C raises KeyboardInterrupt again (Python's default handler)."""
    if signal.getsignal(signal.SIGINT) is _interrupted_while_starting:
        signal.signal(signal.SIGINT, signal.default_int_handler)
