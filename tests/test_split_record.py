"""A resume trains on the splits its run trained on (trial 8, S01: resumed with a store made
with another --seed and --val-size, accepted). Generated: every split the run derives,
changed in each way a store of other preparation changes it (other items of the same size,
another size, a split missing or added, order only), against the record the checkpoint keeps;
and the record round-trips through a saved checkpoint of a real module."""

from __future__ import annotations

import numpy as np
import pytest

from src.utils.errors import DataError
from src.utils.split_record import SPLITS_KEY, check_same_splits, split_record

NAMES = ("train", "val_query", "val_retrieval", "query", "retrieval")


def splits(seed: int = 0) -> dict[str, np.ndarray]:
    """Splits of a store of 400 items as a run derives them."""
    rows = np.random.default_rng(seed).permutation(400)
    return {
        "query": rows[:40],
        "retrieval": rows[40:],
        "train": rows[40:300],
        "val_query": rows[40:70],
        "val_retrieval": rows[70:300],
    }


def _swap_one(rows: np.ndarray) -> np.ndarray:
    out = rows.copy()
    out[0] = 10_000  # an item of another store, same size
    return out


CHANGES = {
    "other_items_same_size": _swap_one,
    "one_item_fewer": lambda rows: rows[1:],
    "one_item_more": lambda rows: np.append(rows, 10_000),
    "other_seed": lambda rows: np.random.default_rng(5).permutation(400)[: rows.size],
    "shifted": lambda rows: rows + 1,
}


@pytest.mark.parametrize("change", sorted(CHANGES))
@pytest.mark.parametrize("name", NAMES)
def test_changed_split_refused(name: str, change: str) -> None:
    """One split changed: refused naming the store and [data.path] and the split."""
    now = splits()
    now[name] = CHANGES[change](now[name])
    checkpoint = {SPLITS_KEY: split_record(splits())}
    with pytest.raises(DataError) as info:
        check_same_splits(checkpoint, split_record(now), "/d/uci_v.h5", "/r/last.ckpt")
    message = str(info.value)
    assert message.startswith("/d/uci_v.h5 [data.path]: expected the splits") and name in message


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("how", ["missing", "added"])
def test_split_missing_or_added_refused(name: str, how: str) -> None:
    now, then = splits(), splits()
    (now if how == "missing" else then).pop(name)
    with pytest.raises(DataError, match=name):
        check_same_splits({SPLITS_KEY: split_record(then)}, split_record(now), "s", "c")


@pytest.mark.parametrize("seed", range(5))
def test_same_splits_accepted_in_any_order(seed: int) -> None:
    """The same items in another order (or dtype): the same splits."""
    now = {
        k: np.random.default_rng(seed).permutation(v).astype(np.int32) for k, v in splits().items()
    }
    check_same_splits({SPLITS_KEY: split_record(splits())}, split_record(now), "s", "c")


@pytest.mark.parametrize("seed", range(1, 6))
def test_other_preparation_seed_refused(seed: int) -> None:
    """The trial's case: every split of another preparation seed."""
    with pytest.raises(DataError):
        check_same_splits(
            {SPLITS_KEY: split_record(splits())}, split_record(splits(seed)), "s", "c"
        )


@pytest.mark.parametrize("recorded", [None, "junk", 3, ["a"]])
def test_checkpoint_without_record_refused(recorded: object) -> None:
    """No record (a checkpoint of before it) or another value: refused naming the checkpoint
    and data_splits, never resumed unchecked (src/utils/resume_records.py)."""
    checkpoint = {} if recorded is None else {SPLITS_KEY: recorded}
    words = "predates the resume check of data_splits" if recorded is None else "found a "
    with pytest.raises(DataError, match=rf"^c \[data_splits\]: .*{words}"):
        check_same_splits(checkpoint, split_record(splits(3)), "s", "c")


def test_module_saves_the_record() -> None:
    """A module given data_splits writes them into its checkpoint (on_save_checkpoint)."""
    from src.models.agch_module import AGCHModule

    model = AGCHModule(image_dim=6, text_dim=5, hidden_dim=8, gcn_dim=4, code_length=8)
    model.data_splits = split_record(splits())
    checkpoint: dict = {}
    model.on_save_checkpoint(checkpoint)
    assert checkpoint[SPLITS_KEY] == split_record(splits())
