"""report.py checks each results.json against the schema the project writes and skips a bad
one with a line naming the file, the field and what was expected (issue 22, kind 9)."""

import copy
import math
import re
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
        "status": value in ("completed", "failed", "incomplete") and type(value) is str,
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
            line.startswith("error: ") and "argument --out: expected an output file, found" in line
        )
        assert line.endswith(f"got {out!r} (see --help)"), line
    assert not (tmp_path / "new").exists()


# every metric name the project writes that has a domain, and what it is (written out by hand:
# the reference for METRIC_RULES); other figures (losses, balances, times) are unbounded
DOMAINS = {
    "test/i2t_map@50": (0, 1),
    "test/t2i_map@all": (0, 1),
    "val/map@50": (0, 1),
    "best/i2t_p@100": (0, 1),
    "val/t2i_p@1": (0, 1),
    "test/map@all": (0, 1),
    "health/gcn_image/pairwise_cos": (-1, 1),
    "health/fusion/weight_change": (0, math.inf),
    "health/text_encoder/own_loss": (0, math.inf),
    "health/hash_text/own_loss_ratio": (0, math.inf),
}
FREE = ["train/loss", "train/bit_balance_image", "val/objective", "train/gap_v_h", "time_s"]


def in_domain(name: str, value: object) -> bool:
    """The reference: a finite number inside its name's domain, or a non-finite metric
    (null/NaN/inf, what train.py writes for NaN) left to the report's finite-metrics skip."""
    if value is None:
        return True
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    low, high = DOMAINS[name]
    return not math.isfinite(value) or low <= value <= high


@pytest.mark.parametrize("seed", range(12))
def test_metrics_outside_their_domain_skip_the_record(seed: int, tmp_path: Path) -> None:
    """Generated records: one figure set to a value drawn across and beyond its domain
    (1.7, -0.5, 1 + 1e-9, -1e-12, strings, bools...); the record is skipped with a line naming
    the file and the figure exactly when the hand-written reference says it is out of its
    domain; unbounded figures of any size never are."""
    rng = np.random.default_rng(seed)
    odd = [1.7, -0.5, 1 + 1e-9, -1e-12, 2.0, -1.0001, 0.0, 1.0, -1.0, 1e6, "0.3", True, [0.1]]
    for index in range(12):
        record = result("agch", 16, index % 2)
        field = ["metrics", "best_metrics"][int(rng.integers(2))]
        figures = {n: float(rng.uniform(*DOMAINS[n][:1], 1)) for n in DOMAINS}
        figures |= {n: float(rng.normal(0, 1e3)) for n in FREE}
        name = list(DOMAINS)[int(rng.integers(len(DOMAINS)))]
        value = odd[int(rng.integers(len(odd)))] if rng.random() < 0.8 else float(rng.random())
        figures[name] = value
        record[field] = figures if field == "best_metrics" else record["metrics"] | figures
        path = write(tmp_path / f"s{seed}_{index}" / "results.json", record)
        problem = record_problem(record)
        if in_domain(name, value):
            assert problem is None, (name, value, problem)
            continue
        assert problem is not None and problem.startswith(f"{field}.{name}: expected "), problem
        assert problem.endswith(f"got {value!r}")
        with pytest.raises(Skip, match=re.escape(f"{field}.{name}: expected")):
            load_run(path, None)


def test_a_trial_s_out_of_range_maps_never_reach_a_mean(tmp_path: Path) -> None:
    """The trial's case: mAPs of 1.7 and -0.5 beside good runs; the row holds the good runs
    alone and stderr names both files and their field."""
    report = load_script("report")
    root = tmp_path / "runs"
    for seed in (0, 1):
        write(root / f"good{seed}" / "results.json", result("agch", 16, seed))
    for name, value in (("high", 1.7), ("low", -0.5)):
        bad = result("agch", 16, 2)
        bad["metrics"]["test/i2t_map@50"] = value
        write(root / name / "results.json", bad)
    out = tmp_path / "r.md"
    assert report.main([str(root), "--out", str(out), "--margins", ""]) == 0
    assert "| wiki | agch | - | 16 | 0.4100 ± 0.0141 |" in out.read_text()  # (0.40, 0.42)


@pytest.mark.parametrize("seed", range(4))
def test_epochs_and_code_lengths_the_report_interprets_are_checked(seed: int) -> None:
    """``trainer.max_epochs`` (recorded setting or command override) and the recorded
    ``model.code_length`` must be integers >= 1 (code length <= 32767); generated values
    against that rule written out here."""
    rng = np.random.default_rng(seed)
    values = [0, -1, 1, 5, 150, 2.5, "abc", None, True, 32767, 32768]
    for value in rng.permutation(np.array(values, dtype=object)):
        for key in ("trainer.max_epochs", "model.code_length"):
            record = result("agch", 16, 0)
            record["settings"] = {**record["settings"], key: value}
            top = 32767 if key == "model.code_length" else math.inf
            ok = type(value) is int and 1 <= value <= top
            problem = record_problem(record)
            assert (problem is None) == ok, (key, value, problem)
            if not ok:
                assert problem.startswith(f"settings.{key}: expected an integer"), problem
        text = "true" if value is True else str(value)
        record = result("agch", 16, 0)
        record["overrides"] = [*record["overrides"], f"trainer.max_epochs={text}"]
        ok = type(value) is int and value >= 1
        problem = record_problem(record)
        assert (problem is None) == ok, (value, problem)
        if not ok:
            assert problem == (
                f"overrides: trainer.max_epochs: expected an integer >= 1, got {text!r}"
            )
