"""Multiruns of src/train.py: a grid with Hydra's basic launcher, the joblib and submitit-local
launchers, an Optuna search, and the project's SLURM preset."""

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from cli_runs import TINY_ARGS, TINY_STORE

from src.data.synthetic import make_synthetic
from src.utils.run_dirs import register_resolvers

ROOT = Path(__file__).resolve().parents[1]
# one epoch: a run takes a few seconds on a CPU
TINY_RUN = [*TINY_ARGS, "model.eval_ks=[1,100]", "trainer.max_epochs=1", "logger=csv"]
TEST_METRICS = ("test/i2t_map@50", "test/t2i_map@50", "test/map@50", "test/map@all")


def needs(plugin: str) -> pytest.MarkDecorator:
    """Skip unless the Hydra plugin is installed (pip install -e ".[sweep]")."""
    missing = importlib.util.find_spec(f"hydra_plugins.{plugin}") is None
    return pytest.mark.skipif(missing, reason=f'{plugin} not installed: pip install -e ".[sweep]"')


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny synthetic store, made once: parallel jobs must not race to generate it."""
    path = tmp_path_factory.mktemp("sweep_store") / "tiny.h5"
    make_synthetic(path, seed=0, **TINY_STORE)
    return path


def multirun(
    store: Path, sweep_dir: Path, *args: str, status: int = 0
) -> subprocess.CompletedProcess:
    """`python src/train.py -m` on the tiny store; fails the test with its output unless it
    exits with `status`."""
    command = [sys.executable, str(ROOT / "src" / "train.py"), "-m", f"data.path={store}"]
    command += [*TINY_RUN, f"hydra.sweep.dir={sweep_dir}", *args]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=300, cwd=sweep_dir.parent
    )
    assert result.returncode == status, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def check_runs(sweep_dir: Path, alphas: list[str]) -> list[dict]:
    """Each numbered run dir holds a results.json of its own override with test metrics."""
    runs = sorted(p for p in sweep_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert [p.name for p in runs] == [str(n) for n in range(len(alphas))]
    results = [json.loads((run / "results.json").read_text()) for run in runs]
    seen = sorted(next(o for o in r["overrides"] if o.startswith("model.alpha=")) for r in results)
    assert seen == sorted(f"model.alpha={alpha}" for alpha in alphas)
    for result in results:
        assert result["synthetic"] is True and result["code_length"] == 16
        for name in ("val/map@50", *TEST_METRICS):
            assert 0.0 <= result["metrics"][name] <= 1.0, name
    return results


JOBLIB = importlib.util.find_spec("hydra_plugins.hydra_joblib_launcher") is not None
LAUNCHERS = {"basic": [], "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]}


# One multirun in the default suite (each costs a fresh interpreter per process): joblib when
# the [sweep] extra is installed, as in [dev]; Hydra's basic launcher otherwise.
@pytest.mark.parametrize(
    "launcher",
    [
        pytest.param("basic", marks=[pytest.mark.slow] if JOBLIB else []),
        pytest.param("joblib", marks=needs("hydra_joblib_launcher")),
    ],
)
def test_multirun_writes_one_result_per_run(store: Path, tmp_path: Path, launcher: str) -> None:
    sweep = tmp_path / launcher
    multirun(store, sweep, "model.alpha=0.1,1", *LAUNCHERS[launcher])
    check_runs(sweep, ["0.1", "1"])
    assert (sweep / "multirun.yaml").is_file()


def test_failed_jobs_are_recorded_and_the_sweep_goes_on(store: Path, tmp_path: Path) -> None:
    """Jobs that fail after the door (a non-finite loss) do not end the sweep: the good jobs
    run, every failure is recorded in its results.json, and the sweep exits with status 1
    naming them. (A job the door refuses, such as one with a file that is no store, refuses
    the whole sweep before any job runs: tests/test_sweep_door.py.)"""
    sweep = tmp_path / "failing"
    args = ["seed=0,1", "model.lr_image=1e30,0.01"]
    result = multirun(store, sweep, *args, status=1)
    assert "Traceback" not in result.stderr + result.stdout  # user errors: no traceback
    jobs = {}
    for results in sweep.glob("*/results.json"):
        record = json.loads(results.read_text())
        key = tuple(o for o in record["overrides"] if o.startswith(("seed", "model.lr")))
        jobs[key] = record
    assert len(jobs) == 4
    for (seed, lr), record in jobs.items():
        if lr != "model.lr_image=0.01":
            assert record["status"] == "failed" and "non-finite loss" in record["error"]
        else:
            assert record["status"] == "completed"
            assert 0.0 <= record["metrics"]["test/map@50"] <= 1.0
    summary = result.stderr[result.stderr.index("error: 2 of 4 jobs of the sweep failed") :]
    failed = [line for line in summary.splitlines()[1:] if line.startswith("  ")]
    assert len(failed) == 2 and all("model.lr_image=1e" in line for line in failed)
    assert all("non-finite loss" in line for line in failed)


def test_sweep_summary_reads_the_job_folders(tmp_path: Path) -> None:
    """Generated job folders: failed, completed, and one that stopped before results.json."""
    from src.utils.jobs import sweep_failures

    statuses = ["completed", "failed", None, "completed", "failed", "completed"] * 2
    for number, status in enumerate(statuses):
        job = tmp_path / str(number)
        (job / ".hydra").mkdir(parents=True)
        overrides = ["seed=0", f"model.alpha={number}"]
        (job / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
        if status is not None:
            record = {"status": status, "overrides": overrides, "error": f"why {number}"}
            (job / "results.json").write_text(json.dumps(record))
    (tmp_path / "multirun.yaml").write_text("{}")  # not a job
    n_jobs, lines = sweep_failures(tmp_path)
    assert n_jobs == len(statuses)
    expected = [n for n, status in enumerate(statuses) if status != "completed"]
    assert [line.split(" (")[0].strip() for line in lines] == [
        str(tmp_path / str(n)) for n in expected
    ]
    for n, line in zip(expected, lines):
        assert f"(model.alpha={n}):" in line and "seed=0" not in line
        assert ("stopped before" in line) == (statuses[n] is None)


@pytest.mark.parametrize("search, expected", [([], None), (["hparams_search=optuna"], -math.inf)])
def test_a_failed_job_returns_the_worst_value_of_the_search(
    search: list[str], expected: float | None, tmp_path: Path
) -> None:
    """Optuna (direction: maximize) records a failed trial as the worst value and goes on;
    the basic sweeper gets None (it ignores the value)."""
    from hydra.core.hydra_config import HydraConfig

    from src.utils.jobs import _failed_value

    if search and importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is None:
        pytest.skip('hydra-optuna-sweeper not installed: pip install -e ".[sweep]"')
    os.environ.setdefault("PROJECT_ROOT", str(ROOT))
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        overrides = [*search, f"hydra.run.dir={tmp_path}"]
        HydraConfig().set_config(compose("train.yaml", overrides, return_hydra_config=True))
    assert _failed_value() == expected


@pytest.mark.slow
@needs("hydra_submitit_launcher")
def test_submitit_local_launcher(store: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "submitit"
    args = ["model.alpha=0.1,1", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5"]
    multirun(store, sweep, *args)
    check_runs(sweep, ["0.1", "1"])
    assert (sweep / ".submitit").is_dir()


@pytest.mark.slow
@needs("hydra_optuna_sweeper")
def test_optuna_search_maximises_validation_map(store: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "optuna"
    args = ["hparams_search=optuna", "hydra.sweeper.n_trials=2"]
    multirun(
        store,
        sweep,
        *args,
        "hydra.sweeper.sampler.n_startup_trials=1",
        "model.code_length=choice(16)",
    )
    runs = [json.loads(p.read_text()) for p in sorted(sweep.glob("[0-9]*/results.json"))]
    assert len(runs) == 2
    best = (sweep / "optimization_results.yaml").read_text()
    best_value = float(best.split("best_value:")[1].split()[0])
    # the sweeper saw the validation metric, never a test one
    assert best_value == pytest.approx(max(r["metrics"]["val/map@50"] for r in runs))


@needs("hydra_submitit_launcher")
def test_slurm_preset_extends_submitit_and_keeps_the_sweep_layout(tmp_path: Path) -> None:
    os.environ.setdefault("PROJECT_ROOT", str(ROOT))
    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        overrides = ["hydra/launcher=slurm", f"paths.log_dir={tmp_path}"]
        cfg = compose("train.yaml", overrides, return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert launcher.gpus_per_node == 1 and launcher.timeout_min == 240
    assert launcher.submitit_folder == f"{cfg.hydra.sweep.dir}/.submitit/%j"
    sweep = OmegaConf.to_container(cfg.hydra.sweep)  # unresolved: no job number outside a run
    assert sweep["dir"].endswith(",${task_name}/multiruns/${now:%Y-%m-%d}_${now:%H-%M-%S}}")
    assert sweep["dir"].startswith("${unique_dir:${paths.log_dir},")  # inside paths.log_dir
    assert sweep["subdir"] == "${hydra.job.num}"
