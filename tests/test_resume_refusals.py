"""A refused run changes no file of an existing run folder, and the commands that error lines
print work (issue 22, second trial: a refused resume aimed at a finished folder rewrote its
.hydra/*.yaml and appended to train.log; the printed commands were refused). In process:
generated folders and generated writes of a refused run, against a plain hash of every file.
At the command line: refusals of several kinds aimed at copies of a finished run, then the
commands they print, run."""

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from cli_runs import TINY_ARGS, TINY_STORE, start
from test_run_lifecycle import finish, one_error_line

from src.data.synthetic import make_synthetic
from src.utils.run_dir_guard import restore_run_dir, snapshot_run_dir, work_starts


def state(folder: Path) -> dict[str, tuple]:
    """The reference: (sha256, mtime ns) of every file and link target, and the mtime of
    every folder, ``folder`` itself as "." (trial 34: a refused eval.py changed it), by
    relative path."""
    found: dict[str, tuple] = {}
    for path in [folder, *sorted(folder.rglob("*"))]:
        relative = str(path.relative_to(folder))
        if path.is_symlink():
            found[relative] = ("link", os.readlink(path))
        elif path.is_dir():
            found[relative] = ("dir", path.stat().st_mtime_ns)
        else:
            found[relative] = (
                hashlib.sha256(path.read_bytes()).hexdigest(),
                path.stat().st_mtime_ns,
            )
    return found


def make_run_folder(root: Path, rng: np.random.Generator) -> None:
    """A folder as runs leave them: some of .hydra/*.yaml, train.log, checkpoints (one maybe
    a link), results.json, a user's notes; files made a while ago."""
    root.mkdir()
    if rng.random() < 0.7:
        (root / ".hydra").mkdir()
        for name in ("config.yaml", "hydra.yaml", "overrides.yaml"):
            (root / ".hydra" / name).write_text(f"{name}: {rng.integers(1000)}\n")
    if rng.random() < 0.7:
        (root / "train.log").write_text("epoch 0\n" * int(rng.integers(1, 50)))
    if rng.random() < 0.6:
        (root / "checkpoints").mkdir()
        (root / "checkpoints" / "epoch_000.ckpt").write_bytes(rng.bytes(64))
        if rng.random() < 0.5:
            os.symlink("epoch_000.ckpt", root / "checkpoints" / "last.ckpt")
    if rng.random() < 0.5:
        (root / "results.json").write_text("{}")
    if rng.random() < 0.3:
        (root / "notes.txt").write_text("mine")
    for path in [root, *root.rglob("*")]:
        os.utime(path, ns=(10**18, 10**18), follow_symlinks=False)


def refused_writes(root: Path, rng: np.random.Generator, work: bool) -> None:
    """What Hydra and a run's start-up write before a refusal (rewritten .hydra files, log
    lines, a debug.log); with ``work``, also a new checkpoint (a run that trained)."""
    (root / ".hydra").mkdir(exist_ok=True)
    for name in ("config.yaml", "hydra.yaml", "overrides.yaml"):
        if rng.random() < 0.8:
            (root / ".hydra" / name).write_text(f"rewritten {rng.integers(1000)}\n")
    with open(root / "train.log", "a") as log:
        log.write("[INFO] Output dir: ...\n")
    if rng.random() < 0.3:
        (root / "debug.log").write_text("x")
    if work:
        (root / "checkpoints").mkdir(exist_ok=True)
        (root / "checkpoints" / "epoch_001.ckpt").write_bytes(b"trained")


def test_a_refused_run_leaves_an_existing_folder_as_it_was(tmp_path: Path) -> None:
    """40 generated folders and refused runs: every file's bytes and modification time, and
    the listing, as before; a run that wrote a checkpoint, or failed after its checks passed,
    keeps what it wrote."""
    rng = np.random.default_rng(22)
    for case in range(40):
        root = tmp_path / f"run{case}"
        make_run_folder(root, rng)
        before = state(root)
        snapshot_run_dir(root)
        work, started = rng.random() < 0.25, rng.random() < 0.2
        if started:  # the run passed its checks: a later error keeps what it wrote
            work_starts()
        refused_writes(root, rng, work)
        assert restore_run_dir(root)  # recorded: never removed, whatever happened
        after = state(root)
        if started:
            assert after != before and len(after) >= len(before)
        elif work:
            assert "checkpoints/epoch_001.ckpt" in after and after != before
        else:
            assert after == before, case
    assert not restore_run_dir(tmp_path / "never_recorded")


def command_after(line: str, words: str) -> list[str]:
    """The command an error line prints after ``words`` (to the next '; ' or the end)."""
    text = line.split(words, 1)[1]
    for end in (" (any trainer", "; or "):
        text = text.split(end, 1)[0]
    return shlex.split(text)


def run_printed(command: list[str], cwd: Path) -> subprocess.Popen:
    """Start a printed ``python ...`` command with this interpreter."""
    assert command[0] == "python", command
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, *command[1:]],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_refusals_aimed_at_a_finished_run_change_nothing_and_print_working_commands(
    tmp_path: Path,
) -> None:
    """A finished one-epoch run, copied once per refusal (one process holds a folder):
    finished, other settings, a bad value, a folder as ckpt_path; eval.py into the run's
    folder, and with a bad value on its checkpoint; and eval.py on an edited copy of its
    checkpoint. Each exits 2 with one line; each copy is as it was, file by file and folder
    by folder (modification times included). Then the finished refusal's two commands (train
    one epoch more; test it) run with exit 0."""
    store = tmp_path / "tiny.h5"
    make_synthetic(store, seed=0, **TINY_STORE)
    base = [
        f"data.path={store}",
        *TINY_ARGS,
        "model.eval_ks=[1]",
        "logger=none",
        f"paths.log_dir={tmp_path / 'logs'}",
    ]
    run = tmp_path / "finished"
    first = [*base, "trainer.max_epochs=1", f"hydra.run.dir={run}"]
    status, _, err = finish(start("train.py", first, tmp_path))
    assert status == 0, err[-2000:]
    cases = {
        "nothing left to train": ["trainer.max_epochs=1"],
        "model.loss_scale: 'tuned' in the checkpoint, 'paper' now": [
            "trainer.max_epochs=2",
            "model.loss_scale=paper",
        ],
        "data.num_workers": ["trainer.max_epochs=2", "data.num_workers=-1"],
        "found a folder": ["trainer.max_epochs=2", "ckpt_path=FOLDER"],
        "eval: holds an earlier run": ["eval.py"],
        "eval: data.batch_size": ["eval.py", "data.batch_size=0", "hydra.run.dir=NONE"],
    }
    copies, before, runs = {}, {}, {}
    for n, (words, extra) in enumerate(cases.items()):
        copies[words] = tmp_path / f"copy{n}"
        shutil.copytree(run, copies[words], symlinks=True)
        before[words] = state(copies[words])
        ckpt = copies[words] / "checkpoints" / "last.ckpt"
        extra = [e.replace("FOLDER", str(copies[words])) for e in extra]
        script = extra.pop(0) if extra[0] == "eval.py" else "train.py"
        given = [a for a in base if not a.startswith("model.")] if script == "eval.py" else base
        folder = [] if "hydra.run.dir=NONE" in extra else [f"hydra.run.dir={copies[words]}"]
        extra = [e for e in extra if e != "hydra.run.dir=NONE"]
        runs[words] = start(script, [*given, f"ckpt_path={ckpt}", *extra, *folder], tmp_path)
    edited = tmp_path / "edited.ckpt"
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    checkpoint["state_dict"]["image_std"][0] = 0.0
    torch.save(checkpoint, edited)
    eval_base = [a for a in base if not a.startswith("model.")]  # the checkpoint's model
    evaluated = start("eval.py", [*eval_base, f"ckpt_path={edited}"], tmp_path)
    lines = {}
    for words, process in runs.items():
        status, out, err = finish(process)
        lines[words] = one_error_line(err, out)
        assert status == 2 and words.split(": ")[-1] in lines[words], lines[words]
        assert state(copies[words]) == before[words], words
    status, out, err = finish(evaluated)
    assert status == 2
    assert one_error_line(err, out).startswith(f"error: {edited} [content_sha256]: expected")
    assert not list((tmp_path / "logs").glob("eval/runs/*"))  # no run folder left
    line = lines["nothing left to train"]
    train_on = command_after(line, "train on with: ")
    test_it = command_after(line, "test it with: ")
    folder = copies["nothing left to train"]
    assert f"hydra.run.dir={folder}" in train_on and "trainer.max_epochs=2" in train_on
    for process in [run_printed(command, tmp_path) for command in (train_on, test_it)]:
        status, _, err = finish(process)
        assert status == 0, err[-2000:]
    assert '"status": "completed"' in (folder / "results.json").read_text()


def test_the_store_changed_line_prints_the_command_that_goes_on(tmp_path, monkeypatch) -> None:
    """The line of a store changed under a run names the last good checkpoint and, in place
    of "run again" (refused: it needs ckpt_path and hydra.run.dir), resume_hint's command: a
    resume in the run's folder while epochs are left (run by
    test_run_lifecycle.py::test_ctrl_c_prints_the_command_that_resumes_in_the_same_directory),
    the eval.py command once the checkpoint finished them (run above)."""
    from types import SimpleNamespace

    from omegaconf import OmegaConf
    from test_checkpoint_integrity import write_checkpoint

    from src.train import naming_last_good
    from src.utils.errors import StoreChanged

    monkeypatch.setattr(sys, "argv", ["src/train.py"])
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / ".hydra").mkdir()
    last = write_checkpoint(run / "checkpoints" / "last.ckpt")  # one epoch done
    trainer = SimpleNamespace(checkpoint_callback=SimpleNamespace(dirpath=run / "checkpoints"))
    for max_epochs, words in ((5, "resume (from the end of epoch 1"), (1, "test it with: ")):
        cfg = OmegaConf.create(
            {
                "task_name": "train",
                "ckpt_path": None,
                "paths": {"output_dir": str(run)},
                "trainer": {"max_epochs": max_epochs},
                "data": {"path": str(tmp_path / "store.h5")},
            }
        )
        line = str(naming_last_good(StoreChanged("s.h5: the feature store changed"), cfg, trainer))
        assert "run again" not in line and f"last good checkpoint: {last}" in line, line
        command = shlex.split(line.split(" with: ", 1)[1])
        assert command[0] == "python" and f"ckpt_path={last}" in command, line
        assert words in line, line
        if max_epochs == 5:
            assert f"hydra.run.dir={run}" in command and command[1] == "src/train.py"
        else:
            assert (
                command[1].endswith("eval.py") and f"data.path={tmp_path / 'store.h5'}" in command
            )
