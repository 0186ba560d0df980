"""A refused run leaves the project tree exactly as it was (fifth trial: the first refused run
in a fresh clone left an empty logs/train/runs/; ``paths.data_dir=/nonexistent/dir`` made the
folder and a store in it). Folders made above a run folder are removed with it
(`drop_made_parents`); a missing ``paths.data_dir`` is refused before anything is made."""

import hashlib
import os
from pathlib import Path

import pytest

from src.utils import run_dirs
from src.utils.run_dirs import drop_made_parents, make_folder


def tree(root: Path) -> dict[str, str]:
    """Every file and folder under ``root``: a folder as "dir", a file as its SHA-256."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            found[str(Path(folder, name).relative_to(root))] = "dir"
        for name in files:
            path = Path(folder, name)
            found[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def test_folders_made_above_a_run_folder_go_with_it(tmp_path: Path) -> None:
    """Generated depths of missing folders, one of them holding another run's folder: the
    empty ones this process made are removed, the rest stay."""
    for depth in range(1, 5):
        root = tmp_path / f"d{depth}"
        (root / "logs").mkdir(parents=True)
        before = tree(root)
        parent = root.joinpath("logs", *[f"p{i}" for i in range(depth)])
        make_folder(parent)
        (parent / "run").mkdir()
        (parent / "run").rmdir()  # the refused run's folder, removed by the job
        drop_made_parents()
        assert tree(root) == before
        make_folder(parent)
        (parent.parent / "other_run").mkdir()  # another run's folder meanwhile
        drop_made_parents()
        assert (parent.parent / "other_run").is_dir() and not parent.exists()
        assert run_dirs._PARENTS_MADE == []


def fresh_root(tmp_path: Path) -> Path:
    """A project root as a fresh clone has it: data/ and logs/ holding only .gitkeep."""
    for name in ("data", "logs"):
        (tmp_path / name).mkdir(parents=True)
        (tmp_path / name / ".gitkeep").write_text("")
    return tmp_path


@pytest.mark.slow
def test_refused_commands_leave_the_tree_byte_identical(tmp_path: Path) -> None:
    """Refusals at every stage -- Hydra's composition (single run and -m), the store folder
    before the run folder, the door inside the job (train.py and eval.py) -- exit 2 with one
    line and leave the fresh root byte-identical, no empty folder included."""
    from cli_runs import TINY_ARGS, start
    from test_run_lifecycle import finish, one_error_line

    root = fresh_root(tmp_path / "root")
    paths = [f"paths.data_dir={root / 'data'}", f"paths.log_dir={root / 'logs'}"]
    base = [*TINY_ARGS, *paths, "logger=none"]
    cases = [
        ("train.py", ["+foo/bar=baz"], "+foo/bar=baz"),
        ("train.py", ["+trainer.val_check_interval=0"], "trainer.val_check_interval"),
        ("train.py", ["nope=1"], "nope"),
        ("train.py", ["-m", "nope=1"], "nope"),
        ("train.py", [f"paths.data_dir={root / 'nonexistent' / 'dir'}"], "paths.data_dir"),
        ("eval.py", [f"ckpt_path={root / 'none.ckpt'}"], "ckpt_path"),
    ]
    before = tree(root)
    evaluated = [a for a in base if not a.startswith("model.")]  # the checkpoint's model
    # one after another: refusals running at once in one fresh log folder can leave an empty
    # logs/train/runs (each removes only the parents it made, and one made them while the
    # other's run folder was inside: a known race, issue 22, stop 40)
    for s, extra, key in cases:
        process = start(s, [*(evaluated if s == "eval.py" else base), *extra], tmp_path)
        status, out, err = finish(process)
        assert status == 2 and key in one_error_line(err, out, alone=False), (key, err[-2000:])
        assert tree(root) == before, (s, extra)
