"""scripts/archive_results.py keeps each run's evidence files in a folder of its own."""

import json
from pathlib import Path

import numpy as np
import pytest
from report_runs import load_script, result, write


@pytest.fixture(scope="module")
def archive():
    return load_script("archive_results")


def test_archive_keeps_variants_apart(archive, tmp_path: Path, capsys) -> None:
    """The experiment's run and its ablation (same dataset, method, bits and seed) land in
    different folders; neutral overrides (logger, hydra dirs) do not make a variant; synthetic
    runs and failed sweep jobs are refused."""
    logs = tmp_path / "logs"
    configured = result("agch", 32, 0)
    configured["overrides"] = ["experiment=wiki_agch_32bit", "seed=0", "hydra.run.dir=x/y"]
    ablation = result("agch", 32, 0)
    ablation["overrides"] = ["experiment=wiki_agch_32bit", "seed=0", "model.similarity=C"]
    write(logs / "a" / "results.json", configured)
    write(logs / "a" / "curves.json", {"test": {}})
    write(logs / "b" / "results.json", ablation)
    write(logs / "c" / "results.json", result("agch", 16, 0, synthetic=True))
    failed = result("agch", 16, 1) | {"status": "failed", "error": "non-finite loss"}
    write(logs / "d" / "results.json", failed)
    dest = tmp_path / "results"
    assert archive.main([str(logs), "--dest", str(dest)]) == 0
    base = dest / "wiki" / "agch" / "32bit"
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*.json")) == [
        "wiki/agch/32bit/model.similarity=C/seed0/results.json",
        "wiki/agch/32bit/seed0/curves.json",
        "wiki/agch/32bit/seed0/results.json",
    ]
    assert json.loads((base / "seed0" / "results.json").read_text()) == configured
    err = capsys.readouterr().err
    assert "synthetic data" in err and "status failed (non-finite loss)" in err


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (the before/after of a refused archive)."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def plain(value: object) -> bool:
    """The reference for a value that becomes a folder name, written out here."""
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.=,+-")
    return (
        type(value) is str
        and value not in ("", ".", "..")
        and set(value) <= allowed
        and len(value.encode()) <= 200
    )


@pytest.mark.parametrize("seed", range(6))
def test_bad_records_are_refused_before_anything_is_written(
    archive, tmp_path: Path, capsys, seed: int
) -> None:
    """Generated sweeps: good runs beside one bad results.json (a JSON list, number or
    string; a dataset or method with .., / or null, too long; an out-of-domain mAP; a code
    length of 32.7): exit 2, one ``error: <file> [<key>]:`` line, nothing in --dest, the
    sources untouched; a plain name archives."""
    rng = np.random.default_rng(seed)
    names = ["..", ".", "../../x", "a/b", None, "", "wiki ", "x" * 201, "é", "ok", "x" * 200]
    for index in range(8):
        logs, dest = tmp_path / f"logs{index}", tmp_path / f"dest{index}"
        dest.mkdir()
        for s in range(int(rng.integers(0, 3))):
            write(logs / f"good{s}" / "results.json", result("agch", 32, s))
        case = int(rng.integers(4))
        if case == 0:
            payload, key = str(rng.choice(["[1, 2]", "3", '"x"', "null"])), None
        elif case == 1:
            key = str(rng.choice(["dataset", "method"]))
            payload = result("agch", 32, 5) | {key: names[int(rng.integers(len(names)))]}
        elif case == 2:
            key, value = "metrics.test/i2t_map@50", float(rng.choice([1.7, -0.5, 1.01]))
            payload = result("agch", 32, 5)
            payload["metrics"]["test/i2t_map@50"] = value
        else:
            payload, key = result("agch", 32, 5) | {"code_length": 32.7}, "code_length"
        bad = write(logs / "bad" / "results.json", payload)
        before = tree(logs)
        if case == 1 and plain(payload[key]):
            assert archive.main([str(logs), "--dest", str(dest)]) == 0
            assert (dest / "wiki" / payload.get("method") / "32bit" / "seed5").is_dir() or (
                dest / payload.get("dataset") / "agch" / "32bit" / "seed5"
            ).is_dir()
            capsys.readouterr()
            continue
        with pytest.raises(SystemExit) as exit_:
            archive.main([str(logs), "--dest", str(dest)])
        assert exit_.value.code == 2
        out, err = capsys.readouterr()
        (line,) = err.splitlines()
        where = f"error: archive_results.py: {bad}" + (
            f" [{key}]: expected " if key else ": expected a JSON"
        )
        assert line.startswith(where), (line, where)
        assert "Traceback" not in err and out == ""
        assert list(dest.iterdir()) == [] and tree(logs) == before
        assert sorted(p.name for p in tmp_path.iterdir() if not p.name[-1].isdigit()) == []
        assert not (tmp_path.parent / "x").exists()  # "../../x" from dest<i>/<dataset>


def test_a_run_with_many_overrides_is_archived_and_grouped_by_its_overrides(
    archive, tmp_path: Path
) -> None:
    """60 overrides (a variant of ~1.5 kB): the folder name is at most 200 bytes (a readable
    prefix and a hash), two seeds share it, a run with one override fewer gets another
    folder; report.py groups by the overrides inside results.json, so the two seeds make one
    row and the third run a row of its own."""
    report = load_script("report")
    many = [f"+model.extra_{i:02d}_with_a_long_name={i}" for i in range(60)]
    logs, dest = tmp_path / "logs", tmp_path / "results"
    dest.mkdir()
    for seed in (0, 1):
        run = result("agch", 32, seed)
        run["overrides"] += many
        write(logs / f"s{seed}" / "results.json", run)
    fewer = result("agch", 32, 0)
    fewer["overrides"] += many[:-1]
    write(logs / "fewer" / "results.json", fewer)
    assert archive.main([str(logs), "--dest", str(dest)]) == 0
    folders = sorted({p.parent.parent for p in dest.rglob("results.json")})
    assert len(folders) == 2
    for folder in folders:
        assert len(folder.name.encode()) <= 200 and folder.name.startswith("+model.extra_00")
    out = tmp_path / "r.md"
    assert report.main([str(dest), "--out", str(out), "--margins", ""]) == 0
    rows = [line for line in out.read_text().splitlines() if line.startswith("| wiki | agch |")]
    by_count = {line.count("model.extra_"): line for line in rows[:2]}
    assert sorted(by_count) == [59, 60], rows
    assert "0.4500 ± 0.0141" in by_count[60]  # seeds 0 and 1 (0.44, 0.46) in one row
    assert "| 0.4400 |" in by_count[59]  # the one run with an override fewer


@pytest.mark.parametrize("seed", range(3))
def test_variant_folders_are_plain_bounded_and_distinct(archive, seed: int) -> None:
    """Generated variants of every printable character and of any length: the folder name is
    a plain name (the reference above), and different long variants sharing a prefix get
    different names."""
    rng = np.random.default_rng(seed)
    alphabet = [chr(c) for c in range(32, 127)] + ["é", "\u00b2", "/"]
    for _ in range(200):
        n = int(rng.integers(1, 400))
        variant = "m=" + "".join(rng.choice(alphabet, size=n))
        name = archive.variant_folder(variant)
        assert plain(name), (variant, name)
        if len(variant.encode()) <= 200 and variant.isascii():
            assert len(name) == len(variant)
    long = "model.a=" + "x" * 300
    assert archive.variant_folder(long + "1") != archive.variant_folder(long + "2")


def test_nothing_archived_is_an_error(archive, tmp_path: Path, capsys) -> None:
    """Generated folders of runs that cannot be archived (incomplete, failed, synthetic; or no
    results.json): exit 2, each skip named, then one ``error:`` line; --dest untouched. With one
    completed run among them: exit 0 (fifth trial s02: exit 0 having archived nothing)."""
    rng = np.random.default_rng(30)
    kinds = ("incomplete", "failed", "synthetic")
    for case in range(6):
        logs, dest = tmp_path / f"logs{case}", tmp_path / f"dest{case}"
        logs.mkdir()
        runs = [str(k) for k in rng.choice(kinds, size=int(rng.integers(0, 4)))]
        for i, kind in enumerate(runs):
            record = result("agch", 32, i, synthetic=kind == "synthetic")
            if kind != "synthetic":
                record |= {"status": kind, "error": "cut short"}
            write(logs / f"r{i}" / "results.json", record)
        good = case % 2 == 1
        if good:
            write(logs / "good" / "results.json", result("agch", 16, 0))
        assert archive.main([str(logs), "--dest", str(dest)]) == (0 if good else 2)
        err = capsys.readouterr().err.splitlines()
        assert sum(line.startswith("skipped ") for line in err) == len(runs)
        errors = [line for line in err if line.startswith("error:")]
        if good:
            assert not errors and dest.is_dir()
        else:
            assert errors == [err[-1]] and "nothing archived" in err[-1]
            assert str(logs) in err[-1] and not dest.exists()
