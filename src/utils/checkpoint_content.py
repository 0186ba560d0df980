"""What a checkpoint's content must be: the integrity records the project writes into it
(verified on load), and input statistics that a train split can have.

A zip archive's CRC-32s prove that its bytes are the ones written, not that the project wrote
them: a checkpoint loaded, edited (a weight, a saved input statistic, a hyper-parameter) and
saved again with ``torch.save`` is a whole archive with finite tensors. Every checkpoint the
project writes (`src.callbacks.checkpoint_io.AtomicCheckpointIO`, `drop_training_state`)
carries ``content_sha256``: SHA-256 over a canonical encoding of everything else it holds
(weights, buffers, hyper-parameters, optimiser and loop states, the run's settings), so that any
such edit is a mismatch; and ``run_settings``, the settings a resume or an evaluation must
match (`src.utils.resume_checks`). A checkpoint missing either record, or holding one that is
null or of another type, cannot prove that it is whole (deleting the digest would otherwise
turn an edit into a warning) and is refused (`INTEGRITY_RECORDS`, `digest_problem`).
"""

from __future__ import annotations

import hashlib
import pickle
import re
import struct
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

from src.utils.errors import DataError

DIGEST_KEY = "content_sha256"
# the run's settings (src.models.base.RUN_SETTINGS_KEY), written since the digest was
SETTINGS_KEY = "run_settings"
HEX_DIGITS = "0123456789abcdef"


def _key_order(key: Any) -> tuple[str, str]:
    """Sort keys of any types (str, int) deterministically."""
    return type(key).__name__, repr(key)


def _feed(hasher: Any, tree: Any) -> None:
    """Add a type-tagged, length-prefixed encoding of ``tree`` to ``hasher``: dicts in key
    order (their insertion order does not count), lists and tuples in order, a tensor by
    dtype, shape and its bytes in row-major order (strides, device and storage sharing do not
    count), scalars by ``repr`` (exact for floats), anything else by type name and repr."""
    if isinstance(tree, torch.Tensor):
        tensor = tree.detach().to("cpu").contiguous()
        header = f"T{tensor.dtype}{tuple(tensor.shape)}".encode()
        hasher.update(struct.pack("<Q", len(header)) + header)
        if tensor.numel():
            hasher.update(tensor.reshape(-1).view(torch.uint8).numpy())
        return
    if isinstance(tree, Mapping):
        hasher.update(b"D" + struct.pack("<Q", len(tree)))
        for key in sorted(tree, key=_key_order):
            _feed(hasher, key)
            _feed(hasher, tree[key])
        return
    if isinstance(tree, (list, tuple)):
        hasher.update((b"L" if isinstance(tree, list) else b"U") + struct.pack("<Q", len(tree)))
        for item in tree:
            _feed(hasher, item)
        return
    text = f"{type(tree).__name__}:{tree!r}".encode()
    hasher.update(b"S" + struct.pack("<Q", len(text)) + text)


def content_digest(checkpoint: Mapping[str, Any]) -> str:
    """Hex SHA-256 of every entry of ``checkpoint`` but `DIGEST_KEY` (the canonical encoding
    of `_feed`): equal for a checkpoint before ``torch.save`` and after ``torch.load``
    (memory-mapped or not), different after any change of a value, a shape or a dtype."""
    hasher = hashlib.sha256()
    _feed(hasher, {k: v for k, v in checkpoint.items() if k != DIGEST_KEY})
    return hasher.hexdigest()


def with_digest(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """``checkpoint`` (a shallow copy) with its `content_digest` under `DIGEST_KEY`."""
    return {**checkpoint, DIGEST_KEY: content_digest(checkpoint)}


def _is_sha256(value: Any) -> bool:
    """Whether ``value`` is a SHA-256 digest as `content_digest` writes it (64 hex digits)."""
    return isinstance(value, str) and len(value) == 64 and set(value) <= set(HEX_DIGITS)


def _is_settings(value: Any) -> bool:
    """Whether ``value`` is a run's settings as `src.utils.resume_checks.run_settings` writes
    them (a non-empty dict keyed by dotted config paths)."""
    return isinstance(value, dict) and bool(value) and all(isinstance(k, str) for k in value)


# every record that proves a checkpoint is the one the project wrote: key -> (what it must be,
# its test); a record joins here by declaration and is then checked on every load
INTEGRITY_RECORDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    DIGEST_KEY: ("a SHA-256 hex string (its content digest)", _is_sha256),
    SETTINGS_KEY: ("a dict of the settings of the run that wrote it", _is_settings),
}


def _found(value: Any) -> str:
    """What a record holds, in an error line's words."""
    if value is None:
        return "null"
    if isinstance(value, (str, dict)):
        return f"a {type(value).__name__} that is not one ({str(value)[:40]!r})"
    return f"a {type(value).__name__}"


def digest_problem(
    checkpoint: Mapping[str, Any], records: Iterable[str] = tuple(INTEGRITY_RECORDS)
) -> tuple[str, str] | None:
    """(record key, what is wrong in an error line's words) for the first of ``records`` (keys
    of `INTEGRITY_RECORDS`, all by default) that is missing, null or of another type, or for a
    digest that does not match the content; None for a checkpoint as the project wrote it."""
    for key in dict.fromkeys([DIGEST_KEY, *records]):
        what, valid = INTEGRITY_RECORDS[key]
        value = checkpoint.get(key)
        if not valid(value):
            found = _found(value) if key in checkpoint else "none"
            return key, (
                f"expected {what}, which every checkpoint src/train.py writes carries, found "
                f"{found}: it cannot prove it is whole (edited, or written by another tool or "
                "an older version); use the checkpoint as train.py wrote it, or retrain"
            )
    if checkpoint[DIGEST_KEY] != content_digest(checkpoint):
        return DIGEST_KEY, (
            "expected the content the project wrote, found other content (its SHA-256 "
            "differs: weights, statistics or hyper-parameters edited and saved again); use "
            "the checkpoint as train.py wrote it, or retrain"
        )
    return None


def check_input_stats(path: object, state_dict: Mapping[str, Any]) -> None:
    """Raise DataError when a saved input standard deviation (``image_std``, ``text_std``:
    the train split's, `src.data.datamodule.AGCHDataModule.train_statistics`) is below
    ``STD_EPS`` (0, negative): no train split has one (a constant feature gets 1)."""
    from src.data.statistics import STD_EPS

    for key in ("image_std", "text_std"):
        std = state_dict.get(key)
        if isinstance(std, torch.Tensor) and std.numel() and bool((std < STD_EPS).any()):
            count, low = int((std < STD_EPS).sum()), float(std.min())
            raise DataError(
                path,
                f"state_dict.{key}",
                f"expected standard deviations >= {STD_EPS:g} (the train split's input "
                f"statistics), found {count} of {std.numel()} below it (smallest {low:g}); "
                "use the checkpoint as train.py wrote it, or retrain",
            )


def foreign_object(exc: BaseException) -> str | None:
    """The global (``numpy._core.multiarray.scalar``) that made torch's weights-only loader
    refuse an otherwise readable file, else None (a damaged or foreign file)."""
    if not isinstance(exc, pickle.UnpicklingError):
        return None
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
    return found.group(1) if found else None
