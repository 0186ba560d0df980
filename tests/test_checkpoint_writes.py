"""Checkpoint writes on an unlucky machine (issue 22, kind 6): a full disk, a rename across file
systems, a kill -9 during a save. One error line naming the checkpoint, no partial file under a
final name, no temporary file left (beside the checkpoint or in the system temp folder), the
previous checkpoint intact."""

import errno
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import src.callbacks.checkpoint_io as checkpoint_io
import src.utils.io as io_module
from src.callbacks.checkpoint_io import AtomicCheckpointIO
from src.utils.checkpoints import epochs_done, read_checkpoint
from src.utils.errors import DataError

FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def checkpoint(seed: int) -> dict:
    generator = torch.Generator().manual_seed(seed)
    return {"state_dict": {"w": torch.randn(64, 64, generator=generator)}, "epoch": seed}


class FailingFile:
    """A binary file that raises OSError(code) once ``limit`` bytes were written (a disk that
    fills up during the save); what fits is written."""

    def __init__(self, path: Path, code: int, limit: int) -> None:
        self.file, self.code, self.left = open(path, "wb"), code, limit

    def write(self, data: bytes) -> int:
        if len(data) > self.left:
            self.file.write(bytes(data[: self.left]))
            self.left = 0
            raise OSError(self.code, os.strerror(self.code))
        self.left -= len(data)
        return self.file.write(data)

    def flush(self) -> None:
        self.file.flush()

    def __enter__(self) -> "FailingFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()


def fault_cases() -> list[tuple[str, int, int]]:
    """(where, errno, bytes written first): during the write (at its start, after a part),
    at the fsync before the rename, at the rename."""
    cases = [("write", code, limit) for code in FULL for limit in (0, 1000, 9000)]
    cases += [("fsync", code, 0) for code in (errno.ENOSPC, errno.EDQUOT)]
    return cases + [("rename", errno.EXDEV, 0), ("rename", errno.ENOSPC, 0)]


@pytest.mark.parametrize("previous", [True, False], ids=["previous", "first"])
@pytest.mark.parametrize("where, code, limit", fault_cases())
def test_a_failed_save_keeps_the_previous_checkpoint(
    tmp_path: Path, monkeypatch, where: str, code: int, limit: int, previous: bool
) -> None:
    """Every fault: DataError naming the checkpoint and the errno's text; the previous file
    byte for byte (or none at all); no temporary file beside it or in the temp folder."""
    folder, temp_folder = tmp_path / "checkpoints", tmp_path / "tmp"
    temp_folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp_folder))
    monkeypatch.setattr("tempfile.tempdir", None)  # read TMPDIR again
    target = folder / "last.ckpt"
    if previous:
        AtomicCheckpointIO().save_checkpoint(checkpoint(0), target)
    before = target.read_bytes() if previous else None
    fault = OSError(code, os.strerror(code))
    if where == "write":
        monkeypatch.setattr(
            checkpoint_io, "open", lambda p, m: FailingFile(p, code, limit), raising=False
        )
    elif where == "fsync":
        monkeypatch.setattr(io_module.os, "fsync", lambda fd: (_ for _ in ()).throw(fault))
    else:
        monkeypatch.setattr(io_module.os, "replace", lambda a, b: (_ for _ in ()).throw(fault))
    with pytest.raises(DataError) as error:
        AtomicCheckpointIO().save_checkpoint(checkpoint(1), target)
    message = str(error.value)
    assert message.startswith(f"{target} [checkpoint]: cannot write the output ("), message
    assert os.strerror(code) in message and "\n" not in message
    assert message.endswith("the previous file is kept" if previous else "nothing was written")
    assert sorted(p.name for p in folder.iterdir()) == (["last.ckpt"] if previous else [])
    if previous:
        assert target.read_bytes() == before
    assert list(temp_folder.iterdir()) == []


def test_a_saved_checkpoint_loads_and_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.setattr("tempfile.tempdir", None)
    (tmp_path / "tmp").mkdir()
    target = tmp_path / "new" / "epoch_000.ckpt"
    AtomicCheckpointIO().save_checkpoint(checkpoint(3), target)
    loaded = torch.load(target, weights_only=True)
    assert torch.equal(loaded["state_dict"]["w"], checkpoint(3)["state_dict"]["w"])
    assert os.listdir(target.parent) == [target.name] and os.listdir(tmp_path / "tmp") == []


# ---- end to end: src/train.py, tiny data, a checkpoint written at every epoch

ROOT = Path(__file__).resolve().parents[1]
# kills the process during the N-th checkpoint write, whichever writer writes it: this
# project's (torch.save into a file, half written) or Lightning's own (before it moves its
# finished temporary file from the temp folder onto the checkpoint)
KILL_DURING_SAVE = """
import io, os, runpy, signal, sys
import torch
from fsspec.implementations.local import LocalFileOpener
nth, count, save = int(os.environ["KILL_AT_SAVE"]), [0], torch.save

def counted(obj, f, *args, **kwargs):
    if ".ckpt" not in str(getattr(f, "name", f)):  # an in-memory buffer, health_initial.pt
        return save(obj, f, *args, **kwargs)
    count[0] += 1
    if count[0] == nth:
        data = io.BytesIO()
        save(obj, data)
        f.write(data.getvalue()[: len(data.getvalue()) // 2])
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    return save(obj, f, *args, **kwargs)

def commit(self):
    count[0] += 1
    if count[0] == nth:
        os.kill(os.getpid(), signal.SIGKILL)
    return commit_(self)

torch.save, commit_, LocalFileOpener.commit = counted, LocalFileOpener.commit, commit
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def train_command(tmp_path: Path, run_dir: Path, *extra: str) -> list[str]:
    from cli_runs import TINY_ARGS

    (tmp_path / "data").mkdir(exist_ok=True)  # a store folder is never made (a typo hides it)
    return [
        str(ROOT / "src" / "train.py"),
        *TINY_ARGS,
        f"paths.data_dir={tmp_path / 'data'}",
        "logger=none",
        "test=false",
        "callbacks.model_checkpoint.last_every_n_epochs=1",
        f"hydra.run.dir={run_dir}",
        *extra,
    ]


def run(
    command: list[str], tmp_path: Path, env: dict | None = None, **kwargs
) -> subprocess.CompletedProcess:
    temp_folder = tmp_path / "tmp"
    temp_folder.mkdir(exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(temp_folder), **(env or {})}
    return subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900, **kwargs
    )


@pytest.mark.slow
def test_kill_during_a_checkpoint_save_leaves_nothing_in_the_temp_folder(tmp_path: Path) -> None:
    """kill -9 during the second checkpoint save of a run: nothing in the temp folder (Lightning's
    own writer left its temporary file there), no partial file under a checkpoint's name, the
    first checkpoint whole; the dead writer's temporary file beside it is removed by the next
    save into the folder."""
    run_dir = tmp_path / "run"
    command = [
        sys.executable,
        "-c",
        KILL_DURING_SAVE,
        *train_command(tmp_path, run_dir, "trainer.max_epochs=3"),
    ]
    result = run(command, tmp_path, env={"KILL_AT_SAVE": "2"})
    assert result.returncode == -9, result.stderr[-3000:]
    assert list((tmp_path / "tmp").iterdir()) == []
    folder = run_dir / "checkpoints"
    finals = [p for p in folder.iterdir() if not p.name.endswith(".tmp")]
    for path in finals:
        read_checkpoint(path)  # whole: every member passes its CRC-32
    assert epochs_done(read_checkpoint(folder / "last.ckpt")) == 1
    leftovers = [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    assert len(leftovers) == 1
    AtomicCheckpointIO().save_checkpoint(checkpoint(0), folder / "other.ckpt")
    assert not leftovers[0].exists()


def limit_file_size(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.mark.slow
def test_a_full_disk_during_a_run_is_one_line_and_keeps_the_last_checkpoint(
    tmp_path: Path,
) -> None:
    """A real write failure of the kernel (a file-size limit: EFBIG, as a full disk's ENOSPC)
    while a resumed run saves its next checkpoint: exit 2, one error line naming the
    checkpoint, last.ckpt of the first run byte for byte, no temporary file anywhere, no
    results.json."""
    from test_run_lifecycle import one_error_line

    run_dir = tmp_path / "run"
    first = run(
        [sys.executable, *train_command(tmp_path, run_dir, "trainer.max_epochs=1")], tmp_path
    )
    assert first.returncode == 0, first.stderr[-3000:]
    last = run_dir / "checkpoints" / "last.ckpt"
    saved = last.resolve().read_bytes()
    (run_dir / "results.json").unlink()  # the resumed run must not write one
    command = train_command(tmp_path, run_dir, "trainer.max_epochs=2", f"ckpt_path={last}")
    result = run([sys.executable, *command], tmp_path, preexec_fn=limit_file_size(len(saved) // 2))
    assert result.returncode == 2, result.stderr[-3000:]
    line = one_error_line(result.stderr, result.stdout, alone=False)
    assert "[checkpoint]: cannot write the output (File too large); " in line, line
    assert line.endswith(f"; last good checkpoint: {last}"), line
    assert last.resolve().read_bytes() == saved
    assert not [p for p in run_dir.rglob("*.tmp")] and list((tmp_path / "tmp").iterdir()) == []
    assert not (run_dir / "results.json").exists()
