"""``~key`` of a key the run reads is refused at the door (issue 22 kind 5; trial 28 c12, c46:
``~model.code_length`` and ``model=cmfh ~model.lam`` ran and recorded the constructor's
default). Generated over every leaf of every method's composed configuration, in-process
through Hydra's compose API and `check_config`; whole callback and logger entries stay
deletable."""

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from omegaconf import DictConfig, OmegaConf

from door import composed_run

from src.utils.added_keys import check_deleted_key
from src.utils.config_rules import RULES, check_config
from src.utils.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("agch", "djsrh", "jdsh", "dgcpn", "cmfh", "cca_itq", "ucch")
SMALL = [
    "data.synthetic.n_items=400",
    "data.synthetic.n_query=50",
    "data.synthetic.n_train=200",
    "data.synthetic.n_val=50",
    "data.synthetic.image_dim=64",
    "data.synthetic.text_dim=32",
    "trainer.max_epochs=1",
]


@pytest.fixture(autouse=True)
def project_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROJECT_ROOT", str(ROOT))


def composed(overrides: list[str]) -> DictConfig:
    """train.yaml with ``overrides`` as train.py's job sees it (tests/door.py's `composed_run`),
    without the machine's local settings."""
    return composed_run([*overrides, "~local"])


def leaves(tree: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys of every value that is not a mapping (a plain walk)."""
    found = []
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            found += leaves(value, f"{prefix}{key}.")
        else:
            found.append(f"{prefix}{key}")
    return found


def valued(tree: dict[str, Any], keys: list[str]) -> list[str]:
    """The ``keys`` whose value is not null: Hydra itself refuses ``~key`` of a null one
    ("Could not delete ... does not exist", a composition error line at the door)."""
    found = []
    for key in keys:
        node: Any = tree
        for part in key.split("."):
            node = node[part]
        if node is not None:
            found.append(key)
    return found


def without(tree: dict[str, Any], key: str) -> dict[str, Any]:
    """A copy of ``tree`` with dotted ``key`` deleted (what ``~key`` leaves)."""
    tree = copy.deepcopy(tree)
    node = tree
    *parents, last = key.split(".")
    for part in parents:
        node = node[part]
    del node[last]
    return tree


def entries(tree: dict[str, Any]) -> list[str]:
    """The whole callback and logger entries (and ``logger`` itself): deletable."""
    found = ["logger"] if tree.get("logger") else []
    for group in ("callbacks", "logger"):
        found += [f"{group}.{name}" for name in tree.get(group) or {}]
    return found


@pytest.mark.parametrize("method", METHODS)
def test_every_leaf_of_every_method_is_refused(method: str) -> None:
    """Every leaf of the composed configuration (hydra's own aside) is refused naming the key;
    every whole callback/logger entry is accepted; one generated leaf through the door itself
    (compose with ``~key``, then `check_config`)."""
    values = OmegaConf.to_container(composed([f"model={method}", *SMALL]), resolve=False)
    keys = leaves(values)
    assert "model.code_length" in keys and len(keys) > 40
    for key in keys:
        with pytest.raises(ConfigError, match=rf"^{key}: required, train\.py reads it"):
            check_deleted_key(key, without(values, key), RULES)
    for key in entries(values):
        check_deleted_key(key, without(values, key), RULES)
    door = valued(values, keys)
    key = door[int(np.random.default_rng(len(method)).integers(0, len(door)))]
    with pytest.raises(ConfigError, match=rf"^{key}: required"):
        check_config(composed([f"model={method}", *SMALL, f"~{key}"]))


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_the_door_refuses_leaves_and_accepts_entries(method: str) -> None:
    """Through compose and `check_config`: 5 generated leaves refused, every entry accepted."""
    values = OmegaConf.to_container(composed([f"model={method}", *SMALL]), resolve=False)
    keys = valued(values, leaves(values))
    for key in np.random.default_rng(len(method) + 1).choice(keys, size=5, replace=False):
        with pytest.raises(ConfigError, match=rf"^{key}: required"):
            check_config(composed([f"model={method}", *SMALL, f"~{key}"]))
    for key in entries(values):
        check_config(composed([f"model={method}", *SMALL, f"~{key}"]))


def test_the_trial_cases_name_the_constructor() -> None:
    """c12 and c46: the refusal says whose argument the key is."""
    for method, key in (("agch", "code_length"), ("cmfh", "lam")):
        cfg = composed([f"model={method}", *SMALL, f"~model.{key}"])
        with pytest.raises(ConfigError, match=rf"^model\.{key}: required.*Module takes it"):
            check_config(cfg)


@pytest.mark.slow
@pytest.mark.parametrize("method, key", [("agch", "code_length"), ("cmfh", "lam")])
def test_train_refuses_deleting_a_read_key(tmp_path: Path, method: str, key: str) -> None:
    """End to end: one line, exit 2, no run folder."""
    run_dir = tmp_path / "run"
    command = [sys.executable, "src/train.py", f"model={method}", *SMALL, "logger=csv"]
    command += [f"~model.{key}", f"hydra.run.dir={run_dir}"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith(f"error: model.{key}: required, train.py reads it")
    assert "Traceback" not in done.stderr + done.stdout
    assert not run_dir.exists()
