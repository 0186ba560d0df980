"""Bad outputs of scripts/prepare_data.py: unusable --out, an input as --out, a full disk,
interrupts during the write, file modes (issue 13). Sources from tests/bad_releases.py."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bad_releases import (
    N_TE,
    N_TR,
    ROOT,
    SCRIPT,
    hashes,
    make_arrays,
    make_rng,
    make_uci,
    make_wiki,
    run,
    source_args,
)

SLOW = pytest.mark.slow


@pytest.fixture
def src(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    folder.mkdir()
    return folder


# ------------------------------------------------------------------------ output paths


BAD_OUT = [
    "directory",
    "parent_is_file",
    "parent_missing",
    "input",
    "link_to_input",
    pytest.param("hard_link_to_input", marks=SLOW),
    pytest.param("name_too_long", marks=SLOW),
    pytest.param("path_too_long", marks=SLOW),
]


@pytest.mark.parametrize("case", BAD_OUT)
def test_bad_out(tmp_path: Path, src: Path, case: str) -> None:
    make_uci(src)
    (tmp_path / "afile").write_text("x")
    (tmp_path / "link.mat").symlink_to(src / "uci_all.mat")
    os.link(src / "uci_all.mat", tmp_path / "hard.mat")
    out = {
        "directory": src,
        "parent_is_file": tmp_path / "afile" / "x.h5",
        "parent_missing": tmp_path / "nowhere" / "x.h5",
        "input": src / "uci_all.mat",
        "link_to_input": tmp_path / "link.mat",
        "hard_link_to_input": tmp_path / "hard.mat",
        "name_too_long": tmp_path / ("n" * 300 + ".h5"),
        "path_too_long": tmp_path.joinpath(*["d"] * 3000, "x.h5"),
    }[case]
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run([*source_args("uci", src), "--out", str(out)])
    # one line naming the file: first ("error: <file>: ...") when found while writing, or
    # as the value of --out when the flag's type refuses it before any work
    named = result.stderr.startswith(f"error: prepare_data.py: {out}") or (
        result.stderr.startswith("error: ")
        and "argument --out:" in result.stderr
        and repr(str(out)) in result.stderr
    )
    assert result.returncode == 2 and named, result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def _limit_file_size() -> None:  # a full disk, honestly: writes past 64 KiB fail with EFBIG
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 16, 1 << 16))


@pytest.mark.parametrize("dataset", ["arrays", pytest.param("wiki", marks=SLOW)])
def test_full_disk(tmp_path: Path, src: Path, dataset: str) -> None:
    if dataset == "arrays":
        args = make_arrays(src, {"image": make_rng().random((N_TR + N_TE, 3000))})
    else:
        make_wiki(
            src, {"I_tr": make_rng().random((N_TR, 3000)), "I_te": make_rng().random((N_TE, 3000))}
        )
        args = source_args(dataset, src)
    out = tmp_path / "out" / "store.h5"
    out.parent.mkdir()
    result = run([*args, "--out", str(out)], preexec_fn=_limit_file_size)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"error: prepare_data.py: {out}: cannot write the output (File too large); expected "
        "a writable path with room; nothing was written"
    ]
    assert list(out.parent.iterdir()) == []


# ------------------------------------------------------------------------ interrupts

SLOW_WRITE = """
import runpy, sys, time
sys.path.insert(0, {root!r})
import src.data.store as store
store.ROW_CHUNK = 1
checked = store.checked_features
def slow(*args):
    time.sleep(0.05)
    return checked(*args)
store.checked_features = slow
sys.argv = [{script!r}, *{args!r}]
runpy.run_path({script!r}, run_name="__main__")
"""


def _ignore_sigint() -> None:  # how a shell starts a background job (`cmd &`)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _start_slow(args: list[str], background: bool) -> subprocess.Popen:
    code = SLOW_WRITE.format(root=str(ROOT), script=SCRIPT, args=args)
    return subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_ignore_sigint if background else None,
    )


def _wait_for_temp(folder: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while not any(p.name.endswith(".tmp") for p in folder.iterdir()):
        assert process.poll() is None and time.monotonic() < deadline, "no temporary file seen"
        time.sleep(0.02)


@pytest.mark.parametrize(
    "signum, background",
    [
        (signal.SIGTERM, False),
        (signal.SIGINT, False),
        (signal.SIGKILL, False),
        pytest.param(signal.SIGINT, True, marks=SLOW),
    ],
)
def test_interrupt_during_write_leaves_nothing(
    tmp_path: Path, src: Path, signum: int, background: bool
) -> None:
    make_wiki(src)
    out = tmp_path / "out" / "store.h5"
    out.parent.mkdir()
    before = hashes(src)
    process = _start_slow([*source_args("wiki", src), "--out", str(out)], background)
    _wait_for_temp(out.parent, process)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert hashes(src) == before
    if signum == signal.SIGKILL:  # nothing can clean up: the next run does
        assert len(list(out.parent.iterdir())) == 1
        assert run([*source_args("wiki", src), "--out", str(out)]).returncode == 0
        assert [p.name for p in out.parent.iterdir()] == ["store.h5"]
        return
    assert process.returncode == 130, err
    assert err.splitlines() == [err.splitlines()[0]] and err.startswith(
        "error: prepare_data.py: interrupted"
    )
    assert list(out.parent.iterdir()) == []
