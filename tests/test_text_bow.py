"""Binary bag-of-words text features: the vocabulary and the bags against plain loops on
generated documents, and jieba's segmentation where jieba is installed."""

from __future__ import annotations

import numpy as np
import pytest

from src.data.text_bow import binary_bow, build_vocabulary, is_word

ALPHABET = ["国庆", "大桥", "足球", "孔雀", "海边", "经济", "学生", "ab", "AI", "施工"]


def _documents(rng: np.random.Generator, n: int) -> list[set[str]]:
    return [
        {ALPHABET[int(i)] for i in rng.choice(len(ALPHABET), int(rng.integers(0, 6)))}
        for _ in range(n)
    ]


@pytest.mark.parametrize("seed", range(5))
def test_vocabulary_and_bags_match_plain_loops(seed: int) -> None:
    rng = np.random.default_rng(seed)
    train, other = _documents(rng, 30), _documents(rng, 10)
    size = int(rng.integers(1, 12))
    vocabulary = build_vocabulary(train, size)
    # plain loop: count the training documents holding each word, take the largest counts,
    # ties by the word
    counts = {w: sum(w in d for d in train) for w in ALPHABET if any(w in d for d in train)}
    expected = sorted(counts, key=lambda w: (-counts[w], w))[:size]
    assert vocabulary == expected
    bow = binary_bow(train + other, vocabulary)
    assert bow.dtype == np.float32 and bow.shape == (40, len(expected))
    for n, document in enumerate(train + other):
        for v, word in enumerate(expected):
            assert bow[n, v] == (1.0 if word in document else 0.0)


def test_only_training_documents_make_the_vocabulary() -> None:
    train = [{"国庆", "大桥"}, {"国庆"}]
    test = [{"足球"}] * 5
    vocabulary = build_vocabulary(train, 10)
    assert vocabulary == ["国庆", "大桥"]
    assert binary_bow(test, vocabulary).sum() == 0


def test_jieba_segments_an_article_into_words() -> None:
    pytest.importorskip("jieba", reason="jieba is in the 'extract' extra, not installed here")
    from src.data.text_bow import words

    found = words("龙里河大桥的建设者们坚守岗位忙施工。国庆长假期间，2022年10月6日。")
    assert {"建设者", "施工", "国庆", "长假"} <= found
    assert all(is_word(w) for w in found) and "的" not in found and "2022" not in found
