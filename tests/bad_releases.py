"""Builders of small valid releases (Wiki, UCI, MIRFlickr/NUS-WIDE layout, .npy arrays) and
the harness that runs scripts/prepare_data.py on a damaged one (tests/test_bad_*.py)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import scipy.io

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = str(ROOT / "scripts" / "prepare_data.py")
N_TR, N_TE, DV, DT = 24, 8, 5, 3
N_LABELLED = 8300  # the DJSRH split needs 2,000 queries, 5,000 train and 1,000 val items


def make_rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _official(damage: dict | None, **extra: np.ndarray) -> dict[str, np.ndarray]:
    """I_tr, I_te [N, Dv] and T_tr, T_te [N, Dt] (random), ``extra``, then ``damage`` (a
    value of None removes the key)."""
    gen = make_rng()
    arrays = {
        f"{m}_{p}": gen.random((n, d))
        for m, d in (("I", DV), ("T", DT))
        for p, n in (("tr", N_TR), ("te", N_TE))
    }
    arrays.update(extra)
    arrays.update(damage or {})
    return {k: v for k, v in arrays.items() if v is not None}


def make_wiki(folder: Path, damage: dict | None = None) -> None:
    """A Wiki-shaped release: raw_features.mat (v5) and the two .list files."""
    scipy.io.savemat(folder / "raw_features.mat", _official(damage))
    for name, n in (("trainset", N_TR), ("testset", N_TE)):
        lines = [f"t{i}\ti{i}\t{i % 10 + 1}" for i in range(n)]
        (folder / f"{name}_txt_img_cat.list").write_text("\n".join(lines) + "\n")


def make_uci(folder: Path, damage: dict | None = None, v73: bool = False) -> None:
    """A UCI-shaped uci_all.mat (v5, or v7.3 stored column-major) with class ids L_*."""
    classes = {
        f"L_{p}": (np.arange(n) % 10 + 1.0)[:, None] for p, n in (("tr", N_TR), ("te", N_TE))
    }
    arrays = _official(damage, **classes)
    if v73:
        with h5py.File(folder / "uci_all.mat", "w") as h5:
            for key, value in arrays.items():
                h5[key] = np.asarray(value).T  # MATLAB v7.3: column-major
    else:
        scipy.io.savemat(folder / "uci_all.mat", arrays)


def make_labelled(folder: Path, prefix: str, damage: dict | None = None) -> None:
    """MIRFlickr/NUS-WIDE layout (v7.3 files): LAll [N, C], YAll [N, Dt], XAll [N, Dv]."""
    gen = make_rng()
    n_classes = 24 if prefix == "mirflickr25k" else 10
    label = np.zeros((N_LABELLED, n_classes), dtype=np.uint8)
    label[np.arange(N_LABELLED), np.arange(N_LABELLED) % n_classes] = 1
    arrays = {
        "LAll": label,
        "YAll": gen.random((N_LABELLED, DT)),
        "XAll": gen.random((N_LABELLED, DV)),
    }
    arrays.update(damage or {})
    names = {
        "LAll": "lall",
        "YAll": "yall",
        "XAll": "iall-vgg" if prefix == "mirflickr25k" else "xall-vgg",
    }
    for key, value in arrays.items():
        with h5py.File(folder / f"{prefix}-{names[key]}.mat", "w") as h5:
            if value is not None:
                h5[key] = np.asarray(value).T


def make_arrays(folder: Path, damage: dict | None = None) -> list[str]:
    gen = make_rng()
    n = N_TR + N_TE
    arrays = {
        "image": gen.random((n, DV)),
        "text": gen.random((n, DT)),
        "labels": np.arange(n) % 4,
    }
    arrays.update(damage or {})
    for key, value in arrays.items():
        np.save(folder / f"{key}.npy", value)
    files = [f"--{k}={folder / f'{k}.npy'}" for k in ("image", "text", "labels")]
    return ["arrays", *files, "--query-size", "6", "--train-size", "10"]


def source_args(dataset: str, folder: Path) -> list[str]:
    return [dataset, "--source", str(folder)]


# ------------------------------------------------------------------------ the harness


def hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def run(args: list[str], script: str = SCRIPT, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, script, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=180,
        **kwargs,
    )


def check_refused(
    tmp_path: Path, args: list[str], *parts: str, out: Path | None = None, script: str = SCRIPT
) -> str:
    """Run with --out (sources in tmp_path/src), check: exit 2, one ``error:`` line naming
    ``parts``, no traceback, sources unchanged, nothing new beside --out; return the line."""
    out = out or tmp_path / "out" / "store.h5"
    out.parent.mkdir(exist_ok=True)
    before = hashes(tmp_path / "src")
    beside = sorted(p.name for p in out.parent.iterdir()) if out.parent.is_dir() else None
    result = run([*args, "--out", str(out)], script)
    lines = result.stderr.splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for part in parts:
        assert part in lines[0], (part, lines[0])
    assert hashes(tmp_path / "src") == before
    if beside is not None:
        assert sorted(p.name for p in out.parent.iterdir()) == beside
    return lines[0]


def truncate(path: Path, fraction: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
