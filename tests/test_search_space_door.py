"""An Optuna search space Optuna refuses, or a study storage that is no database, is refused
at the door in one line with advice that works, and no sweep folder is made (trial 8 M02b,
M05b, M04). Generated intervals and storage files."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from hydra_plugins.hydra_optuna_sweeper._impl import create_params_from_overrides
from omegaconf import OmegaConf

from src.utils.config_rules import SWEEPER_RULES
from src.utils.errors import ConfigError
from src.utils.sweep_jobs import search_probes

ROOT = Path(__file__).resolve().parents[1]
KEYS = ["model.alpha", "model.lam"]
REVERSED = [(1.0, 0.1), (5, 1), (0.5, -0.5), (1e-2, 1e-4), (10, 9.99)]
LOG_LOW = [(0, 1), (-1, 1), (0.0, 0.5), (-0.5, 10), (0, 0.001), (-2, -1)]


def probes(argument: str) -> list:
    config = OmegaConf.create(
        {"hydra": {"sweeper": {"params": {}}, "overrides": {"task": [argument]}}}
    )
    return search_probes(config)


def cases() -> list[str]:
    found = []
    for key in KEYS:
        found += [f"{key}=interval({a},{b})" for a, b in REVERSED]
        found += [f"{key}=tag(log,interval({a},{b}))" for a, b in REVERSED if b > 0]
        found += [f"{key}=tag(log,interval({a},{b}))" for a, b in LOG_LOW]
        found += [f"{key}=tag(log, interval({a}, {b}))" for a, b in LOG_LOW[:2]]
    return found


@pytest.mark.parametrize("argument", cases())
def test_a_space_optuna_refuses_is_one_line_whose_example_is_accepted(argument: str) -> None:
    with pytest.raises(ConfigError) as error:
        probes(argument)
    line = str(error.value)
    assert "\n" not in line and line.startswith(f"src/train.py: search space {argument}: ")
    assert "expected overrides Hydra composes" not in line
    example = line.rsplit("e.g. ", 1)[1]
    (word,) = subprocess.run(
        ["bash", "-c", f"printf '%s\\0' {example}"], capture_output=True, text=True, check=True
    ).stdout.split("\0")[:-1]
    assert word.split("=", 1)[0] == argument.split("=", 1)[0]
    create_params_from_overrides([word])  # Optuna builds it


@pytest.mark.parametrize("argument", ["model.alpha=interval(0.1,1.0)", "model.lam=choice(1,5)"])
def test_a_space_optuna_builds_is_probed(argument: str) -> None:
    assert len(probes(argument)) >= 2


def _text(path: Path) -> None:
    path.write_text("hello\n")


def _binary(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 4)


def _short(path: Path) -> None:
    path.write_bytes(b"SQLite")


def _folder(path: Path) -> None:
    path.mkdir()


def _loop(path: Path) -> None:
    os.symlink(path.name, path)


def _sqlite(path: Path) -> None:
    sqlite3.connect(path).execute("create table t (x)").connection.close()


def _empty(path: Path) -> None:
    path.write_bytes(b"")


BAD = {"text": _text, "binary": _binary, "short": _short, "folder": _folder, "loop": _loop}
GOOD = {"sqlite": _sqlite, "empty": _empty, "none": lambda path: None}


@pytest.mark.parametrize("kind", sorted(BAD) + sorted(GOOD))
@pytest.mark.parametrize("relative", [True, False])
def test_a_storage_that_is_no_database_is_refused(
    tmp_path: Path, monkeypatch, kind: str, relative: bool
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "study.db"
    {**BAD, **GOOD}[kind](path)
    url = "sqlite:///study.db" if relative else f"sqlite:///{path}"
    rule = SWEEPER_RULES["hydra.sweeper.storage"]
    if kind in GOOD:
        rule.check("hydra.sweeper.storage", url)
        return
    with pytest.raises(ConfigError) as error:
        rule.check("hydra.sweeper.storage", url)
    assert "\n" not in str(error.value) and "study.db: found" in str(error.value)


@pytest.mark.parametrize(
    "argument",
    [
        "model.alpha=interval(1.0,0.1)",
        "model.alpha=tag(log,interval(0,1))",
        "hydra.sweeper.storage=sqlite:///{tmp}/notadb.db",
    ],
)
def test_the_refusal_leaves_no_sweep_folder(tmp_path: Path, argument: str) -> None:
    (tmp_path / "notadb.db").write_text("hello\n")
    sweep = tmp_path / "sweep"
    command = [sys.executable, "src/train.py", "-m", "hparams_search=optuna"]
    command += [argument.format(tmp=tmp_path), "hydra.sweeper.n_trials=1"]
    command += [f"hydra.sweep.dir={sweep}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), lines
    assert not sweep.exists()
