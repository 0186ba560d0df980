"""Binary bag-of-words text features for Chinese articles (the news converter).

The field's tag/word features for cross-modal hashing are binary vectors over the most frequent
words: MIRFlickr-25K's 1,386 tags kept by frequency and NUS-WIDE's 1,000 most frequent tags (the
DCMH/DJSRH releases). Chinese has no spaces, so the words come from jieba's segmenter
(``jieba.lcut``, its default dictionary and HMM for unknown words; deterministic). The
vocabulary is built from the training articles only: the ``vocab_size`` words that occur in the
most training articles (document frequency), ties broken by the word's code points.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from src.utils.errors import AGCHError

# a kept word: at least 2 characters, at least one of them a CJK ideograph or a letter
# (drops punctuation, numbers, single characters such as the particles 的/了/在)
_WORDY = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbfA-Za-z]")


def _jieba() -> object:
    """The jieba module, its start-up messages silenced; one clear error when absent."""
    try:
        import jieba
    except Exception as exc:
        raise AGCHError(
            f"jieba cannot be imported ({type(exc).__name__}: {exc}); install the 'extract' "
            'extra (pip install -e ".[extract]") to convert Chinese texts'
        ) from exc
    jieba.setLogLevel(logging.WARNING)
    return jieba


def is_word(token: str) -> bool:
    """Whether a segmented token counts as a word (see `_WORDY`).

    >>> [is_word(t) for t in ["国庆", "的", "2022", "，", "AI", "5G网络"]]
    [True, False, False, False, True, True]
    """
    return len(token) >= 2 and _WORDY.search(token) is not None


def words(text: str) -> set[str]:
    """The distinct words of one article (jieba segmentation, then `is_word`)."""
    return {token for token in _jieba().lcut(text) if is_word(token.strip())}


def build_vocabulary(documents: Sequence[set[str]], vocab_size: int) -> list[str]:
    """The ``vocab_size`` words found in the most ``documents`` (sets of words; pass the
    training articles only), most frequent first, ties by code points; fewer when fewer
    distinct words exist."""
    frequency = Counter(word for document in documents for word in document)
    ranked = sorted(frequency.items(), key=lambda item: (-item[1], item[0]))
    return [word for word, _ in ranked[:vocab_size]]


def binary_bow(documents: Sequence[set[str]], vocabulary: Sequence[str]) -> np.ndarray:
    """float32 [N, V]: 1 where article n holds vocabulary word v, else 0."""
    column = {word: v for v, word in enumerate(vocabulary)}
    bow = np.zeros((len(documents), len(vocabulary)), dtype=np.float32)  # (N, V)
    for n, document in enumerate(documents):
        hits = [column[word] for word in document if word in column]
        bow[n, hits] = 1.0
    return bow
