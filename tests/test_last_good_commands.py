"""The last good checkpoint in an error line (trial 8 S10): a weights-only one comes with the
whole command that tests it, never "ckpt_path=...", and a changed store's line names the
last good checkpoint once (its resume advice does not repeat it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from src.utils.jobs import resume_hint
from src.utils.last_good import last_good_words
from test_refusals import write

CASES = [(n, older) for n in (1, 2, 3) for older in ("none", "resumable", "weights")]


@pytest.mark.parametrize("n, older", CASES)
def test_a_weights_only_checkpoint_comes_with_a_whole_command(
    tmp_path: Path, n: int, older: str
) -> None:
    folder = tmp_path / "run" / "checkpoints"
    folder.mkdir(parents=True)
    for index in range(n - 1 if older != "none" else 0):
        write(folder / f"epoch_{index:03d}.ckpt", 10 * index + 1, older == "resumable", "none")
    latest = folder / f"epoch_{n:03d}.ckpt"
    write(latest, 100, False, "none")
    cfg = OmegaConf.create(
        {
            "task_name": "train",
            "data": {"path": "/x/store.h5"},
            "paths": {"output_dir": str(tmp_path / "run")},
            "trainer": {"max_epochs": 3},
        }
    )
    for words in (last_good_words(folder), last_good_words(folder, cfg=cfg)):
        assert "ckpt_path=..." not in words, words
        assert "test it with: python " in words and f"ckpt_path={latest}" in words, words
    assert "data.path=/x/store.h5" in last_good_words(folder, cfg=cfg)
    hint = resume_hint(cfg, named=True)
    assert "last good checkpoint" not in hint, hint
