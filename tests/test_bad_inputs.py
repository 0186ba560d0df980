"""Bad sources given to scripts/prepare_data.py, generated in a temporary folder (issue 13).

Every case builds a small valid release (tests/bad_releases.py), damages it in one way, runs
the real command in a subprocess and checks: exit status 2, exactly one line
``error: <file> [<key>]: ...`` naming the damaged file and key (and row, for values), no
traceback, nothing left beside the target, the sources byte for byte as before. The default
suite runs a sample of every kind; the whole matrix (more cut points, keys, datasets) is slow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bad_releases import (
    DT,
    DV,
    N_LABELLED,
    N_TE,
    N_TR,
    source_args,
    make_arrays,
    check_refused,
    make_labelled,
    make_rng,
    truncate,
    make_uci,
    make_wiki,
)


@pytest.fixture
def src(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    folder.mkdir()
    return folder


# ------------------------------------------------------------------------ reading sources

SLOW = pytest.mark.slow


@pytest.mark.parametrize(
    "fraction",
    [
        0.5,
        pytest.param(0.0, marks=SLOW),
        pytest.param(0.1, marks=SLOW),
        pytest.param(0.97, marks=SLOW),
    ],
)
@pytest.mark.parametrize("v73", [False, pytest.param(True, marks=SLOW)])
def test_truncated_matlab(tmp_path: Path, src: Path, fraction: float, v73: bool) -> None:
    make_uci(src, v73=v73)
    truncate(src / "uci_all.mat", fraction)
    check_refused(tmp_path, source_args("uci", src), f"{src / 'uci_all.mat'} [")


@pytest.mark.parametrize(
    "fraction", [0.0, pytest.param(0.5, marks=SLOW), pytest.param(0.9, marks=SLOW)]
)
@pytest.mark.parametrize("key", ["image", pytest.param("labels", marks=SLOW)])
def test_truncated_npy(tmp_path: Path, src: Path, fraction: float, key: str) -> None:
    args = make_arrays(src)
    truncate(src / f"{key}.npy", fraction)
    check_refused(tmp_path, args, f"{src / f'{key}.npy'} [{key}]")


@pytest.mark.parametrize(
    "key", ["I_tr", "T_te", pytest.param("L_te", marks=SLOW), pytest.param("L_tr", marks=SLOW)]
)
def test_missing_key(tmp_path: Path, src: Path, key: str) -> None:
    make_uci(src, {key: None})
    check_refused(tmp_path, source_args("uci", src), f"uci_all.mat [{key}]", "key not found")


@pytest.mark.parametrize(
    "key, value",
    [
        ("I_te", np.ones((N_TE, DV, 2))),
        pytest.param("T_tr", np.ones((N_TR + 1, DT)), marks=SLOW),
        ("L_tr", np.ones((N_TR - 2, 1))),
        pytest.param("L_te", np.ones((N_TE, 2)), marks=SLOW),
    ],
)
def test_wrong_shape_names_its_key(tmp_path: Path, src: Path, key: str, value: np.ndarray) -> None:
    make_uci(src, {key: value})
    check_refused(tmp_path, source_args("uci", src), f"uci_all.mat [{key}]")


@pytest.mark.parametrize(
    "line, number",
    [
        ("t1 i1 x", 3),
        pytest.param("t1\ti1", 1, marks=SLOW),
        ("t1 i1 11", 5),
        pytest.param("t1 i1 0", 2, marks=SLOW),
    ],
)
def test_list_line_that_does_not_parse(tmp_path: Path, src: Path, line: str, number: int) -> None:
    make_wiki(src)
    path = src / "testset_txt_img_cat.list"
    lines = path.read_text().splitlines()
    lines[number - 1] = line
    path.write_text("\n".join(lines) + "\n")
    check_refused(tmp_path, source_args("wiki", src), f"{path} [line {number}]")


def test_list_not_text(tmp_path: Path, src: Path) -> None:
    make_wiki(src)
    (src / "trainset_txt_img_cat.list").write_bytes(b"\xff\xfe\x00garbage")
    check_refused(tmp_path, source_args("wiki", src), "trainset_txt_img_cat.list")


@pytest.mark.parametrize("dataset", ["mirflickr", pytest.param("nuswide", marks=SLOW)])
@pytest.mark.parametrize(
    "key", ["LAll", pytest.param("XAll", marks=SLOW), pytest.param("YAll", marks=SLOW)]
)
def test_labelled_wrong_count_names_its_key(
    tmp_path: Path, src: Path, dataset: str, key: str
) -> None:
    prefix = "mirflickr25k" if dataset == "mirflickr" else "nus-wide-tc10"
    value = np.ones((N_LABELLED - 3, 4), dtype=np.uint8)
    make_labelled(src, prefix, {key: value})
    check_refused(tmp_path, source_args(dataset, src), f"[{key}]", f"expected {N_LABELLED} rows")


# ------------------------------------------------------------------------ silent wrong values


@pytest.mark.parametrize(
    "key, row, value, what",
    [
        ("I_te", 5, np.nan, "NaN/Inf in row 5"),
        pytest.param("I_tr", 0, np.inf, "NaN/Inf in row 0", marks=SLOW),
        ("T_te", 7, 1e300, "fit float32"),
        pytest.param("T_tr", 23, -1e39, "fit float32", marks=SLOW),
    ],
)
def test_wiki_values_name_source_row(
    tmp_path: Path, src: Path, key: str, row: int, value: float, what: str
) -> None:
    array = make_rng().random((N_TE if key.endswith("te") else N_TR, DV if key[0] == "I" else DT))
    array[row, 1] = value
    make_wiki(src, {key: array})
    line = check_refused(
        tmp_path, source_args("wiki", src), f"raw_features.mat [{key}]", what, f"row {row}"
    )
    assert "store.h5" not in line


@pytest.mark.parametrize("key, value", [("image", 1e39), pytest.param("text", np.nan, marks=SLOW)])
def test_npy_values(tmp_path: Path, src: Path, key: str, value: float) -> None:
    array = make_rng().random((N_TR + N_TE, DV if key == "image" else DT))
    array[9, 0] = value
    args = make_arrays(src, {key: array})
    check_refused(tmp_path, args, f"{key}.npy [{key}]", "row 9")


@pytest.mark.parametrize(
    "value",
    [
        1.5,
        pytest.param(0.0, marks=SLOW),
        pytest.param(11.0, marks=SLOW),
        pytest.param(np.nan, marks=SLOW),
    ],
)
def test_uci_class_ids(tmp_path: Path, src: Path, value: float) -> None:
    classes = (np.arange(N_TR) % 10 + 1.0)[:, None]
    classes[4, 0] = value
    make_uci(src, {"L_tr": classes})
    check_refused(tmp_path, source_args("uci", src), "uci_all.mat [L_tr]", "row 4")


@pytest.mark.parametrize("value", [2, pytest.param(0, marks=SLOW)])
def test_multi_hot_labels(tmp_path: Path, src: Path, value: int) -> None:
    label = np.zeros((N_LABELLED, 24), dtype=np.float64)
    label[np.arange(N_LABELLED), np.arange(N_LABELLED) % 24] = 1
    label[17] = 0
    label[17, 3] = value  # 2: not 0/1; 0: a row without a label
    make_labelled(src, "mirflickr25k", {"LAll": label})
    check_refused(
        tmp_path, source_args("mirflickr", src), "mirflickr25k-lall.mat [LAll]", "row 17"
    )


def test_float_class_ids_in_npy(tmp_path: Path, src: Path) -> None:
    args = make_arrays(src, {"labels": np.arange(N_TR + N_TE) % 4 + 0.5})
    check_refused(tmp_path, args, "labels.npy [labels]", "integer")


@pytest.mark.parametrize(
    "extra, part",
    [
        (["--seed", "-1"], "--seed: expected an integer >= 0"),
        (["--query-size", "0"], "--query-size: expected an integer >= 1"),
        (["--query-size", "30", "--train-size", "10"], "--query-size 30 + --train-size 10"),
        pytest.param(["--val-size", "x"], "--val-size: expected an integer", marks=SLOW),
        pytest.param(["--labels"], "--labels: expected one argument", marks=SLOW),
    ],
)
def test_option_values(tmp_path: Path, src: Path, extra: list[str], part: str) -> None:
    args = make_arrays(src)
    check_refused(tmp_path, [*args, *extra], part)
