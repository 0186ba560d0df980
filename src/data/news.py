"""The news release (2,200 Chinese news image-text pairs, 10 classes) read from its files.

Layout, like the Wiki release's (docs/data.md, "The news set"): ``categories.list`` (class
names, class k on line k), ``trainset_txt_img_cat.list`` and ``testset_txt_img_cat.list``
(tab-separated ``text_id image_id class``), ``texts/<text_id>.txt`` (UTF-8, one article) and
``images/<category of the class>/<image_id>.jpg``. Quirks of the release handled on purpose:
three images are named ``<id> .jpg`` (a space before the extension), a category folder holds an
apostrophe (``people's_livelihood``; paths are never passed through a shell), seven images also
lie, byte-identical, in the folder of another category (only the listed class's folder is read),
and seven listed pairs have no image file anywhere (`RELEASE_MISSING_IMAGES`: dropped, and
recorded in the store). Every other fault is a `DataError` naming the file (and line).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from src.data.sources import reading
from src.utils.errors import DataError

NEWS_CLASSES = 10
# words of the text bag (``prepare_data.py news --vocab-size``): tuned, chosen among 250-4000 on
# held-out pairs with CCA-ITQ (docs/data.md, "Choice of the text feature"; 1000 before)
NEWS_VOCAB_SIZE = 4000
LISTS = {"train": "trainset_txt_img_cat.list", "test": "testset_txt_img_cat.list"}
# image ids of the published release (1599421259/Web_News_Datasets) listed with no image file in
# any category folder: their pairs are left out (1,696 train + 497 test pairs remain)
RELEASE_MISSING_IMAGES = frozenset({"72", "162", "1106", "1180", "1729", "1730", "1784"})


@dataclass(frozen=True)
class NewsPair:
    """One listed pair: its ids, class (1..10), part ("train" / "test") and files."""

    text_id: str
    image_id: str
    label: int
    part: str
    text: Path
    image: Path


def read_categories(source: Path) -> list[str]:
    """The class names of ``categories.list`` (class k = line k), exactly `NEWS_CLASSES`."""
    path = source / "categories.list"
    if not path.is_file():
        raise DataError(path, None, f"file not found (expected {NEWS_CLASSES} class names)")
    with reading(path, None, "a UTF-8 text file of class names"):
        names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    names = [name for name in names if name]
    if len(names) != NEWS_CLASSES or len(set(names)) != NEWS_CLASSES:
        raise DataError(path, None, f"expected {NEWS_CLASSES} distinct class names")
    return names


def read_pairs_list(path: Path) -> list[tuple[str, str, int, int]]:
    """(text_id, image_id, class, line number) per non-empty line of a ``*_txt_img_cat.list``
    (tab-separated; class 1..10; a last line without newline is fine)."""
    if not path.is_file():
        raise DataError(path, None, "file not found (expected text_id image_id class lines)")
    with reading(path, None, "a UTF-8 text file of 'text_id image_id class' lines"):
        lines = path.read_text(encoding="utf-8").splitlines()
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = line.strip().split("\t")
        if len(fields) != 3 or not all(f.strip().isdigit() for f in fields):
            raise DataError(path, f"line {number}", "expected 'text_id<TAB>image_id<TAB>class'")
        text_id, image_id, label = (f.strip() for f in fields)
        if not 1 <= int(label) <= NEWS_CLASSES:
            raise DataError(path, f"line {number}", f"expected a class in 1..{NEWS_CLASSES}")
        rows.append((text_id, image_id, int(label), number))
    if not rows:
        raise DataError(path, None, "expected 'text_id image_id class' lines, found none")
    return rows


def _image_in(folder: Path, image_id: str) -> Path | None:
    """``<id>.jpg`` or the release's ``<id> .jpg`` in ``folder``; both at once is an error."""
    found = [p for p in (folder / f"{image_id}.jpg", folder / f"{image_id} .jpg") if p.is_file()]
    if len(found) > 1:
        raise DataError(found[1], None, f"expected one image for id {image_id}, found 2")
    return found[0] if found else None


def find_image(source: Path, categories: list[str], image_id: str, label: int) -> Path | None:
    """The image of ``image_id`` in the folder of its class; None when in no folder at all.
    An image only in another class's folder is a wrong class (DataError)."""
    own = categories[label - 1]
    image = _image_in(source / "images" / own, image_id)
    if image is not None:
        return image
    for other in categories:
        if other != own and _image_in(source / "images" / other, image_id) is not None:
            raise DataError(
                source / "images" / other,
                image_id,
                f"image listed with class {label} ({own}) lies in another class's folder; "
                "expected the release as published",
            )
    return None


def _pair(source: Path, categories: list[str], row: tuple, list_path: Path, part: str):
    """The `NewsPair` of one list line, None for a release pair without image."""
    text_id, image_id, label, number = row
    text = source / "texts" / f"{text_id}.txt"
    if not text.is_file():
        raise DataError(
            list_path,
            f"line {number}",
            f"text file not found: {text}; expected the release as published",
        )
    image = find_image(source, categories, image_id, label)
    if image is None:
        if image_id in RELEASE_MISSING_IMAGES:
            return None
        folder = source / "images" / categories[label - 1]
        raise DataError(
            list_path,
            f"line {number}",
            f"image not found: {folder}/{image_id}.jpg; expected the release as published",
        )
    return NewsPair(text_id, image_id, label, part, text, image)


def read_pairs(source: Path) -> tuple[list[NewsPair], list[str]]:
    """The release's pairs, train list then test list, in list order, and the ids of the
    listed pairs left out because the release has no image for them (sorted)."""
    categories = read_categories(source)
    pairs, dropped, seen = [], [], {}
    for part, name in LISTS.items():
        list_path = source / name
        for row in read_pairs_list(list_path):
            if row[0] in seen:
                raise DataError(
                    list_path,
                    f"line {row[3]}",
                    f"text {row[0]} listed twice; expected each text once",
                )
            seen[row[0]] = part
            pair = _pair(source, categories, row, list_path, part)
            if pair is None:
                dropped.append(row[1])
            else:
                pairs.append(pair)
    return pairs, sorted(dropped, key=int)


def read_article(path: Path) -> str:
    """One article: UTF-8 (a BOM is allowed), not empty once whitespace is removed."""
    with reading(path, None, "a UTF-8 text file"):
        text = path.read_bytes().decode("utf-8-sig")
    if not text.strip():
        raise DataError(path, None, "expected an article, the file is empty")
    return text


def folder_digest(paths: list[Path], source: Path) -> str:
    """SHA-256 over the sorted (path relative to ``source``, file SHA-256) lines of
    ``paths``: one provenance entry for thousands of files (an HDF5 attribute is small)."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        with reading(path, None, "a readable file"):
            content = hashlib.sha256(path.read_bytes()).hexdigest()
        digest.update(f"{path.relative_to(source).as_posix()}\t{content}\n".encode())
    return digest.hexdigest()


def provenance(source: Path, digests: dict[str, tuple[int, str]], dropped: list[str]) -> str:
    """The store's ``source_files``: the lists and categories one by one, the texts and the
    images as one `folder_digest` each (``digests``: kind -> (file count, digest)), and the
    ids of the pairs left out."""
    from src.data.store import sha256_of

    files = ["categories.list", *LISTS.values()]
    record = [{"path": name, "sha256": sha256_of(source / name)} for name in files]
    for kind, (count, digest) in digests.items():
        record.append({"path": f"{kind}/ ({count} files)", "sha256": digest})
    record.append({"path": "missing images (pairs left out)", "ids": dropped})
    return json.dumps(record)
