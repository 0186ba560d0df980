"""Held-out selection runs (data.val_mode=heldout) in scripts/report.py and archive_results.py:
kept out of every protocol table, reported on their own with validation mAP paired by seed
against a reference setting (hand-computed), archived apart."""

import json
import math
from pathlib import Path

import pytest
from report_runs import BASE, heldout, load_script, result, write

# two settings other than the experiment as configured (today's loss scale is "tuned" with
# tuned_lam_factor 0.06: a setting equal to it would be the configured row)
PAPER, TUNED = ["model.loss_scale=paper"], ["model.tuned_lam_factor=0.1"]
# (setting, seed): (val I->T, val T->I) of wiki agch 32 bits
VAL = {
    ("paper", 0): (0.30, 0.50),
    ("paper", 1): (0.34, 0.52),
    ("tuned", 0): (0.20, 0.55),
    ("tuned", 1): (0.30, 0.56),
}


@pytest.fixture(scope="module")
def report():
    return load_script("report")


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    """Official runs of BASE (seeds 0, 1) and held-out runs: paper and tuned at seeds 0, 1, the
    experiment as configured at seed 0 (mode named only by results.json's key), a paper run at
    16 bits without its reference, and one without validation metrics."""
    root = tmp_path / "logs"
    for method, bits in BASE:
        for seed in (0, 1):
            write(root / f"{method}{bits}_{seed}" / "results.json", result(method, bits, seed))
    for (name, seed), val in VAL.items():
        setting = PAPER if name == "paper" else TUNED
        write(root / f"h_{name}_{seed}" / "results.json", heldout("agch", 32, seed, setting, val))
    configured = heldout("agch", 32, 0, [], (0.25, 0.50))
    configured["overrides"].remove("data.val_mode=heldout")  # val_mode key only
    write(root / "h_configured" / "results.json", configured)
    write(root / "h_16" / "results.json", heldout("agch", 16, 0, PAPER, (0.2, 0.3)))
    no_val = heldout("agch", 32, 2, TUNED, (0.1, 0.1))
    del no_val["metrics"]["val/t2i_map@50"]
    write(root / "h_noval" / "results.json", no_val)
    return root


def section(text: str, title: str) -> str:
    return text.split(f"## {title}")[1].split("\n## ")[0]


def test_heldout_runs_stay_out_of_protocol_tables(report, logs, tmp_path, capsys) -> None:
    out = tmp_path / "results.md"
    assert report.main([str(logs), "--out", str(out), "--plots-dir", str(tmp_path / "f")]) == 0
    err = capsys.readouterr().err
    assert "h_noval/results.json: missing keys: metrics/val/t2i_map@50" in err
    text = out.read_text()
    headline, protocol = text.split("## Held-out validation")[0].split("\n## All runs")
    assert "| 0.0100" not in headline and "loss_scale" not in headline  # 0.0100: a SE there
    assert "0.0100" not in protocol and "loss_scale" not in protocol
    assert "## Ablations" not in protocol  # held-out settings are no variants
    assert "6 held-out selection runs are not (see below)." in protocol
    rows = [line for line in protocol.splitlines() if line.startswith("| wiki ")]
    assert [row.split(" | ")[1:4] + [row.split(" | ")[4]] for row in rows] == [
        ["agch", "-", "16", "0.4100 ± 0.0141"],
        ["agch", "-", "32", "0.4500 ± 0.0141"],
        ["djsrh", "-", "16", "0.3900 ± 0.0141"],
        ["djsrh", "-", "32", "0.4100 ± 0.0141"],
    ]
    bits = section(text, "mAP@50 against code length")
    assert "| agch | 0.4100 ± 0.0141 (n=2) | 0.4500 ± 0.0141 (n=2) |" in bits


def table_rows(text: str, bits: int) -> list[str]:
    part = text.split(f"### wiki, agch, {bits} bits (held-out validation)")[1].split("###")[0]
    return [line for line in part.splitlines() if line.startswith("| ") and "setting" not in line]


def test_selection_table_against_a_chosen_reference(report, logs, tmp_path) -> None:
    """paper - tuned, paired: I->T (0.10, 0.04): +0.07, SE = std/sqrt(2) = 0.03, t(0.975, 1)
    = 12.706: +- 0.3812; T->I (-0.05, -0.04): -0.045, SE 0.005: +- 0.0635; both include 0;
    configured (seed 0 only) n=1."""
    out = tmp_path / "results.md"
    assert report.main([str(logs), "--out", str(out), "--selection-ref", TUNED[0]]) == 0
    text = out.read_text()
    assert "Reference: `model.tuned_lam_factor=0.1`." in text
    assert table_rows(text, 32) == [
        "| `model.tuned_lam_factor=0.1` (reference) | 0.2500 ± 0.0707 | 0.5550 ± 0.0071 |  |  "
        "| 0, 1 |",
        "| - (as configured) | 0.2500 | 0.5000 | +0.0500 (n=1) | -0.0500 (n=1) | 0 |",
        "| `model.loss_scale=paper` | 0.3200 ± 0.0283 | 0.5100 ± 0.0141 | "
        "+0.0700 [-0.3112, +0.4512] (n=2, includes 0) | -0.0450 [-0.1085, +0.0185] (n=2, "
        "includes 0) | 0, 1 |",
    ]
    assert table_rows(text, 16) == [
        "| `model.loss_scale=paper` | 0.2000 | 0.3000 | reference not run | reference not run "
        "| 0 |"
    ]


def test_selection_table_defaults_to_the_experiment_as_configured(report, logs, tmp_path):
    out = tmp_path / "results.md"
    assert report.main([str(logs), "--out", str(out)]) == 0
    assert table_rows(out.read_text(), 32) == [
        "| - (as configured) (reference) | 0.2500 | 0.5000 |  |  | 0 |",
        "| `model.loss_scale=paper` | 0.3200 ± 0.0283 | 0.5100 ± 0.0141 | +0.0500 (n=1) "
        "| +0.0000 (n=1) | 0, 1 |",
        "| `model.tuned_lam_factor=0.1` | 0.2500 ± 0.0707 | 0.5550 ± 0.0071 | -0.0500 (n=1) "
        "| +0.0500 (n=1) | 0, 1 |",
    ]


def test_archive_keeps_heldout_runs_apart(tmp_path: Path) -> None:
    """Held-out runs (named by the override or by results.json's key) go under heldout/;
    an explicit data.val_mode=official is the experiment as configured."""
    archive = load_script("archive_results")
    logs, dest = tmp_path / "logs", tmp_path / "results"
    official = result("agch", 32, 1)
    official["overrides"].append("data.val_mode=official")
    write(logs / "a" / "results.json", result("agch", 32, 0))
    write(logs / "b" / "results.json", official)
    write(logs / "c" / "results.json", heldout("agch", 32, 0, PAPER, (0.3, 0.5)))
    key_only = heldout("agch", 32, 0, [], (0.3, 0.5))
    key_only["overrides"].remove("data.val_mode=heldout")
    write(logs / "d" / "results.json", key_only)
    assert archive.main([str(logs), "--dest", str(dest)]) == 0
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*.json")) == [
        "wiki/agch/32bit/heldout/configured/seed0/results.json",
        "wiki/agch/32bit/heldout/model.loss_scale=paper/seed0/results.json",
        "wiki/agch/32bit/seed0/results.json",
        "wiki/agch/32bit/seed1/results.json",
    ]
    stored = dest / "wiki/agch/32bit/heldout/configured/seed0/results.json"
    assert json.loads(stored.read_text()) == key_only


def test_paired_t_interval_matches_hand_computation():
    """changes 0.01, 0.02, 0.03: mean 0.02, std 0.01, SE 0.01/sqrt(3); t_{0.975, 2} = 4.302653
    (tables), so the half-width is 0.0248414."""
    from src.report.intervals import interval_reading, paired_t_interval

    mean, low, high = paired_t_interval([0.01, 0.02, 0.03])
    half = 4.302653 * 0.01 / math.sqrt(3)
    assert mean == pytest.approx(0.02)
    assert (low, high) == (
        pytest.approx(0.02 - half, abs=1e-7),
        pytest.approx(0.02 + half, abs=1e-7),
    )
    assert interval_reading(low, high) == "includes 0"
    assert interval_reading(0.001, 0.002) == "above" and interval_reading(-0.2, -0.1) == "below"
    with pytest.raises(ValueError):
        paired_t_interval([0.1])


def test_a_heldout_run_without_test_metrics_is_read(report, tmp_path) -> None:
    """A selection run made with test=false has validation numbers only: it is tabled."""
    run = heldout("agch", 32, 0, ["model.alpha=0.5"], (0.31, 0.62))
    run["metrics"] = {k: v for k, v in run["metrics"].items() if not k.startswith("test/")}
    write(tmp_path / "runs" / "a" / "results.json", run)
    out = tmp_path / "r.md"
    assert report.main([str(tmp_path / "runs"), "--out", str(out)]) == 0
    assert "| `model.alpha=0.5` | 0.3100 | 0.6200 |" in out.read_text()


@pytest.mark.parametrize("case", range(20))
def test_t_intervals_match_scipy_on_generated_samples(case: int) -> None:
    """The paired and the Welch intervals agree with scipy's own t-tests (ttest_1samp and
    ttest_ind(equal_var=False), an independent implementation) on generated samples of 2-6
    values a side, with spreads from 0.001 to 0.1 and levels 0.9-0.99."""
    import random

    from scipy import stats

    from src.report.intervals import paired_t_interval, welch_t_interval

    rng = random.Random(case)
    level = rng.choice([0.9, 0.95, 0.99])
    a = [rng.gauss(0.5, rng.choice([0.001, 0.01, 0.1])) for _ in range(rng.randint(2, 6))]
    b = [rng.gauss(0.45, rng.choice([0.001, 0.01, 0.1])) for _ in range(rng.randint(2, 6))]
    want = stats.ttest_1samp(a, 0.0).confidence_interval(level)
    mean, low, high = paired_t_interval(a, level)
    assert mean == pytest.approx(sum(a) / len(a), abs=1e-12)
    assert (low, high) == (pytest.approx(want.low, abs=1e-9), pytest.approx(want.high, abs=1e-9))
    want = stats.ttest_ind(a, b, equal_var=False).confidence_interval(level)
    diff, low, high = welch_t_interval(a, b, level)
    assert diff == pytest.approx(sum(a) / len(a) - sum(b) / len(b), abs=1e-12)
    assert (low, high) == (pytest.approx(want.low, abs=1e-9), pytest.approx(want.high, abs=1e-9))


def test_welch_interval_refuses_single_values_and_collapses_without_spread() -> None:
    from src.report.intervals import welch_t_interval

    with pytest.raises(ValueError, match="b: expected at least 2"):
        welch_t_interval([0.1, 0.2], [0.3])
    with pytest.raises(ValueError, match="level"):
        welch_t_interval([0.1, 0.2], [0.3, 0.4], level=1.0)
    diff, low, high = welch_t_interval([0.5, 0.5], [0.25, 0.25, 0.25])
    assert diff == low == high == pytest.approx(0.25)
