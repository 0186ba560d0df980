"""Distributed evaluation gives the numbers of one process for the same codes: the DataModule
shards the evaluation loaders per rank and the metric gathers rows with their indices."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from src.data.datamodule import AGCHDataModule
from src.metrics.retrieval import CrossModalRetrievalMetric
from src.models.agch_module import AGCHModule
from conftest import TINY_DATA

ROOT = Path(__file__).resolve().parents[1]
QUIET = ["extras.print_config=false", "extras.enforce_tags=false", "logger=none"]


def rank_metric(datamodule: AGCHDataModule, model: AGCHModule, rank: int, world: int) -> list:
    """The (codes, labels, indices, split) updates that rank `rank` of `world` makes."""
    datamodule._rank_world = lambda: (rank, world)  # what a trainer of `world` ranks reports
    updates = []
    for split, loader in zip(("query", "retrieval"), datamodule.test_dataloader()):
        for image, text, index, label in loader:
            updates.append((*model.encode(image, text), label, index, split))
    return updates


def test_sharded_evaluation_equals_one_process(synthetic_store: Path) -> None:
    torch.manual_seed(0)
    datamodule = AGCHDataModule(str(synthetic_store), eval_batch_size=16)
    datamodule.setup("test")
    model = AGCHModule(*datamodule.feature_dims(), code_length=16, hidden_dim=32, gcn_dim=16)
    model.set_input_stats(datamodule.train_statistics())
    single, gathered = CrossModalRetrievalMetric(), CrossModalRetrievalMetric()
    for update in rank_metric(datamodule, model, 0, 1):
        single.update(*update)
    shards = [rank_metric(datamodule, model, rank, 2) for rank in (0, 1)]
    # the ranks hold disjoint rows that cover each split
    indices = [torch.cat([u[3] for u in shard if u[4] == "query"]) for shard in shards]
    assert not set(indices[0].tolist()) & set(indices[1].tolist())
    assert len(torch.cat(indices)) == len(datamodule.splits["query"])
    # torchmetrics' "cat" gather: rank 0's state, then rank 1's
    for update in shards[0] + shards[1]:
        gathered.update(*update)
    expected, result = single.compute(), gathered.compute()
    assert expected.keys() == result.keys()
    for name in expected:
        assert torch.equal(expected[name], result[name]), name


def cli(script: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, str(ROOT / "src" / script), *args, *TINY_DATA, *QUIET]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=cwd)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def only_run(log_dir: Path, task: str) -> Path:
    """The single run directory of `task`: DDP ranks must not make one each."""
    (run,) = (log_dir / task / "runs").iterdir()
    return run


@pytest.mark.slow
def test_ddp_sim_trains_and_evaluates_like_one_process(tmp_path: Path) -> None:
    data, logs = f"data.path={tmp_path / 'tiny.h5'}", tmp_path / "logs"
    model = ["model.code_length=16", "model.hidden_dim=32", "model.gcn_dim=16"]
    train = [data, *model, "trainer=ddp_sim", "trainer.max_epochs=1", f"paths.log_dir={logs}"]
    cli("train.py", train, tmp_path)
    ckpt = only_run(logs, "train") / "checkpoints" / "last.ckpt"
    metrics = {}
    for trainer in ("cpu", "ddp_sim"):
        log_dir = tmp_path / trainer
        eval_args = [data, f"ckpt_path={ckpt}", f"trainer={trainer}", f"paths.log_dir={log_dir}"]
        result = cli("eval.py", eval_args, tmp_path)
        # rank zero alone reports: one table, one results.json in one run directory
        assert result.stdout.count("SYNTHETIC data, not a benchmark: Test") == 1
        run = only_run(log_dir, "eval")
        assert [p.name for p in run.glob("**/results.json")] == ["results.json"]
        metrics[trainer] = json.loads((run / "results.json").read_text())["metrics"]
    assert metrics["ddp_sim"] == metrics["cpu"]  # exactly
    assert {"test/i2t_map@50", "test/t2i_map@50", "test/map@all"} <= set(metrics["cpu"])
