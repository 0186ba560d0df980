"""Runs that would train or evaluate nothing, presets this machine cannot run, a run directory
held by one process, a store that changes under a run (issue 22, kinds 2, 3, 4, 7)."""

import errno
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from src.data.loading import StoreRows, check_unchanged, fingerprint
from src.utils.checkpoints import read_checkpoint
from src.utils.errors import (
    ENVIRONMENT_ERRNOS,
    ConfigError,
    DataError,
    StoreChanged,
    one_line_errors,
    user_error,
)
from src.utils.run_checks import check_machine, check_run, check_trains_something
from src.utils.run_dirs import hold_run_dir, release_run_dir

ROOT = Path(__file__).resolve().parents[1]


def plain_batches(n_pairs: int, batch: int, drop_last: bool, world: int, limit) -> int:
    """Training batches of one process, counted by walking the pairs (the reference)."""
    pairs = list(range(n_pairs // world))
    batches = [pairs[i : i + batch] for i in range(0, len(pairs), batch)]
    batches = [b for b in batches if len(b) == batch or not drop_last]
    if isinstance(limit, float):
        return int(len(batches) * limit)
    return min(len(batches), limit)


def config(batch: int, drop_last: bool, world: int, limit, stage_limits=(1.0, 1.0)) -> OmegaConf:
    return OmegaConf.create(
        {
            "train": True,
            "test": True,
            "data": {"batch_size": batch, "drop_last": drop_last, "eval_batch_size": 16},
            "trainer": {
                "devices": world,
                "num_nodes": 1,
                "limit_train_batches": limit,
                "limit_val_batches": stage_limits[0],
                "limit_test_batches": stage_limits[1],
            },
        }
    )


def test_a_run_is_refused_exactly_when_it_would_train_no_batch() -> None:
    """300 generated (pairs, batch size, drop_last, processes, limit) settings: refused with
    one line naming the key exactly when a plain count of the batches gives 0."""
    rng = np.random.default_rng(22)
    refused = 0
    for _ in range(300):
        n_pairs, batch = int(rng.integers(0, 80)), int(rng.integers(2, 64))
        drop_last, world = bool(rng.integers(0, 2)), int(rng.integers(1, 4))
        limit = (
            float(rng.choice([1.0, 0.5, 0.1, 0.01]))
            if rng.random() < 0.7
            else int(rng.integers(0, 4))
        )
        cfg = config(batch, drop_last, world, limit)
        expected = plain_batches(n_pairs, batch, drop_last, world, limit)
        every = plain_batches(n_pairs, batch, drop_last, world, 1.0)
        if expected == every > 0 and not drop_last and (n_pairs // world) % batch == 1:
            with pytest.raises(ConfigError, match="^data.drop_last: .* last batch of 1 pair"):
                check_trains_something(cfg, {"train": n_pairs})  # a 1-pair batch (trial 8)
            continue
        if expected > 0:
            check_trains_something(cfg, {"train": n_pairs})
            continue
        refused += 1
        with pytest.raises(ConfigError, match="nothing would be trained") as error:
            check_trains_something(cfg, {"train": n_pairs})
        assert str(error.value).startswith(("data.batch_size: ", "trainer.limit_train_batches: "))
    assert refused > 30


SIZES = {"train": 160, "query": 40, "retrieval": 260, "val_query": 40, "val_retrieval": 160}


@pytest.mark.parametrize(
    "stage_limits, key",
    [((0.05, 1.0), "limit_val_batches"), ((1.0, 0.05), "limit_test_batches"), ((0.01, 0), None)],
)
def test_evaluation_limits_that_leave_no_batch(stage_limits, key) -> None:
    """debug=limit's fractions on a small store: a loader of 3 batches times 0.05 is 0
    batches (Lightning's traceback); 0 turns validation off on purpose, but a run that tests
    with a test limit of 0 would record no test metric."""
    cfg = config(32, True, 1, 1.0, stage_limits)
    if key is None:
        with pytest.raises(ConfigError, match="limit_val_batches"):
            check_run(cfg, SIZES, topk=50)
        cfg.train = False  # no validation without training: only the test stage counts
        cfg.ckpt_path = "last.ckpt"  # (train=false tests a checkpoint)
        with pytest.raises(ConfigError, match=r"^trainer\.limit_test_batches: 0 runs no test"):
            check_run(cfg, SIZES, topk=50)
        cfg.test = True
        cfg.trainer.limit_test_batches = 1.0
        check_run(cfg, SIZES, topk=50)
        return
    with pytest.raises(ConfigError, match=rf"^trainer\.{key}: "):
        check_run(cfg, SIZES, topk=50)


@pytest.mark.parametrize(
    "train, test, ckpt",
    list(
        __import__("itertools").product(
            [True, False, None], [True, False, None], [None, "", "runs/x/last.ckpt"]
        )
    ),
)
def test_train_py_without_training_needs_a_checkpoint_to_test(train, test, ckpt) -> None:
    """train.py with train=false tests ckpt_path's weights: without one a trial's run tested
    the untrained model and recorded it as completed; with test=false too nothing ran. Every
    combination of the three keys (None: the key absent, as in eval.py's configuration)
    against the rule written out."""
    cfg = config(32, True, 1, 1.0)
    for key, value in (("train", train), ("test", test), ("ckpt_path", ckpt)):
        if value is None:
            cfg.pop(key, None)
        else:
            cfg[key] = value
    refused = train is False and (not test or not ckpt)
    if refused:
        with pytest.raises(ConfigError, match=r"^(ckpt_path|train, test): "):
            check_run(cfg, SIZES, topk=50)
    else:
        check_run(cfg, SIZES, topk=50)


# the test cut-off's bound alone: a validation retrieval set above every k tried
BIG_VAL = {**SIZES, "val_retrieval": 100_000}


def test_a_top_k_beyond_the_retrieval_set_is_refused() -> None:
    """(A validation retrieval set larger than any k here: its own bound is tested apart.)"""
    cfg = config(32, True, 1, 1.0)
    check_run(cfg, BIG_VAL, topk=SIZES["retrieval"])
    with pytest.raises(ConfigError, match=r"^model\.eval_topk: 261 is more than the 260"):
        check_run(cfg, BIG_VAL, topk=SIZES["retrieval"] + 1)


def test_a_top_k_read_from_a_checkpoint_is_named_as_the_checkpoint_s() -> None:
    """eval.py's cut-off is the checkpoint's: the line says so and asks for other data, not
    for a value of model.eval_topk (which eval.py does not take)."""
    cfg = config(32, True, 1, 1.0)
    for extra in (1, 7, 10_000):
        topk = SIZES["retrieval"] + extra
        with pytest.raises(ConfigError) as error:
            check_run(cfg, BIG_VAL, topk, "runs/a/last.ckpt")
        line = str(error.value)
        assert line.startswith(f"model.eval_topk: {topk}, the value saved in the checkpoint ")
        assert "runs/a/last.ckpt" in line and f"at least {topk} retrieval items" in line
    check_run(cfg, BIG_VAL, SIZES["retrieval"], "runs/a/last.ckpt")


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="checks the refusal on a machine without GPU"
)
@pytest.mark.parametrize(
    "trainer, key",
    [
        ({"accelerator": "gpu", "devices": 1}, "trainer.accelerator"),
        ({"accelerator": "cuda", "devices": 4}, "trainer.accelerator"),
        ({"accelerator": "cpu", "devices": 1, "precision": "16-mixed"}, "trainer.precision"),
        ({"accelerator": "auto", "devices": 1, "precision": 16}, "trainer.precision"),
    ],
)
def test_presets_that_need_a_gpu_are_refused_here(trainer: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{key}: "):
        check_machine(OmegaConf.create(trainer))
    ddp_sim = {"strategy": {"find_unused_parameters": True}, "use_distributed_sampler": False}
    check_machine(
        OmegaConf.create({"accelerator": "cpu", "devices": 2, "precision": "32-true"} | ddp_sim)
    )


HOLD = "import sys, time; from src.utils.run_dirs import hold_run_dir; hold_run_dir(sys.argv[1]);"


def test_a_run_directory_is_held_by_one_process_until_it_dies(tmp_path: Path) -> None:
    """A second holder gets one ConfigError line naming the directory; the lock goes with its
    holder, kill -9 included, and is never left behind. The holding process may ask again
    (Hydra's callback holds it first, the job again): it holds it once."""
    held = hold_run_dir(tmp_path)
    assert hold_run_dir(tmp_path) is None
    release_run_dir(held)
    release_run_dir(hold_run_dir(tmp_path))  # free again
    other = subprocess.Popen(
        [sys.executable, "-c", HOLD + " print('held', flush=True); time.sleep(60)", tmp_path],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout.readline().strip() == "held"
        with pytest.raises(ConfigError, match=f"^hydra.run.dir: {tmp_path} is in use by another"):
            hold_run_dir(tmp_path)
    finally:
        other.send_signal(signal.SIGKILL)
        other.wait()
    release_run_dir(hold_run_dir(tmp_path))  # the killed holder's lock died with it
    assert sorted(os.listdir(tmp_path)) == []  # nothing written into the directory


def test_other_ranks_share_the_directory_of_rank_zero(tmp_path: Path, monkeypatch) -> None:
    held = hold_run_dir(tmp_path)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert hold_run_dir(tmp_path) is None
    release_run_dir(held)


def test_a_store_that_changes_under_a_streamed_run_stops_it(synthetic_store, tmp_path) -> None:
    """Truncated, rewritten, replaced by another file or removed after the run opened it: the
    next streamed read raises one StoreChanged line naming the store; an unchanged store
    reads."""
    changes = {
        "truncated": lambda p: os.truncate(p, p.stat().st_size // 2),
        "appended": lambda p: p.open("ab").write(b"\0" * 16),
        "replaced": lambda p: (p.unlink(), shutil.copy(synthetic_store, p)),
        "removed": lambda p: p.unlink(),
    }
    rows = np.arange(8)
    for name, change in changes.items():
        path = tmp_path / f"{name}.h5"
        shutil.copy(synthetic_store, path)
        dataset = StoreRows(path, rows, None, fingerprint(path))
        image, *_ = dataset.__getitems__([0, 1, 2])
        assert image.shape[0] == 3
        change(path)
        with pytest.raises(StoreChanged) as error:
            dataset.__getitems__([0, 1, 2])
        assert str(error.value).startswith(f"{path}: the feature store changed"), name
    check_unchanged(synthetic_store, fingerprint(synthetic_store))


def test_a_store_change_reported_by_a_loader_worker_keeps_its_one_line() -> None:
    """A DataLoader worker's exception comes back as its type built from a traceback text."""
    wrapped = "Caught StoreChanged in DataLoader worker process 0.\nOriginal Traceback ...\n"
    error = StoreChanged(wrapped + "src.utils.errors.StoreChanged: /x.h5: the feature store")
    assert str(error) == "/x.h5: the feature store"


def test_refused_runs_end_to_end(tmp_path: Path) -> None:
    """The command line, one case per kind, in parallel: exit 2, one error line naming the key,
    no traceback, no run directory left, no results.json anywhere."""
    from cli_runs import TINY_ARGS, start
    from test_run_lifecycle import finish, one_error_line

    (tmp_path / "data").mkdir(exist_ok=True)  # paths.data_dir must exist (no folder is made)
    base = [*TINY_ARGS, f"paths.data_dir={tmp_path / 'data'}", "logger=none"]
    cases = {  # the other cases of each kind are tested on the checking functions above
        "seed": ["seed=abc"],
        "logger=none": ["logger=null"],
        "data.batch_size": ["data.batch_size=500"],
    }
    if not torch.cuda.is_available():
        cases["trainer.accelerator"] = ["trainer=gpu"]
    runs = {
        key: start("train.py", [*base, *extra, f"hydra.run.dir={tmp_path / f'run{i}'}"], tmp_path)
        for i, (key, extra) in enumerate(cases.items())
    }
    for key, process in runs.items():
        status, out, err = finish(process)
        assert status == 2, (key, err[-2000:])
        assert key in one_error_line(err, out, alone=False), key
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("run")]
    assert not list(tmp_path.rglob("results.json"))


@pytest.mark.parametrize("code", sorted(ENVIRONMENT_ERRNOS))
def test_faults_of_the_machine_are_one_line_naming_the_path(code: int) -> None:
    """An OSError of the environment (a path too long, no permission, a read-only or full
    disk), raised directly or behind a wrapper (Hydra's instantiation error), names the path
    and what to do; other OSErrors stay bugs."""
    fault = OSError(code, os.strerror(code), "/some/path")
    for raised in (fault, wrapped(fault)):
        error = user_error(raised)
        assert isinstance(error, DataError) and str(error).startswith("/some/path: ")
        assert str(error).endswith(ENVIRONMENT_ERRNOS[code])
    assert user_error(OSError(errno.EBADF, "bad file descriptor", "/x")) is None


def wrapped(exc: BaseException) -> BaseException:
    try:
        raise exc
    except OSError as cause:
        try:
            raise RuntimeError("Error in call to target") from cause
        except RuntimeError as outer:
            return outer


@pytest.mark.parametrize("where", ["name", "folder"])
def test_a_checkpoint_path_too_long_is_one_line(tmp_path: Path, capsys, where: str) -> None:
    long = "a" * 300
    path = tmp_path / long if where == "name" else tmp_path / long / "last.ckpt"
    with pytest.raises(SystemExit) as exit_:
        with one_line_errors():
            read_checkpoint(path)
    assert exit_.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: ") and "a path longer than this system allows" in line, line
