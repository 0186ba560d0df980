"""scripts/heldout_intervals.py: the paired intervals of generated held-out runs, each direction
and their mean, checked against a computation written out here (t quantile from a table)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import heldout_intervals  # noqa: E402

# two-sided 95 % quantiles of Student's t (printed tables), by degrees of freedom
T975 = {1: 12.7062, 2: 4.3027, 3: 3.1824, 4: 2.7764}
KEYS = ("val/i2t_map@50", "val/t2i_map@50", "val/map@50")


def _archive(folder: Path, metrics: dict[int, dict[str, float]]) -> None:
    """One results.json per seed, laid out as archive_results.py writes them."""
    for seed, values in metrics.items():
        (folder / f"seed{seed}").mkdir(parents=True)
        record = {"seed": seed, "metrics": values, "val_mode": "heldout"}
        (folder / f"seed{seed}" / "results.json").write_text(json.dumps(record))


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


@pytest.mark.parametrize("case", range(6))
def test_changes_are_paired_t_intervals(
    tmp_path: Path, capsys: pytest.CaptureFixture, case: int
) -> None:
    rng = np.random.default_rng(case)
    n_seeds, shared = int(rng.integers(2, 6)), {}
    seeds = rng.choice(10, size=n_seeds, replace=False).tolist()
    base = {s: dict(zip(KEYS[:2], rng.uniform(0.2, 0.8, 2))) for s in seeds + [99]}
    runs = {s: {k: v + rng.normal(0, 0.02) for k, v in base[s].items()} for s in seeds}
    for metrics in (*base.values(), *runs.values()):
        metrics[KEYS[2]] = (metrics[KEYS[0]] + metrics[KEYS[1]]) / 2
    _archive(tmp_path / "K=2", runs)
    _archive(tmp_path / "K=1", base)  # seed 99 has no partner: left out of the pairs
    heldout_intervals.main([str(tmp_path), "--pair", "K=2:K=1"])
    head, _, row = capsys.readouterr().out.strip().splitlines()
    cells = dict(zip(_cells(head), _cells(row)))
    for direction, key in zip(("I->T", "T->I", "mean"), KEYS):
        diffs = [runs[s][key] - base[s][key] for s in seeds]
        mean = sum(diffs) / n_seeds
        std = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n_seeds - 1))
        half = T975[n_seeds - 1] * std / math.sqrt(n_seeds)
        shared[direction] = f"{mean:+.3f} [{mean - half:+.3f}, {mean + half:+.3f}]"
        assert cells[f"{direction} change [95 % t-interval]"].startswith(shared[direction])
        values = [runs[s][key] for s in seeds]
        assert cells[f"val {direction}"].startswith(f"{sum(values) / n_seeds:.3f} ± ")


def test_a_run_without_the_mean_gets_a_dash(tmp_path: Path, capsys: pytest.CaptureFixture):
    old = {0: {KEYS[0]: 0.5, KEYS[1]: 0.6}, 1: {KEYS[0]: 0.4, KEYS[1]: 0.7}}
    _archive(tmp_path / "a", old)
    _archive(tmp_path / "b", old)
    heldout_intervals.main([str(tmp_path), "--pair", "a:b"])
    head, _, row = capsys.readouterr().out.strip().splitlines()
    cells = dict(zip(_cells(head), _cells(row)))
    assert cells["val mean"] == cells["mean change [95 % t-interval]"] == "-"
    assert cells["I->T change [95 % t-interval]"].startswith("+0.000 [+0.000, +0.000]")


@pytest.mark.parametrize("bad", ["a:nope", "nope:b", "a:b nope:a"])
def test_a_bad_input_prints_nothing_before_its_error(
    tmp_path: Path, capsys: pytest.CaptureFixture, bad: str
) -> None:
    """Every setting named is checked before any table line is printed (sixth trial: the
    header reached stdout before the error line)."""
    metrics = {0: {k: 0.5 for k in KEYS}, 1: {k: 0.6 for k in KEYS}}
    _archive(tmp_path / "a", metrics)
    _archive(tmp_path / "b", metrics)
    argv = [str(tmp_path), "--modules", "a"] + [x for p in bad.split() for x in ("--pair", p)]
    with pytest.raises(SystemExit) as exit_:
        heldout_intervals.main(argv)
    out, err = capsys.readouterr()
    assert exit_.value.code == 2 and out == "" and "nope" in err and len(err.splitlines()) == 1


def test_a_folder_above_the_heldout_ones_names_them(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Given results/ itself, the line names the held-out folders below it (sixth trial: it
    said there were none)."""
    folders = [tmp_path / ds / "agch" / "32bit" / "heldout" for ds in ("uci", "wiki")]
    for folder in folders:
        _archive(folder / "configured", {0: {k: 0.5 for k in KEYS}})
    with pytest.raises(SystemExit):
        heldout_intervals.main([str(tmp_path), "--pair", "a:b"])
    err = capsys.readouterr().err
    assert all(str(folder) in err for folder in folders), err


@pytest.mark.parametrize("pair", ["a:a", "a:./a", "a/:a", "a:link", "link:a/.", "a:../x/a"])
def test_a_setting_compared_with_itself_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture, pair: str
) -> None:
    """A pair whose two names reach one folder (same name, a trailing /, ./, .., a link) is one
    line naming the pair, nothing printed (trial 10: all-zero intervals without a word)."""
    folder = tmp_path / "x"
    _archive(folder / "a", {0: {k: 0.5 for k in KEYS}, 1: {k: 0.6 for k in KEYS}})
    (folder / "link").symlink_to(folder / "a")
    with pytest.raises(SystemExit) as exit_:
        heldout_intervals.main([str(folder), "--pair", pair])
    out, err = capsys.readouterr()
    assert exit_.value.code == 2 and out == "" and len(err.splitlines()) == 1, err
    assert err.startswith("error: ") and f"argument --pair: {pair} compares" in err
