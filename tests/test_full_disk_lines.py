"""A full disk (or quota) while writing: one line naming the file that could not be written
and true advice (trial 8 D03, D04: "file system: ... (a run resumes from last.ckpt)" named no
path and promised a resume to runs that had no last.ckpt)."""

from __future__ import annotations

import errno
import itertools
import logging
from pathlib import Path

import pytest

from src.utils.errors import user_error


def _write_in_file(path: Path, code: int, depth: int) -> None:
    if depth:
        return _write_in_file(path, code, depth - 1)
    with open(path, "w", encoding="utf-8") as file:  # noqa: F841  (the frame's open file)
        raise OSError(code, "full")


def _write_in_handler(path: Path, code: int, depth: int) -> None:
    handler = logging.FileHandler(path, delay=True)  # noqa: F841  (a log being written)
    if depth:
        return _write_in_file(path, code, depth - 1) if depth > 5 else _raise(code)
    _raise(code)


def _raise(code: int) -> None:
    raise OSError(code, "full")


WRITERS = {"file": _write_in_file, "log handler": _write_in_handler}
CASES = list(itertools.product([errno.ENOSPC, errno.EDQUOT], WRITERS, [0, 1, 3, 7], [0, 1]))


@pytest.mark.parametrize("code, writer, depth, wrapped", CASES)
def test_a_full_disk_names_the_file_and_promises_no_resume(
    tmp_path: Path, code: int, writer: str, depth: int, wrapped: int
) -> None:
    path = tmp_path / f"run_{depth}" / ".hydra" / "config.yaml"
    path.parent.mkdir(parents=True)
    try:
        try:
            WRITERS[writer](path, code, depth)
        except OSError as exc:
            if wrapped:
                raise RuntimeError("a wrapper (Hydra's)") from exc
            raise
    except (OSError, RuntimeError) as exc:
        error = user_error(exc)
    assert error is not None
    line = str(error)
    assert line.startswith(f"{path}: cannot be written: "), line
    assert "last.ckpt" not in line and "resume" not in line, line
