"""Converters against the real releases in ../shared/data and generated fixtures."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io

from src.data import converters
from src.data.converters import (
    convert_arrays,
    convert_mirflickr,
    convert_nuswide,
    convert_uci,
    convert_wiki,
)
from src.data.matlab import ReversedRows, load_mat, open_mat
from src.data.splits import MIRFLICKR_SIZES, LabelSplitSizes, djsrh_split, val_split
from src.utils.errors import ConfigError, DataError

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _shared(name: str) -> Path:
    folder = SHARED / name
    if not folder.is_dir():
        pytest.skip(f"real data folder {folder} is absent (see ../shared/data/README.md)")
    return folder


def _read(path: Path) -> dict:
    with h5py.File(path, "r") as h5:
        data = {key: h5[key][()] for key in ("image", "text", "label")}
        data.update({name: h5[f"split/{name}"][()] for name in h5["split"]})
        data["attrs"] = dict(h5.attrs)
    return data


# ---------------------------------------------------------------- MATLAB reader


def test_v73_arrays_are_transposed_back(tmp_path: Path) -> None:
    matlab = np.arange(12.0).reshape(4, 3)  # the array as MATLAB sees it, (4, 3)
    with h5py.File(tmp_path / "a.mat", "w") as h5:
        h5["X"] = matlab.T  # column-major storage: h5py sees (3, 4)
    np.testing.assert_array_equal(load_mat(tmp_path / "a.mat", "X"), matlab)
    np.testing.assert_array_equal(load_mat(tmp_path / "a.mat", "X", expected_rows=4), matlab)
    # a release stored transposed: MATLAB [D, N] with N = 3 items
    np.testing.assert_array_equal(load_mat(tmp_path / "a.mat", "X", expected_rows=3), matlab.T)
    with pytest.raises(DataError, match=r"a\.mat \[X\]: expected 5 items"):
        load_mat(tmp_path / "a.mat", "X", expected_rows=5)


def test_lazy_rows_read_blocks_without_loading(tmp_path: Path) -> None:
    matlab = np.arange(2 * 3 * 5).reshape(5, 3, 2)  # (N, C, W) in MATLAB
    with h5py.File(tmp_path / "a.mat", "w") as h5:
        h5["I"] = matlab.transpose(2, 1, 0)
    with open_mat(tmp_path / "a.mat", "I", expected_rows=5) as rows:
        assert isinstance(rows.rows, ReversedRows) and rows.shape == (5, 3, 2)
        np.testing.assert_array_equal(rows[1:4], matlab[1:4])


# ---------------------------------------------------------------- split protocol


def test_djsrh_split_hand_case() -> None:
    label = np.zeros((30, 3), dtype=np.uint8)  # (N, C)
    label[0:12, 0] = 1  # 12 items of label 0
    label[12:15, 1] = 1  # label 1's own items: 1 query, 2 train (short of 3)
    label[10:12, 1] = 1  # shared with label 0, which uses all its 12 items
    label[15:30, 2] = 1
    sizes = LabelSplitSizes(2, 10, 1, 3, train_total=20)
    split = djsrh_split(label, sizes, seed=3)
    query, train = split["query"], split["train"]
    # label 0 uses all of 0..11, so label 1 has 12..14: 1 query + 2 train; label 2: 1 + 3
    assert np.isin(query, np.arange(12)).sum() == 2
    assert np.isin(query, [12, 13, 14]).sum() == 1 and np.isin(query, np.arange(15, 30)).sum() == 1
    assert query.size == 4 and train.size == 20  # 10 + 2 + 3 = 15, topped up by 5
    assert np.intersect1d(query, train).size == 0
    np.testing.assert_array_equal(split["retrieval"], np.setdiff1d(np.arange(30), query))
    assert all(a.dtype == np.int64 and np.all(np.diff(a) > 0) for a in split.values())


def test_val_split_rules() -> None:
    split = {
        "query": np.arange(0, 10),
        "train": np.arange(10, 40),
        "retrieval": np.arange(10, 100),
    }
    val = val_split(split, seed=0)
    assert val.size == 9  # round(0.1 * 90)
    assert np.isin(val, np.arange(40, 100)).all()  # retrieval minus train
    official = {**split, "retrieval": split["train"]}
    val = val_split(official, seed=0, size=30)
    assert val.size == 30 and np.isin(val, split["train"]).all()  # the whole pool
    with pytest.raises(ConfigError, match="--val-size 50: expected at most 30, the training"):
        val_split(official, seed=0, size=50)  # more than the pool: refused, not capped


# ---------------------------------------------------------------- Wiki and UCI


def _list_classes(path: Path) -> list[int]:
    return [int(line.split("\t")[2]) for line in path.read_text().splitlines() if line]


def test_wiki(tmp_path: Path) -> None:
    source = _shared("wiki")
    info = convert_wiki(source, tmp_path / "wiki.h5", seed=0)
    data = _read(tmp_path / "wiki.h5")
    assert data["image"].shape == (2866, 128) and data["text"].shape == (2866, 10)
    train = _list_classes(source / "trainset_txt_img_cat.list")
    test = _list_classes(source / "testset_txt_img_cat.list")
    assert (len(train), len(test)) == (2173, 693)
    for rows, classes in ((slice(0, 2173), train), (slice(2173, None), test)):
        counts = Counter(classes)
        np.testing.assert_array_equal(
            data["label"][rows].sum(axis=0), [counts[c] for c in range(1, 11)]
        )
        np.testing.assert_array_equal(data["label"][rows].argmax(axis=1) + 1, classes)
    raw = scipy.io.loadmat(source / "raw_features.mat")
    np.testing.assert_array_equal(data["image"][2173:], raw["I_te"].astype(np.float32))
    np.testing.assert_array_equal(data["text"][:2173], raw["T_tr"].astype(np.float32))
    np.testing.assert_array_equal(data["query"], np.arange(2173, 2866))
    np.testing.assert_array_equal(data["train"], np.arange(2173))
    np.testing.assert_array_equal(data["retrieval"], np.arange(2173))
    assert data["val"].size == 217 and np.isin(data["val"], data["train"]).all()
    assert info.attrs["dataset"] == "wiki" and info.attrs["split_seed"] == 0
    assert not info.synthetic and "SIFT" in info.attrs["feature_extractor"]


def test_uci(tmp_path: Path) -> None:
    source = _shared("uci")
    convert_uci(source, tmp_path / "uci.h5")
    data = _read(tmp_path / "uci.h5")
    raw = scipy.io.loadmat(source / "uci_all.mat")
    assert data["image"].shape == (2000, 76) and data["text"].shape == (2000, 64)
    classes = np.concatenate([raw["L_tr"].ravel(), raw["L_te"].ravel()])
    np.testing.assert_array_equal(data["label"].argmax(axis=1) + 1, classes)
    assert (data["label"].sum(axis=1) == 1).all()
    np.testing.assert_array_equal(data["image"][:1500], raw["I_tr"].astype(np.float32))
    np.testing.assert_array_equal(data["query"], np.arange(1500, 2000))
    np.testing.assert_array_equal(data["retrieval"], np.arange(1500))
    np.testing.assert_array_equal(data["train"], np.arange(1500))


# ---------------------------------------------------------------- MIRFlickr


def _mirflickr_features(n_items: int = 20015) -> np.ndarray:
    return np.random.default_rng(5).standard_normal((n_items, 64)).astype(np.float32)


def _check_mirflickr(data: dict, lall: np.ndarray) -> None:
    query, train, retrieval = data["query"], data["train"], data["retrieval"]
    assert (query.size, train.size, retrieval.size) == (2000, 5000, 18015)
    assert np.intersect1d(query, train).size == 0
    np.testing.assert_array_equal(retrieval, np.setdiff1d(np.arange(20015), query))
    assert (lall[query].sum(axis=0) > 0).all()  # every label among the queries
    assert data["val"].size == 1000
    assert np.intersect1d(data["val"], np.concatenate([query, train])).size == 0
    np.testing.assert_array_equal(data["label"], lall)


def test_mirflickr_v5_feature_file(tmp_path: Path) -> None:
    source = _shared("mirflickr")
    features = _mirflickr_features()
    scipy.io.savemat(tmp_path / "feat.mat", {"XAll": features})
    out = tmp_path / "mirflickr.h5"
    info = convert_mirflickr(source, out, image_file=str(tmp_path / "feat.mat"))
    data = _read(out)
    lall = scipy.io.loadmat(source / "mirflickr25k-lall.mat")["LAll"]
    _check_mirflickr(data, lall)
    np.testing.assert_array_equal(data["image"], features)
    yall = scipy.io.loadmat(source / "mirflickr25k-yall.mat")["YAll"]
    np.testing.assert_array_equal(data["text"][::97], yall[::97].astype(np.float32))
    assert info.attrs["feature_extractor"] == "file:feat.mat[XAll]"


def test_mirflickr_v73_default_name_transposed_storage(tmp_path: Path) -> None:
    real = _shared("mirflickr")
    source = tmp_path / "release"
    source.mkdir()
    for name in ("mirflickr25k-lall.mat", "mirflickr25k-yall.mat"):
        (source / name).symlink_to(real / name)
    features = _mirflickr_features()
    with h5py.File(source / "mirflickr25k-iall-vgg.mat", "w") as h5:
        h5["XAll"] = features.T  # MATLAB v7.3 stores [N, D] column-major
    convert_mirflickr(source, tmp_path / "m.h5", seed=1)
    data = _read(tmp_path / "m.h5")
    _check_mirflickr(data, scipy.io.loadmat(real / "mirflickr25k-lall.mat")["LAll"])
    np.testing.assert_array_equal(data["image"], features)
    assert data["attrs"]["split_seed"] == 1


def test_mirflickr_split_seeded() -> None:
    lall = scipy.io.loadmat(_shared("mirflickr") / "mirflickr25k-lall.mat")["LAll"]
    first, again = djsrh_split(lall, MIRFLICKR_SIZES, 0), djsrh_split(lall, MIRFLICKR_SIZES, 0)
    other = djsrh_split(lall, MIRFLICKR_SIZES, 1)
    for name in ("query", "train"):
        np.testing.assert_array_equal(first[name], again[name])
        assert not np.array_equal(first[name], other[name])


def test_mirflickr_missing_image_file(tmp_path: Path) -> None:
    source = _shared("mirflickr")
    with pytest.raises(DataError, match=r"mirflickr25k-iall-vgg\.mat: file not found"):
        convert_mirflickr(source, tmp_path / "m.h5")
    assert not (tmp_path / "m.h5").exists()


# ---------------------------------------------------------------- NUS-WIDE (generated)

NUS_N, NUS_D = 300, 20
NUS_SIZES = LabelSplitSizes(5, 10, 5, 10, train_total=120)


def _nus_fixture(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    label = np.zeros((NUS_N, 10), dtype=np.uint8)  # (N, C): 30 items per label, some two
    label[np.arange(NUS_N), np.arange(NUS_N) % 10] = 1
    label[np.arange(0, NUS_N, 7), (np.arange(0, NUS_N, 7) + 3) % 10] = 1
    text = (rng.random((NUS_N, NUS_D)) < 0.2).astype(np.uint8)  # (N, D)
    image = rng.standard_normal((NUS_N, 16)).astype(np.float32)  # (N, Dv)
    with h5py.File(folder / "nus-wide-tc10-yall.mat", "w") as h5:
        h5["YAll"] = text  # the transposed release: MATLAB [D, N], so h5py sees [N, D]
    with h5py.File(folder / "nus-wide-tc10-lall.mat", "w") as h5:
        h5["LAll"] = label.T
    with h5py.File(folder / "nus-wide-tc10-xall-vgg.mat", "w") as h5:
        h5["XAll"] = image.T
    return image, text, label


def test_nuswide_generated_streams(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    image, text, label = _nus_fixture(tmp_path)
    seen = {}
    write = converters.write_store

    def spy(path, image, text, label, splits, attrs):
        seen.update(image=type(image), text=type(text))
        return write(path, image, text, label, splits, attrs)

    monkeypatch.setattr(converters, "write_store", spy)
    info = convert_nuswide(tmp_path, tmp_path / "nus.h5", sizes=NUS_SIZES)
    assert not issubclass(seen["image"], np.ndarray)  # row blocks, never the whole array
    assert not issubclass(seen["text"], np.ndarray)
    data = _read(tmp_path / "nus.h5")
    np.testing.assert_array_equal(data["image"], image)
    np.testing.assert_array_equal(data["text"], text.astype(np.float32))
    np.testing.assert_array_equal(data["label"], label)
    assert info.split_sizes == {"train": 120, "query": 50, "retrieval": 250, "val": 25}
    per_label = label[data["query"]].argmax(axis=1)  # first label of each query
    assert (np.bincount(per_label, minlength=10) >= 1).all()
    assert info.attrs["dataset"] == "nuswide"


# ---------------------------------------------------------------- arrays


def test_arrays_class_ids(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    ids = np.repeat([3, 7, 9], 40)  # (120,)
    np.save(tmp_path / "x.npy", rng.standard_normal((120, 6)).astype(np.float32))
    np.save(tmp_path / "y.npy", rng.random((120, 4)))
    np.save(tmp_path / "l.npy", ids)
    out = tmp_path / "toy.h5"
    info = convert_arrays(
        tmp_path / "x.npy", tmp_path / "y.npy", tmp_path / "l.npy", out, 20, 50, seed=3
    )
    data = _read(out)
    np.testing.assert_array_equal(data["label"].sum(axis=0), [40, 40, 40])
    assert (data["label"].sum(axis=1) == 1).all()
    assert (data["query"].size, data["train"].size, data["retrieval"].size) == (20, 50, 100)
    assert np.intersect1d(data["query"], data["train"]).size == 0
    np.testing.assert_array_equal(data["retrieval"], np.setdiff1d(np.arange(120), data["query"]))
    np.testing.assert_array_equal(data["image"], np.load(tmp_path / "x.npy"))
    assert info.attrs["split_seed"] == 3


def test_arrays_multi_hot_row_mismatch(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.ones((10, 3), dtype=np.float32))
    np.save(tmp_path / "y.npy", np.ones((9, 3), dtype=np.float32))
    np.save(tmp_path / "l.npy", np.tile(np.eye(2, dtype=np.uint8), (5, 1)))
    with pytest.raises(DataError, match=r"\[text\]: expected 10 rows"):
        convert_arrays(
            tmp_path / "x.npy", tmp_path / "y.npy", tmp_path / "l.npy", tmp_path / "o.h5", 2, 4
        )
    assert not (tmp_path / "o.h5").exists()


def test_nuswide_raw_images_go_through_extraction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from src.data import extract

    _, _, label = _nus_fixture(tmp_path)
    (tmp_path / "nus-wide-tc10-xall-vgg.mat").unlink()
    pixels = np.random.default_rng(3).integers(0, 256, (NUS_N, 3, 4, 4), dtype=np.uint8)
    with h5py.File(tmp_path / "nus-wide-tc10-iall.mat", "w") as h5:
        h5["IAll"] = pixels.transpose(3, 2, 1, 0)  # MATLAB [N, 3, H, W], column-major
    monkeypatch.setattr(extract, "build_model", lambda arch, weights: lambda x: x.amax((2, 3)))
    info = convert_nuswide(tmp_path, tmp_path / "nus.h5", sizes=NUS_SIZES)
    mean, std = np.array(extract.IMAGENET_MEAN), np.array(extract.IMAGENET_STD)
    expected = (pixels.max(axis=(2, 3)) / 255.0 - mean) / std  # (N, 3)
    np.testing.assert_allclose(_read(tmp_path / "nus.h5")["image"], expected, rtol=1e-5)
    assert (tmp_path / "nus-vgg19-fc7.npy").is_file()  # the reusable cache
    assert "nus-wide-tc10-iall.mat[IAll]" in info.attrs["feature_extractor"]
