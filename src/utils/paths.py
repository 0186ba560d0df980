"""What a path is, in one place: every input and output check of the project says the same
true thing about it (`classify`), and asks for what it needs (`input_problem`,
`output_problem`).

A path is one of `KINDS`: a file, a folder, nothing (missing), a loop of symbolic links, a
link to a missing path, a path below a file (ENOTDIR), a special file (a device such as
/dev/null, a FIFO, a socket), a path the system refuses for its length, or one this user may
not look into. Checks that say "file not found" for a folder, or call a loop of links "a link
to a missing file", named the wrong fault (issue 22, second trial); they all go through here.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

# the words for each kind of path, as "found <words>"
KINDS = {
    "file": "a file",
    "folder": "a folder",
    "missing": "nothing there (no such file or folder)",
    "loop": "a loop of symbolic links",
    "dangling": "a link to a missing path",
    "under_file": "a path below something that is not a folder",
    "special": "a special file",
    "too_long": "a path longer than this system allows",
    "no_access": "a path this user may not look into",
}
SPECIAL_KINDS = (
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
)


@dataclass(frozen=True)
class PathClass:
    """What `classify` found: ``kind`` (a key of `KINDS`) and the words that say it, with the
    detail (the link's target, the file a path lies below, the device's kind)."""

    kind: str
    words: str


def _below_a_file(path: Path) -> Path | None:
    """The nearest ancestor of ``path`` that exists and is not a folder, if any."""
    for ancestor in path.parents:
        try:
            mode = ancestor.stat().st_mode
        except OSError:
            continue
        return None if stat.S_ISDIR(mode) else ancestor
    return None


def _from_errno(path: Path, code: int | None) -> PathClass:
    """The class of a path whose ``stat`` failed with ``code``."""
    if code == errno.ELOOP:
        return PathClass("loop", KINDS["loop"])
    if code == errno.ENAMETOOLONG:
        return PathClass("too_long", KINDS["too_long"])
    if code == errno.EACCES:
        return PathClass("no_access", KINDS["no_access"])
    if code == errno.ENOTDIR:
        below = _below_a_file(path)
        what = classify(below).words if below is not None else "not a folder"
        return PathClass("under_file", f"{KINDS['under_file']} ({below} is {what})")
    if os.path.islink(path):
        return PathClass("dangling", f"{KINDS['dangling']} ({os.readlink(path)})")
    return PathClass("missing", KINDS["missing"])


def classify(path: str | os.PathLike) -> PathClass:
    """What ``path`` is (`KINDS`), following links; never raises for a path the system
    refuses (too long, a loop), which is a class of its own."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return _from_errno(path, exc.errno)
    except ValueError:  # a NUL byte
        return PathClass("missing", "a name with a NUL byte")
    if stat.S_ISREG(mode):
        return PathClass("file", KINDS["file"])
    if stat.S_ISDIR(mode):
        return PathClass("folder", KINDS["folder"])
    special = next((words for test, words in SPECIAL_KINDS if test(mode)), KINDS["special"])
    return PathClass("special", f"{KINDS['special']}, {special}")


WANTS = {"file": "a file", "dir": "a folder", "any": "a file or a folder"}
OUT_WANTS = {"file": "an output file", "dir": "an output folder"}


def input_reason(path: str | os.PathLike, want: str = "file") -> str | None:
    """Why ``path`` is no input of kind ``want`` ("file": a readable regular file, "dir": a
    folder that can be listed, "any": either), as "found ...", else None."""
    found = classify(path)
    kinds = {"file": ("file",), "dir": ("folder",), "any": ("file", "folder")}[want]
    if found.kind not in kinds:
        return f"found {found.words}"
    access = os.R_OK | (os.X_OK if found.kind == "folder" else 0)
    if not os.access(path, access):
        return f"found {found.words} that this user may not read"
    return None


def input_problem(path: str | os.PathLike, want: str = "file", what: str = "") -> str | None:
    """What an input ``path`` lacks, as the words after "expected" (``what``, default
    `WANTS`, then `input_reason`), else None."""
    reason = input_reason(path, want)
    return None if reason is None else f"{what or WANTS[want]}, {reason}"


class _Vanished(Exception):
    """The folder probed was removed meanwhile (another run dropping an empty folder it made
    under a shared log folder): the check starts again from the path."""


VANISHED_RETRIES = 20  # checks started again when a probed folder vanished meanwhile


def _probe_folder(folder: Path) -> str | None:
    """Why no folder can be made in the existing folder ``folder`` (made and removed at once:
    the one test that holds for root and on /proc), else None. The folder's access and
    modification times are put back after the probe (`_keep_times`): a check, and a command
    refused after it, leaves a run folder as it was. Raises `_Vanished` when ``folder`` was
    removed meanwhile (not a reason to refuse: runs started together share ancestors that
    each may make and remove)."""
    try:
        before = (os.stat(folder), set(os.listdir(folder)))
        os.rmdir(tempfile.mkdtemp(prefix=".write-probe-", dir=folder))
    except FileNotFoundError as exc:  # it was there a moment ago: removed (and maybe made
        raise _Vanished(folder) from exc  # again) by another run
    except OSError as exc:
        return f"no folder can be made in {folder}: {exc.strerror}"
    _keep_times(folder, *before)
    return None


def _keep_times(folder: Path, stat: os.stat_result, entries: set[str]) -> None:
    """Set ``folder``'s access and modification times back to ``stat``'s (taken before a
    probe), unless its ``entries`` changed meanwhile (another process's file: the time it
    gave stays) or the times cannot be set (a folder of another owner)."""
    try:
        if set(os.listdir(folder)) == entries:
            os.utime(folder, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    except OSError:
        pass


def _nearest_existing(path: Path) -> tuple[Path, PathClass]:
    """The nearest of ``path`` and its ancestors that is something (not missing), with it."""
    for ancestor in (path, *path.parents):
        found = classify(ancestor)
        if found.kind != "missing":
            return ancestor, found
    return path, classify(path)


def _length_problem(path: Path, folder: Path) -> str | None:
    """A name or the whole path longer than the file system at ``folder`` allows."""
    try:
        name_max = os.pathconf(folder, "PC_NAME_MAX")
        path_max = os.pathconf(folder, "PC_PATH_MAX")
    except OSError:
        return None
    if any(len(part.encode()) > name_max for part in path.parts):
        return f"found a name longer than {name_max} bytes"
    if len(str(path).encode()) >= path_max:
        return f"found {KINDS['too_long']} ({path_max} bytes)"
    return None


def _folder_reason(path: Path, found: PathClass, want: str, parents: bool) -> str | None:
    """Why nothing can be written at ``path`` (its class ``found``) for lack of a usable
    folder: the nearest existing ancestor (the folder itself for an existing one) must be a
    folder this user may write in which a folder can be made, the names must fit, and without
    ``parents`` the folder of a new file or folder must exist already (it is not made)."""
    folder, above = (path, found) if found.kind == "folder" else _nearest_existing(path.parent)
    if above.kind != "folder":
        return f"found {above.words} at {folder}"
    if not parents and found.kind == "missing" and folder != path.parent:
        return f"found no folder {path.parent} (it is not made)"
    problem = _length_problem(path, folder)
    if problem:
        return problem
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"found a folder this user may not write ({folder})"
    return _probe_folder(folder) if found.kind == "missing" or want == "dir" else None


def output_reason(
    path: str | os.PathLike, want: str = "file", new: bool = False, parents: bool = True
) -> str | None:
    """Why nothing can be written at ``path``, as "found ..." (or why no folder can be made),
    else None, checked before anything is made: ``want`` "file" (an existing file to replace,
    unless ``new``, or a new one) or "dir" (an existing folder, or one that can be made); see
    `_folder_reason` for its folder and ``parents``."""
    if str(path) == "":
        return "found an empty path (the current folder)"
    if want == "file" and str(path).endswith(("/", "\\")):
        return "found a name ending in '/' (a folder)"
    path = Path(path).absolute()  # ".." kept: "file/../x" cannot be made, as the kernel sees
    for _ in range(VANISHED_RETRIES):
        found = classify(path)
        fits = {"file": ("file", "missing"), "dir": ("folder", "missing")}[want]
        if found.kind not in fits:
            return f"found {found.words}"
        if new and found.kind == "file":
            return "found an existing file (a new one is written, never over another)"
        try:
            return _folder_reason(path, found, want, parents)
        except _Vanished as gone:
            vanished = gone.args[0]
    return f"no folder can be made in {vanished}: it is removed as often as it is made"


def output_problem(
    path: str | os.PathLike, want: str = "file", new: bool = False, parents: bool = True
) -> str | None:
    """What an output ``path`` lacks, as the words after "expected" (`OUT_WANTS`, then
    `output_reason`), else None."""
    reason = output_reason(path, want, new, parents)
    return None if reason is None else f"{OUT_WANTS[want]}, {reason}"
