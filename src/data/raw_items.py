"""The raw image and text behind each row of a feature store, for showing retrievals.

A store holds features only. Its rows can be shown when the release they were made from is at
hand: for the news set (src/data/news.py), the store's rows are the release's pairs, train list
then test list, in list order, without the pairs that have no image, so the release folder
gives every row's JPEG and article. The folder is checked against the store first: the SHA-256
of its ``categories.list`` and pair lists must be those the store records (``source_files``),
so a different release or a reordered list is refused instead of showing wrong items. Wiki,
UCI, MIRFlickr and NUS-WIDE stores are made from released features; their raw items are not
read here (`RawUnavailable`, one line saying so).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from src.data.news import LISTS, read_article, read_categories, read_pairs
from src.utils.errors import DataError

SHOWN_DATASETS = ("news",)


class RawUnavailable(Exception):
    """The raw items of a store cannot be shown (no folder given, none there, another dataset);
    the message is one line saying why."""


@dataclass(frozen=True)
class RawItems:
    """Per store row: the image file and the text file, and the class names (class k at k-1)."""

    images: list[Path]
    texts: list[Path]
    classes: list[str]

    def text(self, row: int) -> str:
        """The text of store row ``row``, whitespace runs made single spaces."""
        return " ".join(read_article(self.texts[row]).split())


def recorded_digests(source_files: str | None) -> dict[str, str]:
    """{file name: SHA-256} of the single files a store's ``source_files`` attribute lists."""
    try:
        entries = json.loads(source_files or "[]")
    except ValueError:
        return {}
    return {e["path"]: e["sha256"] for e in entries if isinstance(e, dict) and "sha256" in e}


def raw_items(attrs: dict[str, Any], source: str | os.PathLike | None, n_rows: int) -> RawItems:
    """The raw items of the store whose attributes are ``attrs`` (``dataset``,
    ``source_files``), made of ``n_rows`` rows, from the release folder ``source``.

    Raises RawUnavailable (no ``source``, no such folder, a dataset other than news) and
    DataError (a folder whose lists are not those the store was made from, naming the file;
    a bad release file, src/data/news.py)."""
    from src.data.store import sha256_of

    dataset = str(attrs.get("dataset"))
    if dataset not in SHOWN_DATASETS:
        raise RawUnavailable(
            f"no retrieval gallery: raw images and texts are read for "
            f"{', '.join(SHOWN_DATASETS)} stores only, this store is {dataset}"
        )
    if source is None or not Path(source).is_dir():
        where = "no folder given" if source is None else f"{source} is not a folder"
        raise RawUnavailable(
            f"no retrieval gallery: the {dataset} release is not at hand ({where})"
        )
    source = Path(source)
    recorded = recorded_digests(attrs.get("source_files"))
    for name in ("categories.list", *LISTS.values()):
        path = source / name
        if name in recorded and (not path.is_file() or sha256_of(path) != recorded[name]):
            raise DataError(path, None, "expected the release the store was made from (SHA-256)")
    pairs, _ = read_pairs(source)
    if len(pairs) != n_rows:
        raise DataError(source, None, f"expected {n_rows} pairs with images, found {len(pairs)}")
    return RawItems([p.image for p in pairs], [p.text for p in pairs], read_categories(source))
