"""report.py checks each results.json against the schema the project writes and skips a bad
one with a line naming the file, the field and what was expected (issue 22, kind 9)."""

import copy
from pathlib import Path

import numpy as np
import pytest

from report_runs import load_script, result, write

from src.report.runs import Skip, collect, load_run
from src.report.schema import RECORD_RULES, record_problem

# values of every JSON type, each breaking some field's rule
ODD_VALUES = [None, 32.7, -3, 0, "", "x", True, [1, 2], ["a"], {"a": 1}, {"a": {"b": 1}}, 2**40]


def expected_ok(key: str, value: object) -> bool:
    """The schema of src/utils/records.py, read by hand (the reference for `record_problem`)."""
    string = type(value) is str and value != ""
    return {
        "status": value in ("completed", "failed") and type(value) is str,
        "task_name": value is None or string,
        "dataset": string,
        "synthetic": value is None or type(value) is bool,
        "method": string,
        "code_length": type(value) is int and 1 <= value <= 32767,
        "seed": value is None or (type(value) is int and 0 <= value < 2**32),
        "val_mode": value is None or value in ("official", "heldout"),
        "git_commit": value is None or string,
        "command": value is None or string,
        "overrides": value is None or (type(value) is list and all(type(x) is str for x in value)),
        "settings": value is None or flat(value),
        "metrics": flat(value),
        "best_metrics": value is None or flat(value),
        "image_dim": value is None or (type(value) is int and value >= 1),
        "text_dim": value is None or (type(value) is int and value >= 1),
        "feature_extractor": value is None or string,
        "timing": value is None or flat(value),
    }[key]


def flat(value: object) -> bool:
    scalar = (str, bool, int, float, type(None))
    return type(value) is dict and all(
        isinstance(v, scalar) or (type(v) is list and all(isinstance(x, scalar) for x in v))
        for v in value.values()
    )


@pytest.mark.parametrize("key", sorted(RECORD_RULES))
def test_each_field_is_checked_against_the_schema(key: str) -> None:
    good = result("agch", 16, 0)
    assert record_problem(good) is None
    for value in ODD_VALUES:
        record = copy.deepcopy(good) | {key: value}
        problem = record_problem(record)
        if expected_ok(key, value):
            assert problem is None, (key, value, problem)
        else:
            assert problem is not None and problem.startswith(f"{key}: expected"), (key, value)


def test_bad_records_are_skipped_with_a_line_and_good_ones_kept(tmp_path: Path) -> None:
    """40 generated records, each with one field set to a random odd value: collect keeps the
    valid ones and skips the others with a line naming the file and the field, never a
    traceback; the rows are those of the good records alone."""
    rng = np.random.default_rng(9)
    keys = sorted(RECORD_RULES)
    bad_paths, good_paths = set(), set()
    for index in range(40):
        key, value = keys[rng.integers(len(keys))], ODD_VALUES[rng.integers(len(ODD_VALUES))]
        record = result("agch", 16, index % 3) | {key: value}
        path = write(tmp_path / f"run{index}" / "results.json", record)
        if expected_ok(key, value) and not (key == "status" and value == "failed"):
            good_paths.add(path.resolve())
        else:
            bad_paths.add((path.resolve(), key))
    runs, skipped = collect([tmp_path], {"train"})
    kept = {run.path for run in runs}
    assert kept <= good_paths  # a field the report needs may still skip a valid record
    for path, key in bad_paths:
        (line,) = [s for s in skipped if s.startswith(f"{path}: ")]
        assert key in line or "status" in line, line
    assert all("\n" not in line for line in skipped)


def test_a_seed_that_is_an_object_is_one_skip_line(tmp_path: Path) -> None:
    path = write(tmp_path / "r" / "results.json", result("agch", 16, 0) | {"seed": {"a": 1}})
    with pytest.raises(Skip, match=r"seed: expected an integer"):
        load_run(path, None)


def test_out_naming_a_folder_is_refused(tmp_path: Path, capsys) -> None:
    report = load_script("report")
    write(tmp_path / "runs" / "a" / "results.json", result("agch", 16, 0))
    for out in (f"{tmp_path}/new/", str(tmp_path)):
        with pytest.raises(SystemExit) as exit_:
            report.main([str(tmp_path / "runs"), "--out", out])
        assert exit_.value.code == 2
        (line,) = capsys.readouterr().err.splitlines()
        assert (
            line.startswith("error: ") and "argument --out: expected an output file, not" in line
        )
        assert line.endswith(f"got {out!r} (see --help)"), line
    assert not (tmp_path / "new").exists()
