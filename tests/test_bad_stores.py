"""Damaged feature stores (validate_store, which every reader calls), bad inputs of
scripts/extract_features.py, and the mode of every written file (issue 13)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import h5py
import numpy as np
import pytest
from bad_releases import ROOT, check_refused, hashes, make_rng, make_wiki, run, source_args

from src.data.store import validate_store, write_store
from src.utils.errors import DataError
from src.utils.jsonio import write_json

EXTRACT = str(ROOT / "scripts" / "extract_features.py")
N = 40


def _store(path: Path) -> None:
    gen = make_rng()
    label = np.eye(4, dtype=np.uint8)[np.arange(N) % 4]  # (N, 4)
    splits = {"query": np.arange(5), "train": np.arange(5, 25), "retrieval": np.arange(5, N)}
    write_store(path, gen.random((N, 6)), gen.random((N, 3)), label, splits)


def _replace(key: str, value: np.ndarray):
    def damage(h5: h5py.File) -> None:
        del h5[key]
        h5[key] = value

    return damage


def _delete(key: str):
    def damage(h5: h5py.File) -> None:
        del h5[key]

    return damage


STORE_DAMAGE = {
    "image float64": ("image", _replace("image", np.ones((N, 6)))),
    "text int": ("text", _replace("text", np.ones((N, 3), dtype=np.int32))),
    "label float": ("label", _replace("label", np.ones((N, 4), dtype=np.float32))),
    "label strings": ("label", _replace("label", np.full((N, 4), b"x"))),
    "image 1-D": ("image", _replace("image", np.ones(N, dtype=np.float32))),
    "text rows": ("text", _replace("text", np.ones((N - 1, 3), dtype=np.float32))),
    "no label": ("label", _delete("label")),
    "split float": ("split/query", _replace("split/query", np.arange(5.0))),
    "split out of range": ("split/train", _replace("split/train", np.arange(30, 50))),
    "no train split": ("split/train", _delete("split/train")),
    "label is a group": ("label", lambda h5: (h5.__delitem__("label"), h5.create_group("label"))),
}


@pytest.mark.parametrize("case", sorted(STORE_DAMAGE))
def test_damaged_store_names_key(tmp_path: Path, case: str) -> None:
    path = tmp_path / "s.h5"
    _store(path)
    key, damage = STORE_DAMAGE[case]
    with h5py.File(path, "a") as h5:
        damage(h5)
    with pytest.raises(DataError) as error:
        validate_store(path)
    assert str(error.value).startswith(f"{path} [{key}]: expected"), str(error.value)


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.6, 0.9])
def test_truncated_store(tmp_path: Path, fraction: float) -> None:
    path = tmp_path / "s.h5"
    _store(path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(DataError) as error:
        validate_store(path)
    assert str(error.value).startswith(str(path)) and "expected" in str(error.value)


# ------------------------------------------------------------------------ extract_features.py


def _images(folder: Path, case: str) -> tuple[list[str], str]:
    """(arguments, the part the error line must hold) of one bad image input."""
    pixels = make_rng().integers(0, 256, (4, 3, 8, 8), dtype=np.uint8)  # (N, 3, H, W)
    if case == "truncated npy":
        np.save(folder / "im.npy", pixels)
        (folder / "im.npy").write_bytes((folder / "im.npy").read_bytes()[:200])
        return ["--images", str(folder / "im.npy"), "--key", "IAll"], "im.npy [IAll]"
    if case == "float pixels":
        np.save(folder / "im.npy", pixels.astype(np.float64))
        return ["--images", str(folder / "im.npy"), "--key", "IAll"], "im.npy [IAll]"
    if case == "wrong rank":
        np.save(folder / "im.npy", pixels[:, 0])
        return ["--images", str(folder / "im.npy"), "--key", "IAll"], "im.npy [IAll]"
    if case == "list names a missing file":
        (folder / "list.txt").write_text("a.jpg\n")
        return ["--images", str(folder / "list.txt")], "list.txt [line 1]"
    (folder / "bad.jpg").write_bytes(b"not an image")  # a corrupt image file
    return ["--images", str(folder)], "bad.jpg"


@pytest.mark.parametrize(
    "case",
    [
        "truncated npy",
        "corrupt image",
        pytest.param("float pixels", marks=pytest.mark.slow),
        pytest.param("wrong rank", marks=pytest.mark.slow),
        pytest.param("list names a missing file", marks=pytest.mark.slow),
    ],
)
def test_extract_bad_images(tmp_path: Path, case: str) -> None:
    (tmp_path / "src").mkdir()
    args, part = _images(tmp_path / "src", case)
    check_refused(tmp_path, args, part, script=EXTRACT)


@pytest.mark.slow
def test_extract_out_is_the_input(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    args, _ = _images(tmp_path / "src", "float pixels")
    check_refused(
        tmp_path, args, "apart from the inputs", out=tmp_path / "src" / "im.npy", script=EXTRACT
    )


# ------------------------------------------------------------------------ file modes


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_outputs_follow_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        _store(tmp_path / "s.h5")
        write_json(tmp_path / "run" / "results.json", {"seed": 0})
    finally:
        os.umask(old)
    for path in (tmp_path / "s.h5", tmp_path / "run" / "results.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path


def test_prepare_output_mode_and_nothing_else(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    make_wiki(tmp_path / "src")
    before = hashes(tmp_path / "src")
    out = tmp_path / "out" / "w.h5"
    out.parent.mkdir()
    result = run([*source_args("wiki", tmp_path / "src"), "--out", str(out)])
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~_umask()
    assert list(out.parent.iterdir()) == [out] and hashes(tmp_path / "src") == before


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
