"""The headline table of scripts/report.py (src/report/headline.py) on generated results.json:
mean ± standard error (n - 1) over seeds, the best of each code length and column in bold
(ties included), cells of another number of seeds, missing cells, the median time per run,
only the official runs as configured; and the headline's own markers in --update."""

import math
import random
from pathlib import Path

import pytest
from report_runs import load_script, write

from src.report.drift import configured_settings
from src.report.markers import BEGIN, END, HEADLINE_BEGIN, HEADLINE_END

METRICS = ("i2t_map@50", "t2i_map@50", "i2t_map@all", "t2i_map@all")
METHODS = ("agch", "cca_itq", "djsrh")


@pytest.fixture(scope="module")
def report():
    return load_script("report")


def record(method: str, bits: int, seed: int, values: tuple, **changes) -> dict:
    """An official results.json of ``uci_<method>_<bits>bit`` as configured today."""
    return {
        "settings": configured_settings("uci", method, bits) or {},
        "task_name": "train",
        "dataset": "uci",
        "synthetic": False,
        "method": method,
        "code_length": bits,
        "seed": seed,
        "overrides": [f"experiment=uci_{method}_{bits}bit", f"seed={seed}"],
        "metrics": {f"test/{m}": v for m, v in zip(METRICS, values)},
        **changes,
    }


def headline_rows(text: str, heading: str = "### uci") -> list[str]:
    """The table rows under ``heading`` of the headline section."""
    section = text.split("## Headline", 1)[1].split("\n## All runs", 1)[0]
    block = section.split(heading + "\n\n", 1)[1].split("\n\n", 1)[0]
    return block.splitlines()[2:]


def run_report(report, runs: Path, out: Path) -> str:
    assert report.main([str(runs), "--out", str(out)]) == 0
    return out.read_text()


def test_a_hand_computed_table(report, tmp_path: Path) -> None:
    """Three seeds 0.30, 0.32, 0.34: mean 0.3200, SE sqrt(0.0004 / 3) = 0.0115; a method of
    three equal values ties it (both bold); one seed: no error, (n=1), compared by its mean; a
    method not run at 32 bits; times 100, 200, 400 s -> median 200 s = 3.3 min."""
    runs = tmp_path / "runs"
    for seed, (v, t) in enumerate([(0.30, 100), (0.32, 400), (0.34, 200)]):
        timing = {"total_s": t, "resumed": False, "device": "cpu", "threads": 1}
        write(
            runs / f"a{seed}/results.json",
            record("agch", 16, seed, (v, 0.5, v, 0.4), timing=timing),
        )
        write(runs / f"d{seed}/results.json", record("djsrh", 16, seed, (0.32, 0.6, 0.1, 0.4)))
        write(runs / f"d32{seed}/results.json", record("djsrh", 32, seed, (0.2, 0.2, 0.2, 0.2)))
    write(runs / "c/results.json", record("cca_itq", 16, 0, (0.1, 0.9, 0.1, 0.1)))
    rows = headline_rows(run_report(report, runs, tmp_path / "r.md"))
    assert rows == [
        "| 16 | agch | **0.3200 ± 0.0115** | 0.5000 ± 0.0000 | **0.3200 ± 0.0115** | "
        "**0.4000 ± 0.0000** | 3 (0, 1, 2) | 3.3 min |",
        "| 16 | cca_itq | 0.1000 (n=1) | **0.9000** (n=1) | 0.1000 (n=1) | 0.1000 (n=1) | 1 (0) "
        "| not recorded |",
        "| 16 | djsrh | **0.3200 ± 0.0000** | 0.6000 ± 0.0000 | 0.1000 ± 0.0000 | "
        "**0.4000 ± 0.0000** | 3 (0, 1, 2) | not recorded |",
        "| 32 | agch | not run | not run | not run | not run | 0 |  |",
        "| 32 | cca_itq | not run | not run | not run | not run | 0 |  |",
        "| 32 | djsrh | 0.2000 ± 0.0000 | 0.2000 ± 0.0000 | 0.2000 ± 0.0000 | 0.2000 ± 0.0000 | "
        "3 (0, 1, 2) | not recorded |",
    ]


def plain_cell(values: list[float], best: bool, usual: int) -> str:
    """The cell written out with plain loops (the reference)."""
    if not values:
        return "not run"
    n = len(values)
    mean = sum(values) / n
    text = f"{mean:.4f}"
    if n > 1:
        se = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) / math.sqrt(n)
        text += f" ± {se:.4f}"
    return (f"**{text}**" if best else text) + ("" if n == usual else f" (n={n})")


def plain_time(times: list, n_runs: int) -> str:
    """Median of the unresumed recorded times, in the unit that reads best."""
    kept = sorted(t for t in times if t is not None)
    if not kept:
        return "not recorded" if n_runs else ""
    half = len(kept) // 2
    median = kept[half] if len(kept) % 2 else (kept[half - 1] + kept[half]) / 2
    shown = (
        f"{median:.0f} s"
        if median < 90
        else f"{median / 60:.1f} min" if median < 5400 else f"{median / 3600:.2f} h"
    )
    return shown + ("" if len(kept) == n_runs else f" ({len(kept)} of {n_runs} runs)")


def generated_runs(rng: random.Random, root: Path) -> dict:
    """Official runs of random cells (0-4 seeds each, values on a coarse grid so that means
    tie often, random timings), plus runs that must stay out of the table (an ablation, a
    held-out run, a shortened run) with values far from every cell."""
    cells: dict = {}
    for method in METHODS:
        for bits in (16, 32):
            seeds = rng.sample(range(6), rng.choice([0, 1, 2, 3, 3, 3, 4]))
            for seed in seeds:
                values = tuple(rng.choice([0.1, 0.2, 0.3]) for _ in METRICS)
                resumed, total = rng.random() < 0.2, rng.choice([None, 30, 95, 600, 9000])
                timing = {"total_s": total, "resumed": resumed, "device": "cpu", "threads": 2}
                run = record(method, bits, seed, values, timing=timing)
                write(root / f"{method}{bits}s{seed}" / "results.json", run)
                cells.setdefault((method, bits), []).append(
                    (seed, values, None if resumed else total)
                )
    away = (0.99, 0.99, 0.99, 0.99)
    for name, extra in [("ablation", "model.lr_text=0.5"), ("short", "trainer.max_epochs=2")]:
        run = record("djsrh", 16, 0, away)
        run["overrides"].append(extra)
        write(root / name / "results.json", run)
    write(root / "heldout" / "results.json", record("djsrh", 16, 0, away, val_mode="heldout"))
    return cells


@pytest.mark.parametrize("case", range(6))
def test_generated_tables_against_plain_loops(report, tmp_path: Path, case: int) -> None:
    rng = random.Random(case)
    cells = generated_runs(rng, tmp_path / "runs")
    if not cells:
        pytest.skip("no run drawn")
    text = run_report(report, tmp_path / "runs", tmp_path / "r.md")
    methods = sorted({m for m, _ in cells})
    bits = sorted({b for _, b in cells})
    counts = [len(v) for v in cells.values()]
    usual = max(set(counts), key=lambda n: (counts.count(n), n))
    expected = []
    for b in bits:
        best = []
        for j in range(len(METRICS)):
            means = {}
            for m in methods:
                values = [v[j] for _, v, _ in cells.get((m, b), [])]
                if values:
                    means[m] = float(f"{sum(values) / len(values):.4f}")
            top = max(means.values()) if len(means) > 1 else None
            best.append({m for m, x in means.items() if x == top})
        for m in methods:
            runs = cells.get((m, b), [])
            row = [str(b), m]
            for j in range(len(METRICS)):
                row.append(plain_cell([v[j] for _, v, _ in runs], m in best[j], usual))
            seeds = ", ".join(str(s) for s in sorted(s for s, _, _ in runs))
            row += [f"{len(runs)} ({seeds})" if runs else "0"]
            row += [plain_time([t for _, _, t in runs], len(runs))]
            expected.append("| " + " | ".join(row) + " |")
    assert headline_rows(text) == expected
    assert "0.9900" not in text.split("## All runs")[0]  # no ablation, held-out or short run


def test_update_fills_the_headline_markers(report, tmp_path: Path, capsys) -> None:
    """With its own markers the headline goes there (not into the tables' block), the text
    around both pairs stays, and a second run changes nothing; markers that do not pair, or
    lie inside the tables' block, are one error line and leave the file as it was."""
    write(tmp_path / "r" / "results.json", record("agch", 16, 0, (0.3, 0.4, 0.2, 0.1)))
    out = tmp_path / "results.md"
    hand = f"# T\n\n{HEADLINE_BEGIN}\nstale1\n{HEADLINE_END}\n\nmiddle\n\n"
    hand += f"{BEGIN}\nstale2\n{END}\nend\n"
    out.write_text(hand)
    args = [str(tmp_path / "r"), "--update", str(out)]
    assert report.main(args) == 0
    text = out.read_text()
    assert text.startswith(f"# T\n\n{HEADLINE_BEGIN}\n## Headline: every method")
    head, rest = text.split(HEADLINE_END)
    assert "| 16 | agch | 0.3000 | 0.4000 | 0.2000 | 0.1000 | 1 (0) | not recorded |" in head
    assert rest.startswith("\n\nmiddle\n\n") and "## Headline" not in rest
    assert rest.split(BEGIN)[1].startswith("\n## All runs") and text.endswith(f"{END}\nend\n")
    assert "stale" not in text
    assert report.main(args) == 0 and out.read_text() == text
    for bad in (
        f"{HEADLINE_BEGIN}\n{BEGIN}\n{END}\n",
        f"{BEGIN}\n{HEADLINE_BEGIN}\n{HEADLINE_END}\n{END}\n",
        f"{HEADLINE_END}\n{HEADLINE_BEGIN}\n{BEGIN}\n{END}\n",
    ):
        out.write_text(bad)
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_:
            report.main(args)
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert exit_.value.code == 2 and out.read_text() == bad
        assert line.startswith(
            f"error: report.py: {out}: expected the lines {HEADLINE_BEGIN}"
        ), line
