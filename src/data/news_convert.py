"""``prepare_data.py news``: the news release (src/data/news.py) into the HDF5 feature store.

Image side: EfficientNet-Lite0's pooled penultimate layer (1280-d, src/data/backbones.py) of
every image, cached in the output's folder (``news-<arch>-<12 hex>.npy``, named by a digest of
the image files and the extractor, not by the output's name: every store built there from the
same images and network, e.g. one per vocabulary size, reuses it, and no other does;
resumable). Text side: a binary bag of the most frequent words (src/data/text_bow.py), the
vocabulary from the training articles only. Official split (test = queries, retrieval = train),
validation queries drawn from train as for Wiki.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from src.data.converters import _check_out, _one_hot, _source_dir, _with_val
from src.data.extract import ExtractOptions, FileImages, build_model, extract_features
from src.data.matlab import open_mat
from src.data.news import (
    LISTS,
    NEWS_CLASSES,
    NEWS_VOCAB_SIZE,
    NewsPair,
    folder_digest,
    provenance,
    read_article,
    read_pairs,
)
from src.data.splits import official_split
from src.data.store import StoreInfo, write_store
from src.data.text_bow import binary_bow, build_vocabulary, words
from src.utils.errors import ConfigError, DataError, check_at_most


def article_words(pairs: list[NewsPair], articles: list[str]) -> list[set[str]]:
    """The distinct words of every pair's article; an article without a word is an error."""
    documents = []
    for pair, article in zip(pairs, articles):
        document = words(article)
        if not document:
            raise DataError(
                pair.text, None, "expected an article, found no word (only punctuation/digits)"
            )
        documents.append(document)
    return documents


def feature_cache(out: Path, digest: str, extract: ExtractOptions) -> tuple[Path, str]:
    """(cache file of the image features, its resume tag): in ``out``'s folder, named by a digest
    of the image files (``digest``) and the extractor but not by ``out``'s name, so that it is
    reused by every store of the same inputs there (one per vocabulary size) and by no other."""
    tag = f"{digest}|{extract.describe()}"
    name = f"news-{extract.arch}-{hashlib.sha256(tag.encode()).hexdigest()[:12]}.npy"
    return out.with_name(name), tag


def extract_images(images: FileImages, cache: Path, tag: str, extract: ExtractOptions) -> None:
    """Run the network of ``extract`` over ``images`` into ``cache`` (float32 [N, D])."""
    model = build_model(extract.arch, extract.weights)
    device, precision = extract.resolved()
    extract_features(images, model, cache, extract.batch_size, device, tag, precision)


def _labels(pairs: list[NewsPair]) -> np.ndarray:
    """One-hot uint8 [N, 10] of the pairs' classes."""
    classes = np.array([pair.label for pair in pairs], dtype=np.int64)  # (N,)
    return _one_hot(classes, NEWS_CLASSES, "lists", "class")


def convert_news(
    source: str | os.PathLike,
    out: str | os.PathLike,
    seed: int = 0,
    val_size: int | None = None,
    vocab_size: int = NEWS_VOCAB_SIZE,
    extract: ExtractOptions | None = None,
) -> StoreInfo:
    """The news release -> store: rows = the train pairs then the test pairs (list order, the
    pairs without image left out); image [N, 1280] float32 CNN features, text [N, vocab_size]
    binary BoW, label one-hot [N, 10]; official split (query = test, retrieval = train).

    Raises DataError (a bad or missing file, naming it), ConfigError (vocab_size < 1, or more
    than the distinct words of the training articles; a val_size over the validation pool)."""
    if vocab_size < 1:
        raise ConfigError(f"the vocabulary size must be positive, got {vocab_size}")
    source = _source_dir(source)
    out = _check_out(out, [source / name for name in ("categories.list", *LISTS.values())])
    extract = extract or ExtractOptions(arch="efficientnet_lite0")
    pairs, dropped = read_pairs(source)
    articles = [read_article(pair.text) for pair in pairs]
    digests = {
        kind: (len(pairs), folder_digest([getattr(p, kind[:-1]) for p in pairs], source))
        for kind in ("texts", "images")
    }
    cache, tag = feature_cache(out, digests["images"][1], extract)
    images = FileImages([pair.image for pair in pairs])
    if not cache.is_file():  # every pixel decoded: a bad JPEG is an error before the work
        images.check(decode=True)
    documents = article_words(pairs, articles)
    is_train = [pair.part == "train" for pair in pairs]
    vocabulary = build_vocabulary([d for d, t in zip(documents, is_train) if t], vocab_size)
    words = "the distinct words of the training articles"
    check_at_most("--vocab-size", vocab_size, len(vocabulary), words)
    text = binary_bow(documents, vocabulary)  # (N, V)
    n_train = sum(is_train)  # the splits are checked (--val-size) before the extraction
    splits = _with_val(official_split(n_train, len(pairs) - n_train), seed, val_size)
    if not cache.is_file():
        extract_images(images, cache, tag, extract)
    attrs = {
        "dataset": "news",
        "source_files": provenance(source, digests, dropped),
        "feature_extractor": f"{extract.describe()} / {len(vocabulary)}-word binary BoW (jieba)",
        "split_seed": seed,
        "synthetic": False,
    }
    with open_mat(cache, "features", expected_rows=len(pairs)) as image:
        return write_store(out, image, text, _labels(pairs), splits, attrs)
