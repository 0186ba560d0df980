"""report.py with no usable run says why in one line (issue 22, eleventh trial: ``--tasks
nope::`` printed "skipped ...: task 'train' not in --tasks" and then blamed an intact
results.json). Generated folders of runs of several tasks, damaged files and none, judged by
what a plain count of the folder says."""

from pathlib import Path

import numpy as np
import pytest
from report_runs import load_script, result, write

TASKS = ["train", "eval", "debug", "nope::", "x y"]


@pytest.fixture(scope="module")
def report():
    return load_script("report")


def test_no_usable_run_is_one_line_saying_why(report, tmp_path: Path, capsys) -> None:
    """40 generated folders (0-3 runs of random tasks, 0-2 damaged files) and --tasks values:
    when no run is usable, exactly one line (no "skipped" lines before it): --tasks named with
    every task found when the runs were only of other tasks, else the count of files found and
    a reason; when a run is usable, the table is written."""
    rng = np.random.default_rng(22)
    for case in range(40):
        root = tmp_path / f"c{case}"
        root.mkdir()
        tasks = [str(t) for t in rng.choice(TASKS, size=int(rng.integers(0, 4)))]
        for n, task in enumerate(tasks):
            write(root / f"r{n}" / "results.json", result("agch", 16, n, task_name=task))
        damaged = int(rng.integers(0, 3))
        for n in range(damaged):
            write(root / f"bad{n}" / "results.json", "{not json")
        wanted = [str(t) for t in rng.choice(TASKS, size=int(rng.integers(1, 3)))]
        out = tmp_path / f"c{case}.md"
        argv = [str(root), "--out", str(out), "--tasks", *wanted]
        usable = [t for t in tasks if t in wanted]
        try:
            assert report.main(argv) == 0
        except SystemExit as exit_:
            err = capsys.readouterr().err
            assert exit_.code == 2 and not usable and not out.exists(), (case, err)
            (line,) = err.splitlines()
            if tasks and not damaged:
                assert line.startswith(f"error: report.py: {root} [--tasks]: no run of task")
                found = ", ".join(sorted({repr(t) for t in tasks}))
                assert f"found are of task {found};" in line, line
            elif tasks or damaged:
                assert f"none of the {len(tasks) + damaged} found is: " in line, line
            else:
                assert line.endswith("no results.json found; expected folders of runs"), line
            continue
        assert usable and out.is_file(), case
        capsys.readouterr()
