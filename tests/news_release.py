"""A small generated release in the news layout (src/data/news.py), with the real release's
quirks: an image named ``<id> .jpg``, a category folder with an apostrophe, a byte-identical
copy of an image in another category's folder, and a listed pair of the release that has no
image (id 72). Articles are words separated by spaces (tests segment them on whitespace)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

CATEGORIES = [
    "culture",
    "ecology",
    "economy",
    "education",
    "international",
    "National_defense",
    "people's_livelihood",
    "politics",
    "Science_and_technology",
    "sports",
]
WORDS = ["国庆", "长假", "大桥", "施工", "足球", "比赛", "孔雀", "海边", "经济", "学生"]
N_TRAIN, N_TEST = 12, 5
SPACED_ID = "3"  # saved as "3 .jpg"
DUPLICATED_ID = "5"  # also copied into another category's folder
MISSING_ID = "72"  # a pair of the real release listed without image


def pair_ids() -> tuple[list[str], list[str]]:
    """(train ids, test ids); the train list also holds `MISSING_ID`."""
    train = [str(i) for i in range(1, N_TRAIN + 1)] + [MISSING_ID]
    return train, [str(i) for i in range(N_TRAIN + 1, N_TRAIN + N_TEST + 1)]


def label_of(pair_id: str) -> int:
    return int(pair_id) % 10 + 1


def colour_of(pair_id: str) -> tuple[int, int, int]:
    """A uniform colour that encodes the id (red = 10 * id), so rows can be told apart."""
    return (10 * int(pair_id), 128, 64)


def article_of(pair_id: str, rng: np.random.Generator) -> str:
    chosen = rng.choice(len(WORDS), size=int(rng.integers(1, 6)), replace=False)
    return " ".join(WORDS[int(i)] for i in chosen) + " 。 2022 的\n"


def make_news(folder: Path, seed: int = 0) -> dict[str, str]:
    """Write the release into ``folder``; return id -> article text."""
    rng = np.random.default_rng(seed)
    (folder / "texts").mkdir(parents=True)
    for name in CATEGORIES:
        (folder / "images" / name).mkdir(parents=True)
    (folder / "categories.list").write_text("\n".join(CATEGORIES) + "\n", encoding="utf-8")
    train, test = pair_ids()
    articles = {}
    for name, ids in (("trainset", train), ("testset", test)):
        lines = [f"{i}\t{i}\t{label_of(i)}" for i in ids]
        (folder / f"{name}_txt_img_cat.list").write_text("\n".join(lines))  # no last newline
        for pair_id in ids:
            articles[pair_id] = article_of(pair_id, rng)
            (folder / "texts" / f"{pair_id}.txt").write_text(articles[pair_id], encoding="utf-8")
            if pair_id != MISSING_ID:
                Image.new("RGB", (40, 30), colour_of(pair_id)).save(image_path(folder, pair_id))
    copy = folder / "images" / CATEGORIES[label_of(DUPLICATED_ID) % 10] / f"{DUPLICATED_ID}.jpg"
    copy.write_bytes(image_path(folder, DUPLICATED_ID).read_bytes())
    return articles


def image_path(folder: Path, pair_id: str) -> Path:
    name = f"{pair_id} .jpg" if pair_id == SPACED_ID else f"{pair_id}.jpg"
    return folder / "images" / CATEGORIES[label_of(pair_id) - 1] / name
