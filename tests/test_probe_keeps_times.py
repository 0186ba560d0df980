"""Checking that a folder can be written leaves it as it was, modification time included
(issue 22, trial 34: eval.py refused on a finished run's folder left every file intact but
changed the folder's modification time: the write probe of the folder checks made and removed
a folder in it). Generated folders and every check that probes one -- an output folder
(``hydra.run.dir``, the FOLDER rule), a new output file in it, the scripts' output flags --
against a plain record of every path's (mtime, size, sha256). The command-line cases, eval.py
and a resume refused on a finished run's folder: tests/test_resume_refusals.py."""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from src.utils.errors import output_path
from src.utils.io import check_output_path
from src.utils.paths import output_problem
from src.utils.rule_kinds import folder_problem

OLD = 10**18  # 2001-09-09 in ns: a time no probe can give


def record(root: Path) -> dict[str, tuple]:
    """The reference: (mtime ns, size, sha256 of a file's bytes) of every path under
    ``root``, ``root`` itself as "."."""
    found = {}
    for path in [root, *sorted(root.rglob("*"))]:
        stat = path.lstat()
        data = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        found[str(path.relative_to(root))] = (stat.st_mtime_ns, stat.st_size, data)
    return found


def made_folder(root: Path, rng: random.Random) -> list[Path]:
    """A run-like folder of generated depth and files, every time set to `OLD`; its
    folders."""
    folders = [root]
    for depth in range(rng.randint(0, 3)):
        folders.append(folders[-1] / f"sub{depth}")
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(rng.randint(0, 3)):
            (folder / f"f{n}.txt").write_bytes(rng.randbytes(rng.randint(0, 64)))
    for path in [root, *root.rglob("*")]:
        os.utime(path, ns=(OLD, OLD))
    return folders


PROBES: dict[str, Callable[[Path], object]] = {
    "output folder (FOLDER rule, hydra.run.dir)": folder_problem,
    "output folder (output_problem dir)": lambda f: output_problem(f, "dir"),
    "a new file in it (output_problem file)": lambda f: output_problem(f / "new.md", "file"),
    "a new folder in it": lambda f: output_problem(f / "new" / "run", "dir"),
    # these return the path they accept (and raise for one they refuse)
    "check_output_path of a new file": lambda f: check_output_path(f / "new.h5") and None,
    "a script's --out type": lambda f: output_path("file")(str(f / "new.png")) and None,
    "a script's --dest type": lambda f: output_path("dir")(str(f)) and None,
}


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("probe", sorted(PROBES))
def test_a_probed_folder_keeps_its_times(tmp_path: Path, probe: str, seed: int) -> None:
    rng = random.Random(seed)
    root = tmp_path / "run"
    folders = made_folder(root, rng)
    before = record(root)
    for folder in rng.sample(folders, rng.randint(1, len(folders))):
        assert PROBES[probe](folder) is None  # writable: accepted
    assert record(root) == before
