"""A trainer setting that waits for processes this launch never starts is refused at the door,
and the advice it prints is accepted typed as printed (trial 10, F2).

``trainer=ddp_sim +trainer.num_nodes=2`` passed the door and waited forever for a second
node (surviving SIGTERM); the advice of ``trainer.num_nodes=2`` ("... with
trainer.num_nodes=2, or trainer.num_nodes=1") was refused when typed (no ``+``). Generated:
every trainer preset x node count x override form, and several processes with ``LOCAL_RANK``
set; each printed override is put back through train.py's door in place of the one it mends.
"""

import re

import pytest
from omegaconf import DictConfig

from door import composed_run
from test_interpolation_door import one_line

PRESETS = ("default", "cpu", "ddp_sim", "ddp", "gpu")
FORMS = ("trainer.num_nodes={n}", "+trainer.num_nodes={n}", "++trainer.num_nodes={n}")
# an override printed as advice: a group choice or a (possibly added) trainer key; "trainer=ddp
# (GPUs)" and "... on GPUs" name a machine this one may not be
ADVICE = re.compile(r"(\+{0,2}trainer(?:\.[\w.]+)?=[\w.-]*\w)(?![\w.-])(?! \(GPUs\)| on GPUs)")


def door_line(words: list[str]) -> str | None:
    """train.py's one line for ``words`` (composition included, as run_cli reports it), or
    None when the door passes."""
    from src.train import train_door
    from src.utils.composition_errors import composition_error

    try:
        cfg: DictConfig = composed_run(words)
    except Exception as exc:  # noqa: BLE001  run_cli's one line for a composition error
        return composition_error(exc, words)
    status, lines = one_line(lambda: train_door(cfg))
    assert status in (0, 2) and len(lines) <= 1, lines
    return lines[0] if lines else None


CASES = [[f"trainer={p}", f.format(n=n)] for p in PRESETS for f in FORMS for n in (2, 3, 8)]


@pytest.mark.parametrize("words", CASES, ids=" ".join)
def test_nodes_refused(words: list[str]) -> None:
    """More than one node without a cluster launcher: one line, naming why (or the preset's
    own refusal on this machine: a GPU preset without a GPU)."""
    line = door_line(words)
    assert line is not None, f"{words} passed the door: the run would wait for other nodes"
    assert "num_nodes" in line or "CUDA GPU" in line, line


@pytest.mark.parametrize("devices", [2, 3])
def test_local_rank_refused(devices: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Several processes with LOCAL_RANK set (Lightning would start none): refused."""
    monkeypatch.setenv("LOCAL_RANK", "0")
    line = door_line(["trainer=ddp_sim", f"trainer.devices={devices}"])
    assert line is not None and "LOCAL_RANK" in line, line


MENDED = CASES + [["trainer.devices=2"], ["trainer=cpu", "trainer.devices=3"]]


@pytest.mark.parametrize("words", MENDED, ids=" ".join)
def test_advice_typed_as_printed(words: list[str]) -> None:
    """Each override the refusal prints, typed as printed in place of the word it mends (and
    with the preset it names), passes the door."""
    line = door_line(words)
    if line is None or "CUDA GPU" in line:
        pytest.skip("no advice on this machine")
    printed = ADVICE.findall(line.partition("expected")[2])
    assert printed, line
    for advice in printed:
        if f"with {advice}" in line:  # the companion of a preset: typed with it (below)
            continue
        key = advice.lstrip("+").partition("=")[0]
        kept = [w for w in words if w.lstrip("+").partition("=")[0] not in (key, "trainer")]
        preset = [w for w in words if w.startswith("trainer=")] if key != "trainer" else []
        mended = [*preset, *kept, advice]
        if advice.startswith("trainer=") and re.search(rf"{re.escape(advice)} \(\w+\) with", line):
            mended += [a for a in printed if not a.startswith("trainer=")][:1]
        again = door_line(mended)  # passes, or needs a GPU this machine lacks
        assert again is None or "needs a CUDA GPU" in again, (words, line, mended, again)
