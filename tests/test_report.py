"""scripts/report.py on hand-made results.json files: means and stds, skipped files, plots."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("i2t_map@50", "t2i_map@50", "i2t_map@all", "t2i_map@all")
DIRS = ("i2t", "t2i")
# test/<metric> of seed 0; seed 1 adds 0.02, so a row is mean = value + 0.01, std = 0.0141
BASE = {
    ("agch", 16): (0.40, 0.60, 0.30, 0.50),
    ("agch", 32): (0.44, 0.64, 0.34, 0.54),
    ("djsrh", 16): (0.38, 0.58, 0.28, 0.48),
    ("djsrh", 32): (0.40, 0.62, 0.32, 0.52),
}


@pytest.fixture(scope="module")
def report():
    """scripts/report.py as a module (scripts/ is no package)."""
    spec = importlib.util.spec_from_file_location("report", ROOT / "scripts" / "report.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["report"] = module
    spec.loader.exec_module(module)
    return module


def result(method: str, bits: int, seed: int, **changes) -> dict:
    values = [v + 0.02 * seed for v in BASE[(method, bits)]]
    return {
        "task_name": "train",
        "dataset": "wiki",
        "synthetic": False,
        "method": method,
        "code_length": bits,
        "seed": seed,
        "overrides": [f"model.code_length={bits}", f"seed={seed}"],
        "metrics": {"val/map@50": 0.5, **{f"test/{m}": v for m, v in zip(METRICS, values)}},
        **changes,
    }


def write(path: Path, payload: dict | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return path


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
    write(root / "eval" / "runs" / "e" / "results.json", result("agch", 16, 0, task_name="eval"))
    return root


def test_table_means_stds_and_skips(report, logs: Path, tmp_path: Path, capsys) -> None:
    out, plots = tmp_path / "docs" / "results.md", tmp_path / "docs" / "figures"
    assert report.main([str(logs), "--out", str(out), "--plots-dir", str(plots)]) == 0
    printed = capsys.readouterr().err
    for name, reason in [
        ("nan", "non-finite metrics: test/i2t_map@50"),
        ("nan2", "non-finite metrics: test/i2t_map@50"),
        ("broken", "unreadable"),
        ("old", "missing keys: method, code_length, seed"),
        ("e", "task 'eval' not in --tasks"),
    ]:
        line = next(line for line in printed.splitlines() if f"/{name}/results.json" in line)
        assert line.startswith("skipped ") and reason in line, line
    table = out.read_text()
    assert "5 results.json skipped" in table and "SYNTHETIC" not in table
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
    err = capsys.readouterr().err
    assert "unreadable (not a JSON object)" in err
    assert err.splitlines()[-1] == f"error: {tmp_path / 'r'}: expected usable results.json"


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
    wiki = table.split("### wiki")[1].split("###")[0]
    rows = {line.split(" | ")[0].lstrip("| "): line for line in wiki.splitlines() if "|" in line}
    # columns: I->T 16, I->T 32, T->I 16, T->I 32; agch 16 I->T is mean(0.40, 0.42) = 0.41
    assert rows["agch"].split(" | ")[1] == "0.4100 ± 0.0141 (n=2)"
    assert rows["agch (paper, F)"].split(" | ")[1:3] == ["0.500", ""]
    assert rows["highest measured"].split(" | ")[1:] == ["agch", "agch", "agch", "agch |"]
    uci = table.split("### uci")[1]
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
    assert best == "| highest measured | agch | (not all run) | agch | (not all run) |"


@pytest.fixture(scope="module")
def archive():
    spec = importlib.util.spec_from_file_location(
        "archive_results", ROOT / "scripts" / "archive_results.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_archive_keeps_variants_apart(archive, tmp_path: Path, capsys) -> None:
    """The experiment's run and its ablation (same dataset, method, bits and seed) land in
    different folders; neutral overrides (logger, hydra dirs) do not make a variant; synthetic
    runs are refused."""
    logs = tmp_path / "logs"
    configured = result("agch", 32, 0)
    configured["overrides"] = ["experiment=wiki_agch_32bit", "seed=0", "hydra.run.dir=x/y"]
    ablation = result("agch", 32, 0)
    ablation["overrides"] = ["experiment=wiki_agch_32bit", "seed=0", "model.similarity=C"]
    write(logs / "a" / "results.json", configured)
    write(logs / "a" / "curves.json", {"test": {}})
    write(logs / "b" / "results.json", ablation)
    write(logs / "c" / "results.json", result("agch", 16, 0, synthetic=True))
    dest = tmp_path / "results"
    assert archive.main([str(logs), "--dest", str(dest)]) == 0
    base = dest / "wiki" / "agch" / "32bit"
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*.json")) == [
        "wiki/agch/32bit/model.similarity=C/seed0/results.json",
        "wiki/agch/32bit/seed0/curves.json",
        "wiki/agch/32bit/seed0/results.json",
    ]
    assert json.loads((base / "seed0" / "results.json").read_text()) == configured
    assert "synthetic data" in capsys.readouterr().err


def test_update_keeps_the_text_around_the_markers(report, tmp_path: Path, capsys) -> None:
    write(tmp_path / "r" / "results.json", result("agch", 16, 0))
    out = tmp_path / "results.md"
    hand = f"# Mine\n\nintro\n\n{report.BEGIN}\nstale table\n{report.END}\n\noutro\n"
    out.write_text(hand)
    args = [str(tmp_path / "r"), "--update", str(out), "--plots-dir", str(tmp_path / "p")]
    assert report.main(args) == 0
    text = out.read_text()
    assert text.startswith(f"# Mine\n\nintro\n\n{report.BEGIN}\n## All runs")
    assert text.endswith(f"{report.END}\n\noutro\n") and "stale table" not in text
    assert "| wiki | agch | - | 16 | 0.4000 |" in text and "](p/map50_wiki.png)" in text
    assert report.main(args) == 0 and out.read_text() == text  # idempotent
    no_markers = tmp_path / "notes.md"
    no_markers.write_text("hand-written\n")
    args[2] = str(no_markers)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        report.main(args)
    assert exit_.value.code == 2 and no_markers.read_text() == "hand-written\n"
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {no_markers}: has no") and "\n" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.md", "p", "r", "results.md"]


def test_nothing_is_written_unless_asked(report, tmp_path: Path, monkeypatch, capsys) -> None:
    """The default prints the tables and writes no file: not docs/results.md, no PNG."""
    write(tmp_path / "r" / "results.json", result("agch", 16, 0))
    docs = tmp_path / "docs"
    write(docs / "results.md", f"# Results\n\n{report.BEGIN}\nkept\n{report.END}\n")
    (docs / "figures").mkdir()
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    monkeypatch.chdir(tmp_path)
    assert report.main(["r"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("# Results\n\n## All runs") and "| wiki | agch | - | 16 |" in printed
    assert "## Plots" not in printed and report.BEGIN not in printed
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert "kept" in (docs / "results.md").read_text()


@pytest.mark.parametrize("case", ["out exists", "paper unreadable", "out is a directory"])
def test_bad_targets_are_one_line_and_write_nothing(
    report, tmp_path: Path, capsys, case: str
) -> None:
    write(tmp_path / "r" / "results.json", result("agch", 16, 0))
    out, plots = tmp_path / "out.md", tmp_path / "figures"
    args = [str(tmp_path / "r"), "--out", str(out), "--plots-dir", str(plots)]
    expected = {
        "out exists": f"error: {out}: expected a new file (--update rewrites one)",
        "paper unreadable": f"error: {tmp_path / 'paper.json'}: expected the paper's numbers",
        "out is a directory": f"error: {out}: expected a new file",
    }[case]
    if case == "out exists":
        out.write_text("mine\n")
    elif case == "paper unreadable":
        args += ["--paper", str(write(tmp_path / "paper.json", "{not json"))]
    else:
        out.mkdir()
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(SystemExit) as exit_:
        report.main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1 and err[0].startswith(expected), err
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    assert not plots.exists()


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
    # SE 0.005 -> below. T->I changes +0.01, -0.01: mean 0, SE 0.01 -> within 2 SE.
    assert rows[3] == (
        "| `model.similarity=D` | 0.4150 ± 0.0212 | 0.6500 ± 0.0000 | -0.0350 ± 0.0050 (n=2, "
        "below) | +0.0000 ± 0.0100 (n=2, within 2 SE) | 0, 1 |"
    )
    wiki16 = section.split("### wiki, agch, 16 bits")[1]
    assert "| - (as configured) | not run | not run |  |  |  |" in wiki16
    assert (
        "| `model.use_fusion=false` | 0.4000 | 0.6000 | no shared seed | no shared seed | 0 |"
        in (wiki16)
    )


def test_margin_table_difference_and_standard_error(report, tmp_path: Path) -> None:
    """agch minus djsrh per cell, hand-computed: mean difference, SE of the difference, and
    the reading at two standard errors."""
    root = tmp_path / "runs"
    # 16 bits, 3 seeds each. I->T: agch 0.50, 0.52, 0.54 (mean 0.52, std 0.02); djsrh 0.40,
    # 0.40, 0.46 (mean 0.42, std 0.034641): diff +0.10, SE sqrt(0.0004/3 + 0.0012/3) = 0.023094
    # -> above. T->I: agch 0.60, 0.62, 0.64; djsrh 0.70 x 3 (std 0): diff -0.08, SE 0.011547
    # -> below.
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
        "| djsrh | +0.1000 ± 0.0231 (above) | +0.0300 (one seed) | -0.0800 ± 0.0115 (below) | "
        "+0.0100 (one seed) |"
    ) in section
    # mean difference within two SE: agch 0.41 ± 0.0141 (n=2) against djsrh 0.39 ± 0.0141
    runs = [
        report.Run(Path(f"{m}{s}"), "wiki", m, 16, s, False, {f"{d}_map@50": v for d in DIRS}, "")
        for m, vs in (("agch", (0.40, 0.42)), ("djsrh", (0.38, 0.40)))
        for s, v in enumerate(vs)
    ]
    table = report.margin_tables(report.group(runs), "agch")
    assert "| djsrh | +0.0200 ± 0.0141 (within 2 SE) | +0.0200 ± 0.0141 (within 2 SE) |" in table
    # no section without the lead method, or with --margins ''
    assert report.margin_tables(report.group([]), "agch") == ""
    bare = tmp_path / "bare.md"
    args = [str(root), "--out", str(bare), "--plots-dir", str(tmp_path / "p"), "--margins", ""]
    assert report.main(args) == 0 and "against the other methods" not in bare.read_text()


def test_code_length_plot_ticks_and_the_papers_lines() -> None:
    """Ticks and labels at the code lengths only (no minor log-axis labels between them); the
    paper's numbers drawn as dashed lines of the measured method's colour."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from src.report.plots import map_vs_bits_figure
    from src.report.runs import Run, group

    measured = {("agch", 16): 0.40, ("agch", 32): 0.44, ("djsrh", 32): 0.41}
    runs = [
        Run(Path(f"{m}{b}"), "wiki", m, b, 0, False, {f"{d}_map@50": v for d in DIRS}, "")
        for (m, b), v in measured.items()
    ]
    paper = {"wiki": {"methods": {"agch": {"i2t": {"16": 0.41, "128": 0.45}, "t2i": {}}}}}
    figure = map_vs_bits_figure(group(runs), "wiki", paper)
    FigureCanvasAgg(figure).draw()
    i2t, t2i = figure.axes
    for ax in (i2t, t2i):
        assert ax.xaxis.get_minorticklocs().size == 0
        ticks = [16, 32, 128] if ax is i2t else [16, 32]  # the paper gives no T->I here
        assert list(ax.get_xticks()) == ticks
        assert [label.get_text() for label in ax.get_xticklabels()] == [str(b) for b in ticks]
    legend = [text.get_text() for text in i2t.get_legend().get_texts()]
    assert sorted(legend) == ["agch", "agch (paper)", "djsrh"]
    (line,) = [line for line in i2t.get_lines() if line.get_label() == "agch (paper)"]
    assert list(line.get_xdata()) == [16, 128] and list(line.get_ydata()) == [0.41, 0.45]
    assert line.get_linestyle() == "--"
    agch = next(c for c in i2t.containers if c.get_label() == "agch")
    assert line.get_color() == agch.lines[0].get_color()
    assert list(agch.lines[0].get_ydata()) == [0.40, 0.44]


def test_outputs_of_the_readme_command_are_ignored_by_git() -> None:
    """`--out report.md --plots-dir report_figures` (the README's command) adds nothing to
    `git status`."""
    import shutil
    import subprocess

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    paths = ["report.md", "report_figures/map50_wiki.png"]
    done = subprocess.run(
        ["git", "check-ignore", *paths], cwd=ROOT, capture_output=True, text=True
    )
    assert done.stdout.split() == paths
