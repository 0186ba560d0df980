"""Hydra's flags wherever they stand on the command line (trial 28 c53: ``-m`` after the
overrides was argparse's 8-line usage); what Hydra's parser rejects is one ``error:`` line
naming the script. Generated over flag positions and unknown options."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra._internal.utils import get_args_parser

from src.utils.errors import ConfigError
from src.utils.hydra_argv import hydra_argv

ROOT = Path(__file__).resolve().parents[1]
# one group of spellings per flag (two of one flag: the last wins, whatever the order)
FLAGS = [[["-m"], ["--multirun"]], [["--cfg", "job"], ["-c", "all"]], [["--resolve"]]]
FLAGS += [[["--package", "model"]], [["--info", "defaults"], ["-i", "all"]], [["-cn", "train"]]]
OVERRIDES = ["seed=0,1", "trainer.max_epochs=1", "+x.y=2", "~logger", "model.alpha=-0.5"]


def mixed(rng: np.random.Generator) -> tuple[list[str], list[list[str]], list[str]]:
    """(command line, the flag groups, the overrides): a few of each, flags at random places."""
    n_flags = int(rng.integers(1, 4))
    spellings = [FLAGS[int(i)] for i in rng.choice(len(FLAGS), n_flags, replace=False)]
    groups = [s[int(rng.integers(0, len(s)))] for s in spellings]
    overrides = [OVERRIDES[int(i)] for i in rng.permutation(len(OVERRIDES))[: rng.integers(1, 5)]]
    chunks = [[o] for o in overrides]
    for group in groups:  # between the overrides, never inside another flag's group
        chunks.insert(int(rng.integers(0, len(chunks) + 1)), group)
    return [t for chunk in chunks for t in chunk], groups, overrides


def test_flags_anywhere_read_as_flags_first() -> None:
    """200 generated command lines: the result parses with Hydra's own (plain) parser to the
    namespace of the flags written first, the overrides kept in their order."""
    rng = np.random.default_rng(53)
    for _ in range(200):
        argv, groups, overrides = mixed(rng)
        expected = get_args_parser().parse_args([t for g in groups for t in g] + overrides)
        assert get_args_parser().parse_args(hydra_argv(argv, "train.py")) == expected, argv


@pytest.mark.parametrize("script", ["train.py", "eval.py"])
def test_rejected_options_are_one_line_naming_the_script(script: str) -> None:
    """Unknown options (generated names, anywhere) and a flag without its value."""
    rng = np.random.default_rng(len(script))
    for _ in range(50):
        _, groups, overrides = mixed(rng)
        bad = "--zz" + "".join(rng.choice(list("abcdefgh"), 4))
        chunks = [*groups, *([o] for o in overrides)]
        chunks.insert(int(rng.integers(0, len(chunks) + 1)), [bad])
        argv = [t for chunk in chunks for t in chunk]
        with pytest.raises(ConfigError, match=rf"^{script}: unrecognized arguments: {bad}; "):
            hydra_argv(argv, script)
    for flag in ("--cfg", "-cn", "--package", "--config-dir"):
        with pytest.raises(
            ConfigError, match=rf"^{script}: argument \S*{flag}\b\S*: expected one arg"
        ):
            hydra_argv(["seed=1", flag], script)


@pytest.mark.slow
def test_train_and_eval_read_flags_anywhere() -> None:
    """End to end: ``-m``/``--cfg job`` after overrides works; ``--foo`` is one line, exit 2."""
    command = [sys.executable, "src/train.py", "trainer.max_epochs=1", "--cfg", "job", "seed=5"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "seed: 5" in done.stdout and "max_epochs: 1" in done.stdout
    for script in ("train.py", "eval.py"):
        command = [sys.executable, f"src/{script}", "seed=1", "--foo", "-m"]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 2
        assert done.stderr.strip().splitlines() == [
            f"error: {script}: unrecognized arguments: --foo; expected Hydra's flags "
            f"(-m/--multirun, --cfg job, --help: python src/{script} --help) and key=value "
            "overrides, in any order"
        ]
