"""Atomic HDF5 output that survives a full disk and interrupts (`hdf5_writer`).

HDF5 left with a failed write can crash the process later (a segmentation fault at exit after
a full disk), and an exception raised inside h5py's code by a signal handler can leave its
objects half closed. So HDF5 writes through h5py's file-object driver into a `GuardedFile`
that never lets a write fail inside HDF5, signals are recorded rather than raised while HDF5
works, and the writer raises what was recorded between blocks (`GuardedFile.check`), where
h5py can close cleanly; `src.utils.io.atomic_path` then removes the temporary file.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

from src.utils.io import Interrupted, atomic_path


class GuardedFile(io.RawIOBase):
    """A file for h5py's file-object driver whose writes never fail inside HDF5.

    HDF5 left with a failed write (full disk) can crash the process later (segmentation
    fault at exit); an interrupt raised inside its write callback can be lost. So the first
    such failure is recorded and the remaining writes are skipped (reported as done); the
    writer calls `check` between blocks and after closing the HDF5 file, which re-raises it.
    """

    def __init__(self, raw: Any) -> None:
        super().__init__()
        self.raw = raw
        self.failure: BaseException | None = None

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()

    def readinto(self, buffer: Any) -> int:
        return self.raw.readinto(buffer)

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        size = view.nbytes
        while self.failure is None and view.nbytes:
            try:
                view = view[self.raw.write(view) :]  # a raw write may take part of it
            except BaseException as exc:  # OSError (disk full), KeyboardInterrupt, ...
                self.failure = exc
        self.raw.seek(view.nbytes, os.SEEK_CUR)  # the part not written, once failed
        return size

    def truncate(self, size: int | None = None) -> int:
        return self.raw.truncate(size) if self.failure is None else (size or 0)

    def flush(self) -> None:
        if self.failure is None:
            self.raw.flush()

    def check(self) -> None:
        """Raise the recorded failure, if any."""
        if self.failure is not None:
            raise self.failure


@contextlib.contextmanager
def _signals_deferred(guard: GuardedFile) -> Iterator[None]:
    """While HDF5 writes, SIGINT and SIGTERM are recorded in ``guard`` (its next `check`
    raises them) instead of raising inside h5py, which can leave its objects half closed.
    Main thread only (elsewhere Python delivers no signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def record(signum: int, frame: Any) -> None:
        if guard.failure is None:
            name = signal.Signals(signum).name
            kind = KeyboardInterrupt if signum == signal.SIGINT else Interrupted
            guard.failure = kind(f"stopped by signal {name}")

    previous = {sig: signal.signal(sig, record) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def hdf5_writer(target: str | os.PathLike, parents: bool = False) -> Iterator[Any]:
    """Yield ``(h5py.File, GuardedFile)`` writing ``target`` atomically (`atomic_path`); call
    the guard's `GuardedFile.check` between blocks: it raises the first failed write, or the
    SIGINT/SIGTERM received meanwhile, so that h5py is never interrupted inside its code."""
    import h5py

    with atomic_path(target, parents=parents) as tmp, open(tmp, "r+b", buffering=0) as raw:
        guard = GuardedFile(raw)
        with _signals_deferred(guard):
            with h5py.File(guard, "w") as h5:
                yield h5, guard
                guard.check()
        guard.check()  # also a signal received after the last check, before the handlers
