"""Atomic file output: the one way the project writes a file that others read.

`atomic_path` hands out a temporary path beside the target; when the block ends normally the
temporary file is flushed to disk (fsync), given the usual mode (0666 less the umask, e.g.
0644, not the 0600 of `tempfile.mkstemp`) and renamed over the target, so readers see the old
file or the whole new one, never a part. On any exception, and on SIGINT or SIGTERM while the
block runs, the temporary file is removed.

Temporary names are ``.<target name>.<host>.<pid>-<random>.tmp``: the writer's machine and
process id are in the name, so the next writer into the same folder on the same machine removes
the leftovers of writers that died (kill -9, power loss), not those of live writers.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import os
import re
import secrets
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from src.utils.errors import DataError, exception_chain
from src.utils.startup import quiet_race_notices

_TEMP_SUFFIX = ".tmp"


def _host() -> str:
    """This machine's short name, letters, digits and '-' only (temporary names hold it)."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname().split(".")[0]) or "host"


def temp_name(target: Path, pid: int | None = None) -> Path:
    """A fresh temporary path beside ``target``, naming the writing machine and process."""
    pid = os.getpid() if pid is None else pid
    name = f".{target.name}.{_host()}.{pid}-{secrets.token_hex(4)}{_TEMP_SUFFIX}"
    return target.with_name(name)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temps(target: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that dead writers on this machine left in ``target``'s
    folder, whatever file they were writing (a kill during the save of epoch_003.ckpt leaves
    one that the next save of last.ckpt removes); those of live writers, and of writers on
    other machines sharing the folder, stay. Returns what was removed."""
    target = Path(target)
    host = re.escape(f".{_host()}.")
    pattern = re.compile(rf"^\..+{host}(\d+)-[0-9a-f]+{re.escape(_TEMP_SUFFIX)}$")
    removed = []
    with contextlib.suppress(OSError):
        for entry in target.parent.iterdir():
            match = pattern.match(entry.name)
            if match and not _pid_alive(int(match[1])) and entry.is_file():
                entry.unlink(missing_ok=True)
                removed.append(entry)
    return removed


def check_output_path(
    target: str | os.PathLike, key: str | None = None, parents: bool = False
) -> Path:
    """``target`` as a Path, after checking that a file can be created there
    (`src.utils.paths.output_problem`: not a folder, a device, a loop of links or a path below
    a file; its folder writable; names that fit).

    ``parents`` creates a missing output folder (and its parents) first, once the nearest
    existing one is known to take it. Raises `DataError` naming the path (and ``key``).
    """
    from src.utils.paths import output_problem

    target = Path(target)
    problem = output_problem(target, "file", parents=parents)
    if problem is None and len(target.name.encode()) > 200:  # room for the temporary name
        problem = "an output file name of at most 200 bytes"
    if problem is None and parents and not target.parent.is_dir():
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            problem = f"an output folder that can be made, {target.parent}: {exc.strerror}"
    if problem:
        raise DataError(target, key, f"expected {problem}")
    return target


class Interrupted(KeyboardInterrupt):
    """SIGTERM received while an atomic write ran (SIGINT raises KeyboardInterrupt)."""


_STOPPING = []  # holds True once a signal began stopping the process


def raise_interrupted(signum: int, frame: Any) -> None:
    """A signal handler: raise `Interrupted` naming the signal, once: a later SIGTERM or
    SIGINT is ignored while the process stops (trial 11 G3: TERMs 30 ms apart during a
    checkpoint write cut the cleanup short, exit 143 without the resume line, or a traceback
    from an atexit callback). The flag outlives a handler that Lightning's teardown puts
    back. kill -9 still ends it."""
    if _STOPPING:
        return
    _stopping()
    raise Interrupted(f"stopped by signal {signal.Signals(signum).name}")


def raise_keyboard_interrupt(signum: int, frame: Any) -> None:
    """SIGINT's handler: KeyboardInterrupt once, then ignored while the process stops."""
    if _STOPPING:
        return
    _stopping()
    raise KeyboardInterrupt


def _ignore_signals() -> None:
    """SIGINT and SIGTERM ignored by the system (Python puts SIG_DFL back at exit in place of
    a Python handler, not of SIG_IGN: a signal during interpreter shutdown killed the
    process, exit 143, after its line)."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)


def _stopping() -> None:
    """The process is stopping: later signals are ignored now and at exit (a handler put back
    by Lightning's teardown meets the flag), and so is Python's notice of one that came while
    its handler was being replaced (`quiet_race_notices`)."""
    _STOPPING.append(True)
    quiet_race_notices()
    _ignore_signals()
    atexit.register(_ignore_signals)


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While the block runs, SIGTERM raises `Interrupted` (so cleanup code runs) instead of
    ending the process at once. Only where Python allows it (main thread) and only when no
    one else handles SIGTERM; SIGINT already raises KeyboardInterrupt by default."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous is not signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, raise_interrupted)
    try:
        yield
    finally:  # once stopping, SIGTERM stays ignored (a burst's next one would end it)
        signal.signal(signal.SIGTERM, signal.SIG_IGN if _STOPPING else previous)


def interrupts_raise() -> None:
    """For a command-line tool's whole run: SIGINT raises KeyboardInterrupt even where the
    shell started the process with SIGINT ignored (a background job), and SIGTERM raises
    `Interrupted`; so cleanup code runs and `src.utils.errors.one_line_errors` reports it."""
    signal.signal(signal.SIGINT, raise_keyboard_interrupt)
    signal.signal(signal.SIGTERM, raise_interrupted)


def _fsync_path(path: Path, directory: bool = False) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:  # some file systems cannot fsync a directory
        if not directory or exc.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(fd)


_NO_SPACE = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})


def _os_error(exc: BaseException) -> OSError | None:
    """The OSError behind ``exc`` (itself, or in its cause/context chain: torch.save raises a
    RuntimeError whose context is the failed write's OSError), else None."""
    for current in exception_chain(exc):
        if isinstance(current, OSError):
            return current
    return None


def _output_error(
    exc: BaseException, target: Path, tmp: Path, key: str | None
) -> DataError | None:
    """A `DataError` for an output-side failure: a full disk (ENOSPC, EFBIG, EDQUOT), the
    temporary file and the target on two file systems (EXDEV: a target that is a mount point),
    a read-only or forbidden target; None for anything else (a bug keeps its traceback)."""
    found = _os_error(exc)
    if found is None:
        return None
    ours = found.filename is not None and Path(found.filename) in (tmp, target)
    if (
        found.errno in _NO_SPACE
        or found.errno == errno.EXDEV
        or (ours and found.errno in (errno.EROFS, errno.EACCES))
    ):
        kept = "the previous file is kept" if target.exists() else "nothing was written"
        return DataError(
            target,
            key,
            f"cannot write the output ({os.strerror(found.errno)}); expected a writable path "
            f"with room; {kept}",
        )
    return None


@contextlib.contextmanager
def atomic_path(
    target: str | os.PathLike, key: str | None = None, parents: bool = False, replace: bool = True
) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` when the block ends.

    The temporary file exists (empty, mode 0666 less the umask) when the block starts; the
    writer may reopen or truncate it. The output folder must exist unless ``parents``
    (`check_output_path`; ``key`` is only named in errors). Raises `DataError` for an
    unusable target, a full disk (ENOSPC, EFBIG, EDQUOT, also behind the RuntimeError of
    torch.save) or a failed rename (EXDEV); re-raises any other error of the block; the
    temporary file is removed in every case. ``replace=False``: a ``target`` that another
    process wrote meanwhile is kept and the temporary file dropped (`publish_new`).
    """
    target = check_output_path(target, key, parents)
    remove_stale_temps(target)
    tmp = temp_name(target)
    with _sigterm_raises():
        try:  # made inside: a signal right after it is made removes it too (trial 12 burst)
            _create_empty(tmp, target, key)
            yield tmp
            (replace_durably if replace else publish_new)(tmp, target)
        except Exception as exc:
            tmp.unlink(missing_ok=True)
            error = _output_error(exc, target, tmp, key)
            if error is None:
                raise
            raise error from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def _create_empty(tmp: Path, target: Path, key: str | None) -> None:
    """Create the empty temporary file ``tmp`` for ``target`` (mode 0666 less the umask);
    DataError when the folder takes no new file (a name too long, a read-only file system)."""
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError as exc:
        raise DataError(
            target, key, f"cannot create a file there ({exc.strerror}); expected a writable folder"
        ) from exc


def replace_durably(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Rename a finished ``source`` onto ``target`` after flushing it to disk, then flush
    the folder entry (so that after a crash the target is the old or the whole new file)."""
    _fsync_path(Path(source))
    os.replace(source, target)
    _fsync_path(Path(target).parent, directory=True)


def publish_new(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Move a finished ``source`` to ``target`` only while no ``target`` exists (a hard link,
    atomic): when another process published its own meanwhile (two runs generating the same
    synthetic store, trial 8 K04), that one stays and ``source`` is dropped, so a run already
    reading ``target`` never sees it replaced. A file system without hard links renames."""
    _fsync_path(Path(source))
    try:
        os.link(source, target)
    except FileExistsError:
        pass
    except OSError:  # no hard links here (EPERM, ENOTSUP): rename as before
        os.replace(source, target)
    Path(source).unlink(missing_ok=True)
    _fsync_path(Path(target).parent, directory=True)


def write_text_atomic(
    target: str | os.PathLike, text: str, key: str | None = None, parents: bool = False
) -> Path:
    """Write ``text`` (UTF-8) to ``target`` atomically (`atomic_path`); return the path."""
    target = Path(target)
    with atomic_path(target, key, parents) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return target
