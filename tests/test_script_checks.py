"""The scripts run the project's shared checks on their inputs (issue 22, second trial):
report.py and archive_results.py refuse the same results.json fields that name a folder or a
row (a method of "agch/../../x" was tabled), heldout_intervals.py says when a folder holds no
held-out runs (it exited 0 silently), similarity_stats.py checks its overrides and its store
as train.py does (``data.synthetic.n_classes=abc`` was ignored). Generated bad values, each
one line naming the file or key."""

import json
from pathlib import Path

import numpy as np
import pytest
from hydra.core.global_hydra import GlobalHydra

from conftest import TINY_DATA_PARAMS
from report_runs import heldout, load_script, result, write
from src.data.synthetic import make_synthetic
from src.report.runs import Skip, load_run
from src.utils.errors import AGCHError, ConfigError, DataError

# names that leave the folder they are joined to, or break a file system: written out, then
# generated from pieces
BAD_NAMES = ["agch/../../x", "..", ".", "", "a/b", "a\\b", "a b", "x" * 201, "é", "a\0b"]


def bad_names(count: int = 20) -> list[str]:
    rng = np.random.default_rng(0)
    pieces = ["agch", "..", "/", ".", " ", "\\", "wiki", "%2F", "\n"]
    generated = ["".join(rng.choice(pieces, size=int(rng.integers(2, 5)))) for _ in range(count)]
    plain = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.=,+-")
    return BAD_NAMES + [g for g in generated if not set(g) <= plain or g in (".", "..")]


@pytest.mark.parametrize("key", ["dataset", "method"])
def test_report_and_archive_refuse_the_same_names(tmp_path: Path, key: str) -> None:
    """Every bad name in a record's dataset or method: report.py skips the file naming the
    field, archive_results.py refuses it naming the file and field, and nothing is archived."""
    archive = load_script("archive_results")
    dest = tmp_path / "dest"
    for index, name in enumerate(bad_names()):
        run_dir = tmp_path / f"run{index}"
        write(run_dir / "results.json", result("agch", 16, 0) | {key: name})
        with pytest.raises(
            Skip, match=rf"{key}: expected a (plain name|name of at most|non-empty)"
        ):
            load_run(run_dir / "results.json", None)
        with pytest.raises(DataError) as error:
            archive.target_of(run_dir, dest)
        assert str(error.value).startswith(f"{run_dir / 'results.json'} [{key}]: expected")
    assert not dest.exists()
    good = tmp_path / "good"
    write(good / "results.json", result("agch", 16, 0))
    assert load_run(good / "results.json", None).method == "agch"


def test_heldout_intervals_says_when_there_are_no_heldout_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    script = load_script("heldout_intervals")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SystemExit) as exit_:  # the command line: one line naming the script
        script.main([str(empty)])
    lines = capsys.readouterr().err.splitlines()
    assert exit_.value.code == 2 and len(lines) == 1
    assert lines[0].startswith("error: heldout_intervals.py: ") and "held-out runs" in lines[0]
    with pytest.raises(DataError, match=r"expected a folder of held-out runs"):
        script.tables(script.build_parser().parse_args([str(empty)]))
    official = tmp_path / "official"
    write(official / "K=1" / "seed0" / "results.json", result("agch", 16, 0))
    with pytest.raises(DataError, match=r"\[val_mode\]: expected a held-out selection run"):
        script.tables(script.build_parser().parse_args([str(official), "--pair", "K=1:K=1"]))
    runs = tmp_path / "runs"
    for name in ("K=1", "K=2"):
        record = heldout("agch", 16, 0, [name], (0.5, 0.6))
        write(runs / name / "seed0" / "results.json", json.dumps(record))
    with pytest.raises(ConfigError, match=r"expected --pair .* \(settings under .*: K=1, K=2\)"):
        script.tables(script.build_parser().parse_args([str(runs)]))


@pytest.fixture
def similarity_stats():
    GlobalHydra.instance().clear()
    yield load_script("similarity_stats")
    GlobalHydra.instance().clear()


def test_similarity_stats_checks_its_overrides_and_store(tmp_path: Path, similarity_stats) -> None:
    """Bad values, added keys and a store that does not match the configuration: one line
    each naming the key or the store, before any statistic is computed."""
    tiny = [f"data.synthetic.{k}={v}" for k, v in TINY_DATA_PARAMS.items()]
    other = tmp_path / "other.h5"
    make_synthetic(other, seed=3, **TINY_DATA_PARAMS)
    cases = {
        "data.synthetic.n_classes: expected an integer >= 2, got 'abc'": [
            "data.synthetic.n_classes=abc"
        ],
        "data.synthetic.n_classes: expected an integer >= 2, got 1": [
            "data.synthetic.n_classes=1"
        ],
        "trainer.max_epochs: expected an integer >= 1": ["trainer.max_epochs=0"],
        "foo: unknown key": ["+foo=1"],
        "found a folder": [f"data.path={tmp_path}"],
        "seed 3 in the store, 0 here": [*tiny, f"data.path={other}"],
        "expected an existing, writable folder": [*tiny, f"paths.data_dir={tmp_path / 'none'}"],
    }
    for words, overrides in cases.items():
        with pytest.raises(AGCHError) as error:
            similarity_stats.compose_checked(overrides)
        GlobalHydra.instance().clear()
        assert words in str(error.value) and "\n" not in str(error.value), str(error.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.h5"]
