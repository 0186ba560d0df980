"""A refused run leaves an existing run folder exactly as it was.

Hydra writes ``.hydra/config.yaml``, ``hydra.yaml`` and ``overrides.yaml`` and opens the log
(``train.log``, appended) in the run folder before the job's own checks run. A resume aimed
at a finished run's folder (``hydra.run.dir=<run>``) that its checks then refuse -- nothing
left to train, other settings, a bad value -- would have rewritten the finished run's record
of how it was made and added lines to its log. `snapshot_run_dir` records such a folder
before Hydra writes (`src.utils.run_dirs.HoldRunDir`, which holds the folder's lock, so no
other process writes there meanwhile): every file's size and modification time, and the
bytes of the files Hydra writes. `restore_run_dir`, called when the job ends with a user
error (`src.utils.jobs.run_job`), puts those files back in place (same bytes, same
modification time, the same inode for a file Hydra rewrote) and removes what the refused run
added, unless the run did work there: it passed its checks (`work_starts`, called by train.py
and eval.py before fit or test), or wrote a checkpoint or results, or changed another file;
then the folder and its log stay as the run left them.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

# what a run writes when it has done work; a refused run never writes these
WORK_SUFFIXES = (".ckpt", ".json", ".h5", ".pt")


@dataclass
class Snapshot:
    """A run folder as it was: (size, mtime ns) of every file by relative path; the bytes,
    access and modification times of the files Hydra writes (`hydra_writes`); the (access,
    modification) times of every folder, itself as "."."""

    files: dict[str, tuple[int, int]] = field(default_factory=dict)
    saved: dict[str, tuple[bytes, int, int]] = field(default_factory=dict)
    dirs: dict[str, tuple[int, int]] = field(default_factory=dict)


_SNAPSHOTS: dict[str, Snapshot | None] = {}  # None: work started, nothing to restore


def hydra_writes(relative: str) -> bool:
    """Whether Hydra (or the start-up code) writes this file of a run folder before the
    job's checks: anything under ``.hydra/`` and the top-level logs (``*.log``)."""
    parts = Path(relative).parts
    return parts[0] == ".hydra" or (len(parts) == 1 and relative.endswith(".log"))


def _walk(root: Path) -> tuple[dict[str, os.stat_result], dict[str, os.stat_result]]:
    """(stat of every file or link, stat of every folder -- ``root`` as ".") by relative
    path under ``root``."""
    files, dirs = {}, {}
    for folder, _, names in os.walk(root):
        base = Path(folder).relative_to(root)
        dirs[str(base)] = os.stat(folder)
        for name in names:
            files[str(base / name)] = os.lstat(Path(folder, name))
    return files, dirs


def snapshot_run_dir(run_dir: str | os.PathLike) -> None:
    """Record the existing folder ``run_dir`` (module docstring) for `restore_run_dir`."""
    root = Path(run_dir)
    stats, dirs = _walk(root)
    snapshot = Snapshot(dirs={d: (s.st_atime_ns, s.st_mtime_ns) for d, s in dirs.items()})
    for relative, stat in stats.items():
        snapshot.files[relative] = (stat.st_size, stat.st_mtime_ns)
        if hydra_writes(relative) and not os.path.islink(root / relative):
            data = (root / relative).read_bytes()
            snapshot.saved[relative] = (data, stat.st_atime_ns, stat.st_mtime_ns)
    _SNAPSHOTS[os.path.realpath(root)] = snapshot


def work_starts() -> None:
    """The run's checks passed and its work starts (training, testing): a later error keeps
    the folder as the run leaves it (its log says what happened); nothing is restored."""
    for key in _SNAPSHOTS:
        _SNAPSHOTS[key] = None


def _did_work(snapshot: Snapshot, now: dict[str, os.stat_result]) -> bool:
    """Whether the run changed a file that Hydra does not write, or wrote a work file."""
    for relative, (size, mtime) in snapshot.files.items():
        if relative in snapshot.saved:
            continue
        stat = now.get(relative)
        if stat is None or (stat.st_size, stat.st_mtime_ns) != (size, mtime):
            return True
    new = set(now) - set(snapshot.files)
    return any(relative.endswith(WORK_SUFFIXES) for relative in new)


def restore_run_dir(run_dir: str | os.PathLike) -> bool:
    """After a refused run: put a folder recorded by `snapshot_run_dir` back as it was
    (module docstring). Returns whether ``run_dir`` was recorded (it existed before the run,
    so it is never removed); False for a folder this run made."""
    root = Path(run_dir)
    if os.path.realpath(root) not in _SNAPSHOTS:
        return False
    snapshot = _SNAPSHOTS.pop(os.path.realpath(root))
    now, dirs = _walk(root)
    if snapshot is None or _did_work(snapshot, now):
        return True
    for relative in set(now) - set(snapshot.files):
        (root / relative).unlink()
    for relative in sorted(set(dirs) - set(snapshot.dirs), key=len, reverse=True):
        shutil.rmtree(root / relative, ignore_errors=True)
    for relative, (data, atime, mtime) in snapshot.saved.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_bytes() != data:
            with open(path, "r+b" if path.is_file() else "wb") as file:  # the same inode
                file.write(data)
                file.truncate()
        os.utime(path, ns=(atime, mtime))
    for relative, times in sorted(snapshot.dirs.items(), key=lambda d: len(d[0]), reverse=True):
        if (root / relative).is_dir():
            os.utime(root / relative, ns=times)
    return True
