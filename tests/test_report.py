"""scripts/report.py tables on hand-made results.json files: means and stds, skipped files,
variants, ablations paired by seed, margins."""

import json
from pathlib import Path

import pytest
from report_runs import BASE, DIRS, load_script, result, write


@pytest.fixture(scope="module")
def report():
    return load_script("report")


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    """A multirun of 8 good runs, curves for one of them, and 5 files to skip."""
    root = tmp_path / "logs"
    n = 0
    for method, bits in BASE:
        for seed in (0, 1):
            write(root / "multiruns" / "t" / str(n) / "results.json", result(method, bits, seed))
            n += 1
    curve = {
        "ks": [1, 10],
        "p@k": [0.9, 0.7],
        "pr_recall": [0, 0.5, 1],
        "pr_precision": [0, 0.8, 0.6],
    }
    write(root / "multiruns" / "t" / "0" / "curves.json", {"test": {"i2t": curve, "t2i": curve}})
    for name, value in (("nan", None), ("nan2", float("nan"))):  # train.py writes NaN as null
        bad = result("agch", 16, 2)
        bad["metrics"]["test/i2t_map@50"] = value
        write(root / "runs" / name / "results.json", json.dumps(bad))
    write(root / "runs" / "broken" / "results.json", "{not json")
    write(root / "runs" / "old" / "results.json", {"dataset": "wiki", "metrics": {}})
    failed = result("agch", 16, 3) | {
        "status": "failed",
        "error": "non-finite loss",
        "metrics": {},
    }
    write(root / "runs" / "failed" / "results.json", failed)
    write(root / "eval" / "runs" / "e" / "results.json", result("agch", 16, 0, task_name="eval"))
    return root


def test_table_means_stds_and_skips(report, logs: Path, tmp_path: Path, capsys) -> None:
    out, plots = tmp_path / "docs" / "results.md", tmp_path / "docs" / "figures"
    out.parent.mkdir()  # the report writes into an existing folder (it never makes one)
    assert report.main([str(logs), "--out", str(out), "--plots-dir", str(plots)]) == 0
    printed = capsys.readouterr().err
    for name, reason in [
        ("nan", "non-finite metrics: test/i2t_map@50"),
        ("nan2", "non-finite metrics: test/i2t_map@50"),
        ("broken", "unreadable"),
        ("old", "missing keys: method, code_length, seed"),
        ("failed", "status failed: non-finite loss"),
        ("e", "task 'eval' not in --tasks"),
    ]:
        line = next(line for line in printed.splitlines() if f"/{name}/results.json" in line)
        assert line.startswith("skipped ") and reason in line, line
    table = out.read_text()
    assert "6 results.json skipped" in table and "SYNTHETIC" not in table
    rows = [line for line in table.splitlines() if line.startswith("| wiki ")]
    assert rows == [
        "| wiki | agch | - | 16 | 0.4100 ± 0.0141 | 0.6100 ± 0.0141 | 0.3100 ± 0.0141 | "
        "0.5100 ± 0.0141 | 0, 1 | 2 |",
        "| wiki | agch | - | 32 | 0.4500 ± 0.0141 | 0.6500 ± 0.0141 | 0.3500 ± 0.0141 | "
        "0.5500 ± 0.0141 | 0, 1 | 2 |",
        "| wiki | djsrh | - | 16 | 0.3900 ± 0.0141 | 0.5900 ± 0.0141 | 0.2900 ± 0.0141 | "
        "0.4900 ± 0.0141 | 0, 1 | 2 |",
        "| wiki | djsrh | - | 32 | 0.4100 ± 0.0141 | 0.6300 ± 0.0141 | 0.3300 ± 0.0141 | "
        "0.5300 ± 0.0141 | 0, 1 | 2 |",
    ]
    for name in ("map50_wiki.png", "curves_wiki_16bits.png"):
        assert (plots / name).read_bytes().startswith(b"\x89PNG"), name
        assert f"figures/{name}" in table
    assert not (plots / "curves_wiki_32bits.png").exists()  # no run of 32 bits saved curves


def test_synthetic_rows_are_flagged_and_single_runs_have_no_std(
    report, tmp_path: Path, capsys
) -> None:
    write(
        tmp_path / "r" / "results.json", result("agch", 16, 0, synthetic=True, dataset="synthetic")
    )
    out = tmp_path / "results.md"
    assert report.main([str(tmp_path / "r"), "--out", str(out), "--plots-dir", str(tmp_path)]) == 0
    table = out.read_text()
    assert "not benchmarks" in table
    assert (
        "| synthetic (SYNTHETIC) | agch | - | 16 | 0.4000 | 0.6000 | 0.3000 | 0.5000 | 0 | 1 |"
        in table
    )


def test_no_usable_run_is_an_error(report, tmp_path: Path, capsys) -> None:
    write(tmp_path / "r" / "results.json", "[]")
    with pytest.raises(SystemExit) as exit_:
        report.main([str(tmp_path / "r"), "--out", str(tmp_path / "x.md")])
    assert exit_.value.code == 2 and not (tmp_path / "x.md").exists()
    (line,) = capsys.readouterr().err.splitlines()  # the reason in the one line
    assert line == (
        f"error: report.py: {tmp_path / 'r'}: expected usable results.json, none of the 1 "
        f"found is: {tmp_path / 'r' / 'results.json'}: unreadable (not a JSON object)"
    )


def test_variants_get_rows_of_their_own_and_bits_tables(report, tmp_path: Path) -> None:
    """An ablation (a model override beyond the experiment) is a row of its own, stays out of
    the per-bits table and plots, and the per-bits table names the highest method per column
    only where every method ran; the paper's numbers are shown beside, labelled."""
    root = tmp_path / "runs"
    for i, (method, bits) in enumerate(BASE):
        for seed in (0, 1):
            run = result(method, bits, seed)
            run["overrides"] = [
                f"experiment=wiki_{method}_{bits}bit",
                f"seed={seed}",
                "logger=csv",
            ]
            write(root / f"{i}_{seed}" / "results.json", run)
    ablation = result("agch", 32, 0)  # mixed in, it would pull agch's I->T 32 below djsrh's
    ablation["metrics"]["test/i2t_map@50"] = 0.01
    ablation["overrides"] = ["experiment=wiki_agch_32bit", "seed=0", "model.use_gcn=false"]
    write(root / "ablation" / "results.json", ablation)
    lonely = result("djsrh", 16, 0, dataset="uci")
    write(root / "uci" / "results.json", lonely)
    paper = write(
        tmp_path / "paper.json",
        {"wiki": {"features": "F", "methods": {"agch": {"i2t": {"16": 0.5}, "t2i": {}}}}},
    )
    out = tmp_path / "results.md"
    args = [
        str(root),
        "--out",
        str(out),
        "--plots-dir",
        str(tmp_path / "p"),
        "--paper",
        str(paper),
    ]
    assert report.main(args) == 0
    table = out.read_text()
    assert "| wiki | agch | `model.use_gcn=false` | 32 | 0.0100 | 0.6400 |" in table
    assert "| wiki | agch | - | 32 | 0.4500 ± 0.0141 |" in table  # the ablation is not averaged in
    by_bits = table.split("## mAP@50 against code length")[1]  # not the headline's tables
    wiki = by_bits.split("### wiki")[1].split("###")[0]
    rows = {line.split(" | ")[0].lstrip("| "): line for line in wiki.splitlines() if "|" in line}
    # columns: I->T 16, I->T 32, T->I 16, T->I 32; agch 16 I->T is mean(0.40, 0.42) = 0.41
    assert rows["agch"].split(" | ")[1] == "0.4100 ± 0.0141 (n=2)"
    assert rows["agch (paper, F)"].split(" | ")[1:3] == ["0.500", ""]
    # the highest mean, and the methods whose Welch 95 % interval of the difference from it
    # includes 0: two seeds a side (std 0.0141): df 2, half-width 4.303 x 0.0141 = 0.0609
    assert rows["highest measured"].split(" | ")[1:] == [
        "agch, level with djsrh",  # 0.41 against 0.39
        "agch, level with djsrh",  # 0.45 against 0.41: 0.04 < 0.0609
        "agch, level with djsrh",
        "agch, level with djsrh |",
    ]
    uci = by_bits.split("### uci")[1]
    assert "| highest measured | djsrh |" in uci  # djsrh is the only method measured on uci


def test_highest_is_withheld_until_every_method_ran(report, tmp_path: Path) -> None:
    root = tmp_path / "runs"
    write(root / "a" / "results.json", result("agch", 16, 0))
    write(root / "b" / "results.json", result("djsrh", 16, 0))
    write(root / "c" / "results.json", result("djsrh", 32, 0))
    out = tmp_path / "results.md"
    assert report.main([str(root), "--out", str(out), "--plots-dir", str(tmp_path / "p")]) == 0
    best = next(line for line in out.read_text().splitlines() if "highest measured" in line)
    # I->T 16: agch 0.40 > djsrh 0.38; I->T 32: agch has no run; T->I 16: agch 0.60 > 0.58
    one = "agch; not compared (one seed): djsrh"  # one run each: no spread to order them by
    assert best == f"| highest measured | {one} | (not all run) | {one} | (not all run) |"


def test_highest_names_level_and_single_seed_methods_apart() -> None:
    """Hand-computed: the 95 % Welch interval of a - b includes 0, that of a - d does not, c has
    one run (no spread), so it is named apart and never called level; the same with the single
    run as the leader."""
    from src.report.tables import highest

    scored = {
        "a": [0.50, 0.52, 0.54],  # mean 0.52, std 0.02
        "b": [0.49, 0.51, 0.53],  # 0.01 below: SE 0.0163, df 4, +-0.0453: includes 0
        "c": [0.30],
        "d": [0.30, 0.31, 0.32],  # 0.21 below: SE 0.0129, df 2.94, +-0.041: above
    }
    assert highest(scored, 4) == "a, level with b; not compared (one seed): c"
    assert highest({**scored, "c": [0.90]}, 4) == "c; not compared (one seed): a, b, d"
    assert highest(scored, 5) == "(not all run)"


def test_ablation_table_pairs_changes_by_seed(report, tmp_path: Path) -> None:
    """Changes are variant minus configured over the seeds both ran (hand-computed)."""
    root = tmp_path / "runs"
    for seed in (0, 1):  # configured agch 32: I->T 0.44, 0.46; T->I 0.64, 0.66
        write(root / f"base{seed}" / "results.json", result("agch", 32, seed))
    for seed, i2t in ((0, 0.40), (2, 0.10)):  # seed 2 has no configured run to pair with
        run = result("agch", 32, seed)
        run["overrides"] = ["experiment=wiki_agch_32bit", f"seed={seed}", "model.similarity=C"]
        run["metrics"]["test/i2t_map@50"] = i2t
        write(root / f"simC{seed}" / "results.json", run)
    for seed, (i2t, t2i) in enumerate(((0.40, 0.65), (0.43, 0.65))):  # both seeds paired
        run = result("agch", 32, seed)
        run["overrides"] = ["experiment=wiki_agch_32bit", f"seed={seed}", "model.similarity=D"]
        run["metrics"]["test/i2t_map@50"], run["metrics"]["test/t2i_map@50"] = i2t, t2i
        write(root / f"simD{seed}" / "results.json", run)
    lonely = result("agch", 16, 0)
    lonely["overrides"] = ["seed=0", "model.use_fusion=false"]  # no configured 16-bit run
    write(root / "nofusion" / "results.json", lonely)
    out = tmp_path / "results.md"
    assert report.main([str(root), "--out", str(out), "--plots-dir", str(tmp_path / "p")]) == 0
    section = out.read_text().split("## Ablations and other variants")[1].split("## Plots")[0]
    wiki32 = section.split("### wiki, agch, 32 bits")[1].split("###")[0]
    rows = [line for line in wiki32.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows[1] == "| - (as configured) | 0.4500 ± 0.0141 | 0.6500 ± 0.0141 |  |  | 0, 1 |"
    # simC: I->T mean(0.40, 0.10) = 0.25; T->I seed 0 0.64, seed 2 0.68: mean 0.66
    # paired (seed 0 only): I->T 0.40 - 0.44 = -0.04, T->I 0.64 - 0.64 = 0
    assert rows[2] == (
        "| `model.similarity=C` | 0.2500 ± 0.2121 | 0.6600 ± 0.0283 | -0.0400 (n=1) | "
        "+0.0000 (n=1) | 0, 2 |"
    )
    # simD, paired on seeds 0 and 1. I->T changes -0.04, -0.03: mean -0.035, std 0.0070711,
    # SE 0.005, t(0.975, 1) = 12.706: -0.035 +- 0.0635. T->I changes +0.01, -0.01: mean 0,
    # SE 0.01: +- 0.1271. Two pairs settle nothing.
    assert rows[3] == (
        "| `model.similarity=D` | 0.4150 ± 0.0212 | 0.6500 ± 0.0000 | -0.0350 [-0.0985, +0.0285] "
        "(n=2, includes 0) | +0.0000 [-0.1271, +0.1271] (n=2, includes 0) | 0, 1 |"
    )
    wiki16 = section.split("### wiki, agch, 16 bits")[1]
    assert "| - (as configured) | not run | not run |  |  |  |" in wiki16
    assert (
        "| `model.use_fusion=false` | 0.4000 | 0.6000 | no shared seed | no shared seed | 0 |"
        in (wiki16)
    )


def test_margin_table_difference_and_standard_error(report, tmp_path: Path) -> None:
    """agch minus djsrh per cell, hand-computed: mean difference, its 95 % Welch t-interval and
    the reading (the interval above 0, below 0, or including it)."""
    root = tmp_path / "runs"
    # 16 bits, 3 seeds each. I->T: agch 0.50, 0.52, 0.54 (mean 0.52, std 0.02); djsrh 0.40,
    # 0.40, 0.46 (mean 0.42, std 0.034641): diff +0.10, SE sqrt(0.0004/3 + 0.0012/3) = 0.023094,
    # Welch df 3.2, t 3.073: [+0.0290, +0.1710] -> above. T->I: agch 0.60, 0.62, 0.64; djsrh
    # 0.70 x 3 (std 0): diff -0.08, SE 0.011547, df 2, t 4.303: [-0.1297, -0.0303] -> below.
    values = {
        "agch": ((0.50, 0.52, 0.54), (0.60, 0.62, 0.64)),
        "djsrh": ((0.40, 0.40, 0.46), (0.70, 0.70, 0.70)),
    }
    for method, (i2t, t2i) in values.items():
        for seed in range(3):
            run = result(method, 16, seed)
            run["metrics"]["test/i2t_map@50"] = i2t[seed]
            run["metrics"]["test/t2i_map@50"] = t2i[seed]
            write(root / f"{method}16_{seed}" / "results.json", run)
    # 32 bits: agch one seed (0.44 / 0.64), djsrh two (0.40, 0.42 / 0.62, 0.64): one seed
    write(root / "agch32" / "results.json", result("agch", 32, 0))
    for seed in (0, 1):
        write(root / f"djsrh32_{seed}" / "results.json", result("djsrh", 32, seed))
    out = tmp_path / "results.md"
    assert report.main([str(root), "--out", str(out), "--plots-dir", str(tmp_path / "p")]) == 0
    text = out.read_text()
    section = text.split("## agch against the other methods")[1].split("## Plots")[0]
    assert "| against | I->T 16 | I->T 32 | T->I 16 | T->I 32 |" in section
    assert (
        "| djsrh | +0.1000 [+0.0290, +0.1710] (above) | +0.0300 (one seed) | "
        "-0.0800 [-0.1297, -0.0303] (below) | +0.0100 (one seed) |"
    ) in section
    # agch 0.41 ± 0.0141 (n=2) against djsrh 0.39 ± 0.0141: +0.02, SE 0.0141, df 2: +-0.0608
    runs = [
        report.Run(Path(f"{m}{s}"), "wiki", m, 16, s, False, {f"{d}_map@50": v for d in DIRS}, "")
        for m, vs in (("agch", (0.40, 0.42)), ("djsrh", (0.38, 0.40)))
        for s, v in enumerate(vs)
    ]
    table = report.margin_tables(report.group(runs), "agch")
    cell = "+0.0200 [-0.0408, +0.0808] (includes 0)"
    assert f"| djsrh | {cell} | {cell} |" in table
    # no section without the lead method, or with --margins ''
    assert report.margin_tables(report.group([]), "agch") == ""
    bare = tmp_path / "bare.md"
    args = [str(root), "--out", str(bare), "--plots-dir", str(tmp_path / "p"), "--margins", ""]
    args.append("--overwrite")  # the plots of the report above are there
    assert report.main(args) == 0 and "against the other methods" not in bare.read_text()


def test_a_report_of_variants_only_has_no_empty_sections(report, tmp_path: Path) -> None:
    """Runs that all change the model beyond the experiment (ablations) have rows of their own,
    and no per-bits section without a table under it. (A shortened run is no variant:
    tests/test_report_epochs.py.)"""
    root = tmp_path / "runs"
    for seed in (0, 1):
        run = result("agch", 32, seed)
        run["overrides"] = ["experiment=wiki_agch_32bit", f"seed={seed}", "model.use_gcn=false"]
        write(root / str(seed) / "results.json", run)
    out = tmp_path / "results.md"
    assert report.main([str(root), "--out", str(out)]) == 0
    text = out.read_text()
    assert "`model.use_gcn=false`" in text
    assert "mAP@50 against code length" not in text
    for section in text.split("\n## ")[1:]:  # a title line, then something under it
        assert section.strip().count("\n") > 0, f"section {section!r} is empty"
