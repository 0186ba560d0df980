"""Bad inputs to scripts/prepare_data.py, generated in a temporary folder (issue 13).

Every case builds a small valid release, damages it in one way, runs the real command in a
subprocess and checks: exit status 2, exactly one line ``error: <file> [<key>]: ...`` naming
the damaged file and key (and row, for values), no traceback, nothing left beside the target,
the sources byte for byte as before. The default suite runs a sample of every kind; the
whole matrix (more cut points, keys, datasets) is marked slow.
"""

from __future__ import annotations

import hashlib
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = str(ROOT / "scripts" / "prepare_data.py")
N_TR, N_TE, DV, DT = 24, 8, 5, 3
N_LABELLED = 8300  # the DJSRH split needs 2,000 queries, 5,000 train and 1,000 val items


def _rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _wiki(folder: Path, damage: dict | None = None) -> None:
    """A Wiki-shaped release: raw_features.mat (v5) and the two .list files."""
    rng = _rng()
    arrays = {
        "I_tr": rng.random((N_TR, DV)),
        "I_te": rng.random((N_TE, DV)),
        "T_tr": rng.random((N_TR, DT)),
        "T_te": rng.random((N_TE, DT)),
    }
    arrays.update(damage or {})
    scipy.io.savemat(
        folder / "raw_features.mat", {k: v for k, v in arrays.items() if v is not None}
    )
    for name, n in (("trainset", N_TR), ("testset", N_TE)):
        lines = [f"t{i}\ti{i}\t{i % 10 + 1}" for i in range(n)]
        (folder / f"{name}_txt_img_cat.list").write_text("\n".join(lines) + "\n")


def _uci(folder: Path, damage: dict | None = None, v73: bool = False) -> None:
    rng = _rng()
    arrays = {
        "I_tr": rng.random((N_TR, DV)),
        "I_te": rng.random((N_TE, DV)),
        "T_tr": rng.random((N_TR, DT)),
        "T_te": rng.random((N_TE, DT)),
        "L_tr": (np.arange(N_TR) % 10 + 1.0)[:, None],
        "L_te": (np.arange(N_TE) % 10 + 1.0)[:, None],
    }
    arrays.update(damage or {})
    arrays = {k: v for k, v in arrays.items() if v is not None}
    if v73:
        with h5py.File(folder / "uci_all.mat", "w") as h5:
            for key, value in arrays.items():
                h5[key] = np.asarray(value).T  # MATLAB v7.3: column-major
    else:
        scipy.io.savemat(folder / "uci_all.mat", arrays)


def _labelled(folder: Path, prefix: str, damage: dict | None = None) -> None:
    """MIRFlickr/NUS-WIDE layout (v7.3 files): LAll [N, C], YAll [N, Dt], XAll [N, Dv]."""
    rng = _rng()
    n_classes = 24 if prefix == "mirflickr25k" else 10
    label = np.zeros((N_LABELLED, n_classes), dtype=np.uint8)
    label[np.arange(N_LABELLED), np.arange(N_LABELLED) % n_classes] = 1
    arrays = {
        "LAll": label,
        "YAll": rng.random((N_LABELLED, DT)),
        "XAll": rng.random((N_LABELLED, DV)),
    }
    arrays.update(damage or {})
    names = {
        "LAll": "lall",
        "YAll": "yall",
        "XAll": "iall-vgg" if prefix == "mirflickr25k" else "xall-vgg",
    }
    for key, value in arrays.items():
        with h5py.File(folder / f"{prefix}-{names[key]}.mat", "w") as h5:
            if value is not None:
                h5[key] = np.asarray(value).T


def _arrays(folder: Path, damage: dict | None = None) -> list[str]:
    rng = _rng()
    n = N_TR + N_TE
    arrays = {
        "image": rng.random((n, DV)),
        "text": rng.random((n, DT)),
        "labels": np.arange(n) % 4,
    }
    arrays.update(damage or {})
    for key, value in arrays.items():
        np.save(folder / f"{key}.npy", value)
    files = [f"--{k}={folder / f'{k}.npy'}" for k in ("image", "text", "labels")]
    return ["arrays", *files, "--query-size", "6", "--train-size", "10"]


def _args(dataset: str, folder: Path) -> list[str]:
    return [dataset, "--source", str(folder)]


# ------------------------------------------------------------------------ the harness


def _hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, SCRIPT, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=180,
        **kwargs,
    )


def _check_refused(tmp_path: Path, args: list[str], *parts: str, out: Path | None = None) -> str:
    """Run with --out, check the one-line refusal naming ``parts``; return the line."""
    out = out or tmp_path / "out" / "store.h5"
    out.parent.mkdir(exist_ok=True)
    before = _hashes(tmp_path / "src")
    beside = sorted(p.name for p in out.parent.iterdir()) if out.parent.is_dir() else None
    result = _run([*args, "--out", str(out)])
    lines = result.stderr.splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for part in parts:
        assert part in lines[0], (part, lines[0])
    assert _hashes(tmp_path / "src") == before
    if beside is not None:
        assert sorted(p.name for p in out.parent.iterdir()) == beside
    return lines[0]


@pytest.fixture
def src(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    folder.mkdir()
    return folder


def _truncate(path: Path, fraction: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


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
    _uci(src, v73=v73)
    _truncate(src / "uci_all.mat", fraction)
    _check_refused(tmp_path, _args("uci", src), f"{src / 'uci_all.mat'} [")


@pytest.mark.parametrize(
    "fraction", [0.0, pytest.param(0.5, marks=SLOW), pytest.param(0.9, marks=SLOW)]
)
@pytest.mark.parametrize("key", ["image", pytest.param("labels", marks=SLOW)])
def test_truncated_npy(tmp_path: Path, src: Path, fraction: float, key: str) -> None:
    args = _arrays(src)
    _truncate(src / f"{key}.npy", fraction)
    _check_refused(tmp_path, args, f"{src / f'{key}.npy'} [{key}]")


@pytest.mark.parametrize(
    "key", ["I_tr", "T_te", pytest.param("L_te", marks=SLOW), pytest.param("L_tr", marks=SLOW)]
)
def test_missing_key(tmp_path: Path, src: Path, key: str) -> None:
    _uci(src, {key: None})
    _check_refused(tmp_path, _args("uci", src), f"uci_all.mat [{key}]", "key not found")


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
    _uci(src, {key: value})
    _check_refused(tmp_path, _args("uci", src), f"uci_all.mat [{key}]")


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
    _wiki(src)
    path = src / "testset_txt_img_cat.list"
    lines = path.read_text().splitlines()
    lines[number - 1] = line
    path.write_text("\n".join(lines) + "\n")
    _check_refused(tmp_path, _args("wiki", src), f"{path} [line {number}]")


def test_list_not_text(tmp_path: Path, src: Path) -> None:
    _wiki(src)
    (src / "trainset_txt_img_cat.list").write_bytes(b"\xff\xfe\x00garbage")
    _check_refused(tmp_path, _args("wiki", src), "trainset_txt_img_cat.list")


@pytest.mark.parametrize("dataset", ["mirflickr", pytest.param("nuswide", marks=SLOW)])
@pytest.mark.parametrize(
    "key", ["LAll", pytest.param("XAll", marks=SLOW), pytest.param("YAll", marks=SLOW)]
)
def test_labelled_wrong_count_names_its_key(
    tmp_path: Path, src: Path, dataset: str, key: str
) -> None:
    prefix = "mirflickr25k" if dataset == "mirflickr" else "nus-wide-tc10"
    value = np.ones((N_LABELLED - 3, 4), dtype=np.uint8)
    _labelled(src, prefix, {key: value})
    _check_refused(tmp_path, _args(dataset, src), f"[{key}]", f"expected {N_LABELLED} rows")


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
    array = _rng().random((N_TE if key.endswith("te") else N_TR, DV if key[0] == "I" else DT))
    array[row, 1] = value
    _wiki(src, {key: array})
    line = _check_refused(
        tmp_path, _args("wiki", src), f"raw_features.mat [{key}]", what, f"row {row}"
    )
    assert "store.h5" not in line


@pytest.mark.parametrize("key, value", [("image", 1e39), pytest.param("text", np.nan, marks=SLOW)])
def test_npy_values(tmp_path: Path, src: Path, key: str, value: float) -> None:
    array = _rng().random((N_TR + N_TE, DV if key == "image" else DT))
    array[9, 0] = value
    args = _arrays(src, {key: array})
    _check_refused(tmp_path, args, f"{key}.npy [{key}]", "row 9")


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
    _uci(src, {"L_tr": classes})
    _check_refused(tmp_path, _args("uci", src), "uci_all.mat [L_tr]", "row 4")


@pytest.mark.parametrize("value", [2, pytest.param(0, marks=SLOW)])
def test_multi_hot_labels(tmp_path: Path, src: Path, value: int) -> None:
    label = np.zeros((N_LABELLED, 24), dtype=np.float64)
    label[np.arange(N_LABELLED), np.arange(N_LABELLED) % 24] = 1
    label[17] = 0
    label[17, 3] = value  # 2: not 0/1; 0: a row without a label
    _labelled(src, "mirflickr25k", {"LAll": label})
    _check_refused(tmp_path, _args("mirflickr", src), "mirflickr25k-lall.mat [LAll]", "row 17")


def test_float_class_ids_in_npy(tmp_path: Path, src: Path) -> None:
    args = _arrays(src, {"labels": np.arange(N_TR + N_TE) % 4 + 0.5})
    _check_refused(tmp_path, args, "labels.npy [labels]", "integer")


# ------------------------------------------------------------------------ output paths


@pytest.mark.parametrize(
    "case", ["directory", "parent_is_file", "parent_missing", "input", "link_to_input"]
)
def test_bad_out(tmp_path: Path, src: Path, case: str) -> None:
    _uci(src)
    (tmp_path / "afile").write_text("x")
    (tmp_path / "link.mat").symlink_to(src / "uci_all.mat")
    out = {
        "directory": src,
        "parent_is_file": tmp_path / "afile" / "x.h5",
        "parent_missing": tmp_path / "nowhere" / "x.h5",
        "input": src / "uci_all.mat",
        "link_to_input": tmp_path / "link.mat",
    }[case]
    before = sorted(p.name for p in tmp_path.iterdir())
    result = _run([*_args("uci", src), "--out", str(out)])
    assert result.returncode == 2 and result.stderr.startswith(f"error: {out}"), result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def _limit_file_size() -> None:  # a full disk, honestly: writes past 64 KiB fail with EFBIG
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 16, 1 << 16))


@pytest.mark.parametrize("dataset", ["arrays", pytest.param("wiki", marks=SLOW)])
def test_full_disk(tmp_path: Path, src: Path, dataset: str) -> None:
    if dataset == "arrays":
        args = _arrays(src, {"image": _rng().random((N_TR + N_TE, 3000))})
    else:
        _wiki(src, {"I_tr": _rng().random((N_TR, 3000)), "I_te": _rng().random((N_TE, 3000))})
        args = _args(dataset, src)
    out = tmp_path / "out" / "store.h5"
    out.parent.mkdir()
    result = _run([*args, "--out", str(out)], preexec_fn=_limit_file_size)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"error: {out}: cannot write the output (File too large)"
    ]
    assert list(out.parent.iterdir()) == []


# ------------------------------------------------------------------------ interrupts

SLOW_WRITE = """
import runpy, sys, time
sys.path.insert(0, {root!r})
import src.data.store as store
store.ROW_CHUNK = 1
checked = store.checked_features
def slow(*args):
    time.sleep(0.05)
    return checked(*args)
store.checked_features = slow
sys.argv = [{script!r}, *{args!r}]
runpy.run_path({script!r}, run_name="__main__")
"""


def _start_slow(args: list[str]) -> subprocess.Popen:
    code = SLOW_WRITE.format(root=str(ROOT), script=SCRIPT, args=args)
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait_for_temp(folder: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while not any(p.name.endswith(".tmp") for p in folder.iterdir()):
        assert process.poll() is None and time.monotonic() < deadline, "no temporary file seen"
        time.sleep(0.02)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_interrupt_during_write_leaves_nothing(tmp_path: Path, src: Path, signum: int) -> None:
    _wiki(src)
    out = tmp_path / "out" / "store.h5"
    out.parent.mkdir()
    before = _hashes(src)
    process = _start_slow([*_args("wiki", src), "--out", str(out)])
    _wait_for_temp(out.parent, process)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert _hashes(src) == before
    if signum == signal.SIGKILL:  # nothing can clean up: the next run does
        assert len(list(out.parent.iterdir())) == 1
        assert _run([*_args("wiki", src), "--out", str(out)]).returncode == 0
        assert [p.name for p in out.parent.iterdir()] == ["store.h5"]
        return
    assert process.returncode == 130, err
    assert err.splitlines() == [err.splitlines()[0]] and err.startswith("error: interrupted")
    assert list(out.parent.iterdir()) == []
