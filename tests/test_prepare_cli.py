"""scripts/prepare_data.py as a user runs it: one good conversion, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from src.data.store import validate_store

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def _run(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(ROOT / "scripts" / "prepare_data.py"), *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)


def _assert_one_line_error(result: subprocess.CompletedProcess, *parts: str) -> None:
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for part in parts:
        assert part in lines[0], (part, lines[0])


def test_wiki_into_tmp(tmp_path: Path) -> None:
    if not (SHARED / "wiki").is_dir():
        pytest.skip(f"real data folder {SHARED / 'wiki'} is absent")
    out = tmp_path / "wiki.h5"
    result = _run("wiki", "--source", str(SHARED / "wiki"), "--out", str(out), "--seed", "4")
    assert result.returncode == 0, result.stderr
    info = validate_store(out)
    assert info.n_items == 2866 and info.attrs["split_seed"] == 4
    assert info.split_sizes == {"train": 2173, "query": 693, "retrieval": 2173, "val": 217}
    assert "2866 items" in result.stdout


def test_missing_source_dir(tmp_path: Path) -> None:
    out = tmp_path / "wiki.h5"
    result = _run("wiki", "--source", str(tmp_path / "nowhere"), "--out", str(out))
    _assert_one_line_error(result, "nowhere", "found nothing there")
    assert list(tmp_path.iterdir()) == []


def test_missing_key(tmp_path: Path) -> None:
    source = tmp_path / "uci"
    source.mkdir()
    scipy.io.savemat(source / "uci_all.mat", {"I_tr": np.ones((4, 3))})
    out = tmp_path / "uci.h5"
    result = _run("uci", "--source", str(source), "--out", str(out))
    _assert_one_line_error(result, "uci_all.mat [L_tr]", "'I_tr'")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["uci"]
    assert sorted(p.name for p in source.iterdir()) == ["uci_all.mat"]
