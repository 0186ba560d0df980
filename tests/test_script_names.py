"""Every refusal of every script in scripts/ names the script (trial 28 s05, s06, s09: data
errors said only the file), by one mechanism: ``one_line_errors(SCRIPT)`` and
``ArgumentParser(prog=SCRIPT)`` (src/utils/errors.py). For each script a data error and a
flag error, in-process: exit 2, one (last) line ``error: <script>.py: ...``, no traceback."""

import importlib.util
import os
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.stem for p in (ROOT / "scripts").glob("*.py"))


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def garbage(folder: Path) -> dict[str, Path]:
    """Inputs that exist but hold no data: a text file under every name a script reads, a
    folder whose results.json is not a run record, a dangling link."""
    folder.mkdir(exist_ok=True)
    files = {name: folder / name for name in ("x.h5", "x.mat", "x.npy")}
    for path in files.values():
        path.write_text("not data\n")
    (folder / "runs" / "r").mkdir(parents=True, exist_ok=True)
    (folder / "runs" / "r" / "results.json").write_text("[]")
    os.symlink(folder / "gone", folder / "dangling")
    return files | {"runs": folder / "runs", "dangling": folder / "dangling"}


def data_error(name: str, f: dict[str, Path], out: Path) -> list[str]:
    """argv with valid flags and unusable data for script ``name``."""
    return {
        "archive_results": [str(f["runs"]), "--dest", str(out)],
        "check_text_scaling": ["--tags", str(f["x.mat"])],
        "code_stats": [str(f["x.h5"])],
        "extract_features": ["--images", str(f["x.mat"]), "--out", str(out / "f.npy")],
        "heldout_intervals": [str(f["runs"]), "--pair", "a:b"],
        "prepare_data": ["wiki", "--source", str(f["dangling"]), "--out", str(out / "s.h5")],
        "report": [str(f["runs"]), "--out", str(out / "r.md")],
        "show_retrieval": [str(f["x.h5"]), "--out", str(out / "g.png")],
        "similarity_stats": ["data=wiki", f"data.path={f['x.h5']}"],
    }[name]


def flag_error(name: str) -> list[str]:
    """argv with an option the script does not have (similarity_stats takes overrides)."""
    return ["nosuch.key=1"] if name == "similarity_stats" else ["--zz-no-such-flag"]


def one_line(capsys, module, argv: list[str]) -> str:
    GlobalHydra.instance().clear()
    with pytest.raises(SystemExit) as exit_:
        module.main(argv)
    GlobalHydra.instance().clear()
    out, err = capsys.readouterr()
    assert exit_.value.code == 2 and "Traceback" not in err, err
    lines = err.strip().splitlines()  # report.py says first which records it skips
    assert [x for x in lines if x.startswith("error")] == lines[-1:], err
    return lines[-1]


def test_every_script_has_its_cases() -> None:
    """A new script joins by a data-error case (a KeyError here until it has one)."""
    fake = {k: Path(k) for k in ("x.h5", "x.mat", "x.npy", "runs", "dangling")}
    assert len(SCRIPTS) >= 9
    for name in SCRIPTS:
        assert data_error(name, fake, Path()) and flag_error(name)


@pytest.mark.parametrize("name", SCRIPTS)
def test_data_and_flag_errors_name_the_script(name: str, tmp_path: Path, capsys) -> None:
    module = load(name)
    files = garbage(tmp_path / "in")
    (tmp_path / "out").mkdir()
    line = one_line(capsys, module, data_error(name, files, tmp_path / "out"))
    assert line.startswith(f"error: {name}.py: "), line
    assert list((tmp_path / "out").iterdir()) == []
    line = one_line(capsys, module, flag_error(name))
    assert line.startswith(f"error: {name}.py: "), line
