"""scripts/report.py says what it read and what it left out truly (trial 8 R01, R07): a
results.json that is a link leading nowhere is listed as skipped with the reason; a file
without recorded settings is not given defaults it never recorded; runs made without
``experiment=`` are not called "defaults of their time"; a malformed --selection-ref is
refused. Generated cases."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from report_runs import ROOT, load_script, result, write
from src.report.drift import configured_settings
from src.report.runs import collect, group
from src.report.tables import ablation_tables

HEAD = subprocess.run(
    ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
).stdout.strip()


def _loop(folder: Path) -> None:
    os.symlink("results.json", folder / "results.json")


def _pair(folder: Path) -> None:
    os.symlink("other.json", folder / "results.json")
    os.symlink("results.json", folder / "other.json")


def _missing(folder: Path) -> None:
    os.symlink(folder / "gone.json", folder / "results.json")


def _dir_link(folder: Path) -> None:
    os.symlink(folder / "nowhere", folder / "results.json")


LINKS = {"loop": _loop, "pair": _pair, "missing": _missing, "dir_link": _dir_link}
WORDS = {"loop": "loop", "pair": "loop", "missing": "missing", "dir_link": "missing"}


@pytest.mark.parametrize("kind", sorted(LINKS))
@pytest.mark.parametrize("depth", [0, 1, 3])
def test_a_link_that_leads_nowhere_is_listed_as_skipped(
    tmp_path: Path, kind: str, depth: int
) -> None:
    write(tmp_path / "good" / "results.json", result("agch", 16, 0))
    folder = tmp_path.joinpath(*[f"d{i}" for i in range(depth)], "bad")
    folder.mkdir(parents=True)
    LINKS[kind](folder)
    runs, skipped = collect([tmp_path], None)
    assert len(runs) == 1
    lines = [s for s in skipped if s.startswith(str(folder / "results.json"))]
    assert len(lines) == 1 and WORDS[kind] in lines[0], skipped


@pytest.mark.parametrize("method", ["agch", "djsrh"])
@pytest.mark.parametrize("bits", [16, 32])
@pytest.mark.parametrize("form", ["null", "missing_at_head"])
def test_settings_not_recorded_are_said_so_and_never_guessed(
    tmp_path: Path, method: str, bits: int, form: str
) -> None:
    run = result(method, bits, 0, git_commit=HEAD)
    if form == "null":
        run["settings"] = None
    else:
        del run["settings"]
    write(tmp_path / "r" / "results.json", run)
    runs, skipped = collect([tmp_path], None)
    assert runs == [] and len(skipped) == 1 and "settings not recorded" in skipped[0], skipped


def test_a_run_older_than_recorded_settings_is_still_placed_by_commit(tmp_path: Path) -> None:
    run = result("agch", 16, 0, git_commit="5d2078b")
    del run["settings"]
    write(tmp_path / "r" / "results.json", run)
    runs, skipped = collect([tmp_path], None)
    assert len(runs) == 1 and skipped == [] and runs[0].drift


def _other(value: object) -> object:
    """A value unlike ``value`` of the same kind."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value * 2 + 1
    return f"{value}x"


CHANGED = ["model.lam", "model.lr_image", "model.rho", "model.alpha"]


@pytest.mark.parametrize("key", CHANGED)
@pytest.mark.parametrize("named", [True, False])
def test_runs_without_experiment_are_headed_by_what_they_ran_with(
    tmp_path: Path, key: str, named: bool
) -> None:
    settings = dict(configured_settings("wiki", "agch", 16))
    assert key in settings, key
    settings[key] = _other(settings[key])
    for seed in (0, 1):
        run = result("agch", 16, seed, settings=settings)
        if not named:
            run["overrides"] = [o for o in run["overrides"] if not o.startswith("experiment=")]
        write(tmp_path / f"s{seed}" / "results.json", run)
        ablation = result("agch", 16, seed, settings=settings)
        ablation["overrides"] += ["model.use_gcn=false"]
        if not named:
            ablation["overrides"] = ablation["overrides"][1:]
        write(tmp_path / f"a{seed}" / "results.json", ablation)
    runs, skipped = collect([tmp_path], None)
    assert skipped == [] and len(runs) == 4
    text = ablation_tables(group(runs))
    assert key in text
    assert ("defaults of their time" in text) == named, text
    assert ("without experiment=" in text) == (not named), text


REFS_BAD = ["model.lam", "model.lam,model.rho=1", "=5", ",", "model.lam=1,x", "5", "a b=1"]
REFS_GOOD = ["", "model.lam=5", "model.lam=5,model.rho=0.1", "+model.x=1", "~model.y"]


@pytest.mark.parametrize("flag", REFS_BAD + REFS_GOOD)
def test_selection_ref_takes_overrides_only(tmp_path: Path, capsys, flag: str) -> None:
    report = load_script("report")
    if flag in REFS_GOOD:
        assert report.parse_args([str(tmp_path), "--selection-ref", flag]).selection_ref == flag
        return
    with pytest.raises(SystemExit) as stop:
        report.parse_args([str(tmp_path), "--selection-ref", flag])
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and "\n" not in err and "--selection-ref" in err, err
