"""Validation modes (docs/data.md, "Validation modes"): held-out validation pairs are never
fitted, they search exactly the remaining train items, the split is seeded; MIRFlickr/NUS-WIDE
validation stays disjoint from train and query; train.py tests a best checkpoint only when it
was chosen on held-out pairs. Stores are generated with the converters' split functions."""

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from lightning.fabric.utilities.data import _set_sampler_epoch

from src.data.datamodule import AGCHDataModule
from src.data.splits import (
    LabelSplitSizes,
    djsrh_split,
    official_split,
    val_split,
    validation_sets,
)
from src.data.store import read_split, write_store
from src.utils.errors import ConfigError

# (seed, n_train, n_test, val_size): Wiki/UCI-like stores of several sizes
OFFICIAL_CASES = [(0, 120, 40, None), (1, 97, 31, 20), (2, 250, 60, 7), (3, 64, 16, 33)]
# (seed, n_items, n_classes): MIRFlickr/NUS-WIDE-like stores (the DJSRH protocol)
DJSRH_CASES = [(0, 400, 5), (1, 333, 4), (2, 520, 7)]
SMALL_SIZES = LabelSplitSizes(12, 30, 6, 15, train_total=120)


def _features(rng: np.random.Generator, n: int, label: np.ndarray) -> tuple[np.ndarray, ...]:
    """Image (n, 12) and text (n, 7) features with label structure, offset and scaled per
    column so that the standardisation statistics are far from 0 and 1."""
    image = label @ rng.standard_normal((label.shape[1], 12)) + rng.standard_normal((n, 12))
    text = label @ rng.standard_normal((label.shape[1], 7)) + rng.standard_normal((n, 7))
    image = image * rng.uniform(0.5, 3.0, 12) + rng.uniform(-5, 5, 12)
    return image.astype(np.float32), text.astype(np.float32)


def official_store(path: Path, seed: int, n_train: int, n_test: int, val_size: int | None):
    """A Wiki-like store: rows = train then test, retrieval = train, split/val drawn from
    train by `val_split` (as `convert_wiki` does)."""
    rng = np.random.default_rng(100 + seed)
    n = n_train + n_test
    label = np.eye(5, dtype=np.uint8)[rng.integers(0, 5, n)]  # (n, 5) one-hot
    splits = official_split(n_train, n_test)
    splits["val"] = val_split(splits, seed, val_size)
    write_store(path, *_features(rng, n, label), label, splits)
    return path


def djsrh_store(path: Path, seed: int, n_items: int, n_classes: int) -> Path:
    """A MIRFlickr-like store: DJSRH split, split/val from retrieval minus train."""
    rng = np.random.default_rng(200 + seed)
    label = (rng.random((n_items, n_classes)) < 0.3).astype(np.uint8)
    label[label.sum(axis=1) == 0, rng.integers(0, n_classes)] = 1  # no all-zero row
    splits = djsrh_split(label, SMALL_SIZES, seed)
    splits["val"] = val_split(splits, seed, 40)
    write_store(path, *_features(rng, n_items, label), label, splits)
    return path


def _module(path: Path, mode: str, **kwargs) -> AGCHDataModule:
    return AGCHDataModule(str(path), batch_size=16, eval_batch_size=32, val_mode=mode, **kwargs)


def _indices(loader) -> np.ndarray:
    return torch.cat([batch[2] for batch in loader]).numpy()


def _trained_rows(dm: AGCHDataModule, epochs: int = 2) -> np.ndarray:
    """Every store row the training sampler yields over `epochs` epochs."""
    loader = dm.train_dataloader()
    seen = []
    for epoch in range(epochs):
        _set_sampler_epoch(loader, epoch)
        seen.append(_indices(loader))
    return np.unique(np.concatenate(seen))


def _numpy_stats(path: Path, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Mean and population std per column of the given rows, computed directly."""
    with h5py.File(path, "r") as h5:
        out = {}
        for key in ("image", "text"):
            block = h5[key][()][rows].astype(np.float64)
            out[f"{key}_mean"], out[f"{key}_std"] = block.mean(axis=0), block.std(axis=0)
    return out


@pytest.mark.parametrize("seed, n_train, n_test, val_size", OFFICIAL_CASES)
@pytest.mark.parametrize("cache", [True, False])
def test_heldout_pairs_are_never_fitted(tmp_path, seed, n_train, n_test, val_size, cache):
    path = official_store(tmp_path / "s.h5", seed, n_train, n_test, val_size)
    train, val = read_split(path, "train"), read_split(path, "val")
    assert np.isin(val, train).all()  # the Wiki situation: val drawn from train
    remaining = np.array(sorted(set(train.tolist()) - set(val.tolist())))
    dm = _module(path, "heldout", drop_last=False, cache_in_memory=cache)
    stats = dm.train_statistics()  # before setup, as train.py calls it
    dm.setup("fit")
    # the training sampler yields exactly the remaining train items
    np.testing.assert_array_equal(_trained_rows(dm), remaining)
    # the standardisation is fitted on them alone, not on the full train split
    expected, full = _numpy_stats(path, remaining), _numpy_stats(path, train)
    for key, value in expected.items():
        np.testing.assert_allclose(stats[key], value, rtol=1e-4, atol=1e-5)
        assert not np.allclose(stats[key], full[key], rtol=1e-4, atol=1e-5)
    # the validation queries search exactly the items trained on
    val_query, val_retrieval = (_indices(x) for x in dm.val_dataloader())
    np.testing.assert_array_equal(val_query, val)
    np.testing.assert_array_equal(val_retrieval, remaining)
    assert dm.val_is_heldout
    # the test is untouched: official queries against the official retrieval set (= train)
    query, retrieval = (_indices(x) for x in dm.test_dataloader())
    np.testing.assert_array_equal(query, read_split(path, "query"))
    np.testing.assert_array_equal(retrieval, train)


@pytest.mark.parametrize("seed, n_train, n_test, val_size", OFFICIAL_CASES[:2])
def test_official_mode_trains_on_the_whole_train_split(tmp_path, seed, n_train, n_test, val_size):
    path = official_store(tmp_path / "s.h5", seed, n_train, n_test, val_size)
    train = read_split(path, "train")
    dm = _module(path, "official", drop_last=False)
    stats = dm.train_statistics()
    dm.setup("fit")
    np.testing.assert_array_equal(_trained_rows(dm), train)
    for key, value in _numpy_stats(path, train).items():
        np.testing.assert_allclose(stats[key], value, rtol=1e-4, atol=1e-5)
    assert not dm.val_is_heldout  # its validation queries are trained on


@pytest.mark.parametrize("seed, n_train, n_test, val_size", OFFICIAL_CASES)
def test_heldout_split_is_seeded_and_reproducible(tmp_path, seed, n_train, n_test, val_size):
    first = official_store(tmp_path / "a.h5", seed, n_train, n_test, val_size)
    again = official_store(tmp_path / "b.h5", seed, n_train, n_test, val_size)
    other = official_store(tmp_path / "c.h5", seed + 10, n_train, n_test, val_size)
    modules = [_module(p, "heldout", seed=seed) for p in (first, again, other)]
    for dm in modules:
        dm.setup("fit")
    splits = [dm.splits for dm in modules]
    for name in ("train", "val_query", "val_retrieval"):
        np.testing.assert_array_equal(splits[0][name], splits[1][name])
    assert not np.array_equal(splits[0]["val_query"], splits[2]["val_query"])
    # a store without split/val carves its queries from the datamodule's seed, reproducibly
    carved = [tmp_path / "nv1.h5", tmp_path / "nv2.h5"]
    for out in carved:
        data = {k: read_split(first, k) for k in ("train", "query", "retrieval")}
        with h5py.File(first, "r") as h5:
            write_store(out, h5["image"][()], h5["text"][()], h5["label"][()], data)
    runs = [_module(p, "heldout", seed=seed) for p in carved]
    for dm in runs:
        dm.setup("fit")
    np.testing.assert_array_equal(runs[0].splits["val_query"], runs[1].splits["val_query"])
    assert np.intersect1d(runs[0].splits["val_query"], runs[0].splits["train"]).size == 0


@pytest.mark.parametrize("seed, n_items, n_classes", DJSRH_CASES)
def test_djsrh_validation_stays_disjoint_from_train_and_query(tmp_path, seed, n_items, n_classes):
    path = djsrh_store(tmp_path / "m.h5", seed, n_items, n_classes)
    train, query = read_split(path, "train"), read_split(path, "query")
    retrieval, val = read_split(path, "retrieval"), read_split(path, "val")
    assert not set(val.tolist()) & set(train.tolist())
    assert not set(val.tolist()) & set(query.tolist())
    modules = {mode: _module(path, mode, drop_last=False) for mode in ("official", "heldout")}
    for mode, dm in modules.items():
        dm.setup("fit")
        assert dm.val_is_heldout, mode
        trained = _trained_rows(dm)
        np.testing.assert_array_equal(trained, train)  # nothing removed: val was never in it
        val_query, val_retrieval = (_indices(x) for x in dm.val_dataloader())
        np.testing.assert_array_equal(val_query, val)
        assert not set(val_query.tolist()) & set(trained.tolist())
        assert not set(val_query.tolist()) & set(query.tolist())
        expected = sorted(set(retrieval.tolist()) - set(val.tolist()))
        np.testing.assert_array_equal(val_retrieval, expected)


def _loop_validation_sets(splits: dict, val_query: np.ndarray, mode: str) -> dict:
    """Plain-set reference of `validation_sets`."""
    val = set(val_query.tolist())
    train = [i for i in splits["train"].tolist() if mode == "official" or i not in val]
    return {
        "train": sorted(train),
        "val_query": sorted(val),
        "val_retrieval": sorted(i for i in splits["retrieval"].tolist() if i not in val),
    }


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("mode", ["official", "heldout"])
def test_validation_sets_match_a_plain_loop(seed: int, mode: str) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(30, 300))
    order = rng.permutation(n)
    n_query = int(rng.integers(1, n // 3))
    query, rest = np.sort(order[:n_query]), order[n_query:]
    train = np.sort(rng.choice(rest, int(rng.integers(2, rest.size)), replace=False))
    retrieval = train if seed % 2 else np.sort(rest)  # Wiki-like or MIRFlickr-like
    splits = {"train": train, "query": query, "retrieval": retrieval}
    val_query = rng.choice(retrieval, int(rng.integers(1, train.size)), replace=False)
    got = validation_sets(splits, val_query, mode)
    for name, expected in _loop_validation_sets(splits, val_query, mode).items():
        np.testing.assert_array_equal(got[name], np.asarray(expected, dtype=np.int64))
        assert got[name].dtype == np.int64


def test_bad_modes_and_sets_are_config_errors(tmp_path) -> None:
    with pytest.raises(ConfigError, match="data.val_mode"):
        AGCHDataModule("x.h5", val_mode="train")
    splits = {"train": np.arange(5), "query": np.arange(5, 8), "retrieval": np.arange(5)}
    with pytest.raises(ConfigError, match="whole train set"):
        validation_sets(splits, np.arange(5), "heldout")
    with pytest.raises(ConfigError, match="test queries"):
        validation_sets(splits, np.array([4, 6]), "official")


def _canonical_correlations(path: Path, rows: np.ndarray) -> np.ndarray:
    """Canonical correlations of the image and text of ``rows`` (centred): singular values of
    Q_x^T Q_y for orthonormal bases of the two column spaces (Bjorck-Golub)."""
    with h5py.File(path, "r") as h5:
        X, Y = (h5[key][()][rows].astype(np.float64) for key in ("image", "text"))
    X, Y = X - X.mean(axis=0), Y - Y.mean(axis=0)
    return np.linalg.svd(np.linalg.qr(X)[0].T @ np.linalg.qr(Y)[0], compute_uv=False)


@pytest.mark.parametrize("mode", ["official", "heldout"])
def test_train_py_tests_a_best_checkpoint_only_if_chosen_on_heldout_pairs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """CCA-ITQ (no gradient, fast) on a Wiki-like store; `_checkpoints` is made to report a
    distinct best checkpoint, as after a run whose validation peaked before the last epoch.
    Also: results.json records the mode, and the closed-form fit used the rows trained on."""
    import src.train
    from test_cca_itq import compose_run

    path = official_store(tmp_path / "wiki.h5", 0, 150, 40, None)
    real = src.train._checkpoints
    monkeypatch.setattr(src.train, "_checkpoints", lambda t: (real(t)[1], real(t)[1]))
    overrides = [
        "data.synthetic=null",
        f"data.path={path}",
        f"data.val_mode={mode}",
        "data.drop_last=false",
        "model=cca_itq",
        "model.code_length=8",
        "trainer=cpu",
        "trainer.max_epochs=1",
        "logger=csv",
        "extras.print_config=false",
        "extras.enforce_tags=false",
    ]
    metrics, objects = src.train.train(compose_run(overrides + ["model.reg=0"], tmp_path / "run"))
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["val_mode"] == mode and "test/map@50" in metrics
    # the closed-form fit saw exactly the rows trained on: its canonical correlations are
    # those of these rows (computed here by another route), not of the whole train split
    train, val = read_split(path, "train"), read_split(path, "val")
    fitted = np.setdiff1d(train, val) if mode == "heldout" else train
    other = train if mode == "heldout" else np.setdiff1d(train, val)
    rho = objects["model"].correlations.numpy()[:7]  # k = min(12, 7) pairs
    np.testing.assert_allclose(rho, _canonical_correlations(path, fitted), atol=1e-5)
    assert not np.allclose(rho, _canonical_correlations(path, other), atol=1e-5)
    if mode == "heldout":
        assert "best/test/map@50" in results["best_metrics"]
    else:
        assert results["best_metrics"] is None
