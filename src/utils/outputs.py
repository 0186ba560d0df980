"""One rule for every script that writes an output file (scripts/prepare_data.py,
extract_features.py, report.py, archive_results.py, show_retrieval.py): an output path that
holds a file already is refused before any work -- one line naming the path and the flag, the
file kept byte for byte -- unless ``--overwrite`` is given (`add_overwrite_flag`), which
replaces it (atomically, as every output is written: src/utils/io.py). A rebuilt store, a
report written again, a gallery drawn again each say so on the command line.

And one rule for every script that reads and writes (the scripts above and src/eval.py's
codes file): each declares its inputs and its outputs to `check_apart` before anything is
read or written, so an output that is an input (the same path, a link to it, a ``..`` path
to it), lies inside an input folder, or is a folder written as a whole that holds an input
is refused with one line -- ``--overwrite`` never replaces a source.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable
from pathlib import Path

from src.utils.errors import DataError

OVERWRITE = "--overwrite"


def add_overwrite_flag(parser: argparse.ArgumentParser, what: str = "output file") -> None:
    """Add ``--overwrite`` (replace an existing ``what``; by default one is refused)."""
    parser.add_argument(
        OVERWRITE,
        action="store_true",
        help=f"replace an existing {what} (without it an existing one is refused and kept)",
    )


def check_overwrite(
    paths: Iterable[str | os.PathLike],
    flag: str,
    overwrite: bool,
    whose: str = "",
    give: str = OVERWRITE,
) -> None:
    """Raise DataError naming the first of ``paths`` that is an existing file (a link to one
    included), under ``flag`` (the flag that sets the path, or whose folder holds it), unless
    ``overwrite``. ``whose`` says what the file is (" (another run's results.json)"); ``give``
    is what replaces it (``--overwrite``; eval.py's ``overwrite_codes=true``)."""
    if overwrite:
        return
    for path in paths:
        if os.path.isfile(path):
            raise DataError(
                path,
                flag,
                f"expected a path that holds no file, found an existing file{whose}, kept as "
                f"it is; give {give} to replace it, or another {flag}",
            )


def _real(path: str | os.PathLike) -> Path:
    """``path`` as the file system reaches it: links followed, ``..`` and ``.`` resolved."""
    return Path(os.path.realpath(path))


def _relation(output: Path, source: Path, folder: bool) -> str | None:
    """How ``output`` (a folder that will be written as a whole when ``folder``) meets the
    input ``source``, or None when they are apart."""
    out, src = _real(output), _real(source)
    same = out == src
    if not same and output.exists() and source.exists():
        same = os.path.samefile(output, source)
    if same:
        return f"the input {source} itself"
    if src.is_dir() and src in out.parents:
        return f"a path inside the input folder {source} (sources are never written into)"
    if folder and out in src.parents:
        return f"a folder that holds the input {source}"
    return None


def check_apart(
    output: str | os.PathLike,
    inputs: Iterable[str | os.PathLike],
    flag: str | None = None,
    folder: bool = False,
) -> None:
    """Refuse (DataError naming ``output`` and ``flag``) an output that is one of the
    ``inputs`` (the same path, or the same file through a link or a ``..`` path), lies inside
    an input folder, or -- when ``folder``: an output folder written as a whole -- holds an
    input: writing it would change a source. Every script that reads and writes declares its
    inputs and outputs here before anything is read or written."""
    output = Path(output)
    for source in inputs:
        found = _relation(output, Path(source), folder)
        if found:
            again = f"; choose another {flag}" if flag else ""
            raise DataError(
                output, flag, f"expected an output apart from the inputs, got {found}{again}"
            )
