"""src/utils/io.py: atomic writes leave the old file or the whole new one, nothing else."""

from __future__ import annotations

import errno
import io
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from src.utils.errors import DataError
from src.utils.io import (
    Interrupted,
    atomic_path,
    remove_stale_temps,
    temp_name,
    write_text_atomic,
)
from src.utils.io_hdf5 import GuardedFile, hdf5_writer

ROOT = Path(__file__).resolve().parents[1]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_mode_follows_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        write_text_atomic(tmp_path / "a.json", "{}")
        with atomic_path(tmp_path / "b.bin") as tmp:
            tmp.write_bytes(b"x")
    finally:
        os.umask(old)
    for name in ("a.json", "b.bin"):
        assert _mode(tmp_path / name) == 0o666 & ~umask


def test_replaces_whole_file_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    write_text_atomic(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_error_in_block_keeps_old_file_and_removes_temp(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(ZeroDivisionError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            1 / 0
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


@pytest.mark.parametrize("case", ["directory", "parent_is_file", "parent_missing"])
def test_unusable_target_is_a_data_error(tmp_path: Path, case: str) -> None:
    (tmp_path / "file").write_text("x")
    target = {
        "directory": tmp_path,
        "parent_is_file": tmp_path / "file" / "out.h5",
        "parent_missing": tmp_path / "nowhere" / "out.h5",
    }[case]
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(DataError, match="expected"):
        write_text_atomic(target, "x", key="out")
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_parents_creates_the_folder(tmp_path: Path) -> None:
    write_text_atomic(tmp_path / "a" / "b" / "c.txt", "x", parents=True)
    assert (tmp_path / "a" / "b" / "c.txt").read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(DataError, match="writable"):
            write_text_atomic(folder / "x.txt", "x")
    finally:
        folder.chmod(0o755)


def test_stale_temps_of_dead_writers_are_removed(tmp_path: Path) -> None:
    target = tmp_path / "store.h5"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    dead_tmp = temp_name(target, int(dead.stdout))
    live_tmp = temp_name(target, os.getpid())
    other = tmp_path / ".other.h5.123-abcd.tmp"
    elsewhere = tmp_path / dead_tmp.name.replace(".store.h5.", ".store.h5.otherhost", 1)
    for path in (dead_tmp, live_tmp, other, elsewhere):
        path.write_text("leftover")
    assert remove_stale_temps(target) == [dead_tmp]
    write_text_atomic(target, "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [live_tmp.name, other.name, elsewhere.name, "store.h5"]
    )


def _writer_script(target: Path, size_limit: int | None) -> str:
    """A process that writes 12.5 MB slowly through atomic_path (under a file-size limit)."""
    lines = ["import resource, signal, sys, time", f"sys.path.insert(0, {str(ROOT)!r})"]
    # Ctrl-C as at a terminal, even where pytest itself runs with SIGINT ignored (a background
    # job of a non-interactive shell, where Python would otherwise never see the signal)
    lines.append("signal.signal(signal.SIGINT, signal.default_int_handler)")
    if size_limit is not None:  # a full disk, honestly: writes fail with EFBIG
        lines += [
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)",
            f"resource.setrlimit(resource.RLIMIT_FSIZE, ({size_limit}, {size_limit}))",
        ]
    body = f"""
        from src.utils.errors import one_line_errors
        from src.utils.io import atomic_path
        with one_line_errors():
            with atomic_path({str(target)!r}) as tmp:
                with open(tmp, "wb") as handle:
                    for _ in range(200):
                        handle.write(b"x" * 65536)
                        handle.flush()
                        print("writing", flush=True)
                        time.sleep(0.01)
                    time.sleep(120)  # still inside the write when the signal comes, however late
    """
    return "\n".join(lines) + textwrap.dedent(body)


def test_full_disk_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    script = _writer_script(target, size_limit=1 << 20)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"error: {target}: cannot write the output (File too large); expected a writable "
        "path with room; nothing was written"
    ]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_write_removes_temp(tmp_path: Path, signum: int) -> None:
    target = tmp_path / "out.bin"
    process = subprocess.Popen(
        [sys.executable, "-c", _writer_script(target, None)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline() == "writing\n"
    process.send_signal(signum)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert err.splitlines()[-1].startswith("error: interrupted")
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


class _FailingRaw(io.BytesIO):
    """A file whose writes fail once ``limit`` bytes are written (a disk that fills up)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def write(self, data) -> int:  # type: ignore[override]
        room = self.limit - self.tell()
        if room <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(bytes(memoryview(data).cast("B")[:room]))


def test_guarded_file_records_the_first_failure_and_skips_the_rest() -> None:
    guard = GuardedFile(_FailingRaw(limit=10))
    assert guard.write(b"x" * 6) == 6
    assert guard.write(b"y" * 8) == 8  # 4 written, then the disk is full: reported as done
    assert guard.write(b"z" * 5) == 5  # skipped
    assert guard.raw.getvalue() == b"x" * 6 + b"y" * 4
    assert guard.tell() == 19  # the positions HDF5 expects
    with pytest.raises(OSError, match="No space left"):
        guard.check()


def test_hdf5_writer_round_trip_and_mode(tmp_path: Path) -> None:
    data = np.arange(12.0).reshape(3, 4)  # (3, 4)
    with hdf5_writer(tmp_path / "a.h5") as (h5, guard):
        h5["x"] = data
        guard.check()
    with h5py.File(tmp_path / "a.h5", "r") as h5:
        np.testing.assert_array_equal(h5["x"][()], data)
    assert _mode(tmp_path / "a.h5") == 0o666 & ~_umask()
    assert [p.name for p in tmp_path.iterdir()] == ["a.h5"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("stop", [KeyboardInterrupt, Interrupted])
def test_a_signal_just_after_the_temporary_file_is_made_removes_it(
    stop: type, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signal that lands between the temporary file's creation and the block (trial 12: a
    burst sent as soon as the .tmp appeared left .last.ckpt.<host>.<pid>-<hex>.tmp): the file
    is removed as for a signal inside the block, and the target is untouched."""
    import src.utils.io as io_module

    real_close = os.close

    def close_then_stop(fd: int) -> None:
        real_close(fd)
        raise stop("signal")

    (tmp_path / "out.bin").write_bytes(b"old")
    monkeypatch.setattr(io_module.os, "close", close_then_stop)
    with pytest.raises(stop):
        with atomic_path(tmp_path / "out.bin"):
            pass
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]
    assert (tmp_path / "out.bin").read_bytes() == b"old"
