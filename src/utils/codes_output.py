"""The door check of eval.py's codes file (``export_codes=true``, ``codes_path``): the path
must take a new file (not a folder, a device such as /dev/full, a read-only place), must not
be one of the run's inputs (the checkpoint, the feature store) and, like every script's
output (src/utils/outputs.py), must not hold a file already unless ``overwrite_codes=true``
is given. Checked before any data is read or the test runs, naming ``[codes_path]``."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from src.utils.errors import DataError
from src.utils.outputs import check_apart, check_overwrite
from src.utils.paths import output_problem

CODES_KEY = "codes_path"
OVERWRITE_KEY = "overwrite_codes"


def check_codes_path(cfg: DictConfig) -> None:
    """Refuse (DataError naming ``[codes_path]``) a codes file eval.py could not write, or
    whose writing would replace an input or an existing file; nothing when codes are not
    exported. Makes nothing: a missing folder is made when the codes are written."""
    if not cfg.get("export_codes"):
        return
    given = str(cfg.get(CODES_KEY))
    problem = output_problem(given, "file", parents=True)  # a trailing "/" kept: a folder
    path = Path(given)
    if problem:
        raise DataError(given, CODES_KEY, f"expected {problem}")
    data = cfg.get("data") or {}
    inputs = [Path(str(p)) for p in (cfg.get("ckpt_path"), data.get("path")) if p]
    check_apart(path, inputs, CODES_KEY)
    give = f"{OVERWRITE_KEY}=true"
    check_overwrite([path], CODES_KEY, bool(cfg.get(OVERWRITE_KEY)), give=give)
