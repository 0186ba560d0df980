"""eval.py's codes file is checked at the door (trial 8, faults X07 and X06): a codes_path
that holds a file already is refused and kept unless ``overwrite_codes=true`` (as every
script's ``--overwrite``); an input (the checkpoint, the store) is never replaced; a path no
file can be written at (a device, a folder, below a file, a read-only file system) is refused
naming ``[codes_path]`` before any data is read or the test runs."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import h5py
import numpy as np
import pytest
from omegaconf import OmegaConf

from src.utils.codes_output import check_codes_path
from src.utils.errors import DataError


def config(tmp: Path, codes: str, export: bool = True, overwrite: bool = False):
    """The keys of eval.py's configuration that the check reads."""
    return OmegaConf.create(
        {
            "ckpt_path": str(tmp / "run" / "last.ckpt"),
            "export_codes": export,
            "codes_path": codes,
            "overwrite_codes": overwrite,
            "data": {"path": str(tmp / "store.h5")},
        }
    )


def _plain(path: Path) -> None:
    path.write_bytes(b"an earlier output, not to be lost\n")


def _store(path: Path) -> None:
    with h5py.File(path, "w") as h5:
        h5.create_dataset("x", data=np.arange(10))


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _link(path: Path) -> None:
    target = path.with_name("target.bin")
    _plain(target)
    path.symlink_to(target)


EXISTING = {"plain": _plain, "hdf5": _store, "empty": _empty, "link": _link}
NAMES = ["codes.h5", "other_codes.h5", "sub/codes.h5", "x.bin"]


def digest(folder: Path) -> dict[str, str]:
    """Every file of ``folder``, by relative path, to its bytes' digest."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def existing(tmp_path: Path, kind: str, name: str) -> Path:
    """A codes path ``out/<name>`` holding a file of kind ``kind`` (of EXISTING) already; the
    test parametrizes ``kind`` and ``name``."""
    path = tmp_path / "out" / name
    path.parent.mkdir(parents=True)
    EXISTING[kind](path)
    return path


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", sorted(EXISTING))
def test_existing_file_is_kept(tmp_path: Path, existing: Path) -> None:
    """An existing codes file: refused naming the path, the key and overwrite_codes; kept."""
    path = existing
    before = digest(tmp_path)
    with pytest.raises(DataError) as info:
        check_codes_path(config(tmp_path, str(path)))
    message = str(info.value)
    assert "[codes_path]" in message and "overwrite_codes=true" in message, message
    assert str(path) in message
    assert digest(tmp_path) == before


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", sorted(EXISTING))
def test_overwrite_codes_allows_it(tmp_path: Path, existing: Path) -> None:
    """overwrite_codes=true: an existing codes file may be replaced."""
    check_codes_path(config(tmp_path, str(existing), overwrite=True))


@pytest.mark.parametrize("overwrite", [False, True])
@pytest.mark.parametrize("which", ["ckpt", "store", "store_link"])
def test_an_input_is_never_replaced(tmp_path: Path, which: str, overwrite: bool) -> None:
    """codes_path naming the checkpoint or the store (or a link to it): refused, even with
    overwrite_codes=true."""
    cfg = config(tmp_path, "")
    (tmp_path / "run").mkdir()
    ckpt, store = Path(cfg.ckpt_path), Path(cfg.data.path)
    _plain(ckpt)
    _store(store)
    path = {"ckpt": ckpt, "store": store, "store_link": tmp_path / "link.h5"}[which]
    if which == "store_link":
        path.symlink_to(store)
    before = digest(tmp_path)
    cfg.codes_path, cfg.overwrite_codes = str(path), overwrite
    with pytest.raises(DataError, match=r"\[codes_path\]"):
        check_codes_path(cfg)
    assert digest(tmp_path) == before


def _unwritable(tmp: Path) -> dict[str, str]:
    below = tmp / "a_file"
    _plain(below)
    (tmp / "folder").mkdir()
    return {
        "dev_full": "/dev/full",
        "dev_null": "/dev/null",
        "folder": str(tmp / "folder"),
        "slash": str(tmp / "new") + "/",
        "below_file": str(below / "codes.h5"),
        "below_file_deep": str(below / "x" / "codes.h5"),
        "sys": "/sys/codes.h5",
        "proc": "/proc/codes.h5",
        "empty": "",
    }


UNWRITABLE = [
    "dev_full",
    "dev_null",
    "folder",
    "slash",
    "below_file",
    "below_file_deep",
    "sys",
    "proc",
    "empty",
]


@pytest.mark.parametrize("case", UNWRITABLE)
def test_unwritable_refused_naming_the_key(tmp_path: Path, case: str) -> None:
    """A path no file can be written at: one DataError naming [codes_path]; nothing made."""
    path = _unwritable(tmp_path)[case]
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(DataError, match=r"\[codes_path\]: expected an output file"):
        check_codes_path(config(tmp_path, path))
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.parametrize("path", ["/dev/full", "codes.h5", ""])
def test_nothing_checked_without_export(tmp_path: Path, path: str) -> None:
    """export_codes=false: codes_path is not used, so not checked."""
    check_codes_path(config(tmp_path, path, export=False))


def test_new_path_in_missing_folder_is_fine(tmp_path: Path) -> None:
    """A codes file in folders still to make: accepted, nothing made at the door."""
    check_codes_path(config(tmp_path, str(tmp_path / "a" / "b" / "codes.h5")))
    assert not (tmp_path / "a").exists()
