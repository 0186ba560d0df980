"""Shortened runs (``trainer.max_epochs=N`` on the command line) as a protocol of their own in
scripts/report.py: generated run folders, expected cells computed here by plain numpy."""

import random
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from report_runs import heldout, load_script, result, write

from src.report.protocols import by_epochs, epochs_override, in_protocol
from src.report.runs import Run

METHODS, LENGTHS, SEEDS = ("agch", "djsrh"), (16, 32), (0, 1, 2)


@pytest.fixture(scope="module")
def report():
    return load_script("report")


def run_json(method: str, bits: int, seed: int, i2t: float, extra: list[str]) -> dict:
    """A results.json of ``experiment=wiki_<method>_<bits>bit`` with the overrides ``extra``
    and test I->T mAP@50 ``i2t`` (T->I: i2t + 0.2; both fractions in [0, 1], the domain the
    report checks)."""
    assert 0 <= i2t <= 0.8, i2t
    run = result(method, bits, seed)
    run["overrides"] = [f"experiment=wiki_{method}_{bits}bit", f"seed={seed}", *extra]
    run["metrics"]["test/i2t_map@50"] = i2t
    run["metrics"]["test/t2i_map@50"] = i2t + 0.2
    return run


def cell(values: list[float]) -> str:
    """The report's mean ± sample std, computed here."""
    return f"{np.mean(values):.4f} ± {np.std(values, ddof=1):.4f}"


def section(text: str, epochs: int) -> str:
    return text.split(f"\n## Runs of {epochs} epochs\n")[1].split("\n## Runs of ")[0]


def sweep(root: Path, rng: random.Random, epochs: int | None, extra: list[str] = []) -> dict:
    """Every method x code length x seed, shortened to ``epochs`` (None: as configured);
    returns {(method, bits): [I->T per seed]}."""
    values = {}
    shorten = [f"trainer.max_epochs={epochs}"] if epochs else []
    for method in METHODS:
        for bits in LENGTHS:
            values[(method, bits)] = [round(rng.uniform(0.1, 0.8), 4) for _ in SEEDS]
            for seed, value in zip(SEEDS, values[(method, bits)]):
                name = f"{epochs}_{method}_{bits}_{seed}_{len(extra)}"
                payload = run_json(method, bits, seed, value, [*shorten, *extra])
                write(root / name / "results.json", payload)
    return values


@pytest.mark.parametrize("case", range(2))
def test_shortened_sweeps_get_sections_of_their_own(report, tmp_path: Path, case: int) -> None:
    """Runs of the configured epochs and two shortened sweeps: each training length gets its
    own tables (rows, code-length table, margins; plots, drawn in case 0 only, as they are
    slow), never mixed, with no variant."""
    rng = random.Random(case)
    a, b = sorted(rng.sample(range(1, 100), 2))
    root, plots = tmp_path / "runs", tmp_path / "plots"
    full, short_a, short_b = (sweep(root, rng, n) for n in (None, a, b))
    out = tmp_path / "r.md"
    plotting = ["--plots-dir", str(plots)] if case == 0 else []
    assert report.main([str(root), "--out", str(out), *plotting]) == 0
    text = out.read_text()
    assert f"(`trainer.max_epochs=N`, N = {a}, {b}) are reported apart" in text
    assert "trainer.max_epochs" not in text.split("## All runs")[1].split("\n## Runs of")[0]
    assert "## Ablations" not in text  # a shortened run is no variant
    for values, part in ((full, text.split("\n## Runs of")[0]), (short_a, section(text, a))):
        for (method, bits), seeds in values.items():
            row = f"| wiki | {method} | - | {bits} | {cell(seeds)} |"
            assert row in part, row
        agch, djsrh = np.array(values[("agch", 32)]), np.array(values[("djsrh", 32)])
        # Welch's 95 % interval, from scipy (an implementation independent of the report's)
        ci = stats.ttest_ind(agch, djsrh, equal_var=False).confidence_interval()
        margins = part.split("minus each other method")[1]
        row = next(line for line in margins.splitlines() if line.startswith("| djsrh |"))
        # columns: I->T 16, I->T 32, T->I 16, T->I 32
        diff = agch.mean() - djsrh.mean()
        assert row.split(" | ")[2].startswith(f"{diff:+.4f} [{ci.low:+.4f}, {ci.high:+.4f}]")
    assert f"{3 * 4} runs trained for {a} epochs (`trainer.max_epochs={a}`)" in text
    assert "(paper" not in section(text, b)
    assert f"| wiki | djsrh | - | 16 | {cell(short_b[('djsrh', 16)])} |" in section(text, b)
    if case == 0:
        names = sorted(p.name for p in plots.iterdir())
        assert names == [f"map50_wiki{tag}.png" for tag in ("", f"_{a}epochs", f"_{b}epochs")]


def test_ablations_and_heldout_references_pair_within_the_training_length(
    report, tmp_path: Path
) -> None:
    """At 7 epochs, ``model.use_gcn=false`` is paired with the 7-epoch runs as configured
    (not "not run"), and a held-out setting with the 7-epoch held-out runs as configured
    (not "reference not run")."""
    rng = random.Random(5)
    root = tmp_path / "runs"
    base = sweep(root, rng, 7)
    ablated = sweep(root, rng, 7, ["model.use_gcn=false"])
    for seed in SEEDS:
        for name, setting, val in (
            ("ref", [], 0.30),
            ("lam", ["model.lam=2"], 0.30 + 0.01 * seed),
        ):
            run = heldout("agch", 32, seed, [*setting, "trainer.max_epochs=7"], (val, 0.5))
            write(root / f"h_{name}_{seed}" / "results.json", run)
    out = tmp_path / "r.md"
    assert report.main([str(root), "--out", str(out)]) == 0
    part = section(out.read_text(), 7)
    assert "\n## All runs" not in part and "\n### All runs" in part  # demoted in the section
    changes = np.array(ablated[("agch", 32)]) - np.array(base[("agch", 32)])
    ci = stats.ttest_1samp(changes, 0.0).confidence_interval()  # paired 95 % interval
    expected = f"{changes.mean():+.4f} [{ci.low:+.4f}, {ci.high:+.4f}] (n=3"
    ablation = part.split("#### wiki, agch, 32 bits")[1].split("####")[0]
    assert "| `model.use_gcn=false` |" in ablation and expected in ablation
    selection = part.split("#### wiki, agch, 32 bits (held-out validation)")[1]
    assert "reference not run" not in selection
    assert "| `model.lam=2` | 0.3100 ± 0.0100 |" in selection
    # changes 0, 0.01, 0.02: mean 0.01, SE 0.0058, t(0.975, 2) = 4.303: +- 0.0248
    assert "+0.0100 [-0.0148, +0.0348] (n=3" in selection


def test_an_override_equal_to_the_configured_epochs_is_the_protocol(report, tmp_path) -> None:
    """``trainer.max_epochs=150`` on wiki_agch (its configured value) is no shortening."""
    for seed in (0, 1):
        run = run_json("agch", 32, seed, 0.4 + 0.02 * seed, ["trainer.max_epochs=150"])
        write(tmp_path / "r" / str(seed) / "results.json", run)
    out = tmp_path / "r.md"
    assert report.main([str(tmp_path / "r"), "--out", str(out)]) == 0
    text = out.read_text()
    assert "## Runs of" not in text and "| wiki | agch | - | 32 | 0.4100 ± 0.0141 |" in text


def fake_run(own: list[str], drift: list[str]) -> Run:
    return Run(
        path=Path("x"),
        dataset="wiki",
        method="agch",
        bits=32,
        seed=0,
        synthetic=False,
        metrics={},
        variant=",".join(sorted(own + drift)),
        own=",".join(own),
        drift=",".join(drift),
    )


@pytest.mark.parametrize("case", range(20))
def test_by_epochs_takes_out_exactly_the_epochs_override(case: int) -> None:
    """Generated overrides, list values among them: the variant within a training length is
    the one the run would have without ``trainer.max_epochs=N``."""
    rng = random.Random(case)
    pool = ["model.alpha=0.5", "model.ks=[1,10,100]", "data.x=[a,b]", "model.use_gcn=false"]
    own = sorted(rng.sample(pool, rng.randint(0, 3)))
    drift = sorted(rng.sample(["model.lr_image=0.01", "model.y=[2,3]"], rng.randint(0, 2)))
    epochs = rng.choice([None, rng.randint(1, 500)])
    with_epochs = sorted(own + ([f"trainer.max_epochs={epochs}"] if epochs else []))
    split = by_epochs([fake_run(with_epochs, drift)])
    assert list(split) == [epochs]
    (seen,) = split[epochs]
    assert (seen.own, seen.variant) == (",".join(own), ",".join(sorted(own + drift)))
    assert in_protocol(fake_run(own, drift)) == fake_run(own, drift)


def test_epochs_override_reads_only_integer_epochs() -> None:
    assert [epochs_override(p) for p in ("trainer.max_epochs=12", "trainer.max_epochs=x")] == [
        12,
        None,
    ]
    assert epochs_override("trainer.max_epochs_x=3") is None


def test_a_length_with_heldout_runs_only_has_no_empty_table(report, tmp_path) -> None:
    for seed in (0, 1):
        run = heldout("agch", 32, seed, ["trainer.max_epochs=4"], (0.3, 0.5))
        write(tmp_path / "r" / str(seed) / "results.json", run)
    out = tmp_path / "r.md"
    assert report.main([str(tmp_path / "r"), "--out", str(out)]) == 0
    part = section(out.read_text(), 4)
    assert "All runs" not in part and "| - (as configured) (reference) | 0.3000 ± 0.0000" in part
