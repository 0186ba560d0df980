"""requirements.txt pins exact versions that lie in pyproject.toml's ranges."""

from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from 3.11")

ROOT = Path(__file__).resolve().parents[1]
TESTED_EXTRAS = ("dev", "sweep", "fast")  # [extract] and [fc7]: optional, pinned exactly


def pins(text: str) -> dict[str, Version]:
    """name -> version of every `name==version` line of a requirements file."""
    found = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        (spec,) = requirement.specifier  # exactly one clause, an exact pin
        assert spec.operator == "==" and "*" not in spec.version, line
        name = canonicalize_name(requirement.name)
        assert name not in found, f"{name} pinned twice"
        found[name] = Version(spec.version)
    return found


def ranges(text: str) -> list[Requirement]:
    """A pyproject's dependencies and those of the tested extras (not self-references)."""
    project = tomllib.loads(text)["project"]
    lines = list(project["dependencies"])
    for extra in TESTED_EXTRAS:
        lines += project["optional-dependencies"].get(extra, [])
    required = [Requirement(line) for line in lines]
    return [r for r in required if canonicalize_name(r.name) != canonicalize_name(project["name"])]


def disagreements(pinned: dict[str, Version], required: list[Requirement]) -> list[str]:
    """One line per range without a pin, or whose pin lies outside it."""
    problems = []
    for requirement in required:
        name = canonicalize_name(requirement.name)
        if name not in pinned:
            problems.append(f"{name}: no pin")
        elif not requirement.specifier.contains(pinned[name]):
            problems.append(f"{name}=={pinned[name]} outside {requirement.specifier}")
    return problems


def test_every_range_of_pyproject_has_a_pin_inside_it() -> None:
    pinned = pins((ROOT / "requirements.txt").read_text())
    assert disagreements(pinned, ranges((ROOT / "pyproject.toml").read_text())) == []


def test_a_missing_pin_or_a_pin_outside_its_range_is_reported() -> None:
    pyproject = """
[project]
name = "agch"
dependencies = ["torch>=2.3,<2.14", "numpy>=1.26,<3"]
[project.optional-dependencies]
dev = ["pytest>=8,<10", "agch[sweep]"]
sweep = ["optuna>=2.10,<3"]
"""
    required = ranges(pyproject)
    assert [r.name for r in required] == ["torch", "numpy", "pytest", "optuna"]
    pinned = pins("torch==2.14.0\nnumpy==2.4.6  # a comment\npytest==9.0.3\n")
    assert disagreements(pinned, required) == [
        "torch==2.14.0 outside <2.14,>=2.3",
        "optuna: no pin",
    ]
