"""Runs of two stores of one dataset are never averaged together (src/report/stores.py): the
report keys its rows by the store's feature widths (results.json ``image_dim``, ``text_dim``),
files without them are one unnamed store, and a dataset of one store keeps its plain name.
Generated results.json against plain loops; the schema of the new fields."""

import math
import random
from pathlib import Path

import pytest
from report_runs import load_script, write

from src.report.drift import configured_settings
from src.report.runs import Skip, load_run

STORES = [(1280, 1000), (1280, 4000), None]


def record(dataset: str, seed: int, value: float, store: tuple | None, **changes) -> dict:
    """An official CCA-ITQ 32-bit run as configured; ``value`` its every test mAP."""
    run = {
        "settings": configured_settings(dataset, "cca_itq", 32) or {},
        "task_name": "train",
        "dataset": dataset,
        "method": "cca_itq",
        "code_length": 32,
        "seed": seed,
        "overrides": [f"experiment={dataset}_cca_itq_32bit", f"seed={seed}"],
        "metrics": {f"test/{d}_map@{k}": value for d in ("i2t", "t2i") for k in ("50", "all")},
        **changes,
    }
    if store is not None:
        run |= {"image_dim": store[0], "text_dim": store[1]}
    return run


def words(store: tuple | None) -> str:
    return "store not recorded" if store is None else f"image {store[0]}-d, text {store[1]}-d"


def plain_cell(values: list[float]) -> str:
    """mean ± sample std as the All runs table shows them (a plain loop)."""
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f"{mean:.4f}"
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return f"{mean:.4f} ± {std:.4f}"


@pytest.mark.parametrize("case", range(5))
def test_stores_of_one_dataset_get_rows_of_their_own(tmp_path: Path, case: int) -> None:
    rng = random.Random(case)
    by_store: dict = {}
    for seed in range(rng.randint(2, 9)):
        store = rng.choice(STORES)
        value = rng.choice([0.2, 0.4, 0.6, 0.8])
        write(
            tmp_path / "runs" / f"news{seed}" / "results.json", record("news", seed, value, store)
        )
        by_store.setdefault(store, []).append(value)
    for seed in (0, 1):  # one recorded store on uci, none recorded on wiki: plain names
        write(tmp_path / "runs" / f"u{seed}" / "results.json", record("uci", seed, 0.5, (76, 64)))
        write(tmp_path / "runs" / f"w{seed}" / "results.json", record("wiki", seed, 0.3, None))
    out = tmp_path / "r.md"
    report = load_script("report")
    args = [str(tmp_path / "runs"), "--out", str(out), "--plots-dir", str(tmp_path)]
    assert report.main(args) == 0
    text = out.read_text()
    table = text.split("\n## All runs")[1].split("\n## ")[0]
    lines = [r for r in table.splitlines() if r.startswith("| ") and not r.startswith("| dat")]
    rows = {row.split(" | ")[0][2:]: row.split(" | ")[4] for row in lines}
    several = len(by_store) > 1
    expected = {
        (f"news ({words(store)})" if several else "news"): plain_cell(values)
        for store, values in by_store.items()
    }
    expected |= {"uci": "0.5000 ± 0.0000", "wiki": "0.3000 ± 0.0000"}
    assert rows == expected
    headline = text.split("\n## All runs")[0]
    for name in expected:
        assert f"\n### {name}\n" in headline
        tag = name.replace(" (", "_").replace(", ", "_").replace(" ", "_").rstrip(")")
        assert (tmp_path / f"map50_{tag}.png").is_file(), tag


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"image_dim": 0}, "image_dim"),
        ({"text_dim": "4000"}, "text_dim"),
        ({"text_dim": True}, "text_dim"),
        ({"feature_extractor": ""}, "feature_extractor"),
        ({"timing": [1, 2]}, "timing"),
        ({"timing": {"total_s": -1.0}}, "timing.total_s"),
        ({"timing": {"total_s": "12"}}, "timing.total_s"),
        ({"timing": {"fit_s": float("nan")}}, "timing.fit_s"),
        ({"timing": {"resumed": "no"}}, "timing.resumed"),
        ({"timing": {"threads": 0}}, "timing.threads"),
        ({"timing": {"device": ""}}, "timing.device"),
    ],
)
def test_bad_store_or_timing_fields_skip_the_file(tmp_path: Path, changes: dict, field: str):
    path = write(tmp_path / "results.json", record("news", 0, 0.5, (1280, 4000)) | changes)
    with pytest.raises(Skip, match=rf"not a results.json as src/train.py writes it: {field}: "):
        load_run(path, None)


def test_store_and_time_as_read(tmp_path: Path) -> None:
    """Widths only when both are recorded; a resumed run's time is no time per run."""
    timing = {"total_s": 12.5, "resumed": False, "device": "cpu", "threads": 1}
    run = load_run(write(tmp_path / "a.json", record("news", 0, 0.5, (9, 7), timing=timing)), None)
    assert (run.store, run.time_s, run.machine) == ((9, 7), 12.5, "cpu, 1 thread")
    half = record("news", 0, 0.5, None, image_dim=9, timing=timing | {"resumed": True})
    run = load_run(write(tmp_path / "b.json", half), None)
    assert (run.store, run.time_s) == (None, None)
