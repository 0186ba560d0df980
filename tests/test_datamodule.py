"""AGCHDataModule: seeded order in every mode, split hygiene, statistics, errors, memory."""

import logging
import shutil
from pathlib import Path
from types import SimpleNamespace

import h5py
import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from lightning.fabric.utilities.data import _set_sampler_epoch

from src.data import store
from src.data.datamodule import AGCHDataModule, EpochSampler
from src.data.store import read_split, write_store
from src.utils.errors import DataError

MODES = {
    "cache": dict(cache_in_memory=True),
    "stream": dict(cache_in_memory=False, num_workers=0),
    "stream_workers": dict(cache_in_memory=False, num_workers=2),
    "device": dict(device_cache=True),
}


def _module(path: Path, **kwargs) -> AGCHDataModule:
    dm = AGCHDataModule(str(path), **({"batch_size": 32, "eval_batch_size": 64} | kwargs))
    dm.setup("fit")
    return dm


def _epochs(dm: AGCHDataModule, epochs: list[int]) -> list[list[tuple[torch.Tensor, ...]]]:
    """The batches of each epoch, the epoch set as Lightning's fit loop sets it."""
    loader = dm.train_dataloader()
    out = []
    for epoch in epochs:
        _set_sampler_epoch(loader, epoch)
        out.append([tuple(t.clone() for t in batch) for batch in loader])
    return out


def _load(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as h5:
        return {key: h5[key][()] for key in ("image", "text", "label")}


def _copy_without_val(src: Path, dst: Path, retrieval_is_train: bool = False) -> None:
    data = _load(src)
    splits = {name: read_split(src, name) for name in ("train", "query", "retrieval")}
    if retrieval_is_train:  # the Wiki protocol
        splits["retrieval"] = splits["train"]
    write_store(dst, data["image"], data["text"], data["label"], splits)


def test_same_batches_in_every_mode(synthetic_store: Path) -> None:
    reference = _epochs(_module(synthetic_store, **MODES["cache"]), [0, 1])
    assert len(reference[0]) == 200 // 32
    for name in ("stream", "stream_workers", "device"):
        other = _epochs(_module(synthetic_store, **MODES[name]), [0, 1])
        for epoch_ref, epoch_other in zip(reference, other, strict=True):
            for batch_ref, batch_other in zip(epoch_ref, epoch_other, strict=True):
                for a, b in zip(batch_ref, batch_other, strict=True):
                    assert a.dtype == b.dtype and torch.equal(a, b), name


def test_batch_contents_match_the_file(synthetic_store: Path) -> None:
    data = _load(synthetic_store)
    image, text, index, label = next(iter(_module(synthetic_store).train_dataloader()))
    assert image.dtype == text.dtype == label.dtype == torch.float32
    assert index.dtype == torch.int64
    rows = index.numpy()
    np.testing.assert_array_equal(image.numpy(), data["image"][rows])
    np.testing.assert_array_equal(text.numpy(), data["text"][rows])
    np.testing.assert_array_equal(label.numpy(), data["label"][rows].astype(np.float32))


def test_order_is_randperm_of_seed_plus_epoch(synthetic_store: Path) -> None:
    train = read_split(synthetic_store, "train")
    for seed in (0, 5):
        dm = _module(synthetic_store, seed=seed, drop_last=False)
        for epoch, batches in zip((0, 3), _epochs(dm, [0, 3])):
            order = torch.cat([batch[2] for batch in batches]).numpy()
            perm = torch.randperm(
                train.size, generator=torch.Generator().manual_seed(seed + epoch)
            )
            np.testing.assert_array_equal(order, train[perm.numpy()])


def test_epochs_and_seeds_change_the_order(synthetic_store: Path) -> None:
    first, second = _epochs(_module(synthetic_store, seed=0), [0, 1])
    (other_seed,) = _epochs(_module(synthetic_store, seed=1), [0])
    order = torch.cat([b[2] for b in first])
    assert not torch.equal(order, torch.cat([b[2] for b in second]))
    assert not torch.equal(order, torch.cat([b[2] for b in other_seed]))


@pytest.mark.parametrize("drop_last", [True, False])
def test_each_train_item_once_per_epoch(synthetic_store: Path, drop_last: bool) -> None:
    train = read_split(synthetic_store, "train")
    (batches,) = _epochs(_module(synthetic_store, drop_last=drop_last), [2])
    seen = torch.cat([b[2] for b in batches]).numpy()
    assert np.unique(seen).size == seen.size
    assert np.isin(seen, train).all()
    assert seen.size == (200 // 32 * 32 if drop_last else 200)


def test_sampler_shards_ranks_disjointly() -> None:
    n, world = 203, 3
    shards = []
    for rank in range(world):
        sampler = EpochSampler(n, seed=4, rank=rank, world_size=world)
        sampler.set_epoch(2)
        shards.append(list(sampler))
    assert [len(s) for s in shards] == [n // world] * world
    joined = np.concatenate(shards)
    assert np.unique(joined).size == joined.size
    full = torch.randperm(n, generator=torch.Generator().manual_seed(6)).numpy()
    np.testing.assert_array_equal(np.sort(joined), np.sort(full[: n // world * world]))


def test_eval_loaders_shard_without_duplicates(synthetic_store: Path) -> None:
    dm = _module(synthetic_store)
    retrieval = read_split(synthetic_store, "retrieval")
    parts = []
    for rank in range(2):
        dm.trainer = SimpleNamespace(global_rank=rank, world_size=2)
        parts.append(torch.cat([b[2] for b in dm.test_dataloader()[1]]).numpy())
    assert np.intersect1d(parts[0], parts[1]).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate(parts)), retrieval)


def _eval_indices(loader) -> np.ndarray:
    return torch.cat([batch[2] for batch in loader]).numpy()


def test_test_loaders_cover_query_and_retrieval_in_order(synthetic_store: Path) -> None:
    for mode in ("cache", "stream"):
        queries, retrieval = _module(synthetic_store, **MODES[mode]).test_dataloader()
        np.testing.assert_array_equal(_eval_indices(queries), read_split(synthetic_store, "query"))
        np.testing.assert_array_equal(
            _eval_indices(retrieval), read_split(synthetic_store, "retrieval")
        )


def test_validation_sets(synthetic_store: Path) -> None:
    queries, retrieval = (_eval_indices(x) for x in _module(synthetic_store).val_dataloader())
    np.testing.assert_array_equal(queries, read_split(synthetic_store, "val"))
    expected = np.setdiff1d(read_split(synthetic_store, "retrieval"), queries)
    np.testing.assert_array_equal(retrieval, expected)
    assert not np.isin(queries, read_split(synthetic_store, "query")).any()


def test_validation_retrieval_limit(synthetic_store: Path) -> None:
    dm = _module(synthetic_store, val_retrieval_limit=100, seed=3)
    queries, retrieval = (_eval_indices(x) for x in dm.val_dataloader())
    assert retrieval.size == 100 and np.all(np.diff(retrieval) > 0)
    assert np.isin(retrieval, read_split(synthetic_store, "retrieval")).all()
    assert not np.isin(retrieval, queries).any()
    again = _eval_indices(
        _module(synthetic_store, val_retrieval_limit=100, seed=3).val_dataloader()[1]
    )
    np.testing.assert_array_equal(retrieval, again)


@pytest.mark.parametrize("retrieval_is_train", [False, True])
def test_validation_queries_carved_without_split_val(
    synthetic_store: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    retrieval_is_train: bool,
) -> None:
    path = tmp_path / "noval.h5"
    _copy_without_val(synthetic_store, path, retrieval_is_train)
    with caplog.at_level(logging.INFO, logger="src.data.splits"):
        queries, retrieval = (_eval_indices(x) for x in _module(path).val_dataloader())
    assert "no split/val" in caplog.text
    train, test_queries = read_split(path, "train"), read_split(path, "query")
    full_retrieval = read_split(path, "retrieval")
    assert queries.size == min(1000, int(0.1 * full_retrieval.size))
    assert not np.isin(queries, test_queries).any()
    # Wiki-like (retrieval == train): carved from train; else from retrieval minus train.
    assert np.isin(queries, train).all() == retrieval_is_train
    assert np.isin(queries, full_retrieval).all()
    np.testing.assert_array_equal(retrieval, np.setdiff1d(full_retrieval, queries))


def test_float16_cache_close_to_float32(synthetic_store: Path) -> None:
    (full,) = _epochs(_module(synthetic_store), [0])
    (half,) = _epochs(_module(synthetic_store, cache_dtype="float16"), [0])
    for a, b in zip(full, half, strict=True):
        assert b[0].dtype == torch.float32
        torch.testing.assert_close(b[0], a[0], rtol=1e-3, atol=1e-3)
        assert torch.equal(b[1], a[1]) and torch.equal(b[2], a[2])  # 0/1 tags are exact


def test_train_statistics_match_numpy(synthetic_store: Path, monkeypatch) -> None:
    monkeypatch.setattr(store, "ROW_CHUNK", 37)  # several blocks, a partial one at the end
    stats = AGCHDataModule(str(synthetic_store)).train_statistics()  # works before setup
    train = read_split(synthetic_store, "train")
    data = _load(synthetic_store)
    for key in ("image", "text"):
        rows = data[key][train].astype(np.float64)
        np.testing.assert_allclose(stats[f"{key}_mean"], rows.mean(axis=0), rtol=1e-5, atol=1e-6)
        expected_std = rows.std(axis=0)
        expected_std[expected_std < 1e-6] = 1.0  # constant on train: scale 1
        np.testing.assert_allclose(stats[f"{key}_std"], expected_std, rtol=1e-4, atol=1e-6)


def test_constant_feature_gets_unit_std(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    image = rng.random((20, 3)).astype(np.float32)
    image[:, 1] = 2.5
    text = np.eye(20, 4, dtype=np.float32)
    text[:, 3] = 0.0
    text[:, 0] = 1.0
    label = np.ones((20, 1), dtype=np.uint8)
    splits = {"train": np.arange(10), "query": np.arange(10, 20), "retrieval": np.arange(10)}
    write_store(tmp_path / "s.h5", image, text, label, splits)
    stats = AGCHDataModule(str(tmp_path / "s.h5")).train_statistics()
    assert stats["image_std"][1] == 1.0 and stats["image_mean"][1] == pytest.approx(2.5)
    assert stats["text_std"][3] == 1.0 and stats["text_std"][0] == 1.0
    assert stats["text_std"][1] == pytest.approx(0.3)  # one 1 in ten rows: sqrt(0.1 * 0.9)


def test_missing_file_says_how_to_prepare(tmp_path: Path) -> None:
    hint = "prepare it with: python scripts/prepare_data.py wiki --source DIR"
    dm = AGCHDataModule(str(tmp_path / "absent.h5"), prepare_hint=hint)
    for call in (lambda: dm.setup("fit"), dm.feature_dims):
        with pytest.raises(DataError) as info:
            call()
        message = str(info.value)
        assert hint in message and "absent.h5" in message and "\n" not in message


def test_missing_key_is_named(synthetic_store: Path, tmp_path: Path) -> None:
    path = tmp_path / "broken.h5"
    shutil.copy(synthetic_store, path)
    with h5py.File(path, "a") as h5:
        del h5["text"]
    with pytest.raises(DataError, match=r"\[text\]") as info:
        AGCHDataModule(str(path)).setup("fit")
    assert info.value.key == "text"


def _corrupt(src: Path, dst: Path, key: str, row: int, value: float) -> None:
    """A copy of the store with ``key[row, :]`` set to ``value``, past write_store's checks."""
    shutil.copy(src, dst)
    with h5py.File(dst, "a") as h5:
        h5[key][row, :] = value


@pytest.mark.parametrize("mode", ["cache", "stream"])
@pytest.mark.parametrize("key, value", [("image", np.nan), ("text", np.inf), ("label", 0)])
def test_bad_values_named_with_and_without_cache(
    synthetic_store: Path, tmp_path: Path, mode: str, key: str, value: float
) -> None:
    row = int(read_split(synthetic_store, "train")[7])
    _corrupt(synthetic_store, tmp_path / "bad.h5", key, row, value)
    with pytest.raises(DataError) as info:
        AGCHDataModule(str(tmp_path / "bad.h5"), **MODES[mode]).setup("fit")
    message = str(info.value)
    assert "bad.h5" in message and f"[{key}]" in message and f"row {row}" in message
    assert "\n" not in message


@pytest.mark.parametrize("mode", ["cache", "stream"])
def test_setup_reads_the_features_once(synthetic_store: Path, monkeypatch, mode: str) -> None:
    """With a cache, validating and caching share one read of the used rows; without one, the
    validation scan is the only read at setup."""
    monkeypatch.setattr(store, "ROW_CHUNK", 37)  # several blocks
    rows_read = []
    original = h5py.Dataset.__getitem__

    def counting(self: h5py.Dataset, key: object) -> np.ndarray:
        out = original(self, key)
        if self.name == "/image":
            rows_read.append(np.shape(out)[0])
        return out

    monkeypatch.setattr(h5py.Dataset, "__getitem__", counting)
    _module(synthetic_store, **MODES[mode])
    monkeypatch.setattr(h5py.Dataset, "__getitem__", original)
    n_items = _load(synthetic_store)["image"].shape[0]
    used = np.unique(
        np.concatenate([read_split(synthetic_store, n) for n in store.REQUIRED_SPLITS])
    )
    assert sum(rows_read) == (used.size if mode == "cache" else n_items)


@pytest.mark.parametrize(
    "cache", [dict(cache_in_memory=True), dict(cache_in_memory=False, device_cache=True)]
)
def test_float16_cache_overflow_is_named(synthetic_store: Path, tmp_path: Path, cache) -> None:
    row = int(read_split(synthetic_store, "train")[2])
    _corrupt(synthetic_store, tmp_path / "big.h5", "image", row, 1e6)  # finite, > 65504
    _module(tmp_path / "big.h5", cache_dtype="float32", **cache).train_dataloader()  # fits
    with pytest.raises(DataError) as info:
        _module(tmp_path / "big.h5", cache_dtype="float16", **cache).train_dataloader()
    message = str(info.value)
    assert "big.h5" in message and "[image]" in message and f"row {row}" in message
    assert "float16" in message


def test_feature_dims_and_header(synthetic_store: Path) -> None:
    dm = AGCHDataModule(str(synthetic_store))
    assert dm.feature_dims() == (64, 48)
    assert dm.n_classes == 6
    dm.setup("fit")
    assert dm.info.n_items == 400 and dm.is_synthetic


def test_synthetic_config_generates_and_never_replaces(
    tmp_path: Path, synthetic_store_params: dict, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "gen.h5"
    dm = AGCHDataModule(str(path), synthetic=synthetic_store_params)
    assert dm.feature_dims() == (64, 48)  # generated on demand
    with caplog.at_level(logging.WARNING, logger="src.data.datamodule"):
        dm.setup("fit")
    assert "SYNTHETIC" in caplog.text
    mtime = path.stat().st_mtime_ns
    AGCHDataModule(str(path), synthetic=synthetic_store_params).prepare_data()
    assert path.stat().st_mtime_ns == mtime  # same parameters: kept
    changed = AGCHDataModule(str(path), synthetic=synthetic_store_params | {"text_dim": 40})
    with pytest.raises(DataError, match=r"\(text_dim 48 in the store, 40 here\); it is never"):
        changed.feature_dims()  # other parameters: refused, the store kept
    assert path.stat().st_mtime_ns == mtime


def test_synthetic_config_never_overwrites_a_real_store(
    tmp_path: Path, synthetic_store: Path, synthetic_store_params: dict
) -> None:
    path = tmp_path / "real.h5"
    _copy_without_val(synthetic_store, path)  # written without the synthetic attrs
    with pytest.raises(DataError, match="never overwrites another"):
        AGCHDataModule(str(path), synthetic=synthetic_store_params).prepare_data()


def test_streaming_reads_stay_bounded(synthetic_store: Path, monkeypatch) -> None:
    """No read of features or labels is larger than a batch or a row block."""
    block, batch, eval_batch = 50, 16, 40
    monkeypatch.setattr(store, "ROW_CHUNK", block)
    largest = {"rows": 0, "reads": 0}
    original = h5py.Dataset.__getitem__

    def recording(self, selection):
        out = original(self, selection)
        if self.name in ("/image", "/text", "/label"):
            largest["rows"] = max(largest["rows"], out.shape[0])
            largest["reads"] += 1
        return out

    monkeypatch.setattr(h5py.Dataset, "__getitem__", recording)
    for cache in (False, True):
        dm = _module(
            synthetic_store, cache_in_memory=cache, batch_size=batch, eval_batch_size=eval_batch
        )
        dm.train_statistics()
        for loader in [dm.train_dataloader(), *dm.val_dataloader(), *dm.test_dataloader()]:
            for _ in loader:
                pass
    assert largest["reads"] > 3 * 400 // block  # the recording really saw the reads
    assert largest["rows"] <= max(block, batch, eval_batch)


class _RecordIndices(pl.LightningModule):
    """Records the store indices of every train batch, per epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(64, 1)
        self.seen: dict[int, list[int]] = {}

    def training_step(self, batch, batch_idx):
        image, _, index, _ = batch
        self.seen.setdefault(self.current_epoch, []).extend(index.tolist())
        return self.layer(image).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)


@pytest.mark.parametrize("mode", ["cache", "device"])
def test_lightning_fit_sets_the_epoch(synthetic_store: Path, mode: str) -> None:
    dm = AGCHDataModule(str(synthetic_store), batch_size=32, seed=7, **MODES[mode])
    model = _RecordIndices()
    trainer = pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    trainer.fit(model, datamodule=dm)
    train = read_split(synthetic_store, "train")
    for epoch in (0, 1):
        perm = torch.randperm(train.size, generator=torch.Generator().manual_seed(7 + epoch))
        np.testing.assert_array_equal(model.seen[epoch], train[perm.numpy()][: 200 // 32 * 32])
