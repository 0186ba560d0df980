"""Every name-like value that becomes part of a path is a plain name, refused at the door with
one line otherwise (trial 8 C16b, C18, PA2: a checkpoint file name, a CSV logger name and a
store name climbed out of their folders). Generated names x every such key or flag."""

from __future__ import annotations

import copy
import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from config_snapshot import SNAPSHOT
from src.utils.config_rules import check_config
from src.utils.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
BASE = json.loads(SNAPSHOT.read_text())["train"]["composed"]
# the configuration keys joined to an output folder (logger.* to save_dir, filename to dirpath)
KEYS = [
    "callbacks.model_checkpoint.filename",
    *(f"logger.csv.{k}" for k in ("name", "version")),
    *(f"logger.tensorboard.{k}" for k in ("name", "version", "sub_dir", "filename_suffix")),
]
STEMS = ["x", "escape_{epoch}", "csvescape", "v 1"]
# ways out of a folder (or into none): each prefixed/suffixed to a stem
ESCAPES = ["../", "../../../", "/", "/tmp/", "a/../../", "sub/", "..\\", "./"]
BAD = sorted(
    {e + s for e in ESCAPES for s in STEMS}
    | {s + "/.." for s in STEMS}
    | {s + "/" for s in STEMS}
    | {"", ".", "..", "/"}
)
GOOD = ["csv", "run_1", "v1.2", "a..b", "名前", "my name"]


def with_value(key: str, value: object) -> OmegaConf:
    """The shipped train configuration with ``key`` set to ``value`` (its parents made)."""
    tree = copy.deepcopy(BASE)
    node = tree
    *parents, last = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return OmegaConf.create(tree)


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("name", BAD)
def test_a_name_that_leaves_its_folder_is_refused(key: str, name: str) -> None:
    with pytest.raises(ConfigError) as error:
        check_config(with_value(key, name))
    message = str(error.value)
    assert message.startswith(f"{key}: expected ") and "a plain" in message
    assert repr(name) in message
    assert "\n" not in message


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("name", [*GOOD, None])
def test_a_plain_name_is_accepted(key: str, name: str | None) -> None:
    check_config(with_value(key, name))


@pytest.mark.parametrize(
    "pattern", ["epoch_{epoch:03d}", "{epoch}-{val/map@50:.4f}", "best.{step}", "{epoch}"]
)
def test_a_field_of_a_checkpoint_pattern_may_hold_a_slash(pattern: str) -> None:
    """A "/" inside a {field} is a metric's name, formatted into a number: no folder."""
    check_config(with_value("callbacks.model_checkpoint.filename", pattern))


def _prepare_main():
    spec = importlib.util.spec_from_file_location("prepare_data", ROOT / "scripts/prepare_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


@pytest.fixture(scope="module")
def arrays(tmp_path_factory) -> list[str]:
    folder = tmp_path_factory.mktemp("arrays")
    rng = np.random.default_rng(0)
    paths = {}
    for flag, array in {
        "--image": rng.random((100, 8), dtype=np.float32),
        "--text": rng.random((100, 6), dtype=np.float32),
        "--labels": rng.integers(0, 3, 100),
    }.items():
        paths[flag] = folder / f"{flag[2:]}.npy"
        np.save(paths[flag], array)
    return [x for flag, path in paths.items() for x in (flag, str(path))]


@pytest.mark.parametrize("name", [n for n in BAD if "{" not in n][::3] + ["../../tmp/escaped"])
def test_prepare_data_refuses_a_store_name_that_leaves_data(
    name: str, arrays: list[str], capsys, tmp_path: Path
) -> None:
    before = sorted(p.name for p in (ROOT / "data").iterdir())
    with pytest.raises(SystemExit) as stop:
        _prepare_main()(["arrays", *arrays, "--name", name, "--query-size", "10"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--name: expected a plain name" in err, err
    assert sorted(p.name for p in (ROOT / "data").iterdir()) == before


def hydra_config(tmp_path: Path, key: str, value: object) -> OmegaConf:
    """A configuration as the run-folder check sees it, with Hydra's ``key`` set."""
    tree = {
        "task_name": "train",
        "paths": {"log_dir": str(tmp_path)},
        "hydra": {"output_subdir": ".hydra", "job": {"name": "train"}, "runtime": {}},
    }
    parent, _, name = key.partition(".")[2].rpartition(".")
    (tree["hydra"][parent] if parent else tree["hydra"])[name] = value
    return OmegaConf.create(tree)


@pytest.mark.parametrize("key", ["hydra.output_subdir", "hydra.job.name"])
@pytest.mark.parametrize("name", [n for n in BAD if "{" not in n] + GOOD + [None])
def test_hydra_names_joined_to_the_run_folder_are_plain(
    tmp_path: Path, key: str, name: str | None
) -> None:
    from src.utils.run_dir_checks import check_before_run_folder

    config = hydra_config(tmp_path, key, name)
    if name is None or name in GOOD:
        check_before_run_folder(config, sweep=False)
        return
    with pytest.raises(ConfigError, match=f"^{re.escape(key)}: expected a plain name"):
        check_before_run_folder(config, sweep=False)
