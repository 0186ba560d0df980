"""Split protocols: the DJSRH per-label split (docs/method.md, "Evaluation protocol"), a
random split, the validation queries and the validation modes. Every function is seeded and
returns sorted int64 index arrays."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from src.utils.errors import ConfigError, check_at_most

log = logging.getLogger(__name__)

VAL_STREAM = 1  # the val subset draws from its own stream: its size never moves the split
# data.val_mode (docs/data.md, "Validation modes"):
#   heldout:  the validation queries leave the training set (selection runs)
#   official: the official training split is trained on whole (protocol runs)
VAL_MODES = ("heldout", "official")
VAL_CARVE_MAX = 1000  # validation queries carved when the store has no split/val ...
VAL_CARVE_FRACTION = 0.1  # ... at most this fraction of the retrieval set


@dataclass(frozen=True)
class LabelSplitSizes:
    """Per-label query/train counts of the DJSRH protocol and the final train size."""

    query_first: int
    train_first: int
    query_rest: int
    train_rest: int
    train_total: int = 5000


MIRFLICKR_SIZES = LabelSplitSizes(160, 400, 80, 200)
NUSWIDE_SIZES = LabelSplitSizes(200, 500, 200, 500)


def _sorted(indices: list[int] | np.ndarray) -> np.ndarray:
    return np.sort(np.asarray(indices, dtype=np.int64))


def djsrh_split(label: np.ndarray, sizes: LabelSplitSizes, seed: int) -> dict[str, np.ndarray]:
    """Query/train/retrieval of DJSRH: label columns in order, each giving queries then train
    items from its not-yet-used items (in random order); a column with too few unused items
    gives what it has (queries first). Train is topped up to ``sizes.train_total`` with random
    non-query items; retrieval is every item but the queries."""
    rng = np.random.default_rng(seed)
    n_items = label.shape[0]
    used = np.zeros(n_items, dtype=bool)  # (N,)
    query: list[np.ndarray] = []
    train: list[np.ndarray] = []
    for column in range(label.shape[1]):
        n_query = sizes.query_first if column == 0 else sizes.query_rest
        n_train = sizes.train_first if column == 0 else sizes.train_rest
        free = rng.permutation(np.flatnonzero((label[:, column] != 0) & ~used))
        query.append(free[:n_query])
        train.append(free[n_query : n_query + n_train])
        used[free[: n_query + n_train]] = True
    query_idx, train_idx = np.concatenate(query), np.concatenate(train)
    missing = sizes.train_total - train_idx.size
    if missing > 0:
        spare = rng.permutation(np.flatnonzero(~used))
        train_idx = np.concatenate([train_idx, spare[:missing]])
    is_query = np.zeros(n_items, dtype=bool)
    is_query[query_idx] = True
    return {
        "query": _sorted(query_idx),
        "train": _sorted(train_idx),
        "retrieval": np.flatnonzero(~is_query).astype(np.int64),
    }


def random_split(
    n_items: int, query_size: int, train_size: int, seed: int
) -> dict[str, np.ndarray]:
    """Random queries, train from the rest, retrieval = every item but the queries."""
    if query_size + train_size > n_items or query_size < 1 or train_size < 1:
        raise ConfigError(
            f"cannot take {query_size} queries and {train_size} train items from {n_items}: "
            f"expected query + train = {query_size + train_size} <= {n_items}, each >= 1"
        )
    order = np.random.default_rng(seed).permutation(n_items)
    is_query = np.zeros(n_items, dtype=bool)
    is_query[order[:query_size]] = True
    return {
        "query": _sorted(order[:query_size]),
        "train": _sorted(order[query_size : query_size + train_size]),
        "retrieval": np.flatnonzero(~is_query).astype(np.int64),
    }


def official_split(n_train: int, n_test: int) -> dict[str, np.ndarray]:
    """Rows = train then test: the test rows are the queries, retrieval = train."""
    train = np.arange(n_train, dtype=np.int64)
    return {
        "query": np.arange(n_train, n_train + n_test, dtype=np.int64),
        "train": train,
        "retrieval": train.copy(),
    }


def default_val_size(n_retrieval: int) -> int:
    return min(1000, round(0.1 * n_retrieval))


def val_split(splits: dict[str, np.ndarray], seed: int, size: int | None = None) -> np.ndarray:
    """Validation queries: a seeded random subset of retrieval minus train when that is not
    empty (MIRFlickr, NUS-WIDE), else of train (Wiki, UCI); never a query. ``size`` defaults
    to min(1000, round(0.1 * n_retrieval)), capped at the pool size; a ``size`` given
    (prepare_data.py ``--val-size``) larger than the pool is a ConfigError naming the pool size,
    never capped."""
    pool = np.setdiff1d(splits["retrieval"], splits["train"])
    words = "the retrieval items outside the training set (the validation pool)"
    if pool.size == 0:
        pool, words = splits["train"], "the training items (the validation pool)"
    pool = np.setdiff1d(pool, splits["query"])
    if size is None:
        size = default_val_size(splits["retrieval"].size)
    else:
        check_at_most("--val-size", size, pool.size, f"{words} that are not test queries")
    if size < 1:
        raise ConfigError(f"the validation size must be positive, got {size}")
    rng = np.random.default_rng([seed, VAL_STREAM])
    return _sorted(rng.choice(pool, size=min(size, pool.size), replace=False))


def validation_sets(
    splits: dict[str, np.ndarray], val_query: np.ndarray, mode: str
) -> dict[str, np.ndarray]:
    """The splits a run uses under ``data.val_mode`` ``mode``: train, query, retrieval,
    val_query, val_retrieval (sorted int64).

    ``heldout``: train = train minus val_query, so the model never fits a validation pair;
    ``official``: train as stored. In both, val_retrieval = retrieval minus val_query: on Wiki
    and UCI (retrieval = train) with ``heldout`` that is exactly the items trained on, as the
    test queries search the items trained on; on MIRFlickr and NUS-WIDE the stored val is
    disjoint from train, so both modes give the same sets.

    Raises ConfigError for an unknown mode, a val_query holding a test query, or a held-out
    set that leaves no training item.
    """
    if mode not in VAL_MODES:
        raise ConfigError(f"data.val_mode: expected one of {list(VAL_MODES)}, got {mode!r}")
    val_query = _sorted(val_query)
    if np.intersect1d(val_query, splits["query"]).size:
        raise ConfigError(
            "validation queries overlap the test queries; expected a split/val without any"
        )
    train = splits["train"]
    if mode == "heldout":
        train = np.setdiff1d(train, val_query)
        if train.size == 0:
            raise ConfigError(
                "data.val_mode=heldout: the validation queries are the whole train set"
            )
    return {
        "train": _sorted(train),
        "query": _sorted(splits["query"]),
        "retrieval": _sorted(splits["retrieval"]),
        "val_query": val_query,
        "val_retrieval": np.setdiff1d(splits["retrieval"], val_query).astype(np.int64),
    }


def carve_val_queries(
    splits: dict[str, np.ndarray], rng: np.random.Generator
) -> tuple[np.ndarray, str]:
    """Seeded validation queries for a store without ``split/val``: sorted int64 rows drawn
    from retrieval minus train (or from train when that is empty), never a test query; at most
    VAL_CARVE_MAX and VAL_CARVE_FRACTION of the retrieval set, at least 1. Returns the rows and
    the name of the set they came from."""
    pool = np.setdiff1d(splits["retrieval"], np.union1d(splits["train"], splits["query"]))
    source = "retrieval minus train"
    if pool.size == 0:
        pool, source = np.setdiff1d(splits["train"], splits["query"]), "train"
    size = min(VAL_CARVE_MAX, int(VAL_CARVE_FRACTION * splits["retrieval"].size), pool.size)
    size = max(size, 1)
    return np.sort(rng.choice(pool, size, replace=False)), source


def run_splits(
    stored: dict[str, np.ndarray],
    seed: int,
    val_mode: str,
    val_retrieval_limit: int | None,
    store: object,
) -> dict[str, np.ndarray]:
    """The splits a run uses (train, query, retrieval, val_query, val_retrieval; sorted int64)
    from the store's ``stored`` splits: the validation queries are ``split/val`` or, when the
    store has none, `carve_val_queries` (seeded by ``seed``, logged naming ``store``); then
    `validation_sets` under ``val_mode``, and at most ``val_retrieval_limit`` validation
    retrieval items drawn with the same generator. Raises ConfigError as `validation_sets`."""
    splits = dict(stored)
    rng = np.random.default_rng(seed)
    if "val" in splits:
        val_query = splits.pop("val")
    else:
        val_query, source = carve_val_queries(splits, rng)
        log.info(
            "%s has no split/val: validation queries are %d seeded items (seed %d) of the %s set",
            store,
            val_query.size,
            seed,
            source,
        )
    splits = validation_sets(splits, val_query, val_mode)
    limit = val_retrieval_limit
    if limit is not None and limit < splits["val_retrieval"].size:
        splits["val_retrieval"] = np.sort(
            rng.choice(splits["val_retrieval"], limit, replace=False)
        )
    return splits
