"""docs/method.md is the repository's account of the method: nothing refers to a file outside
the repository instead, it cites the paper's equations by number, and every option it names
exists."""

import re
import subprocess
from pathlib import Path

import pytest
from config_snapshot import composed, flatten

ROOT = Path(__file__).resolve().parents[1]
METHOD = ROOT / "docs" / "method.md"
EXTERNAL = "SPEC" + ".md"  # the method's description outside the repository (written so)
# folders that git ignores or that hold no project text (used when git is not available)
UNTRACKED = {".git", "data", "logs", ".venv", "venv", "__pycache__", ".pytest_cache"}


def tracked_files() -> list[Path]:
    """The files git tracks or would track, or every file outside the ignored folders."""
    try:
        listing = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
            text=True,
        ).stdout
        return [ROOT / name for name in listing.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        return [
            path
            for path in ROOT.rglob("*")
            if path.is_file() and not UNTRACKED & set(path.relative_to(ROOT).parts)
        ]


def mentions(path: Path, text: str) -> list[int]:
    """Line numbers (1-based) of `path` that contain `text`; [] for binary files."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (UnicodeDecodeError, OSError):
        return []
    return [number for number, line in enumerate(lines, 1) if text in line]


def test_no_file_refers_to_the_external_spec() -> None:
    files = tracked_files()
    assert METHOD in files
    found = {str(p.relative_to(ROOT)): n for p in files if (n := mentions(p, EXTERNAL))}
    assert not found, f"cite the paper's equation or docs/method.md instead: {found}"


def test_mentions_finds_each_line(tmp_path: Path) -> None:
    text = tmp_path / "a.py"
    text.write_text(f"x = 1\n# see {EXTERNAL} section 3\n\n{EXTERNAL}\n")
    binary = tmp_path / "b.png"
    binary.write_bytes(b"\x89PNG\xff\xfe")
    assert mentions(text, EXTERNAL) == [2, 4] and mentions(binary, EXTERNAL) == []


@pytest.mark.parametrize("equation", [1, 6, 8, 12, 13, 14, 15, 16, 17])
def test_method_cites_the_equation(equation: int) -> None:
    assert f"Eq. ({equation})" in METHOD.read_text() or (
        8 <= equation <= 12 and "Eqs. (8)-(12)" in METHOD.read_text()
    )


def test_every_option_named_in_the_method_exists() -> None:
    """Each `model.x` / `data.x` of docs/method.md is a key of a composed config."""
    named = set(re.findall(r"`((?:model|data)\.[a-z_]+)", METHOD.read_text()))
    assert {"model.loss_scale", "model.gamma_mode", "data.val_mode"} <= named
    keys = set()
    for model in ("agch", "djsrh", "cca_itq", "jdsh", "cmfh", "dgcpn", "ucch"):
        keys |= set(flatten(composed("train", [f"model={model}", "data=wiki"])))
    assert not named - keys, f"options docs/method.md names that no config has: {named - keys}"


def test_paper_hyper_parameter_table_is_what_the_experiments_hold() -> None:
    """Each row of docs/method.md's table of the paper's values equals its experiment base."""
    section = METHOD.read_text().split("## The paper's hyper-parameters", 1)[1].split("##")[0]
    rows = [line.split("|")[1:-1] for line in section.splitlines() if "`configs/" in line]
    checked = 0
    for cells in rows:
        values, base = [c.strip() for c in cells[1:7]], cells[7].strip(" `")
        if not values[0][0].isdigit():
            continue  # UCI: "NUS-WIDE's values"
        cfg = composed("train", [f"experiment={Path(base).stem}"])
        model = cfg["model"]
        held = [model["alpha"], model["beta"], model["lam"], model["gamma_v"], model["gamma_t"]]
        assert [float(v) for v in values] == [*map(float, held), cfg["trainer"]["max_epochs"]]
        checked += 1
    assert checked == 3  # Wiki, MIRFlickr, NUS-WIDE
