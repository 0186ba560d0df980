"""Runs made under other defaults never share a row with today's: results.json records the
resolved settings, the report compares them with today's composition of the experiment
(src/report/drift.py), and archive_results.py never overwrites another run's evidence."""

import json
from pathlib import Path

import pytest
from report_runs import load_script, result, write

from src.report import drift
from src.report.drift import (
    CURRENT_COMMITS,
    LEGACY_COMMITS,
    UnknownSettings,
    configured_settings,
    legacy_settings,
    settings_drift,
)
from src.report.runs import Skip, setting


@pytest.fixture(scope="module")
def today() -> dict:
    return configured_settings("wiki", "agch", 32)


def changed(value):
    """A value that differs from ``value`` (of its kind)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value * 3 + 1
    if isinstance(value, list):
        return [*value, 7]
    return f"{value}_other"


def test_settings_are_todays_composition(today: dict) -> None:
    assert today["model.lr_image"] == 1e-2 and today["model.gcn_bias"] == "none"
    assert today["model.code_length"] == 32 and today["trainer.max_epochs"] == 150
    assert configured_settings("wiki", "agch", 64)["model.code_length"] == 64
    assert configured_settings("nowhere", "agch", 32) is None


def test_every_changed_setting_is_a_variant_of_its_own(today: dict) -> None:
    """Each recorded setting, changed alone without an override naming it (a default that
    changed since), makes the run a variant named by it; unchanged settings make none."""
    assert setting(result("agch", 32, 0, settings=dict(today)))[1] == ""
    keys = [k for k in today if k not in ("model.code_length", "data.val_mode")]
    assert len(keys) > 30
    for key in keys:
        value = changed(today[key])
        _, var = setting(result("agch", 32, 0, settings={**today, key: value}))
        assert var.startswith(f"{key}="), (key, var)
        assert var.count("=") == 1, var  # that setting alone


def test_a_setting_added_since_counts_with_the_value_the_run_had(today: dict) -> None:
    """A run recorded before ``model.gcn_lr_on`` existed ran with lr_gcn on L: a variant."""
    older = {k: v for k, v in today.items() if k != "model.gcn_lr_on"}
    assert setting(result("agch", 32, 0, settings=older))[1] == "model.gcn_lr_on=L"
    assert setting(result("agch", 32, 0, settings=dict(today)))[1] == ""


def test_a_named_override_is_not_repeated_and_one_spelling_is_used(today: dict) -> None:
    run = result("agch", 32, 0, settings={**today, "model.lr_image": 0.001})
    run["overrides"] += ["model.lr_image=1e-3"]
    assert setting(run)[1] == "model.lr_image=0.001"
    legacy = result("agch", 32, 0, git_commit=LEGACY_COMMITS[0] + "0" * 33)
    del legacy["settings"]  # an archived run of the old defaults, and a rerun naming them
    rerun = result("agch", 32, 1)
    rerun["overrides"] += ["model.adjacency=S", "model.gcn_bias=inside", "model.gcn_lr_on=L"]
    label = "model.adjacency=S,model.gcn_bias=inside,model.gcn_lr_on=L"  # lr_image 1e-2: today's
    assert setting(legacy)[1] == setting(rerun)[1] == label


def test_naming_a_default_is_the_experiment_as_configured(today: dict) -> None:
    for key in ("model.loss_scale", "model.lr_image", "model.use_gcn", "trainer.max_epochs"):
        run = result("agch", 32, 0)
        value = today[key]
        run["overrides"] += [f"{key}={str(value).lower() if isinstance(value, bool) else value}"]
        assert setting(run)[1] == "", key


def test_runs_without_settings_are_placed_by_commit(monkeypatch) -> None:
    def old(commit: str) -> dict:
        run = result("agch", 32, 0, git_commit=commit)
        del run["settings"]
        return run

    later = {"model.adjacency": "S", "model.lr_image": 1e-4}  # before f8ffe94: every such run
    before = {**later, "model.gcn_bias": "inside", "model.lr_image": 0.01}
    assert legacy_settings("agch", LEGACY_COMMITS[0]) == before
    expected = ["model.adjacency=S", "model.gcn_lr_on=L", "model.lr_image=0.0001"]
    assert settings_drift(old(CURRENT_COMMITS[0])) == expected
    assert settings_drift(result("djsrh", 32, 0, git_commit="f" * 40)) == []
    with pytest.raises(UnknownSettings):
        legacy_settings("agch", "f" * 40)  # in no history: never taken as configured
    with pytest.raises(Skip, match="settings unknown"):
        setting(old("f" * 40))
    monkeypatch.setattr(drift, "_before", lambda commit, change: None)  # no git history
    assert legacy_settings("agch", LEGACY_COMMITS[-1]) == before
    assert legacy_settings("agch", CURRENT_COMMITS[-1]) == later


def test_git_history_places_commits_the_lists_do_not_name() -> None:
    """87eaa32 (CCA-ITQ's seeding fix) precedes the AGCH default change 2d7c699 without being
    a commit of an archived AGCH run; f1a3326 follows it."""
    if drift._before("87eaa32", "2d7c699") is None:
        pytest.skip("this checkout has no git history holding 87eaa32 and 2d7c699")
    later = {"model.adjacency": "S", "model.lr_image": 1e-4}
    old = {**later, "model.gcn_bias": "inside", "model.lr_image": 0.01}
    assert legacy_settings("agch", "87eaa32") == old
    assert legacy_settings("agch", "2d7c699") == later
    assert legacy_settings("agch", "f1a3326") == later


def test_old_and_new_defaults_get_separate_rows_and_ablations_pair_within(
    today: dict, tmp_path: Path
) -> None:
    report = load_script("report")
    root = tmp_path / "runs"
    old = {**today, "model.lr_image": 0.0001}
    for seed in (0, 1):
        write(root / f"new{seed}" / "results.json", result("agch", 32, seed, settings=today))
        base = result("agch", 32, seed, settings=old)
        base["metrics"] = {k: v - 0.2 for k, v in base["metrics"].items()}
        write(root / f"old{seed}" / "results.json", base)
        abl = result("agch", 32, seed, settings={**old, "model.use_gcn": False})
        abl["overrides"] += ["model.use_gcn=false"]
        abl["metrics"] = {k: v - 0.25 for k, v in abl["metrics"].items()}
        write(root / f"abl{seed}" / "results.json", abl)
        write(root / f"djsrh{seed}" / "results.json", result("djsrh", 32, seed))
    out = tmp_path / "r.md"
    assert report.main([str(root), "--out", str(out)]) == 0
    text = out.read_text()
    margins = text.split("against the other methods")[1].split("## Ablations")[0]
    today_row, old_row = [line for line in margins.splitlines() if line.startswith("| djsrh")]
    # 0.45 - 0.41, two seeds a side (std 0.0141): Welch df 2, half-width 4.303 x 0.0141
    assert today_row.split(" | ")[1] == "+0.0400 [-0.0208, +0.1008] (includes 0)"
    assert "agch (runs with `model.lr_image=0.0001`) minus" in margins
    assert old_row.split(" | ")[1] == "-0.1600 [-0.2208, -0.0992] (below)"  # 0.25 - 0.41
    assert "| wiki | agch | - | 32 | 0.4500 ± 0.0141 |" in text  # the new runs alone
    assert "| wiki | agch | `model.lr_image=0.0001` | 32 | 0.2500 ± 0.0141 |" in text
    ablation = text.split("## Ablations")[1]
    assert "Runs made with `model.lr_image=0.0001`" in ablation
    assert "### wiki, agch, 32 bits, previous defaults (`model.lr_image=0.0001`)" in ablation
    row = next(line for line in ablation.splitlines() if "`model.use_gcn=false`" in line)
    assert "-0.0500 [-0.0500, -0.0500] (n=2, below)" in row  # the old base, not today's (-0.25)


def test_archive_never_overwrites_another_run(tmp_path: Path, capsys) -> None:
    archive = load_script("archive_results")
    first, second = tmp_path / "a", tmp_path / "b"
    write(first / "results.json", result("agch", 32, 0))
    other = result("agch", 32, 0)
    other["metrics"]["test/i2t_map@50"] = 0.99
    write(second / "results.json", other)
    dest = tmp_path / "results"
    assert archive.main([str(first), "--dest", str(dest)]) == 0
    assert archive.main([str(first), "--dest", str(dest)]) == 0  # the same run again: fine
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:  # refused before anything is written
        archive.main([str(second), "--dest", str(dest)])
    assert exit_.value.code == 2 and "give --overwrite" in capsys.readouterr().err
    kept = json.loads((dest / "wiki" / "agch" / "32bit" / "seed0" / "results.json").read_text())
    assert kept["metrics"]["test/i2t_map@50"] == 0.44


def test_defaults_table_pairs_today_against_earlier_defaults_by_seed(
    today: dict, tmp_path: Path
) -> None:
    """As configured minus earlier defaults, per direction and code length, paired by seed;
    the expected cells are computed by hand. Seed 2 of the old runs has no partner today and
    must not count (it would make the mean change 0.2); 16 bits has old runs only ("not
    run")."""
    report = load_script("report")
    root = tmp_path / "runs"
    old = {**today, "model.lr_image": 0.0001}
    offsets = {0: 0.2, 1: 0.1, 2: 0.3}  # old = new - offset, per seed (every mAP in [0, 1])
    for seed, offset in offsets.items():
        if seed < 2:
            write(root / f"new{seed}" / "results.json", result("agch", 32, seed, settings=today))
        for bits in (16, 32):
            base = result("agch", bits, seed, settings={**old, "model.code_length": bits})
            base["metrics"] = {k: v - offset for k, v in base["metrics"].items()}
            write(root / f"old{bits}_{seed}" / "results.json", base)
    out = tmp_path / "r.md"
    assert report.main([str(root), "--out", str(out)]) == 0
    table = out.read_text().split("### wiki, agch: as configured minus the runs with")[1]
    assert table.startswith(" `model.lr_image=0.0001`")
    rows = [line.split(" | ") for line in table.split("\n\n")[1].splitlines()]
    assert rows[0] == ["| direction", "16 bits", "32 bits |"]
    # changes 0.2 and 0.1: mean 0.15, std 0.0707, SE 0.05, t(0.975, 1) 12.706: +- 0.6353
    assert rows[1][0] == "|---|---|---|"
    cell = "+0.1500 [-0.4853, +0.7853] (n=2, includes 0) |"
    assert rows[2] == ["| I->T", "not run", cell]
    assert rows[3] == ["| T->I", "not run", cell]
