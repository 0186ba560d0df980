"""A resume trains on the splits its run trained on (trial 8, S01: a UCI held-out run resumed
with ``data.path=`` a store made with another ``--seed`` and ``--val-size`` was accepted and
trained and selected on other splits). Every checkpoint records, per split the run derives
(train, val_query, val_retrieval, query, retrieval), its size and a sha256 of its sorted
store indices (`split_record`); a resume whose store gives others is refused naming the
store, before any training (`check_same_splits`). A checkpoint of before the record is
refused (`src.utils.resume_records.predates`): a resume never skips the check."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from src.utils.errors import DataError

SPLITS_KEY = "data_splits"


def split_record(splits: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """{split: {"size": items, "sha256": digest of its sorted indices as int64}}."""
    record = {}
    for name in sorted(splits):
        rows = np.sort(np.asarray(splits[name]).astype("<i8").ravel())
        record[name] = {
            "size": int(rows.size),
            "sha256": hashlib.sha256(rows.tobytes()).hexdigest(),
        }
    return record


def _words(record: dict[str, Any], names: list[str]) -> str:
    return ", ".join(f"{n} {record[n]['size']} items ({record[n]['sha256'][:8]})" for n in names)


def check_same_splits(
    checkpoint: dict[str, Any], now: dict[str, dict[str, Any]], store: object, ckpt: object
) -> None:
    """Raise DataError naming the store ``[data.path]`` when the splits it gives (``now``,
    `split_record`) differ from those ``checkpoint`` recorded: each differing split with both
    sizes and digests; DataError naming ``ckpt`` when it records none (written before the
    record: `src.utils.resume_records.predates`) or something else than a record."""
    from src.utils.resume_records import predates

    recorded = checkpoint.get(SPLITS_KEY)
    if SPLITS_KEY not in checkpoint:
        raise predates(ckpt, [SPLITS_KEY])
    if not isinstance(recorded, dict):
        raise DataError(
            ckpt,
            SPLITS_KEY,
            f"expected the record of the splits its run trained on (split sizes and digests), "
            f"found a {type(recorded).__name__}: the checkpoint was edited; resume from the "
            "checkpoint as train.py wrote it, or start the run again",
        )
    differ = sorted(n for n in set(recorded) | set(now) if recorded.get(n) != now.get(n))
    if not differ:
        return
    was = _words(recorded, [n for n in differ if n in recorded]) or "none"
    found = _words(now, [n for n in differ if n in now]) or "none"
    raise DataError(
        store,
        "data.path",
        f"expected the splits the run of {ckpt} trained on ({was}), found other splits "
        f"({found}): a store made with another --seed, --val-size or sizes; resume with the "
        "store the run was trained on",
    )
