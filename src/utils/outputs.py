"""One rule for every script that writes an output file (scripts/prepare_data.py,
extract_features.py, report.py, archive_results.py, show_retrieval.py): an output path that
holds a file already is refused before any work -- one line naming the path and the flag, the
file kept byte for byte -- unless ``--overwrite`` is given (`add_overwrite_flag`), which
replaces it (atomically, as every output is written: src/utils/io.py). A rebuilt store, a
report written again, a gallery drawn again each say so on the command line.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable

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
