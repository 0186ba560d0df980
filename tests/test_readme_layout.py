"""The README's project layout names every top-level folder, script and benchmark."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def layout_block() -> str:
    """The fenced block under the README's "## Project layout" heading."""
    section = (ROOT / "README.md").read_text().split("## Project layout", 1)[1]
    return section.split("```", 2)[1]


def ignored(paths: list[Path]) -> set[Path]:
    """The paths git ignores (none when git is not available)."""
    try:
        done = subprocess.run(
            ["git", "check-ignore", *map(str, paths)], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return set()
    return {Path(line) for line in done.stdout.splitlines()}


def project_names() -> list[str]:
    """Top-level folders (not hidden, not git-ignored), src/ packages, scripts, benchmarks."""
    folders = [p for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith(".")]
    folders = [p for p in folders if p not in ignored(folders)]
    names = [p.name + "/" for p in folders]
    names += [p.name + "/" for p in (ROOT / "src").iterdir() if (p / "__init__.py").exists()]
    names += [p.name for folder in ("scripts", "benchmarks") for p in (ROOT / folder).glob("*.py")]
    return sorted(set(names))


@pytest.mark.parametrize("name", project_names())
def test_layout_names(name: str) -> None:
    assert name in layout_block(), f"README's project layout does not mention {name}"
