"""The HDF5 store: exact round trip, and one clear error per bad input with nothing left."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io

from src.data.matlab import load_mat
from src.data.store import read_split, source_record, validate_store, write_store
from src.utils.errors import DataError

N, DV, DT, C = 12, 5, 4, 3


def _arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    image = rng.standard_normal((N, DV)).astype(np.float32)  # (N, Dv)
    text = rng.random((N, DT)).astype(np.float32)  # (N, Dt)
    label = np.zeros((N, C), dtype=np.uint8)  # (N, C)
    label[np.arange(N), np.arange(N) % C] = 1
    label[0, 2] = 1
    splits = {
        "query": np.array([0, 1, 2]),
        "train": np.array([3, 4, 5, 6, 7]),
        "retrieval": np.arange(3, N),
        "val": np.array([9, 11]),
    }
    return image, text, label, splits


def _assert_one_line(error: pytest.ExceptionInfo, *parts: str) -> None:
    message = str(error.value)
    assert "\n" not in message
    for part in parts:
        assert part in message, (part, message)


def _assert_nothing_left(folder: Path) -> None:
    assert list(folder.iterdir()) == []


def test_round_trip_every_array_and_attribute(tmp_path: Path) -> None:
    image, text, label, splits = _arrays()
    source = tmp_path / "src.bin"
    source.write_bytes(b"abc")
    attrs = {
        "dataset": "toy",
        "source_files": source_record([source]),
        "feature_extractor": "hand-made",
        "split_seed": 7,
        "synthetic": True,
    }
    out = tmp_path / "out" / "toy.h5"
    info = write_store(out, image, text, label, splits, attrs)
    with h5py.File(out, "r") as h5:
        assert h5["image"].dtype == np.float32 and h5["label"].dtype == np.uint8
        np.testing.assert_array_equal(h5["image"][()], image)
        np.testing.assert_array_equal(h5["text"][()], text)
        np.testing.assert_array_equal(h5["label"][()], label)
        assert sorted(h5["split"]) == ["query", "retrieval", "train", "val"]
        assert h5.attrs["schema_version"] == 1
    for name, idx in splits.items():
        got = read_split(out, name)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, idx)
    # sha256("abc") is a published test vector (FIPS 180-2)
    digest = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert json.loads(info.attrs["source_files"]) == [{"path": "src.bin", "sha256": digest}]
    assert (info.n_items, info.image_dim, info.text_dim, info.n_classes) == (N, DV, DT, C)
    assert info.split_sizes == {"train": 5, "query": 3, "retrieval": 9, "val": 2}
    assert info.attrs["dataset"] == "toy" and info.attrs["split_seed"] == 7 and info.synthetic
    assert info.attrs["feature_extractor"] == "hand-made"
    assert validate_store(out).split_sizes == info.split_sizes


def test_missing_store_file(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        validate_store(tmp_path / "absent.h5")
    _assert_one_line(error, "absent.h5", "found nothing there")


def test_missing_store_key(tmp_path: Path) -> None:
    image, text, label, splits = _arrays()
    out = tmp_path / "toy.h5"
    write_store(out, image, text, label, splits)
    with h5py.File(out, "a") as h5:
        del h5["text"]
    with pytest.raises(DataError) as error:
        validate_store(out)
    _assert_one_line(error, "toy.h5", "[text]: expected a dataset", "found none")


def test_missing_source_file_and_key(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        load_mat(tmp_path / "absent.mat", "XAll")
    _assert_one_line(error, "absent.mat", "[XAll]", "not found")
    scipy.io.savemat(tmp_path / "some.mat", {"YAll": np.ones((3, 2))})
    with pytest.raises(DataError) as error:
        load_mat(tmp_path / "some.mat", "XAll")
    _assert_one_line(error, "some.mat", "[XAll]", "'YAll'")


def _bad_write(tmp_path: Path, **change) -> pytest.ExceptionInfo:
    image, text, label, splits = _arrays()
    arrays = {"image": image, "text": text, "label": label, "splits": splits, **change}
    with pytest.raises(DataError) as error:
        write_store(tmp_path / "bad.h5", **arrays)
    _assert_nothing_left(tmp_path)
    return error


def test_wrong_rank(tmp_path: Path) -> None:
    error = _bad_write(tmp_path, image=np.zeros(N, dtype=np.float32))
    _assert_one_line(error, "bad.h5", "[image]", "2-D")


def test_row_counts_differ(tmp_path: Path) -> None:
    error = _bad_write(tmp_path, text=np.zeros((N - 1, DT), dtype=np.float32))
    _assert_one_line(error, "bad.h5", "[text]", f"{N} rows", f"got {N - 1}")


@pytest.mark.parametrize("key, value", [("image", np.nan), ("text", np.inf)])
def test_non_finite_features(tmp_path: Path, key: str, value: float) -> None:
    array = _arrays()[0 if key == "image" else 1].copy()
    array[4, 1] = value
    error = _bad_write(tmp_path, **{key: array})
    _assert_one_line(error, "bad.h5", f"[{key}]", "row 4")


def test_all_zero_label_row(tmp_path: Path) -> None:
    label = _arrays()[2].copy()
    label[6] = 0
    error = _bad_write(tmp_path, label=label)
    _assert_one_line(error, "bad.h5", "[label]", "row 6")


def test_split_index_out_of_range(tmp_path: Path) -> None:
    splits = {**_arrays()[3], "retrieval": np.array([3, 4, N])}
    error = _bad_write(tmp_path, splits=splits)
    _assert_one_line(error, "bad.h5", "[split/retrieval]", f"[0, {N})")


def test_query_overlapping_train(tmp_path: Path) -> None:
    splits = {**_arrays()[3], "train": np.array([2, 3, 4])}
    error = _bad_write(tmp_path, splits=splits)
    _assert_one_line(error, "bad.h5", "[split/query]", "split/train")


def test_failure_while_writing_leaves_no_temp_file(tmp_path: Path) -> None:
    image, text, label, splits = _arrays()
    with pytest.raises(TypeError):
        write_store(tmp_path / "bad.h5", image, text, label, splits, {"dataset": object()})
    _assert_nothing_left(tmp_path)
