"""A run's life at the command line: bad checkpoints and a missing ckpt_path are one error
line, a finished run is not resumed, a store of another dataset is refused, Ctrl-C prints
the command that resumes the run in its own directory."""

import json
import os
import shlex
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch

from checkpoint_files import as_written
from cli_runs import TINY_ARGS, TINY_STORE, start

from src.data import preflight
from src.data.synthetic import make_synthetic
from src.utils import records
from src.utils.checkpoints import check_resumable, epochs_done, read_checkpoint
from src.utils.errors import ConfigError, DataError

TINY_RUN = [*TINY_ARGS, "model.eval_ks=[1]", "logger=none"]


def finish(process: subprocess.Popen) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=300)
    return process.returncode, out, err


def one_error_line(err: str, out: str = "", alone: bool = True) -> str:
    """The one error line on stderr. A run refused before training (`alone`) prints nothing
    else there: no traceback, no Lightning "Seed set to 0"; an interrupted training may have
    printed its progress before it."""
    assert "Traceback" not in err + out
    lines = err.splitlines() if alone else [x for x in err.splitlines() if x.startswith("error")]
    (line,) = lines
    assert line.startswith("error:"), err
    return line


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lifecycle") / "tiny.h5"
    make_synthetic(path, seed=0, **TINY_STORE)
    return path


def lightning_like_checkpoint(path: Path) -> Path:
    """A small file shaped like a Lightning checkpoint (what read_checkpoint accepts)."""
    state = {"layer.weight": torch.ones(4, 3)}
    checkpoint = {"state_dict": state, "hyper_parameters": {"code_length": 4}, "epoch": 0}
    torch.save(as_written(checkpoint), path)
    return path


def bad_checkpoints(folder: Path) -> dict[str, tuple[Path, str | None]]:
    """Generated files that are not checkpoints: (path, the key the error names)."""
    good = lightning_like_checkpoint(folder / "good.ckpt").read_bytes()
    rng = torch.Generator().manual_seed(0)
    cases: dict[str, tuple[bytes | None, str | None]] = {
        "empty": (b"", None),
        "random": (bytes(torch.randint(0, 256, (4096,), generator=rng).tolist()), None),
        "text": (b"not a checkpoint\n", None),
    }
    for fraction in (0.1, 0.5, 0.9):
        cases[f"truncated_{fraction}"] = (good[: int(len(good) * fraction)], None)
    files = {name: (folder / f"{name}.ckpt", key) for name, (_, key) in cases.items()}
    for name, (data, _) in cases.items():
        files[name][0].write_bytes(data)
    torch.save(torch.zeros(3), folder / "tensor.ckpt")
    files["tensor"] = (folder / "tensor.ckpt", None)
    torch.save({"model": {"w": torch.zeros(2)}}, folder / "other.ckpt")  # another project's
    files["other"] = (folder / "other.ckpt", "state_dict")
    with zipfile.ZipFile(folder / "zip.ckpt", "w") as archive:
        archive.writestr("data.pkl", b"x")
    files["zip"] = (folder / "zip.ckpt", None)
    files["missing"] = (folder / "missing.ckpt", None)
    return files


def test_files_that_are_not_checkpoints_are_one_error_naming_them(tmp_path: Path) -> None:
    for name, (path, key) in bad_checkpoints(tmp_path).items():
        with pytest.raises(DataError) as error:
            read_checkpoint(path)
        message = str(error.value)
        assert message.startswith(f"{path}" if key is None else f"{path} [{key}]"), name
        assert "\n" not in message, name
    assert read_checkpoint(tmp_path / "good.ckpt")["hyper_parameters"] == {"code_length": 4}


def test_eval_without_or_with_a_bad_checkpoint_is_one_line(tmp_path: Path) -> None:
    quiet = ["extras.print_config=true", "extras.enforce_tags=false"]
    bad = tmp_path / "random.ckpt"
    bad.write_bytes(os.urandom(2048))
    runs = [  # side by side, each in its own run directory (one process holds a directory)
        start("eval.py", [*quiet, f"hydra.run.dir={tmp_path / 'a'}"], tmp_path),
        start(
            "eval.py", [*quiet, f"hydra.run.dir={tmp_path / 'b'}", f"ckpt_path={bad}"], tmp_path
        ),
    ]
    (status, out, err), (bad_status, bad_out, bad_err) = [finish(p) for p in runs]
    assert status == 2 and "ckpt_path" in one_error_line(err, out)
    assert bad_status == 2 and one_error_line(bad_err, bad_out).startswith(f"error: {bad}: ")


def test_a_finished_run_is_not_resumed(store: Path, tmp_path: Path) -> None:
    """Resuming from the last.ckpt of a run that trained max_epochs epochs says there is
    nothing left to train, before reading data, testing or writing results."""
    run = tmp_path / "run"
    args = [f"data.path={store}", *TINY_RUN, "trainer.max_epochs=1", f"hydra.run.dir={run}"]
    status, out, err = finish(start("train.py", args, tmp_path))
    assert status == 0, err[-2000:]
    last = run / "checkpoints" / "last.ckpt"
    assert epochs_done(read_checkpoint(last)) == 1
    check_resumable(last, 2)  # one more epoch is something to train
    with pytest.raises(ConfigError, match="nothing left to train"):
        check_resumable(last, 1)
    again = tmp_path / "again"
    resume = [*args[:-1], f"ckpt_path={last}", f"hydra.run.dir={again}"]
    results = (run / "results.json").read_bytes()
    runs = [  # in parallel: resumed as finished, another code length, the finished run's folder
        start("train.py", resume, tmp_path),
        start(
            "train.py",
            [
                *resume[:-1],
                "trainer.max_epochs=2",
                "model.code_length=32",
                f"hydra.run.dir={again}_2",
            ],
            tmp_path,
        ),
        start("train.py", args, tmp_path),
    ]
    (s1, o1, e1), (s2, o2, e2), (s3, o3, e3) = [finish(p) for p in runs]
    assert s1 == 2 and "nothing left to train" in one_error_line(e1, o1)
    assert not (again / "results.json").exists()
    # refused before Lightning prints its device lines (one_error_line: nothing else on stderr)
    # the code length is named with both values before any weight is loaded
    line = one_error_line(e2, o2)
    assert s2 == 2 and line.startswith(f"error: ckpt_path: {last}: expected"), line
    assert "model.code_length: 16 in the checkpoint, 32 now" in line, line
    assert s3 == 2 and f"{run} holds an earlier run" in one_error_line(e3, o3)
    assert (run / "results.json").read_bytes() == results
    assert not Path(f"{again}_2").exists()


@pytest.mark.parametrize(
    "chosen, stored, expected",
    [
        ("wiki", "wiki", "wiki"),
        ("wiki", "uci", None),  # refused
        ("uci", "mirflickr", None),
        ("synthetic", "wiki", None),
        ("wiki", "my_arrays", "my_arrays"),  # a dataset without a config: taken as it is
        ("wiki", None, "wiki"),
        (None, "uci", "uci"),
    ],
)
def test_the_dataset_comes_from_the_store(
    monkeypatch: pytest.MonkeyPatch, chosen: str, stored: str, expected: str | None
) -> None:
    monkeypatch.setattr(
        preflight, "chosen_option", lambda group: chosen if group == "data" else None
    )
    attrs = {} if stored is None else {"dataset": stored}
    if expected is None:
        with pytest.raises(DataError, match=rf"^s\.h5 \[dataset\]: the store holds '{stored}'"):
            records.store_dataset("s.h5", attrs)
    else:
        assert records.store_dataset("s.h5", attrs) == expected


def test_a_store_of_another_dataset_is_refused(store: Path, tmp_path: Path) -> None:
    model = [o for o in TINY_RUN if not o.startswith("data.")]  # wiki has no generator
    args = ["data=wiki", f"data.path={store}", *model, f"hydra.run.dir={tmp_path / 'run'}"]
    status, out, err = finish(start("train.py", args, tmp_path))
    line = one_error_line(err, out)
    assert status == 2 and line.startswith(f"error: {store} [dataset]: ")
    assert "'synthetic'" in line and "data=wiki" in line


def test_a_refused_run_leaves_no_run_directory(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    args = [*TINY_RUN, f"data.path={tmp_path / 'missing.h5'}", "data.synthetic=null"]
    status, out, err = finish(start("train.py", [*args, f"paths.log_dir={logs}"], tmp_path))
    assert status == 2 and "missing.h5" in one_error_line(err, out)
    runs = logs / "train" / "runs"
    assert not runs.exists() or not list(runs.iterdir()), list(runs.rglob("*"))
    kept = tmp_path / "kept"  # a directory holding anything else is left whole
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    status, out, err = finish(start("train.py", [*args, f"hydra.run.dir={kept}"], tmp_path))
    assert status == 2 and (kept / "notes.txt").read_text() == "mine"
    assert [p.name for p in kept.iterdir()] == ["notes.txt"]  # no .hydra/, no train.log


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 240) -> None:
    start = time.monotonic()
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() - start < timeout, f"{path} never appeared"
        time.sleep(0.2)


def test_ctrl_c_prints_the_command_that_resumes_in_the_same_directory(
    store: Path, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    args = [f"data.path={store}", *TINY_RUN, "trainer.max_epochs=500", f"paths.log_dir={logs}"]
    args.append("callbacks.model_checkpoint.last_every_n_epochs=1")  # last.ckpt at once
    process = start("train.py", args, tmp_path)
    runs = logs / "train" / "runs"
    wait_for(runs, process)
    (run,) = runs.iterdir()
    wait_for(run / "checkpoints" / "last.ckpt", process)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    status, out, err = finish(process)
    line = one_error_line(err, out, alone=False)
    assert status == 130 and line.startswith("error: interrupted; resume")
    command = shlex.split(line.split(" with: ", 1)[1])
    assert f"hydra.run.dir={run}" in command
    assert f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}" in command
    done = epochs_done(read_checkpoint(run / "checkpoints" / "last.ckpt"))
    assert command[0] == "python" and command[1].endswith("train.py")
    resumed = subprocess.run(
        [sys.executable, *command[1:], f"trainer.max_epochs={done + 1}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert list(runs.iterdir()) == [run]  # no new run directory
    results = json.loads((run / "results.json").read_text())
    assert results["status"] == "completed" and "test/map@50" in results["metrics"]
    assert epochs_done(read_checkpoint(run / "checkpoints" / "last.ckpt")) == done + 1
