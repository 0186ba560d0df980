"""The synthetic generator: determinism, the store schema, and real label structure."""

from pathlib import Path

import h5py
import numpy as np
import pytest

from src.data.store import read_split, validate_store
from src.data.synthetic import make_synthetic, matches_params, synthetic_params
from src.utils.errors import ConfigError


def _arrays(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as h5:
        out = {key: h5[key][()] for key in ("image", "text", "label")}
        out |= {f"split/{k}": h5["split"][k][()] for k in h5["split"]}
    return out


def _mean_cosines(x: np.ndarray, label: np.ndarray) -> tuple[float, float]:
    """Mean cosine over pairs sharing a label and over pairs sharing none."""
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    cosine = unit @ unit.T
    shared = label.astype(np.int64) @ label.T.astype(np.int64)
    same = shared > 0
    np.fill_diagonal(same, False)
    return float(cosine[same].mean()), float(cosine[shared == 0].mean())


def test_same_seed_same_bytes(
    synthetic_store: Path, synthetic_store_params: dict, tmp_path: Path
) -> None:
    again = tmp_path / "again.h5"
    make_synthetic(again, **synthetic_store_params)
    first, second = _arrays(synthetic_store), _arrays(again)
    assert first.keys() == second.keys()
    for key in first:
        assert first[key].dtype == second[key].dtype
        assert first[key].tobytes() == second[key].tobytes(), key


def test_different_seed_differs(
    synthetic_store: Path, synthetic_store_params: dict, tmp_path: Path
) -> None:
    other = tmp_path / "other.h5"
    make_synthetic(other, **(synthetic_store_params | {"seed": 1}))
    first, second = _arrays(synthetic_store), _arrays(other)
    for key in ("image", "text", "label", "split/query", "split/train"):
        assert not np.array_equal(first[key], second[key]), key


def test_schema_and_attrs(synthetic_store: Path, synthetic_store_params: dict) -> None:
    info = validate_store(synthetic_store, check_values=True)
    assert (info.n_items, info.image_dim, info.text_dim, info.n_classes) == (400, 64, 48, 6)
    assert info.split_sizes == {"train": 200, "query": 50, "retrieval": 350, "val": 50}
    assert info.synthetic
    assert info.attrs["dataset"] == "synthetic"
    assert info.attrs["feature_extractor"] == "generated"
    assert info.attrs["split_seed"] == 0
    assert matches_params(info, synthetic_store_params)
    assert matches_params(info, synthetic_store_params | {"noise": 2})  # int and float alike
    assert not matches_params(info, synthetic_store_params | {"noise": 0.5})
    assert not matches_params(info, synthetic_store_params | {"seed": 3})


def test_splits(synthetic_store: Path) -> None:
    split = {name: read_split(synthetic_store, name) for name in ("train", "query", "val")}
    retrieval = read_split(synthetic_store, "retrieval")
    all_items = np.arange(400)
    np.testing.assert_array_equal(retrieval, np.setdiff1d(all_items, split["query"]))
    assert np.isin(split["train"], retrieval).all()
    assert np.isin(split["val"], retrieval).all()
    assert not np.isin(split["val"], split["train"]).any()
    # Random, not the first items: the query set spreads over the whole index range.
    assert split["query"].min() < 100 and split["query"].max() > 300


def test_labels_text_image_properties(synthetic_store: Path) -> None:
    data = _arrays(synthetic_store)
    label, text, image = data["label"], data["text"], data["image"]
    per_item = label.sum(axis=1)
    assert per_item.min() == 1 and per_item.max() == 3
    assert (label.sum(axis=0) > 0).all()  # every class used
    assert set(np.unique(text)) == {0.0, 1.0}
    assert text.sum(axis=1).min() >= 1
    assert text.mean() < 0.3  # sparse
    assert image.min() >= 0.0
    assert (image > 0).mean() > 0.3  # dense


def test_label_structure_in_both_modalities(synthetic_store: Path) -> None:
    data = _arrays(synthetic_store)
    for key in ("image", "text"):
        same, different = _mean_cosines(data[key], data["label"])
        assert same > different + 0.02, (key, same, different)


def test_noise_weakens_structure(synthetic_store_params: dict, tmp_path: Path) -> None:
    """Noise is really there and controlled: more noise, smaller same/different gap."""
    gaps = []
    for noise in (0.5, 4.0):
        path = tmp_path / f"noise{noise}.h5"
        make_synthetic(path, **(synthetic_store_params | {"noise": noise}))
        data = _arrays(path)
        same, different = _mean_cosines(data["image"], data["label"])
        gaps.append(same - different)
    assert gaps[0] > gaps[1] > 0


@pytest.mark.parametrize("bad", [{"n_query": 300}, {"n_classes": 0}, {"noise": -1.0}])
def test_bad_parameters(synthetic_store_params: dict, tmp_path: Path, bad: dict) -> None:
    with pytest.raises(ConfigError):
        make_synthetic(tmp_path / "bad.h5", **(synthetic_store_params | bad))
    assert not (tmp_path / "bad.h5").exists()


def test_unknown_parameter_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="colour"):
        synthetic_params(colour=3)
