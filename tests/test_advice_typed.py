"""Advice that fails when followed (trial 9, faults 12 and 13). A value Hydra cannot read is
answered with the mended override as one bash word: typed as printed (run through bash) it
gives Hydra the value back (``key='a b'`` printed bare lost its quotes in the shell; fix8c
mended the comma only). After an interrupted run that left no resumable checkpoint, "run the
command again" is said only when the folder keeps nothing that refuses the same command;
otherwise another hydra.run.dir is named. Generated: values with spaces, unicode, quotes,
commas, $ and backslashes; folders keeping each kind of file."""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from door import door
from src.utils.jobs import resume_hint, wrote_work

PARTS = ["/tmp/ü ck/l a.ckpt", "a b", "it's", 'say "x" y', "a,b c", "x $HOME", "back\\slash z"]
VALUES = sorted({" ".join(p) for p in itertools.permutations(PARTS, 2)} | set(PARTS))[:40]
TYPED = "typed as printed: "
TAIL = "; a list [a,b]"


@pytest.mark.parametrize("value", VALUES)
def test_the_mended_override_typed_in_bash_gives_the_value(value: str) -> None:
    line, _ = door([f"ckpt_path={value}"])
    if line is None or "Hydra cannot read" not in line:
        pytest.skip("Hydra reads this value as it is")
    assert TYPED in line, line
    printed = line.split(TYPED, 1)[1].rsplit(TAIL, 1)[0]
    shell = subprocess.run(
        ["bash", "-c", f'printf "%s\\0" {printed}'], capture_output=True, text=True
    )
    words = shell.stdout.split("\0")[:-1]
    assert len(words) == 1, (printed, words)
    assert OverridesParser.create().parse_override(words[0]).value() == value


KEPT = [None, "checkpoints/epoch_000.ckpt", "checkpoints/last.ckpt", "results.json"]


@pytest.mark.parametrize("kept", KEPT)
def test_start_over_advice_is_true_for_the_folder(tmp_path: Path, kept: str | None) -> None:
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    if kept:
        (run / kept).write_bytes(b"not a checkpoint")  # nothing resumable
    cfg = OmegaConf.create(
        {"task_name": "train", "ckpt_path": None, "paths": {"output_dir": str(run)}}
    )
    hint = resume_hint(cfg, named=True)
    if wrote_work(run, cfg):  # the same command is refused: "holds an earlier run"
        assert "another hydra.run.dir" in hint and "run the command again to start" not in hint
    else:
        assert hint == "run the command again to start over"
