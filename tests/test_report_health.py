"""The training-health table of scripts/report.py, on hand-made results.json files: means and
ranges over seeds computed by hand, the note naming the seeds where a module did not move, and
runs without health figures left out."""

import random
from pathlib import Path

import pytest
from report_runs import load_script, result, write


@pytest.fixture(scope="module")
def report():
    return load_script("report")


def with_health(run: dict, figures: dict[str, float]) -> dict:
    run["metrics"] |= {f"health/{k}": v for k, v in figures.items()}
    return run


def section(text: str, title: str) -> list[str]:
    """The table lines under ``title``."""
    lines = text.split(title)[1].splitlines()
    return [line for line in lines[2:] if line.startswith("| ")]


def test_health_table_means_ranges_and_still_modules(report, tmp_path: Path) -> None:
    root = tmp_path / "runs"
    figures = {  # seed -> module figures; gcn_text moves 0.5 % in seed 1 (below 1 %)
        0: {"gcn_text/weight_change": 0.07, "gcn_text/own_loss_ratio": 0.3, "x/pairwise_cos": 1},
        1: {"gcn_text/weight_change": 0.005, "gcn_text/own_loss_ratio": 0.5},
    }
    for seed, values in figures.items():
        write(root / f"a{seed}" / "results.json", with_health(result("agch", 32, seed), values))
    write(root / "old" / "results.json", result("agch", 16, 0))  # no health figures
    out = tmp_path / "r.md"
    assert report.main([str(root), "--out", str(out)]) == 0
    text = out.read_text()
    assert "## Training health" in text and "### wiki, agch, 16 bits" not in text
    rows = section(text, "### wiki, agch, 32 bits, as configured (seeds 0, 1)")
    assert rows[0] == "| module | weight_change | own_loss_ratio | pairwise_cos | note |"
    # gcn_text: weight_change mean (0.07 + 0.005) / 2 = 0.0375, own_loss_ratio 0.4
    assert rows[1] == (
        "| `gcn_text` | 0.0375 (0.0050-0.0700) | 0.4000 (0.3000-0.5000) | - "
        "| moved < 1% in seed 1 |"
    )
    assert rows[2] == "| `x` | - | - | 1.0000 |  |"  # one seed: the value alone


@pytest.mark.parametrize("case", range(5))
def test_health_table_matches_a_plain_loop_on_generated_runs(report, case: int) -> None:
    """Generated seeds and figures: every cell equals the mean/min/max of a plain loop, and a
    seed is named exactly when its weight change is below 1 %."""
    from src.report.health import health_tables
    from src.report.runs import Run

    rng = random.Random(case)
    seeds = list(range(rng.randint(1, 5)))
    values = {s: {m: rng.choice([0.001, 0.5 * rng.random()]) for m in "ab"} for s in seeds}
    runs = [
        Run(
            Path(f"r{s}"),
            "uci",
            "djsrh",
            64,
            s,
            False,
            {},
            "",
            health={f"{m}/weight_change": v for m, v in values[s].items()},
        )
        for s in seeds
    ]
    text = health_tables({("uci", "djsrh", "", 64): runs})
    for module in "ab":
        column = [values[s][module] for s in seeds]
        mean = sum(column) / len(column)
        cell = (
            f"{mean:.4f}"
            if len(column) == 1
            else (f"{mean:.4f} ({min(column):.4f}-{max(column):.4f})")
        )
        row = next(line for line in text.splitlines() if line.startswith(f"| `{module}`"))
        assert row.split(" | ")[1] == cell
        still = [str(s) for s in seeds if values[s][module] < 0.01]
        assert row.endswith(f"moved < 1% in seed {', '.join(still)} |" if still else "|  |")


def test_health_figures_keep_finite_numbers_only() -> None:
    from src.report.runs import health_figures

    metrics = {
        "health/a/weight_change": 0.5,
        "health/a/own_loss_ratio": None,
        "health/b/pairwise_cos": float("nan"),
        "health/c/weight_change": True,
        "test/i2t_map@50": 0.3,
    }
    assert health_figures(metrics) == {"a/weight_change": 0.5}
