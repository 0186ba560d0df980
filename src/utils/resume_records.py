"""A resume never skips a check silently (issue 22 leftover): a checkpoint written before a
record a resume check needs existed -- ``data_splits`` (the splits its run trained on,
`src.utils.split_record`), ``store_sha256`` (the content of the store it trained on,
`src.utils.store_digest`) or the training-health callback's ``initial_digest`` (the digest of
``health_initial.pt``, `src.callbacks.health`) -- cannot prove the resume goes on with the same
splits and the same initial weights, so it is refused with one line naming the missing records,
before any training (`check_resume_records`). Evaluating such a checkpoint needs neither record:
``src/eval.py ckpt_path=...`` still evaluates it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from src.utils.errors import DataError
from src.utils.split_record import SPLITS_KEY
from src.utils.store_digest import STORE_KEY

HEALTH_DIGEST = "initial_digest"  # the training-health callback's record (its checkpoint state)
WHAT = {
    SPLITS_KEY: "the splits its run trained on",
    STORE_KEY: "the digest of the store it trained on",
    HEALTH_DIGEST: "the digest of its initial weights, health_initial.pt",
}


def predates(path: object, missing: Sequence[str]) -> DataError:
    """The refusal of a resume of the checkpoint at ``path`` that lacks the ``missing`` records
    (keys of `WHAT`), named first in the brackets and all in the line."""
    records = " and ".join(f"{key} ({WHAT[key]})" for key in missing)
    return DataError(
        path,
        missing[0],
        f"the checkpoint predates the resume check of {records}: it records none, so a resume "
        "cannot prove it goes on from the same run; expected a checkpoint that records it: "
        f"start the run again without ckpt_path (src/eval.py ckpt_path={path} still "
        "evaluates this checkpoint)",
    )


def missing_records(checkpoint: Mapping[str, Any], model: Any, callbacks: Sequence[Any]) -> list:
    """The records of `WHAT` that a resume of ``model`` with ``callbacks`` checks and
    ``checkpoint`` lacks: ``data_splits`` when the model has its splits (``data_splits``),
    ``store_sha256`` when it has its store's digest (``store_digest``), the health digest
    when a `TrainingHealth` callback watches modules of the model and the checkpoint holds its
    state (a missing state is `check_callback_states`' refusal)."""
    from src.callbacks.health import TrainingHealth

    missing = []
    if getattr(model, "data_splits", None) is not None and SPLITS_KEY not in checkpoint:
        missing.append(SPLITS_KEY)
    if getattr(model, "store_digest", None) is not None and STORE_KEY not in checkpoint:
        missing.append(STORE_KEY)
    saved = checkpoint.get("callbacks") or {}
    for callback in callbacks:
        if not isinstance(callback, TrainingHealth) or not callback.watched(model):
            continue
        state = saved.get(callback.state_key)
        if isinstance(state, Mapping) and state.get(HEALTH_DIGEST) is None:
            missing.append(HEALTH_DIGEST)
    return missing


def check_resume_records(
    checkpoint: Mapping[str, Any], path: object, model: Any, callbacks: Sequence[Any]
) -> None:
    """Refuse (DataError naming ``path`` and every missing record: `predates`) a resume of a
    checkpoint that lacks a record its checks need (`missing_records`)."""
    missing = missing_records(checkpoint, model, callbacks)
    if missing:
        raise predates(path, missing)
