"""What a checkpoint's content must be: the digest the project writes into it (verified on
load), and input statistics that a train split can have.

A zip archive's CRC-32s prove that its bytes are the ones written, not that the project wrote
them: a checkpoint loaded, edited (a weight, a saved input statistic, a hyper-parameter) and
saved again with ``torch.save`` is a whole archive with finite tensors. Every checkpoint the
project writes (`src.callbacks.checkpoint_io.AtomicCheckpointIO`, `drop_training_state`)
carries ``content_sha256``: SHA-256 over a canonical encoding of everything else it holds
(weights, buffers, hyper-parameters, optimiser and loop states), so that any such edit is a
mismatch. A checkpoint without one (written before the project wrote digests, or by another
tool) is read with a warning line.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping
from typing import Any

import torch

from src.utils.errors import DataError

DIGEST_KEY = "content_sha256"
# the run's settings (src.models.base.RUN_SETTINGS_KEY), written since the digest was
SETTINGS_KEY = "run_settings"


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


def digest_problem(checkpoint: Mapping[str, Any]) -> str | None:
    """What is wrong with the checkpoint's digest, in the words of an error line, or None when
    it matches. A checkpoint without one is not a problem here (`has_digest`) unless it
    carries ``run_settings`` (`SETTINGS_KEY`): the project wrote both from the same commit
    on, so such a file lost its digest after it was written (removed or set to null by an
    edit) and is refused like any other edit."""
    saved = checkpoint.get(DIGEST_KEY)
    if saved is None and (DIGEST_KEY in checkpoint or SETTINGS_KEY in checkpoint):
        return (
            f"expected a SHA-256 hex string (a checkpoint carrying {SETTINGS_KEY} is written "
            "with its content digest), found none: edited after it was written; use the "
            "checkpoint as train.py wrote it, or retrain"
        )
    if saved is None:
        return None
    if not isinstance(saved, str):
        return f"expected a SHA-256 hex string, found a {type(saved).__name__}"
    if saved != content_digest(checkpoint):
        return (
            "expected the content the project wrote, found other content (its SHA-256 "
            "differs: weights, statistics or hyper-parameters edited and saved again); use "
            "the checkpoint as train.py wrote it, or retrain"
        )
    return None


def has_digest(checkpoint: Mapping[str, Any]) -> bool:
    """Whether the checkpoint carries a content digest."""
    return DIGEST_KEY in checkpoint


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
