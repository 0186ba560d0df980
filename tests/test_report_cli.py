"""scripts/report.py writes nothing unless asked, refuses bad targets in one line, and draws
the code-length plots with ticks at the code lengths and the paper's numbers beside."""

from pathlib import Path

import pytest
from report_runs import DIRS, ROOT, load_script, result, write


@pytest.fixture(scope="module")
def report():
    return load_script("report")


def test_update_keeps_the_text_around_the_markers(report, tmp_path: Path, capsys) -> None:
    write(tmp_path / "r" / "results.json", result("agch", 16, 0))
    out = tmp_path / "results.md"
    hand = f"# Mine\n\nintro\n\n{report.BEGIN}\nstale table\n{report.END}\n\noutro\n"
    out.write_text(hand)
    args = [str(tmp_path / "r"), "--update", str(out), "--plots-dir", str(tmp_path / "p")]
    assert report.main(args) == 0
    text = out.read_text()
    # without markers of its own, the headline heads the block (tests/test_report_headline.py)
    assert text.startswith(f"# Mine\n\nintro\n\n{report.BEGIN}\n## Headline: every method")
    assert "\n## All runs" in text
    assert text.endswith(f"{report.END}\n\noutro\n") and "stale table" not in text
    assert "| wiki | agch | - | 16 | 0.4000 |" in text and "](p/map50_wiki.png)" in text
    again = [*args, "--overwrite"]  # its plots are there now (tests/test_existing_outputs.py)
    assert report.main(again) == 0 and out.read_text() == text  # idempotent
    no_markers = tmp_path / "notes.md"
    no_markers.write_text("hand-written\n")
    args[2] = str(no_markers)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        report.main(args)
    assert exit_.value.code == 2 and no_markers.read_text() == "hand-written\n"
    err = capsys.readouterr().err.strip()
    assert (
        err.startswith(f"error: report.py: {no_markers}: expected the lines") and "\n" not in err
    )
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
    assert printed.startswith("# Results\n\n## Headline") and "| wiki | agch | - | 16 |" in printed
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
    flag = "argument --out: expected"  # the flag's type, before any work
    expected = {
        "out exists": f"error: report.py: {out} [--out]: expected a path that holds no file, "
        "found an existing file, kept as it is; give --overwrite to replace it",
        "paper unreadable": f"error: report.py: {tmp_path / 'paper.json'}: expected the "
        "paper's numbers",
        "out is a directory": f"{flag} an output file, found a folder, got {str(out)!r}",
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
    assert exit_.value.code == 2 and len(err) == 1 and err[0].startswith("error: "), err
    assert expected in err[0], err
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    assert not plots.exists()


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


def test_a_missing_folder_is_named(tmp_path: Path) -> None:
    import subprocess
    import sys

    missing = tmp_path / "logs" / "train" / "multiruns"
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "report.py"), str(missing)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: report.py: {missing}: no such file or folder (give folders of runs)"
    ]
