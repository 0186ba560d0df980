"""The retrieval gallery (src/report/gallery.py, scripts/show_retrieval.py): the figure's cells
against a plain per-query ranking loop and the metric code's P@k, on a generated news release
(tests/news_release.py: image of pair i a uniform colour of red 10 i, store row r = pair r + 1)."""

import json
import random
from pathlib import Path

import h5py
import numpy as np
import pytest
from news_release import N_TEST, N_TRAIN, label_of, make_news
from report_runs import load_script

from src.data.raw_items import RawUnavailable, raw_items
from src.data.store import sha256_of
from src.metrics.functional import precision_at_k
from src.report.gallery import choose_queries, gallery_figure, snippet

N_ROWS = N_TRAIN + N_TEST  # the pair without image is left out


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("news")
    make_news(folder)
    names = ("categories.list", "trainset_txt_img_cat.list", "testset_txt_img_cat.list")
    record = [{"path": n, "sha256": sha256_of(folder / n)} for n in names]
    return folder, {"dataset": "news", "source_files": json.dumps(record), "store_rows": N_ROWS}


def one_hot(rows: np.ndarray) -> np.ndarray:
    labels = np.zeros((len(rows), 10), dtype=np.uint8)  # (n, 10)
    labels[np.arange(len(rows)), [label_of(str(r + 1)) - 1 for r in rows]] = 1
    return labels


def make_codes(rng: np.random.Generator, bits: int) -> dict:
    """codes.h5's layout: queries = the test rows, retrieval = the train rows (few bits, so
    many ties at each distance)."""
    codes = {}
    for split, rows in (("query", np.arange(N_TRAIN, N_ROWS)), ("retrieval", np.arange(N_TRAIN))):
        codes[split] = {
            f"codes_{m}": rng.choice([-1, 1], size=(len(rows), bits)).astype(np.int8)
            for m in ("image", "text")
        }
        codes[split] |= {"index": rows.astype(np.int64), "label": one_hot(rows)}
    return codes


def plain_ranking(query: np.ndarray, retrieval: np.ndarray, q_label, r_label, k: int) -> list:
    """(position, distance, relevant) of the first k items, by a loop: sort by (distance,
    position), relevant when the labels share a class."""
    scored = []
    for j, item in enumerate(retrieval):
        distance = sum(int(a != b) for a, b in zip(query, item))
        scored.append((distance, j, bool(any(q_label & r_label[j]))))
    return [(j, d, r) for d, j, r in sorted(scored)[:k]]


@pytest.mark.parametrize("case", range(4))
def test_cells_are_the_metric_ranking(release, case: int) -> None:
    """Each cell shows the item, distance and mark of the plain ranking, and each row's share
    of marks is the metric code's P@k of that query."""
    folder, attrs = release
    rng = np.random.default_rng(case)
    bits, k = int(rng.integers(3, 9)), int(rng.integers(1, N_TRAIN + 3))
    direction = ("t2i", "i2t")[case % 2]
    source, target = ("text", "image") if direction == "t2i" else ("image", "text")
    codes, items = make_codes(rng, bits), raw_items(attrs, folder, N_ROWS)
    queries = choose_queries(N_TEST, 3, seed=case)
    figure = gallery_figure(codes, items, direction, queries, k)
    shown = min(k, N_TRAIN)
    axes = np.array(figure.axes).reshape(len(queries), 1 + shown)
    q, r = codes["query"], codes["retrieval"]
    for row, position in enumerate(queries):
        expected = plain_ranking(
            q[f"codes_{source}"][position], r[f"codes_{target}"], q["label"][position],
            r["label"], k,
        )  # fmt: skip
        for rank, (j, distance, relevant) in enumerate(expected, start=1):
            ax = axes[row, rank]
            assert ax.get_title() == f"{rank}. d={distance} {'✓' if relevant else '✗'}"
            if target == "image":  # the thumbnail's colour names the pair: red = 10 * id
                red = int(np.asarray(ax.images[0].get_array())[..., 0].mean().round())
                assert abs(red - 10 * (j + 1)) <= 3
            else:
                assert ax.texts[0].get_text() == snippet(items.text(j))
        p_at_k = precision_at_k(
            q[f"codes_{source}"][[position]], r[f"codes_{target}"], q["label"][[position]],
            r["label"], [k],
        )  # fmt: skip
        marks = [axes[row, c].get_title().endswith("✓") for c in range(1, 1 + shown)]
        assert np.mean(marks) == pytest.approx(float(p_at_k[0]))


def test_queries_are_drawn_by_seed() -> None:
    for seed in range(20):
        n_query, n = random.Random(seed).randint(1, 50), random.Random(-seed).randint(1, 60)
        picked = choose_queries(n_query, n, seed)
        assert len(set(picked)) == len(picked) == min(n, n_query)
        assert picked.max() < n_query and list(picked) == sorted(picked)
        assert np.array_equal(picked, choose_queries(n_query, n, seed))


def test_raw_items_need_the_release_the_store_was_made_from(release, tmp_path) -> None:
    folder, attrs = release
    items = raw_items(attrs, folder, N_ROWS)
    assert [p.name for p in items.images[:3]] == ["1.jpg", "2.jpg", "3 .jpg"]
    with pytest.raises(RawUnavailable, match="news stores only, this store is wiki"):
        raw_items(attrs | {"dataset": "wiki"}, folder, N_ROWS)
    with pytest.raises(RawUnavailable, match="no folder given"):
        raw_items(attrs, None, N_ROWS)
    other = tmp_path / "other"
    make_news(other)
    lines = (other / "testset_txt_img_cat.list").read_text().splitlines()
    (other / "testset_txt_img_cat.list").write_text("\n".join(lines[::-1]))  # reordered
    with pytest.raises(Exception, match="testset_txt_img_cat.list: expected the release"):
        raw_items(attrs, other, N_ROWS)


def write_codes(path: Path, codes: dict, attrs: dict) -> Path:
    with h5py.File(path, "w") as h5:
        for split, fields in codes.items():
            for name, array in fields.items():
                h5.create_dataset(f"{split}/{name}", data=array)
        h5.attrs.update(attrs)
    return path


def test_script_writes_a_png_or_one_line(release, tmp_path, capsys) -> None:
    folder, attrs = release
    script = load_script("show_retrieval")
    codes = make_codes(np.random.default_rng(0), 6)
    good = write_codes(tmp_path / "codes.h5", codes, attrs)
    out = tmp_path / "g.png"
    args = [str(good), "--source", str(folder), "--out", str(out), "--top", "3"]
    assert script.main(args) == 0 and out.read_bytes()[:4] == b"\x89PNG"
    for bad_attrs, source, message in (
        (attrs | {"dataset": "wiki"}, folder, "news stores only, this store is wiki"),
        (attrs, tmp_path / "nowhere", "is not a folder"),
        ({}, folder, "[dataset]: expected eval.py's store attributes"),
    ):
        bad = write_codes(tmp_path / "bad.h5", codes, bad_attrs)
        with pytest.raises(SystemExit) as exit_:
            script.main([str(bad), "--source", str(source), "--out", str(tmp_path / "x.png")])
        line = capsys.readouterr().err.strip().splitlines()[-1]
        assert (
            exit_.value.code == 2
            and line.startswith(f"error: show_retrieval.py: {bad}")
            and message in line
        )
        assert not (tmp_path / "x.png").exists()
        bad.unlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["codes.h5", "g.png"]


def test_callback_draws_into_tensorboard_only_with_the_raw_items(release, tmp_path) -> None:
    """RetrievalGallery at the test: both figures in TensorBoard from the metric's rows when
    data.raw_source holds the release; nothing drawn (and no failure) when it does not."""
    import torch
    from lightning.pytorch.loggers import TensorBoardLogger
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from src.callbacks.gallery import RetrievalGallery
    from src.data.store import write_store
    from src.metrics.retrieval import CrossModalRetrievalMetric

    folder, attrs = release
    rows = np.arange(N_ROWS)
    splits = {"train": rows[:N_TRAIN], "query": rows[N_TRAIN:], "retrieval": rows[:N_TRAIN]}
    features = np.zeros((N_ROWS, 2), dtype=np.float32)  # (N, 2)
    store = tmp_path / "news.h5"
    write_store(store, features, features, one_hot(rows), splits, {"dataset": "news"} | {
        "source_files": attrs["source_files"]})  # fmt: skip
    metric = CrossModalRetrievalMetric()
    for split, fields in make_codes(np.random.default_rng(1), 8).items():
        tensors = {name: torch.as_tensor(array) for name, array in fields.items()}
        metric.update(
            tensors["codes_image"],
            tensors["codes_text"],
            tensors["label"],
            tensors["index"],
            split,
        )
    for source, drawn in ((folder, {"test/gallery_i2t", "test/gallery_t2i"}), (None, set())):
        logger = TensorBoardLogger(tmp_path / str(source is None), name="", version=0)

        class Trainer:  # the attributes the callback reads
            loggers, is_global_zero, global_step = [logger], True, 3
            datamodule = type("DataModule", (), {"path": store, "raw_source": source})

        RetrievalGallery(queries=2, top_k=3).on_test_epoch_end(
            Trainer(), type("Module", (), {"test_metric": metric})
        )
        logger.experiment.flush()
        events = EventAccumulator(logger.log_dir, size_guidance={"images": 0})
        events.Reload()
        assert set(events.Tags()["images"]) == drawn


def test_font_coverage_is_read_from_the_font_file() -> None:
    """matplotlib's own DejaVu Sans maps Latin letters and the marks, not Chinese."""
    from matplotlib import get_data_path

    from src.report.fonts import PROBE, covers, has_cjk

    dejavu = str(Path(get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf")
    assert covers(dejavu, "AZaz\u2713\u2717") and not covers(dejavu, PROBE)
    assert not covers(str(Path(get_data_path()) / "matplotlibrc"))  # no font at all
    assert has_cjk("abc 新闻") and not has_cjk("abc ✓")


@pytest.mark.parametrize("flag, value", [("--queries", "21"), ("--top", "0"), ("--top", "500")])
def test_figure_size_flags_are_bounded(tmp_path, capsys, flag: str, value: str) -> None:
    """At most 20 rows and 20 columns: --queries 10000 once became a 497-row figure that drew
    for minutes; a value outside [1, 20] is refused before any file is read."""
    script = load_script("show_retrieval")
    codes = tmp_path / "codes.h5"  # exists (the codes argument must), never read
    codes.write_bytes(b"")
    with pytest.raises(SystemExit) as exit_:
        script.main([str(codes), "--out", str(tmp_path / "x.png"), flag, value])
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert exit_.value.code == 2 and flag in line and "expected an integer in [1, 20]" in line
    assert list(tmp_path.iterdir()) == [codes]
