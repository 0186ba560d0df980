"""Two processes never share a run directory: the `unique_dir` resolver claims a fresh one
(src/utils/run_dirs.py), also when many processes start at once with the same name."""

import json
import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from cli_runs import TINY_ARGS, TINY_STORE, start

from src.utils import run_dirs

ROOT = Path(__file__).resolve().parents[1]
TINY_RUN = [
    *TINY_ARGS,
    "model.eval_ks=[1]",
    "trainer.max_epochs=1",
    "+trainer.limit_train_batches=2",
    "logger=none",
]


@pytest.fixture(autouse=True)
def fresh_claims(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts as a fresh process: nothing claimed, not a SLURM task."""
    monkeypatch.setattr(run_dirs, "_CLAIMED", {})
    for name in ("SLURM_NTASKS", "SLURM_JOB_ID", "SLURM_STEP_ID"):
        monkeypatch.delenv(name, raising=False)


def _claim_after(barrier: Any, base: str, queue: Any) -> None:
    barrier.wait()  # every process tries the same name at the same moment
    queue.put(run_dirs.claim_dir(base))


@pytest.mark.parametrize("n_processes", [2, 6])
def test_concurrent_claims_get_distinct_new_directories(tmp_path: Path, n_processes: int):
    base = tmp_path / "runs" / "2026-01-01_00-00-00"
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "2026-01-01_00-00-00_1").mkdir()  # an earlier run took this one
    context = multiprocessing.get_context("fork")
    barrier, queue = context.Barrier(n_processes), context.Queue()
    workers = [
        context.Process(target=_claim_after, args=(barrier, str(base), queue))
        for _ in range(n_processes)
    ]
    for worker in workers:
        worker.start()
    claimed = [queue.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert len(set(claimed)) == n_processes
    # the first free names in order, none of them the one that existed
    expected = [str(base)] + [f"{base}_{n}" for n in range(2, n_processes + 1)]
    assert sorted(claimed) == sorted(expected)
    assert all(Path(path).is_dir() and not any(Path(path).iterdir()) for path in claimed)


def test_claim_is_stable_within_a_process_and_never_reuses(tmp_path: Path) -> None:
    base = str(tmp_path / "run")
    first = run_dirs.claim_dir(base)
    assert first == base and run_dirs.claim_dir(base) == first  # a re-resolved config
    run_dirs._CLAIMED.clear()  # another process
    assert run_dirs.claim_dir(base) == f"{base}_1"


def test_tasks_of_one_slurm_step_share_their_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLURM_NTASKS", "2")
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    monkeypatch.setenv("SLURM_STEP_ID", "0")
    base = str(tmp_path / "run")
    first = run_dirs.claim_dir(base)
    run_dirs._CLAIMED.clear()  # the other task
    assert run_dirs.claim_dir(base) == first == f"{base}_job77.0"


@pytest.mark.parametrize("config", ["train.yaml", "eval.yaml"])
def test_default_run_and_sweep_dirs_are_claimed(config: str, tmp_path: Path) -> None:
    os.environ.setdefault("PROJECT_ROOT", str(ROOT))
    run_dirs.register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        overrides = [f"paths.log_dir={tmp_path}", "ckpt_path=x"]
        cfg = compose(config, overrides, return_hydra_config=True)
    for key, kind in (("run", "runs"), ("sweep", "multiruns")):
        raw = OmegaConf.to_container(cfg.hydra[key])["dir"]
        assert raw.startswith("${unique_dir:") and f"/{kind}/${{now:" in raw
        first, second = cfg.hydra[key].dir, cfg.hydra[key].dir  # resolved twice: one claim
        assert first == second and Path(first).parent == tmp_path / config[:-5] / kind
        assert Path(first).is_dir()


@pytest.mark.parametrize("n_runs", [2, pytest.param(4, marks=pytest.mark.slow)])
def test_trainings_started_together_write_into_their_own_directories(
    tmp_path: Path, n_runs: int
) -> None:
    """Trainings started at once with the same run directory name: each gets its own
    directory, and its results.json, checkpoint, .hydra record and log are its own seed's."""
    from src.data.synthetic import make_synthetic

    store = tmp_path / "tiny.h5"
    make_synthetic(store, seed=0, **TINY_STORE)
    same = "hydra.run.dir=${unique_dir:" + str(tmp_path / "runs" / "same") + "}"
    seeds = list(range(n_runs))
    processes = [
        start("train.py", [f"data.path={store}", *TINY_RUN, f"seed={seed}", same], tmp_path)
        for seed in seeds
    ]
    outputs = ["\n".join(process.communicate(timeout=600)) for process in processes]
    assert [p.returncode for p in processes] == [0] * n_runs, "\n".join(o[-2000:] for o in outputs)
    runs = sorted((tmp_path / "runs").iterdir())
    assert [run.name for run in runs] == ["same"] + [f"same_{n}" for n in range(1, n_runs)]
    found = set()
    for run in runs:
        seed = json.loads((run / "results.json").read_text())["seed"]
        assert f"seed={seed}" in yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text())
        assert yaml.safe_load((run / ".hydra" / "config.yaml").read_text())["seed"] == seed
        ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
        assert ckpt["datamodule_hyper_parameters"]["seed"] == seed
        log = (run / "train.log").read_text()
        assert f"Output dir: {run}\n" in log
        assert all(f"Output dir: {other}\n" not in log for other in runs if other != run)
        found.add(seed)
    assert found == set(seeds)
