"""JSON records of a run (results.json, curves.json): plain values, written atomically."""

from __future__ import annotations

import json
import math
import os
from typing import Any

from src.utils.io import write_text_atomic


def json_safe(value: Any) -> Any:
    """Plain JSON values: tensors and numpy scalars to floats, non-finite floats to null."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def write_json(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """Write `payload` as JSON atomically (src/utils/io.py: readers see the old file or the
    whole new one; mode 0666 less the umask)."""
    text = json.dumps(json_safe(payload), indent=2, sort_keys=False, allow_nan=False)
    write_text_atomic(path, text + "\n", parents=True)
