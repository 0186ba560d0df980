"""Collapsed codes at evaluation are flagged: the test phase applies the validation's collapse
check to the test codes, records ``test/collapsed`` and each modality's distinct fraction in
results.json with a ``collapsed`` flag beside the status, warns, and report.py gives such a run
its own marked row (ninth trial, fault 8: a zeroed image hash layer -- every image code -1 --
evaluated to "completed", mAP@50 0.4094, without a word).
Generated cases: one modality's hash layer zeroed (weights, then bias too), set to one code of
+1 or -1, both modalities; the unedited checkpoint is not flagged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from test_checkpoint_records import edited, trained  # noqa: F401  (the fixture)

from src.report.runs import COLLAPSE_MARK, load_run


def _one_code(sign: float, names: tuple[str, ...]) -> Any:
    def edit(checkpoint: dict) -> None:
        sd = checkpoint["state_dict"]
        for name in names:
            sd[f"hash_layer.{name}.weight"] = sd[f"hash_layer.{name}.weight"] * 0
            sd[f"hash_layer.{name}.bias"] = sd[f"hash_layer.{name}.bias"] * 0 + sign

    return edit


def _zero_weight(name: str) -> Any:
    def edit(checkpoint: dict) -> None:
        sd = checkpoint["state_dict"]
        sd[f"hash_layer.{name}.weight"] = sd[f"hash_layer.{name}.weight"] * 0
        sd[f"hash_layer.{name}.bias"] = sd[f"hash_layer.{name}.bias"] * 0

    return edit


EDITS = {
    "image zeroed": _zero_weight("image"),
    "text zeroed": _zero_weight("text"),
    "image one code +1": _one_code(1.0, ("image",)),
    "text one code +1": _one_code(1.0, ("text",)),
    "both one code -1": _one_code(-1.0, ("image", "text")),
}


def evaluated(trained: dict[str, Any], path: Path, out: Path) -> dict:  # noqa: F811
    """results.json of src/eval.py's `evaluate` of ``path`` into ``out``."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from src.eval import evaluate

    cfg, HydraConfig.instance().cfg = trained["doors"]["eval"]
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.ckpt_path, cfg.paths.output_dir = str(path), str(out)
    out.mkdir(parents=True, exist_ok=True)
    evaluate(cfg)
    return json.loads((out / "results.json").read_text())


@pytest.mark.parametrize("case", sorted(EDITS))
def test_collapsed_test_codes_are_flagged(
    trained: dict[str, Any], case: str, tmp_path: Path  # noqa: F811
) -> None:
    """The flag, the figures, the warning; report.py marks the row."""
    path = edited(trained, EDITS[case], tmp_path)
    with pytest.warns(UserWarning, match="test codes collapsed"):
        record = evaluated(trained, path, tmp_path / "eval")
    assert record["metrics"]["test/collapsed"] == 1, record["metrics"]
    assert "test codes collapsed" in record.get("collapsed", ""), record
    low = min(record["metrics"][f"test/distinct_{m}"] for m in ("image", "text"))
    assert low < 0.05, record["metrics"]
    run = load_run(tmp_path / "eval" / "results.json", None)
    assert COLLAPSE_MARK in run.variant


def test_working_codes_are_not_flagged(trained: dict[str, Any], tmp_path: Path) -> None:  # noqa
    """The reference: the unedited checkpoint evaluates with test/collapsed 0, no flag."""
    record = evaluated(trained, edited(trained, lambda c: None, tmp_path), tmp_path / "eval")
    assert record["metrics"]["test/collapsed"] == 0 and "collapsed" not in record
    assert COLLAPSE_MARK not in load_run(tmp_path / "eval" / "results.json", None).variant
