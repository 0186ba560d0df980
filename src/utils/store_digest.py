"""The CONTENT digest of the feature store a run trained on, kept in its checkpoints, so that
eval.py (and a resume) refuses a store whose values changed since (ninth trial: a store's
features edited after training evaluated silently; the stat fingerprint of src/data/store.py
guards a store during one run only).

`store_digest`: sha256 over every dataset of the HDF5 store (image, text, label, the splits),
by name, dtype, shape and bytes, read in blocks; taken once at the start of a run
(`src/train.py`) and of an evaluation. `check_same_store` compares it with the checkpoint's
``STORE_KEY``: another store is one line naming data.path and both digests, unless
``eval_other_store=true`` (configs/eval.yaml) says an evaluation on another store is meant;
a checkpoint without the record (written before it) gets one notice line.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Mapping
from typing import Any

from src.utils.errors import DataError

STORE_KEY = "store_sha256"  # the checkpoint's entry
BLOCK_ROWS = 4096  # rows hashed per read


def store_digest(path: str | os.PathLike) -> str:
    """sha256 of the store's datasets (sorted names, dtype, shape, bytes)."""
    import h5py

    digest = hashlib.sha256()
    with h5py.File(path, "r") as store:
        names: list[str] = []
        store.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        for name in sorted(names):
            data = store[name]
            digest.update(f"{name}|{data.dtype.str}|{data.shape}".encode())
            if data.shape == ():
                digest.update(data[()].tobytes() if hasattr(data[()], "tobytes") else b"")
                continue
            for start in range(0, data.shape[0], BLOCK_ROWS):
                digest.update(data[start : start + BLOCK_ROWS].tobytes())
    return digest.hexdigest()


def check_same_store(
    checkpoint: Mapping[str, Any], store: str | os.PathLike, ckpt: object, other: bool
) -> None:
    """Raise DataError naming ``store`` [data.path] when its digest is not the one
    ``checkpoint`` recorded, unless ``other`` (an evaluation on another store, declared); a
    checkpoint without the record: one notice line on stderr, no check."""
    recorded = checkpoint.get(STORE_KEY)
    if recorded is None:
        print(
            f"notice: {ckpt}: records no digest of the store it trained on (written before "
            f"{STORE_KEY}); {store} is not compared with it",
            file=sys.stderr,
            flush=True,
        )
        return
    now = store_digest(store)
    if now == recorded or other:
        return
    raise DataError(
        store,
        "data.path",
        f"expected the store the checkpoint {ckpt} trained on (sha256 {str(recorded)[:16]}), "
        f"found other content (sha256 {now[:16]}): its features, labels or splits changed "
        "since; give the store it trained on, or eval_other_store=true to evaluate on this "
        "one on purpose",
    )
