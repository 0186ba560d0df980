"""scripts/archive_results.py keeps each run's evidence files in a folder of its own."""

import json
from pathlib import Path

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
