"""A refusal made once Lightning's trainer is set up leaves stderr with its one ``error:``
line: Lightning's notices ("GPU available", the tip, "Restoring states", the model summary,
its own warnings) go to stdout (src/utils/notices.py; ninth trial: 5 to 24 lines before it).
Generated cases: checkpoints whose input statistics or weights make non-finite inputs or codes
at test (eval.py), and training-health records refused at a resume's fit start (train.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cli_runs import start
from test_checkpoint_records import edited, trained  # noqa: F401  (the fixture)
from test_run_lifecycle import finish


def _scale(key: str, factor: float, add: float = 0.0) -> Any:
    def edit(checkpoint: dict) -> None:
        sd = checkpoint["state_dict"]
        sd[key] = sd[key] * factor + add

    return edit


def _health(field: str, value: Any) -> Any:
    def edit(checkpoint: dict) -> None:
        checkpoint["callbacks"]["TrainingHealth"][field] = value

    return edit


EVAL_CASES = {
    "text_mean huge": _scale("text_mean", 0.0, 3e38),
    "image_mean huge": _scale("image_mean", 0.0, -3e38),
    "image_std tiny": _scale("image_std", 0.0, 1e-44),
    "text_std tiny": _scale("text_std", 0.0, 1e-44),
}
RESUME_CASES = {
    "health digest junk": _health("initial_digest", "0" * 64),
    "health other file": _health("initial_path", "/tmp/another_run/health_initial.pt"),
}


def refused(
    trained: dict[str, Any], script: str, words: list[str]  # noqa: F811
) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``script`` with ``words``."""
    return finish(start(script, words, trained["root"]))


def sampled(cases) -> list:
    """The first case in the default suite, the others marked slow (each trains or evaluates
    in a subprocess, ~10 s): `make test-full` runs them all."""
    names = sorted(cases)
    return [names[0], *(pytest.param(name, marks=pytest.mark.slow) for name in names[1:])]


@pytest.mark.parametrize("case", sampled(EVAL_CASES))
def test_an_eval_refused_at_test_prints_one_line(
    trained: dict[str, Any], case: str, tmp_path: Path  # noqa: F811
) -> None:
    """eval.py's refusal inside trainer.test: stderr is the error line alone."""
    path = edited(trained, EVAL_CASES[case], tmp_path)
    words = [w for w in trained["words"] if not w.startswith("model.")]
    words += [f"ckpt_path={path}", f"hydra.run.dir={tmp_path / 'eval'}"]
    status, out, err = refused(trained, "eval.py", words)
    assert status == 2, (out[-2000:], err)
    assert len(err.strip().splitlines()) == 1 and err.startswith("error:"), err


@pytest.mark.parametrize("case", sampled(RESUME_CASES))
def test_a_resume_refused_at_fit_start_prints_one_line(
    trained: dict[str, Any], case: str, tmp_path: Path  # noqa: F811
) -> None:
    """train.py's refusal once the trainer is set up: stderr is the error line alone."""
    path = edited(trained, RESUME_CASES[case], tmp_path)
    run = tmp_path / "run"
    words = [*trained["words"], "trainer.max_epochs=2", f"ckpt_path={path}"]
    status, out, err = refused(trained, "train.py", [*words, f"hydra.run.dir={run}"])
    assert status == 2, (out[-2000:], err)
    assert len(err.strip().splitlines()) == 1 and err.startswith("error:"), err
