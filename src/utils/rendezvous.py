"""Ctrl-C or SIGTERM while the process waits for the other processes of a distributed run
(trial 12 H3: torch's rendezvous, a C++ wait that never returns to Python, so the handler that
raises KeyboardInterrupt never ran: the run survived SIGTERM and was killed by timeout's -k).

During the wait Python's C-level signal handler still writes the signal's number to the wakeup
descriptor (`signal.set_wakeup_fd`); a watcher thread reading it ends the process at once with
the project's interrupt line, after ``on_signal`` (the run folder's start-up files removed:
nothing was trained), exit 130.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from src.utils.errors import EXIT_INTERRUPTED


def interrupt_line(signum: int) -> str:
    """The line for a signal during the wait."""
    name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
    where = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
    return (
        f"error: interrupted ({name}) while waiting for the other processes of the "
        f"distributed run (rendezvous at {where}); nothing was trained"
    )


def _watch(reader: socket.socket, done: threading.Event, on_signal: Callable[[], None]) -> None:
    """Until ``done``: on a SIGINT or SIGTERM number from the wakeup descriptor, the line,
    ``on_signal()`` and exit 130."""
    while not done.is_set():
        ready, _, _ = select.select([reader], [], [], 0.2)
        data = reader.recv(64) if ready else b""
        stop = [n for n in data if n in (signal.SIGINT, signal.SIGTERM)]
        if stop and not done.is_set():
            sys.stderr.write(interrupt_line(stop[0]) + "\n")
            sys.stderr.flush()
            try:
                on_signal()
            finally:
                os._exit(EXIT_INTERRUPTED)


@contextmanager
def signals_end_wait(on_signal: Callable[[], None]) -> Iterator[None]:
    """Around a wait in C++ (the main thread only): the first SIGINT/SIGTERM ends the process
    (`_watch`), whether or not the wait ever returns to Python."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    done = threading.Event()
    watcher = threading.Thread(target=_watch, args=(reader, done, on_signal), daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        signal.set_wakeup_fd(previous)
        watcher.join()
        reader.close()
        writer.close()


def watch_rendezvous(trainer: Any, cfg: DictConfig) -> None:
    """Make the trainer's rendezvous (its strategy's ``setup_distributed``, when it has one)
    end on the first SIGINT/SIGTERM (`signals_end_wait`), the run folder of ``cfg`` left as
    a refused run leaves it (`discard_untrained_run_dir`: nothing was trained)."""
    from src.utils.jobs import discard_untrained_run_dir

    strategy = getattr(trainer, "strategy", None)
    setup = getattr(strategy, "setup_distributed", None)
    if setup is None:
        return

    def interruptible_setup() -> None:
        with signals_end_wait(lambda: discard_untrained_run_dir(Path(cfg.paths.output_dir), cfg)):
            setup()

    strategy.setup_distributed = interruptible_setup
