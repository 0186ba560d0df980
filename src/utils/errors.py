"""Project exceptions and the one place that turns them into the command-line error line.

Every command-line tool (src/train.py, src/eval.py, scripts/*.py) reports a user error -- bad
input, an impossible setting -- as one line ``error: <file> [<key>]: <what was expected>`` on
stderr with exit status 2 and no traceback; a script of scripts/ starts it with its own name
(``error: code_stats.py: <file> [<key>]: ...``: `one_line_errors` and `ArgumentParser`).
Code that must not exit (a job of a Hydra multirun, which records its failure and lets the
sweep go on) catches `AGCHError` (or uses `user_error` on any exception) instead of calling
`exit_on_user_error`.
"""

import argparse
import errno
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C


class AGCHError(Exception):
    """Base class of every error that the command-line tools print as one line."""


class DataError(AGCHError):
    """Bad or missing input data: names the file, the key and what was expected."""

    def __init__(self, path: object, key: str | None, message: str) -> None:
        where = f"{path}" if key is None else f"{path} [{key}]"
        super().__init__(f"{where}: {message}")
        self.path = path
        self.key = key


class StoreChanged(AGCHError):
    """The feature store changed (size, modification time or inode) while a run read it."""

    def __init__(self, message: str) -> None:
        # a DataLoader worker's error comes back as StoreChanged("Caught StoreChanged in
        # DataLoader worker ... StoreChanged: <message>"): keep the message alone
        super().__init__(message.rsplit(f"{StoreChanged.__name__}: ", 1)[-1].strip())


class ConfigError(AGCHError):
    """An impossible or misspelt configuration value: names the key."""


class TrainingError(AGCHError):
    """Training stopped (non-finite loss, collapse on request): names the step and the term."""


# faults of the machine rather than of the code: a path too long, no permission, a read-only
# file system, a full disk; what to do about each
ENVIRONMENT_ERRNOS = {
    errno.ENAMETOOLONG: "a path longer than this system allows; choose a shorter one",
    errno.EACCES: "permission denied; choose a path you may use",
    errno.EPERM: "operation not permitted; choose a path you may use",
    errno.EROFS: "a read-only file system; choose a writable path",
    errno.ENOSPC: "cannot be written: no space left on the device; free space, then run the "
    "command again",
    errno.EDQUOT: "cannot be written: disk quota exceeded; free space, then run the command again",
    errno.EFBIG: "file too large for this file system",
}

_UNKNOWN_KEY = re.compile(r"(\w+)\.__init__\(\) got an unexpected keyword argument '(\w+)'")


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, then each exception behind it (``__cause__``, else ``__context__``), once each."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        yield current
        seen.add(id(current))
        current = current.__cause__ or current.__context__


def user_error(exc: BaseException) -> AGCHError | None:
    """The project error behind ``exc``, through wrappers (Hydra's InstantiationException,
    chained exceptions); a misspelt ``+key=...`` becomes a `ConfigError`, an OSError of the
    machine (`ENVIRONMENT_ERRNOS`: a path too long, a read-only or full disk) a `DataError`
    naming the path. None for a bug."""
    for current in exception_chain(exc):
        if isinstance(current, AGCHError):
            return current
        unknown = _UNKNOWN_KEY.search(str(current)) if isinstance(current, TypeError) else None
        if unknown:  # a key added with +key=... that the target does not take (misspelt?)
            return ConfigError(
                f"{unknown[2]}: unknown key, not an argument of {unknown[1]}; expected one "
                "of its arguments"
            )
        if isinstance(current, OSError) and current.errno in ENVIRONMENT_ERRNOS:
            where = current.filename or written_file(current) or "file system"
            return DataError(where, None, ENVIRONMENT_ERRNOS[current.errno])
    if "omegaconf" in sys.modules:  # a ${...} that does not resolve, wherever it is read
        from src.utils.interpolation_errors import interpolation_refusal

        return interpolation_refusal(exc)
    return None


def written_file(exc: BaseException) -> str | None:
    """The file an OSError without a file name was writing (a full disk at ``write`` or
    ``close``): the innermost frame of its traceback holding an open file object or a
    logging file handler (Hydra's ``.hydra/config.yaml``, a run's log); None if none."""
    import io
    import traceback

    frames = [frame for frame, _ in traceback.walk_tb(exc.__traceback__)]
    for frame in reversed(frames):
        for value in frame.f_locals.values():
            name = getattr(value, "baseFilename", None)
            if isinstance(value, io.IOBase) and isinstance(getattr(value, "name", None), str):
                name = value.name
            if isinstance(name, str) and name:
                return name
    return None


def error_line(error: BaseException) -> str:
    """``error: <message>`` on one line (newlines and runs of spaces collapsed)."""
    return "error: " + " ".join(str(error).split())


def exit_on_user_error(error: BaseException, status: int = EXIT_USER_ERROR) -> NoReturn:
    """Print `error_line` of ``error`` on stderr and exit with ``status`` (default 2)."""
    print(error_line(error), file=sys.stderr, flush=True)
    sys.exit(status)


def lightning_interrupt(exit_: SystemExit) -> KeyboardInterrupt | None:
    """The Ctrl-C or SIGTERM (`src.utils.io.Interrupted`) that Lightning turned into exit
    status 1: its ``_call_and_handle_interrupt`` (trainer/call.py), around every stage -- fit,
    validate, test, predict -- catches a KeyboardInterrupt, shuts down and calls
    ``sys.exit(1)`` inside its handler, so the interrupt is the exit's context (trial 12 H2:
    one Ctrl-C in the final test ended with exit 1 and no line). None for any other exit."""
    context = exit_.__context__
    if exit_.code == 1 and isinstance(context, KeyboardInterrupt):
        return context
    return None


@contextmanager
def one_line_errors(script: str | None = None) -> Iterator[None]:
    """Report a project error raised in the block as one ``error:`` line and exit 2;
    Ctrl-C/SIGTERM as ``error: interrupted`` and exit 130; re-raise anything else (a bug
    keeps its traceback). ``script`` (a script of scripts/, its file name) starts the line,
    as its `ArgumentParser` starts a flag's: ``error: code_stats.py: <file> [<key>]: ...``."""
    prefix = f"{script}: " if script else ""
    try:
        yield
    except (KeyboardInterrupt, SystemExit) as exc:  # Interrupted (SIGTERM) included
        interrupt = exc if isinstance(exc, KeyboardInterrupt) else lightning_interrupt(exc)
        if interrupt is None:
            raise
        interrupted = f"{prefix}interrupted ({interrupt or 'Ctrl-C'})"
        exit_on_user_error(AGCHError(interrupted), EXIT_INTERRUPTED)
    except Exception as exc:
        error = user_error(exc)
        if error is None:
            raise
        exit_on_user_error(AGCHError(f"{prefix}{error}") if prefix else error)


def check_at_most(
    flag: str, value: int, maximum: int, what: str, path: object | None = None
) -> None:
    """Refuse a flag's value that the data cannot hold (never cap it silently): raise
    `ConfigError` (`DataError` naming ``path`` when given) ``"<flag> <value>: expected at most
    <maximum>, <what>"`` when ``value > maximum``; ``what`` says what bounds it ("the
    retrieval items of this file")."""
    if value > maximum:
        message = f"{flag} {value}: expected at most {maximum}, {what}"
        raise ConfigError(message) if path is None else DataError(path, None, message)


class ArgumentParser(argparse.ArgumentParser):
    """argparse for the scripts: a usage error is one ``error:`` line naming the script
    (``prog``: each script passes its file name, also when it runs in-process) and exit 2 as
    well (``--help`` still shows the usage)."""

    def error(self, message: str) -> NoReturn:
        exit_on_user_error(AGCHError(f"{self.prog}: {message} (see --help)"))


def integer_at_least(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: an integer >= ``minimum`` (and <= ``maximum`` when given), else a
    one-line usage error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum or (maximum is not None and value > maximum):
            wanted = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
            raise argparse.ArgumentTypeError(f"expected an integer {wanted}, got {text!r}")
        return value

    return parse


def existing_path(kind: str) -> Callable[[str], Path]:
    """An argparse ``type``: a path to an existing ``kind`` ("file", "dir", "any"), so that a
    missing or wrong input is a usage error before any work (and before any output); what the
    path is instead is said truly (`src.utils.paths.input_problem`: a folder, a loop of links,
    a link to a missing path, a device...)."""
    from src.utils.paths import input_problem

    def parse(text: str) -> Path:
        problem = input_problem(text, kind) if text != "" else f"{kind}, found an empty path"
        if problem:
            raise argparse.ArgumentTypeError(f"expected {problem}, got {text!r}")
        return Path(text)

    return parse


def device_name(text: str) -> str:
    """An argparse ``type``: a device torch knows (``cpu``, ``cuda``, ``cuda:1``, ``mps``...);
    whether it is present here is checked where it is used."""
    import torch

    try:
        torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(
            f"expected a torch device such as cpu, cuda or cuda:0, got {text!r}"
        ) from None
    return text


def plain_name(text: str) -> str:
    """An argparse ``type``: a name that becomes part of a file or folder name, kept inside the
    folder it is joined to (`src.utils.rule_kinds.is_plain_name`: ``--name ../../x`` wrote the
    store outside data/ and made the missing folders)."""
    from src.utils.rule_kinds import WORDS, is_plain_name

    if not is_plain_name(text):
        raise argparse.ArgumentTypeError(f"expected {WORDS['name']}, got {text!r}")
    return text


def output_path(kind: str, new: bool = False) -> Callable[[str], Path]:
    """An argparse ``type`` for every output flag of the scripts, checked before any work:
    ``kind`` "file" is a file to write (in an existing, writable folder; not a folder, nor a
    name ending in "/"; ``new``: not an existing file either), "dir" a folder to write into
    (an existing one, or a new one whose parent folder exists; never a file). Nothing is
    created here: a missing parent folder is refused, not made
    (`src.utils.paths.output_problem`)."""
    from src.utils.paths import output_problem

    def parse(text: str) -> Path:
        problem = output_problem(text, kind, new=new, parents=False)
        if problem:
            raise argparse.ArgumentTypeError(f"expected {problem}, got {text!r}")
        return Path(text)

    return parse
