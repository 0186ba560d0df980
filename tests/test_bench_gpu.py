"""The GPU benchmark's --small mode (so that the script cannot rot), and its plain loop as an
independent check of AGCHModule's training step."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks import shaped_data
from benchmarks.train_loops import run_lightning, run_plain
from src.data.datamodule import AGCHDataModule
from src.models.agch_module import AGCHModule

REPO = Path(__file__).resolve().parents[1]
TINY = shaped_data.Shape("wiki", 96, 24, 10, 4)
RUN = dict(batch_size=16, seed=3, precision="32-true", device=torch.device("cpu"))


def test_small_mode_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "benchmarks.bench_gpu", "--small", "--out", str(out)]
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| shape | precision | loop |" in result.stdout
    report = json.loads(out.read_text())
    assert report["small"] is True and "torch" in report["machine"]
    assert set(report["training"]) == {"wiki", "mirflickr"}
    for shape in report["training"].values():
        for precision in ("32-true", "bf16-mixed"):
            row = shape[precision]
            for loop in ("lightning", "plain"):
                stats = row[loop]
                assert stats["epochs"] == 2 and stats["samples_per_s"] > 0
                assert 0 < stats["epoch_s_min"] <= stats["epoch_s_median"] <= stats["epoch_s_max"]
            assert isinstance(row["overhead_pct"], float)
        # same batches, same initial weights, fp32 on the CPU: the same losses
        assert shape["32-true"]["plain_vs_lightning_max_rel"] <= 1e-6
        assert shape["bf16_vs_fp32"]["within"] is True
    assert "real MIRFlickr-25K tags" in report["training"]["mirflickr"]["data"] or (
        shaped_data.find_tags() is None
    )
    evaluation = report["evaluation"]
    assert {(r["n_retrieval"], r["metric"]) for r in evaluation} == {
        (n, m) for n in (2000, 5000) for m in ("map@50", "map@all")
    }
    assert all(r["exact"] and 0 < r["device_value"] < 1 for r in evaluation)
    assert not list(tmp_path.glob(".*.tmp"))


def _runs(tmp_path: Path, **changes) -> tuple[torch.Tensor, torch.Tensor]:
    """Losses (n_batches, 2) of the module and of the plain loop; ``changes`` go to the
    module's hyper-parameters only (a fault the comparison must see)."""
    path = tmp_path / "tiny.h5"
    shaped_data.make_store(path, TINY, TINY.n_train, n_query=16, seed=1)
    torch.manual_seed(0)
    base = AGCHModule(TINY.image_dim, TINY.text_dim, code_length=8, hidden_dim=32, gcn_dim=16)
    base.set_input_stats(AGCHDataModule(str(path)).train_statistics())
    module = copy.deepcopy(base)
    module.hparams.update(changes)
    light = run_lightning(module, path, 2, **RUN)
    plain = run_plain(copy.deepcopy(base), path, 2, **RUN)
    return light.loss_matrix(), plain.loss_matrix()


def test_plain_loop_gives_the_module_losses_on_the_same_batches(tmp_path: Path) -> None:
    light, plain = _runs(tmp_path)
    assert light.shape == plain.shape == (2 * (96 // 16), 2)
    assert light[0, 0] != light[-1, 0]  # the weights moved: later losses test the updates
    torch.testing.assert_close(plain, light, rtol=1e-6, atol=0.0)


@pytest.mark.parametrize("changes", [{"lr_gcn": 0.05}, {"momentum": 0.5}, {"delta": 0.5}])
def test_the_comparison_sees_a_changed_step(tmp_path: Path, changes: dict) -> None:
    light, plain = _runs(tmp_path, **changes)
    assert not torch.allclose(plain, light, rtol=1e-4, atol=0.0)
