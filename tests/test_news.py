"""The news converter on a generated release (tests/news_release.py): what it writes, compared
with values computed here by plain loops, and one kind of bad input per case, each drawn at
random. A fake network (per-channel maximum) and a whitespace segmenter stand in for
EfficientNet-Lite0 and jieba, so no optional package is needed."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from bad_releases import check_refused
from news_release import (
    CATEGORIES,
    DUPLICATED_ID,
    MISSING_ID,
    SPACED_ID,
    colour_of,
    image_path,
    label_of,
    make_news,
    pair_ids,
)

from src.data import news_convert
from src.data.extract import IMAGENET_MEAN, IMAGENET_STD
from src.data.text_bow import is_word
from src.utils.errors import ConfigError, DataError


def _fake_words(text: str) -> set[str]:
    return {token for token in text.split() if is_word(token)}


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(news_convert, "words", _fake_words)
    monkeypatch.setattr(news_convert, "build_model", lambda arch, w: lambda x: x.amax((2, 3)))


def _expected_bow(articles: dict[str, str], train: list[str], rows: list[str], size: int):
    """Binary BoW by plain loops: document frequency over ``train``, ties by the word."""
    counts: dict[str, int] = {}
    for pair_id in train:
        for word in set(_fake_words(articles[pair_id])):
            counts[word] = counts.get(word, 0) + 1
    vocabulary = sorted(counts, key=lambda w: (-counts[w], w))[:size]
    bow = np.zeros((len(rows), len(vocabulary)), dtype=np.float32)
    for n, pair_id in enumerate(rows):
        for v, word in enumerate(vocabulary):
            bow[n, v] = float(word in _fake_words(articles[pair_id]))
    return bow


def test_store_pairs_rows_labels_and_split(tmp_path: Path, fakes: None) -> None:
    articles = make_news(tmp_path / "src")
    info = news_convert.convert_news(tmp_path / "src", tmp_path / "news.h5", vocab_size=4)
    train, test = pair_ids()
    train = [i for i in train if i != MISSING_ID]  # the release pair without image is left out
    rows = train + test
    with h5py.File(tmp_path / "news.h5", "r") as h5:
        image, text, label = h5["image"][()], h5["text"][()], h5["label"][()]
        splits = {k: h5["split"][k][()] for k in h5["split"]}
        record = json.loads(h5.attrs["source_files"])
    colours = np.array([colour_of(i) for i in rows], dtype=np.float64) / 255.0
    expected = (colours - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(image, expected, atol=3 / 255 / 0.224)  # JPEG: a few levels
    np.testing.assert_array_equal(text, _expected_bow(articles, train, rows, 4))
    for n, pair_id in enumerate(rows):
        assert label[n].tolist() == [int(c == label_of(pair_id)) for c in range(1, 11)]
    assert splits["query"].tolist() == list(range(len(train), len(rows)))
    assert splits["train"].tolist() == splits["retrieval"].tolist() == list(range(len(train)))
    assert set(splits["val"]) <= set(splits["train"]) and len(splits["val"]) >= 1
    assert record[-1]["ids"] == [MISSING_ID] and info.n_items == len(rows)
    cached = [p.name for p in tmp_path.iterdir() if p.suffix == ".npy"]
    assert len(cached) == 1 and cached[0].startswith("news-efficientnet_lite0-")


def test_cached_features_are_reused_only_for_the_same_images(
    tmp_path: Path, fakes: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_news(tmp_path / "src")
    news_convert.convert_news(tmp_path / "src", tmp_path / "a.h5", vocab_size=4)
    calls = []
    monkeypatch.setattr(news_convert, "extract_images", lambda *a: calls.append(a))
    news_convert.convert_news(tmp_path / "src", tmp_path / "a.h5", vocab_size=2)
    assert calls == []  # same images, same network: the cache is read
    news_convert.convert_news(tmp_path / "src", tmp_path / "b.h5", vocab_size=3)
    assert calls == []  # another store (vocabulary size) beside it: the same cache
    image_path(tmp_path / "src", "7").write_bytes(image_path(tmp_path / "src", "8").read_bytes())
    with pytest.raises(DataError, match="not found"):  # another image: a new cache (none here)
        news_convert.convert_news(tmp_path / "src", tmp_path / "a.h5", vocab_size=4)
    assert len(calls) == 1


def _damage(src: Path, kind: str, rng: np.random.Generator) -> tuple[str, ...]:
    """Damage one randomly drawn pair of the release in the way ``kind`` says; return parts
    of the expected error line."""
    train, test = pair_ids()
    pair_id = str(rng.choice([i for i in train + test if i != MISSING_ID]))
    text, image = src / "texts" / f"{pair_id}.txt", image_path(src, pair_id)
    list_name = "trainset" if pair_id in train else "testset"
    if kind == "missing image":
        image.unlink()
        return f"{list_name}_txt_img_cat.list [line", "image not found"
    if kind == "missing text":
        text.unlink()
        return f"{list_name}_txt_img_cat.list [line", "text file not found"
    if kind == "truncated jpeg":
        data = image.read_bytes()
        image.write_bytes(data[: int(len(data) * rng.uniform(0.3, 0.9))])
        return image.name, "image file"
    if kind == "undecodable jpeg":
        image.write_bytes(
            rng.integers(0, 256, int(rng.integers(1, 500)), dtype=np.uint8).tobytes()
        )
        return image.name, "image file"
    if kind == "non-utf-8 text":
        text.write_bytes("国庆长假大桥施工".encode("gbk") + bytes([0xFF]))
        return f"{pair_id}.txt", "UTF-8"
    if kind == "empty text":
        text.write_text(str(rng.choice(["", " \n", "\n\n\t"])), encoding="utf-8")
        return f"{pair_id}.txt", "empty"
    if kind == "text without a word":
        text.write_text("。，！ 2022 的 3.5%", encoding="utf-8")
        return f"{pair_id}.txt", "no word"
    if kind == "class out of range":
        path = src / f"{list_name}_txt_img_cat.list"
        lines = path.read_text().split("\n")
        row = int(rng.integers(len(lines)))
        bad = int(rng.choice([0, 11, 99]))
        lines[row] = "\t".join(lines[row].split("\t")[:2] + [str(bad)])
        path.write_text("\n".join(lines))
        return f"[line {row + 1}]", "class in 1..10"
    if kind == "image in another class's folder":
        other = src / "images" / CATEGORIES[label_of(pair_id) % 10] / image.name
        image.rename(other)
        return f"[{pair_id}]", "another class's folder"
    if kind == "two images for one id":
        twin = f"{pair_id}.jpg" if image.name == f"{pair_id} .jpg" else f"{pair_id} .jpg"
        image.with_name(twin).write_bytes(image.read_bytes())
        return f"{pair_id}", "expected one image"
    raise AssertionError(kind)


KINDS = [
    "missing image",
    "missing text",
    "truncated jpeg",
    "undecodable jpeg",
    "non-utf-8 text",
    "empty text",
    "text without a word",
    "class out of range",
    "image in another class's folder",
    "two images for one id",
]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("kind", KINDS)
def test_bad_release_is_one_data_error(tmp_path: Path, fakes: None, kind: str, seed: int) -> None:
    src = tmp_path / "src"
    make_news(src, seed)
    parts = _damage(src, kind, np.random.default_rng([seed, KINDS.index(kind)]))
    (tmp_path / "out").mkdir()
    with pytest.raises(DataError) as caught:
        news_convert.convert_news(src, tmp_path / "out" / "news.h5")
    for part in parts:
        assert part in str(caught.value), (part, str(caught.value))
    assert list((tmp_path / "out").iterdir()) == []  # no store, no feature cache


@pytest.mark.parametrize("kind", ["truncated jpeg", "non-utf-8 text"])
def test_prepare_data_news_refuses_with_one_line(tmp_path: Path, kind: str) -> None:
    src = tmp_path / "src"
    make_news(src)
    parts = _damage(src, kind, np.random.default_rng(7))
    check_refused(tmp_path, ["news", "--source", str(src)], *parts)


def test_release_quirks_are_read(tmp_path: Path) -> None:
    from src.data.news import read_pairs

    make_news(tmp_path)
    pairs, dropped = read_pairs(tmp_path)
    by_id = {pair.image_id: pair for pair in pairs}
    assert by_id[SPACED_ID].image.name == f"{SPACED_ID} .jpg"
    assert by_id[DUPLICATED_ID].image == image_path(tmp_path, DUPLICATED_ID)
    assert "people's_livelihood" in {pair.image.parent.name for pair in pairs}
    assert dropped == [MISSING_ID]


def test_one_default_vocabulary_size(tmp_path: Path) -> None:
    """The command line and the converter share one default vocabulary size."""
    import inspect
    import runpy

    from src.data.news import NEWS_VOCAB_SIZE

    script = runpy.run_path(str(Path(__file__).parents[1] / "scripts" / "prepare_data.py"))
    args = script["build_parser"]().parse_args(["news", "--source", str(tmp_path)])
    default = inspect.signature(news_convert.convert_news).parameters["vocab_size"].default
    assert args.vocab_size == default == NEWS_VOCAB_SIZE


def test_a_vocabulary_larger_than_the_training_words_is_refused(
    tmp_path: Path, fakes: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--vocab-size up to the distinct words of the training articles (counted here by a
    plain loop) makes a store of that width; one more is a ConfigError naming that maximum,
    raised before any image is extracted and with no store written."""
    articles = make_news(tmp_path / "src")
    train = [i for i in pair_ids()[0] if i != MISSING_ID]
    distinct = len({w for pair_id in train for w in _fake_words(articles[pair_id])})
    info = news_convert.convert_news(tmp_path / "src", tmp_path / "a.h5", vocab_size=distinct)
    assert info.text_dim == distinct
    calls = []
    monkeypatch.setattr(news_convert, "extract_images", lambda *a: calls.append(a))
    (tmp_path / "a.h5").unlink()
    for cache in tmp_path.glob("*.npy"):  # no cache: the refusal must come before extraction
        cache.unlink()
    with pytest.raises(ConfigError) as error:
        news_convert.convert_news(tmp_path / "src", tmp_path / "b.h5", vocab_size=distinct + 1)
    assert str(error.value) == (
        f"--vocab-size {distinct + 1}: expected at most {distinct}, the distinct words of the "
        "training articles"
    )
    assert calls == [] and not (tmp_path / "b.h5").exists()
