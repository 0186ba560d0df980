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
from src.utils.config_rules import select_key
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


# every key of configs/paths: does the run need the folder to exist, and does it write below
# it (the logs under root_dir, a synthetic store in data_dir)? A new key fails the test below
# until it is classified here.
PATHS_KEYS = {
    "root_dir": {"exists": True, "written": True},
    "data_dir": {"exists": True, "written": True},
    "log_dir": {"exists": False, "written": True},
    "output_dir": {"exists": False, "written": True},
    "work_dir": {"exists": True, "written": False},
}


def paths_keys() -> list[str]:
    """The keys of configs/paths/default.yaml, read here."""
    import yaml

    tree = yaml.safe_load((ROOT / "configs" / "paths" / "default.yaml").read_text())
    return sorted(tree)


@pytest.mark.parametrize("name", paths_keys())
def test_every_paths_key_is_refused_under_its_own_name(tmp_path: Path, name: str) -> None:
    """``paths.<name>`` set to a file, a missing folder and a folder no folder can be made in
    (/proc): refused, naming ``paths.<name>`` and what was expected, exactly when the run needs
    the folder to exist or writes below it (sixth trial: paths.root_dir=<a file> was refused
    under [paths.data_dir]); accepted otherwise."""
    assert name in PATHS_KEYS, f"classify paths.{name} in PATHS_KEYS"
    needs = PATHS_KEYS[name]
    (tmp_path / "a_file").write_text("not a folder\n")
    given = {"file": tmp_path / "a_file", "missing": tmp_path / "missing" / "deeper"}
    given["unwritable"] = Path("/proc")
    for data in ("synthetic", "wiki") if name in ("root_dir", "data_dir") else ("synthetic",):
        for kind, path in given.items():
            key = f"paths.{name}"
            line = refusal([f"data={data}", f"{key}={path}", "logger=none"])
            refused = kind == "file" or needs["exists" if kind == "missing" else "written"]
            assert (line is not None) is refused, (data, key, kind, line)
            if line is not None:
                assert named_key(line) == key and "expected" in line, (data, key, kind, line)


def test_a_folder_derived_from_a_given_key_is_refused_under_that_key(tmp_path: Path) -> None:
    """Each folder rule of the job's door whose value interpolates ``paths.output_dir``
    (the trainer's, the checkpoints', the loggers'), with ``paths.output_dir`` given so that
    the derived path is a file: the refusal names paths.output_dir, the key given, and the
    derived key as what it names (the previous code named only the derived key)."""
    from omegaconf import OmegaConf

    from src.utils.config_rules import RULES

    words = ["logger=many_loggers"]
    _, cfg = door(words)
    raw = OmegaConf.to_container(cfg, resolve=False)
    derived = {}
    for key, rule in RULES.items():
        present, value = select_key(raw, key)
        if rule.kind == "folder" and present and "${paths.output_dir}" in str(value):
            derived[key] = str(value)
    assert len(derived) >= 3, derived
    for number, (key, value) in enumerate(sorted(derived.items())):
        out = tmp_path / f"out{number}"
        target = Path(value.replace("${paths.output_dir}", str(out)))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("a file where a folder is expected\n")
        line, _ = door([*words, f"paths.output_dir={out}"])
        same = {k for k, v in derived.items() if v == value}  # the first of them is named
        assert line is not None and line.startswith("paths.output_dir: "), (key, line)
        named = line.split(": ")[1].removesuffix(" derived from it")
        assert named in same and ": expected " in line, (key, line)
