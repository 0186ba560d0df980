"""Every input and output check says truly what a path is (issue 22, second trial: a folder
called "file not found", a loop of links called "a link to a missing file", Errno text for a
run folder that is a file, a traceback for a folder below /dev/null). Generated: every class
of path x every path key of train.py, eval.py and the scripts, each through the check that key
goes through; a refusal is one line naming the key or file, with words that fit the class made
(written here, not taken from src/utils/paths.py), and nothing is made or left."""

import argparse
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import TINY_DATA_PARAMS
from src.data.datamodule import AGCHDataModule
from src.data.store import validate_store
from src.utils.checkpoints import check_checkpoint_path
from src.utils.config_rules import RULES
from src.utils.errors import AGCHError, existing_path, output_path
from src.utils.io import check_output_path
from src.utils.paths import classify
from src.utils.run_dirs import check_run_folder_path, derived_run_dir

ROOT_USER = os.geteuid() == 0  # root reads and writes everywhere: no "may not" class then

# class -> (how to make it under a folder, words its refusal must hold: an oracle written
# apart from the module's vocabulary)
CLASSES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "missing": (lambda d: d / "nope", "nothing there"),
    "file": (lambda d: d / "afile", "a file"),
    "folder": (lambda d: d / "adir", "a folder"),
    "loop": (lambda d: d / "loop1", "loop of symbolic links"),
    "dangling": (lambda d: d / "dangling", "link to a missing path"),
    "under_file": (lambda d: d / "afile" / "below", "below something that is not a folder"),
    "special": (lambda d: d / "fifo", "FIFO"),
    "device": (lambda d: Path("/dev/null"), "character device"),
    "under_device": (lambda d: Path("/dev/null/x"), "below something that is not a folder"),
    "too_long": (lambda d: d / ("x" * 300), "longer than"),
    "unmakeable": (lambda d: Path("/proc/no_such_name"), "no folder can be made in /proc"),
}
# an input that is not there is missing, whatever could be made there
INPUT_WORDS = {"unmakeable": "nothing there"}
# what the class is, as the module must classify it
KIND = {"device": "special", "under_device": "under_file", "unmakeable": "missing"}


@pytest.fixture
def place(tmp_path: Path) -> Path:
    """A folder holding one path of every class."""
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    os.symlink(tmp_path / "loop2", tmp_path / "loop1")
    os.symlink(tmp_path / "loop1", tmp_path / "loop2")
    os.symlink(tmp_path / "nope", tmp_path / "dangling")
    os.mkfifo(tmp_path / "fifo")
    return tmp_path


def listing(folder: Path) -> list:
    return sorted((str(p), p.is_symlink() or p.is_file()) for p in folder.rglob("*"))


def refused(check: Callable[[str], object], value: str) -> str | None:
    """The one-line message with which ``check`` refuses ``value``, None when it accepts."""
    try:
        check(value)
    except (AGCHError, argparse.ArgumentTypeError) as error:
        text = str(error)
        assert "\n" not in text and "Errno" not in text, text
        return text
    return None


def _synthetic_store(value: str) -> None:
    AGCHDataModule(value, synthetic=TINY_DATA_PARAMS).prepare_data()


# key -> (check as the key's value goes through it, "input" or "output", classes it accepts,
# name in the message); an accepted input may still be refused for its contents (a text file
# given as a store), never for what the path is
KEYS: dict[str, tuple[Callable[[str], object], str, set[str], str]] = {
    "data.path": (lambda v: AGCHDataModule(v).feature_dims(), "input", {"file"}, "data.path"),
    "store": (validate_store, "input", {"file"}, "data.path"),
    "data.path (synthetic)": (_synthetic_store, "output", {"missing", "file"}, "data.path"),
    "ckpt_path": (lambda v: check_checkpoint_path(Path(v)), "input", {"file"}, ""),
    "hydra.run.dir": (check_run_folder_path, "output", {"missing", "folder"}, "hydra.run.dir"),
    "paths.log_dir": (
        lambda v: derived_run_dir(v, "train/runs/t"),
        "output",
        {"missing", "folder"},
        "paths.log_dir",
    ),
    "codes_path": (
        lambda v: check_output_path(v, "codes_path"),
        "output",
        {"missing", "file"},
        "",
    ),
    "--flag FILE (input)": (existing_path("file"), "input", {"file"}, ""),
    "--flag DIR (input)": (existing_path("dir"), "input", {"folder"}, ""),
    "--flag PATH (input)": (existing_path("any"), "input", {"file", "folder"}, ""),
    "--out FILE": (output_path("file"), "output", {"missing", "file"}, ""),
    "--out NEW FILE": (output_path("file", new=True), "output", {"missing"}, ""),
    "--dest DIR": (output_path("dir"), "output", {"missing", "folder"}, ""),
}
FOLDER_KEYS = sorted(key for key, rule in RULES.items() if rule.kind == "folder")
KEYS |= {
    key: (lambda v, key=key: RULES[key].check(key, v), "output", {"missing", "folder"}, key)
    for key in FOLDER_KEYS
}
CONTENTS_READ = {"data.path", "store", "data.path (synthetic)"}


def test_there_are_folder_rules() -> None:
    """The output folders of Lightning's objects are among the keys generated."""
    assert {"callbacks.model_checkpoint.dirpath", "trainer.default_root_dir"} <= set(FOLDER_KEYS)
    assert any(key.startswith("logger.") for key in FOLDER_KEYS)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_each_path_is_classified_as_made(place: Path, name: str) -> None:
    make, _ = CLASSES[name]
    assert classify(make(place)).kind == KIND.get(name, name)


@pytest.mark.parametrize("key", sorted(KEYS))
@pytest.mark.parametrize("name", sorted(CLASSES))
def test_every_path_key_names_every_class_truly(place: Path, key: str, name: str) -> None:
    """The key refuses every class it cannot use with the class's own words, accepts the
    others, and makes nothing (a probe folder is removed at once)."""
    check, role, accepted, named = KEYS[key]
    make, words = CLASSES[name]
    words = INPUT_WORDS.get(name, words) if role == "input" else words
    words = "existing file" if (key, name) == ("--out NEW FILE", "file") else words
    value = str(make(place))
    before = listing(place)
    message = refused(check, value)
    if name in accepted:  # the path is fine; a store that is none is refused for that
        assert message is None or (key in CONTENTS_READ and ", found " not in message), message
        return
    assert message is not None, (key, name)
    assert words in message and named in message, (key, name, message)
    assert listing(place) == before


@pytest.mark.skipif(ROOT_USER, reason="root may read and write every file")
@pytest.mark.parametrize("key", ["data.path", "--flag FILE (input)", "--out FILE", "--dest DIR"])
def test_a_path_this_user_may_not_use_is_said_so(place: Path, key: str) -> None:
    locked = place / "adir"
    (locked / "f").write_text("x")
    locked.chmod(0o000)
    try:
        check, _, _, _ = KEYS[key]
        value = str(locked / "f") if "input" in key or key == "data.path" else str(locked / "o")
        message = refused(check, value)
    finally:
        locked.chmod(0o755)
    assert message is not None and "may not" in message, message


def test_a_folder_removed_by_another_run_during_the_check_is_no_refusal(
    tmp_path: Path, monkeypatch
) -> None:
    """Runs started together share log folders that each may make and drop: when the folder
    probed vanishes between finding it and probing it, the check starts again from the path
    (a CI run refused `optimized_metric=...` with 'no folder can be made in ...: No such file
    or directory'). Generated: the probed ancestor vanishes 1-3 times, at each depth."""
    import tempfile

    from src.utils import paths

    real = tempfile.mkdtemp
    for depth in range(1, 4):
        for vanishings in range(1, 4):
            root = tmp_path / f"d{depth}v{vanishings}"
            shared = root.joinpath(*[f"p{i}" for i in range(depth)])
            shared.mkdir(parents=True)
            target = shared / "train" / "runs" / "now"
            left = [vanishings]

            def racing_mkdtemp(*args, dir=None, **kwargs):
                if left[0] > 0 and Path(dir) == shared:
                    left[0] -= 1
                    shared.rmdir()  # another run dropped it just now ...
                    try:
                        return real(*args, dir=dir, **kwargs)  # ... so this fails
                    finally:
                        shared.mkdir()  # ... and a third made it again
                return real(*args, dir=dir, **kwargs)

            monkeypatch.setattr(paths.tempfile, "mkdtemp", racing_mkdtemp)
            assert paths.output_reason(target, "dir") is None, (depth, vanishings)
            monkeypatch.setattr(paths.tempfile, "mkdtemp", real)
            assert left[0] == 0
