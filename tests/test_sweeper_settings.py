"""The sweeper's own settings are checked at the door like every other value (issue 22:
``-m hparams_search=optuna hydra.sweeper.n_trials=0`` started Optuna and ended in "No trials are
completed yet." with an untrue "expected key=value" part; ``n_jobs=0`` would launch batches of
no trial forever). Generated: for each setting of `SWEEPER_RULES` that the search preset has,
values the rule refuses (drawn below its bound, of another type, outside the choices, a
database URL that cannot be opened): exit 2, one line naming ``hydra.sweeper.<key>``, nothing
made (no sweep folder, no Optuna database); the values the rules accept pass. Fails on the
previous code (every refused value passed the door)."""

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from door import ROOT, sweep_door
from src.utils.config_rules import SWEEPER_RULES

pytestmark = pytest.mark.skipif(
    not __import__("importlib").util.find_spec("hydra_plugins.hydra_optuna_sweeper"),
    reason="hydra-optuna-sweeper is the optional [sweep] extra",
)
SEARCH = ["hparams_search=optuna", "trainer=cpu"]


@pytest.fixture(autouse=True)
def project_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROJECT_ROOT", str(ROOT))


def refused_values(key: str, tmp: Path, rng: random.Random) -> list[str]:
    """Values (as typed) that the rule of ``hydra.sweeper.<key>`` refuses, drawn."""
    below = {"n_trials": 1, "n_jobs": 1, "sampler.seed": 0, "sampler.n_startup_trials": 0}
    if key in below:
        low = below[key]
        values = [str(low - 1), str(low - rng.randint(2, 1000)), f"{low}.5", "abc"]
        return values + (["4294967296"] if key == "sampler.seed" else [])
    if key == "direction":
        return ["up", rng.choice(["maximise", "minimise", "MAX"]), "[maximize,minimize]"]
    if key == "storage":
        (tmp / "a_file").write_text("x")
        return [
            "bogus",
            f"nosuchdb{rng.randint(0, 99)}://x",
            f"sqlite:///{tmp}/missing/s.db",
            f"sqlite:///{tmp}/a_file/s.db",
        ]
    return ["''"]  # study_name: an empty name


def settings() -> list[str]:
    """The keys of `SWEEPER_RULES` below hydra.sweeper that the search preset sets."""
    text = (ROOT / "configs" / "hparams_search" / "optuna.yaml").read_text()
    keys = [k.removeprefix("hydra.sweeper.") for k in SWEEPER_RULES]
    return [k for k in keys if f"{k.rpartition('.')[2]}:" in text]


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("key", settings())
def test_a_refused_sweeper_setting_is_one_line_and_makes_nothing(key: str, tmp_path) -> None:
    """Each drawn refused value: exit 2, one line naming ``hydra.sweeper.<key>``, no file."""
    rng = random.Random(key)
    for value in refused_values(key, tmp_path, rng):
        before = tree(tmp_path)
        word = f"hydra.sweeper.{key}={value}"
        status, lines = sweep_door([*SEARCH, word], tmp_path / "logs")
        assert status == 2 and len(lines) == 1, (word, lines)
        named = (f"error: hydra.sweeper.{key}: ", f"error: command line: {word}: ")
        assert lines[0].startswith(named), (word, lines)
        assert "expected" in lines[0], lines
        assert tree(tmp_path) == before, word


def test_accepted_sweeper_settings_pass(tmp_path: Path) -> None:
    """Values the rules accept pass the door, which makes no database."""
    accepted = [
        "hydra.sweeper.n_trials=1",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.direction=minimize",
        "hydra.sweeper.sampler.seed=null",
        "hydra.sweeper.sampler.n_startup_trials=0",
        f"hydra.sweeper.storage=sqlite:///{tmp_path}/s.db",
        "hydra.sweeper.study_name=mine",
    ]
    status, lines = sweep_door([*SEARCH, *accepted], tmp_path / "logs")
    assert status == 0, lines
    assert tree(tmp_path) == []


def test_the_trials_case_at_the_command_line(tmp_path: Path) -> None:
    """``python src/train.py -m hparams_search=optuna hydra.sweeper.n_trials=0`` with an
    SQLite storage: exit 2, one line, no sweep folder and no database."""
    command = [
        sys.executable,
        str(ROOT / "src" / "train.py"),
        "-m",
        *SEARCH,
        "hydra.sweeper.n_trials=0",
        f"hydra.sweeper.storage=sqlite:///{tmp_path}/study.db",
        f"paths.log_dir={tmp_path / 'logs'}",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2, result.stderr[-2000:]
    assert lines == [lines[0]] and lines[0].startswith("error: hydra.sweeper.n_trials: "), lines
    assert "Traceback" not in result.stderr and tree(tmp_path) == []
