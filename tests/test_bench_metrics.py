"""benchmarks/bench_metrics.py --small runs (so the benchmark cannot rot): every metric is
checked against the per-query loop inside it, and it prints the floor and ratio tables."""

import re

import pytest

from benchmarks import bench_metrics


def test_bench_metrics_small(capsys: pytest.CaptureFixture) -> None:
    assert bench_metrics.main(["--small", "--repeat", "1", "--bits", "16", "64"]) == 0
    out = capsys.readouterr().out
    for title in ("MIRFlickr size", "NUS-WIDE size", "against retrieval size"):
        assert title in out
    rows = re.findall(r"^\| \d+ \| [\d.]+ \[[\d.]+-[\d.]+\] \| .*\(([\d.]+)x\)", out, flags=re.M)
    assert len(rows) == 2 + 2 + 3  # bits at both sizes, then the retrieval sizes
    growth = re.findall(r"^\| mAP@\w+ \| \d+ \| \d+ \| (-?\d+) \|$", out, flags=re.M)
    assert len(growth) == 3  # the peak RSS growth of three evaluations


def test_bench_metrics_stages_small(capsys: pytest.CaptureFixture) -> None:
    assert bench_metrics.main(["--small", "--stages", "--repeat", "1", "--bits", "16"]) == 0
    out = capsys.readouterr().out
    if not bench_metrics.kernels.AVAILABLE:
        assert "no stage table" in out
        return
    cells = re.findall(r"^\| 16 \| (.*) \|$", out, flags=re.M)
    assert len(cells) == 1 and len(re.findall(r"[\d.]+ \[[\d.]+-[\d.]+\]", cells[0])) == 6
    assert re.search(r"\| \d+ of \d+ terms$", cells[0])
