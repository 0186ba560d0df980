"""A store that changes under a run is noticed at every read of it, not only streamed batches
(issue 22, kind 3): the header, the splits, the training statistics, the in-memory cache, a
later stage (validation, test) and results.json's data fields."""

import os
import shutil
import time
from pathlib import Path

import h5py
import pytest

from src.data.datamodule import AGCHDataModule
from src.utils.errors import StoreChanged
from src.utils.records import data_fields


def truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


# file times tick with the kernel's coarse clock (a few ms): an in-place write waits one tick
TICK_S = 0.02


def rewrite_dataset(path: Path) -> None:
    """Other values in place: the file keeps its size and inode."""
    time.sleep(TICK_S)
    with h5py.File(path, "r+") as h5:
        h5["image"][0] = h5["image"][0] + 1.0


def rewrite_with_old_mtime(path: Path) -> None:
    """Bytes changed in place, then the modification time set back (``touch -r``)."""
    time.sleep(TICK_S)
    before = path.stat()
    with path.open("r+b") as file:
        file.seek(before.st_size - 8)
        file.write(b"\x01" * 8)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def replace_same_size(path: Path) -> None:
    """Another file of the same size and times under the name (a new inode)."""
    before = path.stat()
    copy = path.with_suffix(".new")
    shutil.copy(path, copy)
    os.utime(copy, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(copy, path)


def touch(path: Path) -> None:
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))


def append(path: Path) -> None:
    with path.open("ab") as file:
        file.write(b"\0" * 16)


CHANGES = [truncate, rewrite_dataset, rewrite_with_old_mtime, replace_same_size, touch, append]


def read_train_batches(dm: AGCHDataModule) -> None:
    for _ in dm.train_dataloader():
        pass


def read_test_batches(dm: AGCHDataModule) -> None:
    for loader in dm.test_dataloader():
        for _ in loader:
            pass


# the reads of a run, in order: train.py (_build, data_fields, fit, test) and eval.py
STEPS = {
    "feature_dims": lambda dm: dm.feature_dims(),
    "split_sizes": lambda dm: dm.split_sizes(),
    "train_statistics": lambda dm: dm.train_statistics(),
    "data_fields": data_fields,
    "setup_fit": lambda dm: dm.setup("fit"),
    "train_batches": read_train_batches,
    "setup_test": lambda dm: dm.setup("test"),
    "test_batches": read_test_batches,
}


@pytest.mark.parametrize("cache", [True, False], ids=["cached", "streamed"])
@pytest.mark.parametrize("change", CHANGES, ids=lambda c: c.__name__)
def test_a_change_after_any_read_stops_the_next(
    synthetic_store: Path, tmp_path: Path, change, cache: bool
) -> None:
    """For every step of a run after the first, the store changed just before it: that step
    raises StoreChanged naming the store (never a number from the changed file). With the
    cache, the train and test batches come from memory, loaded and checked at setup: they read
    nothing from the file, and the setup of the test stage is the last check."""
    streamed_only = ("train_batches", "test_batches")  # with the cache they read no file
    names = [name for name in STEPS if not (cache and name in streamed_only)]
    for at in range(1, len(names)):
        path = tmp_path / f"{names[at]}.h5"
        shutil.copy(synthetic_store, path)
        dm = AGCHDataModule(str(path), batch_size=16, eval_batch_size=64, cache_in_memory=cache)
        for name in names[:at]:
            STEPS[name](dm)
        change(path)
        with pytest.raises(StoreChanged) as error:
            STEPS[names[at]](dm)
        assert str(error.value).startswith(f"{path}: the feature store changed"), names[at]
        assert "\n" not in str(error.value)


def test_an_unchanged_store_passes_every_step(synthetic_store: Path, tmp_path: Path) -> None:
    path = tmp_path / "same.h5"
    shutil.copy(synthetic_store, path)
    for cache in (True, False):
        dm = AGCHDataModule(str(path), batch_size=16, eval_batch_size=64, cache_in_memory=cache)
        for step in STEPS.values():
            step(dm)
        assert dm.fingerprint is not None


def test_a_same_size_rewrite_with_its_old_mtime_still_differs(
    synthetic_store: Path, tmp_path: Path
) -> None:
    """The case that size, modification time and inode alone miss (why the change time is in
    the fingerprint)."""
    path = tmp_path / "store.h5"
    shutil.copy(synthetic_store, path)
    before = path.stat()
    rewrite_with_old_mtime(path)
    after = path.stat()
    same = ("st_size", "st_mtime_ns", "st_ino")
    assert [getattr(after, k) for k in same] == [getattr(before, k) for k in same]
    assert after.st_ctime_ns != before.st_ctime_ns


@pytest.mark.parametrize(
    "change", [append, truncate, rewrite_with_old_mtime], ids=lambda c: c.__name__
)
def test_a_streamed_epoch_with_a_worker_stops_at_the_next_read(
    synthetic_store: Path, tmp_path: Path, change
) -> None:
    """A store appended to, truncated or rewritten at the same size while a streamed epoch runs
    in a DataLoader worker: a batch read after the change raises StoreChanged (the worker's
    wrapper removed from the message) before the epoch ends; batches read before it came from
    the unchanged file."""
    path = tmp_path / "store.h5"
    shutil.copy(synthetic_store, path)
    dm = AGCHDataModule(str(path), batch_size=8, cache_in_memory=False, num_workers=1)
    dm.setup("fit")
    batches = iter(dm.train_dataloader())
    next(batches)
    change(path)
    with pytest.raises(StoreChanged) as error:
        for _ in batches:
            pass
    assert str(error.value).startswith(f"{path}: the feature store changed"), str(error.value)
