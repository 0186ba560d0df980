"""A refusal of a path names the key given on the command line, not a key derived from it
(sixth trial: ``paths.data_dir=<a file>`` was refused under ``[data.path]``, which the user never
gave). Generated: each user-facing path key x (a file where a folder is expected, a folder
where a file is expected, a missing path) through the checks made before the run folder
(`HoldRunDir`'s) and the job's door; fails on the previous code (paths.data_dir)."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import open_dict

from door import ROOT, door
from src.data.preflight import preflight_store
from src.utils.checkpoints import read_checkpoint
from src.utils.errors import AGCHError
from src.utils.run_dir_checks import check_before_run_folder, check_run_folder_path, resolve_key

# key -> what it names: a folder ("dir") or a file ("file"), and the data=... it is tried with
KEYS = {
    "paths.data_dir": ("dir", ("synthetic", "wiki")),
    "paths.log_dir": ("dir", ("synthetic",)),
    "hydra.run.dir": ("dir", ("synthetic",)),
    "data.path": ("file", ("synthetic", "wiki")),
    "ckpt_path": ("file", ("synthetic",)),
}


@pytest.fixture(autouse=True)
def project_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROJECT_ROOT", str(ROOT))


def refusal(words: list[str]) -> str | None:
    """The first refusal of the checks made before the run folder (the task's choices of
    `HoldRunDir._hold`: where the folder goes, the store, the folder's path), of the job's door
    (`check_config`) and of the checkpoint read (train.py reads ckpt_path first)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        config = compose("train", overrides=words, return_hydra_config=True)
    with open_dict(config):
        config.hydra.runtime.choices.data = next(
            (w.split("=")[1] for w in words if w.startswith("data=")), "synthetic"
        )
    try:
        check_before_run_folder(config, False)
        preflight_store(config)
        check_run_folder_path(str(resolve_key(config, "hydra.run.dir")))
        line, cfg = door(words)
        if line is None and cfg.get("ckpt_path"):
            read_checkpoint(cfg.ckpt_path)
    except AGCHError as exc:
        return str(exc)
    return line


def named_key(line: str) -> str:
    """The key a refusal line names: ``key: ...`` or ``<path> [key]: ...``."""
    if "] " in line.split(":")[0] + " " and "[" in line.split(": ")[0]:
        return line.split(": ")[0].rsplit("[", 1)[1].rstrip("]")
    return line.split(":")[0]


@pytest.mark.parametrize("key", sorted(KEYS))
def test_a_bad_path_is_refused_under_the_key_given(tmp_path: Path, key: str) -> None:
    """For each data set tried: a file, a folder and a missing path given as ``key``; a
    refusal names ``key`` and says what kind is expected (missing output folders are made,
    so they may pass)."""
    want, datasets = KEYS[key]
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder, not a store\n")
    a_folder = tmp_path / "a_folder"
    a_folder.mkdir()
    given = {"file": a_file, "folder": a_folder, "missing": tmp_path / "missing" / "deeper"}
    for data in datasets:
        for kind, path in given.items():
            if (want, kind) in (("dir", "folder"), ("file", "file")):
                continue  # the right kind: its contents are other tests' concern
            line = refusal([f"data={data}", f"{key}={path}", "logger=none"])
            if line is None:
                assert want == "dir" and kind == "missing", (data, key, kind)
                continue
            assert "\n" not in line and named_key(line) == key, (data, key, kind, line)
            assert "expected" in line, line
