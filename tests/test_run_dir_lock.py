"""A run directory held by one process: a second process on it is refused before Hydra writes
anything there (issue 22, kind 4: ``.hydra/*.yaml`` and the log of the holder stay intact)."""

import secrets
import signal
import subprocess
import sys
from pathlib import Path

from cli_runs import ROOT, TINY_ARGS, start
from test_run_lifecycle import finish, one_error_line

# holds the directory given as argv[1], writes what a run writes first, then waits
HOLDER = """
import sys, time
from pathlib import Path
from src.utils.run_dirs import hold_run_dir
run_dir = Path(sys.argv[1])
hold_run_dir(run_dir)
for name, text in zip(sys.argv[2::2], sys.argv[3::2]):
    (run_dir / name).parent.mkdir(parents=True, exist_ok=True)
    (run_dir / name).write_text(text)
print("held", flush=True)
time.sleep(300)
"""
HOLDER_FILES = (".hydra/config.yaml", ".hydra/hydra.yaml", ".hydra/overrides.yaml", "train.log")


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """(content, modification time in ns) of every file under ``folder``, by relative path."""
    return {
        str(path.relative_to(folder)): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_a_second_process_leaves_the_holders_files_untouched(tmp_path: Path) -> None:
    """train.py, eval.py and a sweep given a directory that a live process holds: each exits 2
    with one line naming hydra.run.dir, and every file of the holder keeps its bytes and its
    modification time (before, Hydra rewrote .hydra/ and appended to the log before the
    refusal); nothing is added. The holder's file contents are random per run."""
    run_dir = tmp_path / "held"
    run_dir.mkdir()
    contents = [part for name in HOLDER_FILES for part in (name, secrets.token_hex(16))]
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run_dir), *contents],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        before = snapshot(run_dir)
        assert sorted(before) == sorted(HOLDER_FILES)
        (tmp_path / "data").mkdir(exist_ok=True)  # paths.data_dir must exist (no folder is made)
        base = [*TINY_ARGS, f"paths.data_dir={tmp_path / 'data'}", "logger=none"]
        eval_base = [a for a in base if not a.startswith("model.")]
        contenders = {
            "train": start("train.py", [*base, f"hydra.run.dir={run_dir}"], tmp_path),
            "eval": start(
                "eval.py",
                [*eval_base, f"ckpt_path={tmp_path / 'x.ckpt'}", f"hydra.run.dir={run_dir}"],
                tmp_path,
            ),
            "sweep": start(
                "train.py", ["-m", *base, "seed=0,1", f"hydra.sweep.dir={run_dir}"], tmp_path
            ),
        }
        for name, process in contenders.items():
            status, out, err = finish(process)
            assert status == 2, (name, err[-2000:])
            line = one_error_line(err, out)
            # a sweep into a single run's folder is refused first: no sweep folder of this
            # project (tests/test_sweep_shared.py); the runs are told it is in use
            if name == "sweep":
                start_ = f"error: hydra.sweep.dir: {run_dir} is a folder of other files"
            else:
                start_ = f"error: hydra.run.dir: {run_dir} is in use"
            assert line.startswith(start_), (name, line)
        assert snapshot(run_dir) == before
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert not list((tmp_path / "data").iterdir())  # refused before any store was made
