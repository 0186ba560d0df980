"""The LightningDataModule over one HDF5 feature store (schema in src/data/store.py).

Batches are ``(image, text, index, label)``: float32 image (m, Dv), float32 text (m, Dt), int64
store row index (m,), float32 multi-hot label (m, C). The train order is a function of (seed,
epoch) alone, in every mode (cached, streamed with or without workers, on the accelerator), so a
resumed run sees the batches an uninterrupted one would. Reads are per batch or per row block,
so memory stays bounded at NUS-WIDE scale when the cache is off.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np
import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import BatchSampler, DataLoader, SequentialSampler

from src.data.loading import (
    DeviceBatches,
    EpochSampler,
    FeatureCache,
    StoreRows,
    check_unchanged,
    fingerprint,
    whole_batch,
)
from src.data.splits import VAL_MODES, run_splits
from src.data.statistics import feature_statistics
from src.data.store import StoreInfo, missing_store, validate_store, values_checked
from src.data.synthetic import make_synthetic
from src.data.synthetic_checks import check_existing_store
from src.utils.errors import ConfigError
from src.utils.io import atomic_path
from src.utils.paths import classify, input_problem

log = logging.getLogger(__name__)

CACHE_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class AGCHDataModule(LightningDataModule):
    """Train, validation and test loaders over one feature store.

    ``val_mode`` (docs/data.md, "Validation modes"): ``"official"`` trains on the store's whole
    train split (the protocol: report test numbers of these runs); ``"heldout"`` removes the
    validation queries from the items trained on and fitted (batches, ``train_statistics``),
    so that validation looks like the test (use it to select hyper-parameters and epochs).
    Raises ConfigError for an unknown mode.
    """

    def __init__(
        self,
        path: str,
        batch_size: int = 32,
        eval_batch_size: int = 1024,
        num_workers: int = 0,
        cache_in_memory: bool = True,
        cache_dtype: str = "float32",
        device_cache: bool = False,
        pin_memory: bool = False,
        drop_last: bool = True,
        seed: int = 0,
        val_retrieval_limit: int | None = None,
        synthetic: dict | None = None,
        prepare_hint: str | None = None,
        val_mode: str = "official",
        raw_source: str | None = None,
    ) -> None:
        super().__init__()
        if val_mode not in VAL_MODES:
            raise ConfigError(
                f"data.val_mode: expected one of {list(VAL_MODES)}, got {val_mode!r}"
            )
        if cache_dtype not in CACHE_DTYPES:
            raise ConfigError(f"data.cache_dtype: expected one of {sorted(CACHE_DTYPES)}")
        if batch_size < 1 or eval_batch_size < 1:
            raise ConfigError(
                f"data.batch_size {batch_size}, data.eval_batch_size {eval_batch_size}: "
                "expected both >= 1"
            )
        synthetic = dict(synthetic) if synthetic is not None else None
        self.save_hyperparameters(logger=False)
        self.path = Path(path)
        # the release folder of the raw images and texts (src/data/raw_items.py); not read here
        self.raw_source = raw_source
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.num_workers, self.pin_memory, self.drop_last = num_workers, pin_memory, drop_last
        self.cache_in_memory, self.device_cache = cache_in_memory, device_cache
        self.cache_dtype = CACHE_DTYPES[cache_dtype]
        self.seed, self.val_retrieval_limit = seed, val_retrieval_limit
        self.synthetic, self.prepare_hint = synthetic, prepare_hint
        self.val_mode = val_mode
        self.info: StoreInfo | None = None
        self.fingerprint: tuple[int, ...] | None = None  # the store at the run's first read
        self.splits: dict[str, np.ndarray] = {}
        self._cache: FeatureCache | None = None

    # ---- preparation and header ----

    def prepare_data(self, accept: Callable[[dict[str, int]], None] | None = None) -> None:
        """Generate the synthetic store when configured and missing. A store at ``data.path`` is
        used only when it was made with these parameters: one made with others (shared by the runs
        that use it) or one that is no synthetic store is never replaced; the default ``data.path``
        names each set of parameters' own file (`src.data.synthetic.store_file`). A new store is
        generated under a temporary name beside ``data.path`` (parameters checked before anything
        is written) and moved in only once ``accept`` (the run's checks, given the `split_sizes`
        the new store gives) has returned: a refused run leaves nothing. Raises ConfigError or
        DataError."""
        if self.synthetic is None:
            return
        if classify(self.path).kind != "missing":
            check_existing_store(self.path, self.synthetic)
            return
        # never over a store another run generated meanwhile (it may be reading it): the
        # first one published stays, and is checked like any existing store
        with atomic_path(self.path, key="data.path", replace=False) as staged:
            make_synthetic(staged, **self.synthetic)
            if accept is not None:
                accept(self._sizes_of(staged))
        check_existing_store(self.path, self.synthetic)

    def _sizes_of(self, path: Path) -> dict[str, int]:
        """`split_sizes` of the store at ``path`` (a staged one), this datamodule unchanged."""
        kept = self.path, self.info, self.fingerprint, self.splits
        self.path, self.info, self.fingerprint, self.splits = Path(path), None, None, {}
        try:
            return self.split_sizes()
        finally:
            self.path, self.info, self.fingerprint, self.splits = kept

    def feature_dims(self) -> tuple[int, int]:
        """(image_dim, text_dim) from the store header, preparing a synthetic store first."""
        self.prepare_data()
        info = self._validate(check_values=False)
        return info.image_dim, info.text_dim

    @property
    def n_classes(self) -> int:
        return (self.info or self._validate(check_values=False)).n_classes

    @property
    def is_synthetic(self) -> bool:
        return self.synthetic is not None or (self.info is not None and self.info.synthetic)

    def _validate(self, check_values: bool) -> StoreInfo:
        if input_problem(self.path, "file") is not None:
            hint = self.prepare_hint or "prepare it with scripts/prepare_data.py"
            raise missing_store(self.path, hint)
        with self.reading():
            return validate_store(self.path, check_values=check_values)

    def check_store(self) -> None:
        """Take the store's `fingerprint` at the run's first read of it; at every later read
        raise StoreChanged (one line naming the store) when it differs."""
        if self.fingerprint is None:
            self.fingerprint = fingerprint(self.path)
        else:
            check_unchanged(self.path, self.fingerprint)

    @contextmanager
    def reading(self) -> Iterator[None]:
        """`check_store` before and after a read of the store (header, splits, statistics,
        the in-memory cache): what was read came from the store the run started with."""
        self.check_store()
        yield
        self.check_store()

    # ---- setup ----

    def setup(self, stage: str | None = None) -> None:
        """Validate the store, derive the splits, load the cache once.

        The values (finite features, labels) are checked once: by the run's pre-flight scan
        (`src.data.store.check_store_values`, before its folder exists) when the file is the
        one it scanned, else by a scan of the file without a cache, and block by block as the
        cache loads with one (every row a split uses).
        """
        if self.info is not None:  # a later stage (validate, test): the store is unchanged
            self.check_store()
        else:
            scanned = values_checked(self.path)  # by the run's pre-flight (src/data/preflight.py)
            self.info = self._validate(check_values=not (self.cache_in_memory or scanned))
            self.splits = self._derive_splits()
            self._warn_if_val_is_trained_on()
        if self.is_synthetic:
            log.warning(
                "Data %s is SYNTHETIC (generated, not a real benchmark): its numbers say only "
                "that the pipeline runs",
                self.path,
            )
        if self.cache_in_memory and self._cache is None:
            rows = np.unique(np.concatenate(list(self.splits.values())))
            with self.reading():
                checked = values_checked(self.path)  # scanned whole before: not twice
                self._cache = FeatureCache(self.path, rows, self.cache_dtype, not checked)

    def _derive_splits(self) -> dict[str, np.ndarray]:
        """train, query, retrieval, val_query, val_retrieval under ``val_mode``
        (`src.data.splits.run_splits`), from the store's splits."""
        with self.reading(), h5py.File(self.path, "r") as h5:
            stored = {name: h5["split"][name][()].astype(np.int64) for name in h5["split"]}
        return run_splits(stored, self.seed, self.val_mode, self.val_retrieval_limit, self.path)

    @property
    def val_is_heldout(self) -> bool:
        """True when no validation query is an item the model trains on, so that choosing an
        epoch or a setting on val/... is choosing on unseen pairs (train.py tests the best
        checkpoint only then)."""
        splits = self.splits or self._derive_splits()
        return np.intersect1d(splits["val_query"], splits["train"]).size == 0

    def _warn_if_val_is_trained_on(self) -> None:
        if not self.val_is_heldout:
            log.warning(
                "data.val_mode=%s: the %d validation queries are training items, so val/... "
                "measures fitting, not retrieval of unseen pairs; select with "
                "data.val_mode=heldout (no best checkpoint is tested in this run)",
                self.val_mode,
                self.splits["val_query"].size,
            )

    # ---- statistics ----

    def train_statistics(self) -> dict[str, np.ndarray]:
        """Per-feature mean and std (population) over the rows trained on (`_train_rows`: the
        train split, minus the validation queries under ``val_mode="heldout"``), read in row
        blocks (`src.data.statistics.feature_statistics`; constant features get std 1)."""
        train = self._train_rows()
        with self.reading(), h5py.File(self.path, "r") as h5:
            return feature_statistics(h5, train)

    def split_sizes(self) -> dict[str, int]:
        """Items of each split as this run uses them (train, query, retrieval, val_query,
        val_retrieval), also before `setup` (train.py refuses a run that would train nothing
        before it reads features)."""
        if not self.splits:
            self._validate(check_values=False)
            return {name: rows.size for name, rows in self._derive_splits().items()}
        return {name: rows.size for name, rows in self.splits.items()}

    def _train_rows(self) -> np.ndarray:
        """The rows trained on (without the held-out validation queries under
        ``val_mode="heldout"``), also before `setup` (train.py builds the model first)."""
        if self.splits:
            return self.splits["train"]
        self._validate(check_values=False)
        return self._derive_splits()["train"]

    # ---- loaders ----

    def train_dataloader(self) -> DataLoader | DeviceBatches:
        rank, world_size = self._rank_world()
        rows = self.splits["train"]
        sampler = EpochSampler(rows.size, self.seed, rank, world_size)
        batches = BatchSampler(sampler, self.batch_size, self.drop_last)
        if self.device_cache:
            with self.reading():
                cache = self._cache or FeatureCache(self.path, rows, self.cache_dtype)
            return DeviceBatches(cache, rows, batches, self._device())
        return self._loader(StoreRows(self.path, rows, self._cache, self.fingerprint), batches)

    def val_dataloader(self) -> list[DataLoader]:
        """[validation queries, validation retrieval set], in index order."""
        return [self._eval_loader(self.splits[k]) for k in ("val_query", "val_retrieval")]

    def test_dataloader(self) -> list[DataLoader]:
        """[test queries (split/query), retrieval set (split/retrieval)], in index order."""
        return [self._eval_loader(self.splits[k]) for k in ("query", "retrieval")]

    def _eval_loader(self, rows: np.ndarray) -> DataLoader:
        rank, world_size = self._rank_world()
        rows = rows[rank::world_size]  # disjoint strided subsets; the metric gathers indices
        dataset = StoreRows(self.path, rows, self._cache, self.fingerprint)
        batches = BatchSampler(SequentialSampler(dataset), self.eval_batch_size, drop_last=False)
        return self._loader(dataset, batches)

    def _loader(self, dataset: StoreRows, batches: BatchSampler) -> DataLoader:
        return DataLoader(
            dataset,
            batch_sampler=batches,
            collate_fn=whole_batch,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=self.pin_memory,
        )

    def _rank_world(self) -> tuple[int, int]:
        if self.trainer is None:
            return 0, 1
        return self.trainer.global_rank, self.trainer.world_size

    def _device(self) -> torch.device:
        if self.trainer is None:
            return torch.device("cpu")
        return self.trainer.strategy.root_device
