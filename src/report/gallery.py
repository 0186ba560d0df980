"""The retrieval gallery of cross-modal hashing papers: for a few queries, the top-ranked items
of the other modality, each marked relevant or not, with its Hamming distance.

The ranking is the metric code's (src/metrics): exact Hamming distances and the stable
(distance, retrieval index) order of ``stable_topk``, relevance as a shared label
(``top_relevance``), so the k items of a row are those P@k and mAP@k count. Queries are drawn
without replacement by a seeded generator, so a figure is reproducible. Images are shown as
thumbnails, texts as their first characters (Chinese needs a CJK font: src/report/fonts.py).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from src.data.raw_items import RawItems
from src.metrics import ranking
from src.metrics.functional import hamming_distance
from src.metrics.inputs import check_label_pair
from src.report.fonts import cjk_family, has_cjk

# query modality, result modality per direction (codes.h5's codes_<modality>)
DIRECTIONS = {"i2t": ("image", "text"), "t2i": ("text", "image")}
NAMES = {"i2t": "image query -> texts", "t2i": "text query -> images"}
COLOURS = {True: "#2ca02c", False: "#d62728", None: "#1f77b4"}  # relevant, not, the query
SNIPPET = (11, 6)  # characters per line, lines of a text cell


@dataclass(frozen=True)
class Hit:
    """One retrieved item: its position in the retrieval set, its store row, its Hamming
    distance to the query and whether it shares a label with the query."""

    position: int
    index: int
    distance: int
    relevant: bool


def choose_queries(n_query: int, n: int, seed: int) -> np.ndarray:
    """Positions of ``min(n, n_query)`` distinct queries (ascending), drawn with
    ``numpy.random.default_rng(seed)``: the same for the same seed and query count."""
    picked = np.random.default_rng(seed).choice(n_query, size=min(n, n_query), replace=False)
    return np.sort(picked)


def ranked_hits(
    query_codes: np.ndarray,
    retrieval_codes: np.ndarray,
    query_labels: np.ndarray,
    retrieval_labels: np.ndarray,
    retrieval_index: np.ndarray,
    k: int,
) -> list[list[Hit]]:
    """The first ``k`` items (k capped at the retrieval size) of every query in the metric's
    order: codes [q, c], [nr, c] in {-1, +1}; labels multi-hot [q, C], [nr, C] (or class ids);
    ``retrieval_index`` [nr] the store rows. ValueError for bad codes or labels (src/metrics)."""
    D = hamming_distance(query_codes, retrieval_codes)  # (q, nr) int32, at most c
    k = min(k, D.shape[1])
    order = ranking.stable_topk(D.to(torch.int16), k)  # (q, k) positions, (distance, index)
    Lq, Lr = check_label_pair(query_labels, retrieval_labels, D.shape[0], D.shape[1], None)
    relevant = ranking.top_relevance(Lq, Lr, order)  # (q, k) bool; labels float32 multi-hot
    distance = torch.gather(D, 1, order)  # (q, k)
    return [
        [
            Hit(int(p), int(retrieval_index[p]), int(d), bool(r))
            for p, d, r in zip(order[i], distance[i], relevant[i])
        ]
        for i in range(order.shape[0])
    ]


def snippet(text: str) -> str:
    """The first characters of ``text`` in ``SNIPPET`` lines (Chinese has no spaces to wrap at)."""
    width, lines = SNIPPET
    cut = text[: width * lines]
    return "\n".join(cut[i : i + width] for i in range(0, len(cut), width))


def draw_cell(ax: Axes, items: RawItems, modality: str, row: int, font: list[str]) -> None:
    """An image thumbnail or a text snippet of store row ``row`` on ``ax``."""
    from PIL import Image

    if modality == "image":
        with Image.open(items.images[row]) as image:
            image = image.convert("RGB")
            image.thumbnail((160, 160))
            ax.imshow(np.asarray(image))  # (h, w, 3) uint8
    else:
        ax.text(0.04, 0.96, snippet(items.text(row)), va="top", fontsize=7, family=font)
        ax.set_facecolor("#f7f7f7")
    ax.set_xticks([])
    ax.set_yticks([])


def frame(ax: Axes, relevant: bool | None, title: str, label: str, font: list[str]) -> None:
    """A coloured frame (green relevant, red not, blue the query), a title and a class line."""
    colour = COLOURS[relevant]
    for spine in ax.spines.values():
        spine.set_edgecolor(colour)
        spine.set_linewidth(3)
    ax.set_title(title, fontsize=8, color=colour)
    ax.set_xlabel(label, fontsize=7, family=font)


def class_names(labels: np.ndarray, classes: list[str]) -> str:
    """The class names of one multi-hot label row, joined by ", "."""
    return ", ".join(classes[c] for c in np.flatnonzero(labels))


def gallery_figure(
    codes: dict[str, dict[str, np.ndarray]],
    items: RawItems,
    direction: str,
    queries: np.ndarray,
    k: int,
) -> Figure:
    """Rows of the queries at positions ``queries``: the query, then its top ``k`` results in
    ``direction`` ("i2t" or "t2i"). ``codes`` is codes.h5's layout: ``codes[split]`` with
    ``codes_image``, ``codes_text`` [n, c], ``index`` [n] (store rows) and ``label`` [n, C]."""
    source, target = DIRECTIONS[direction]
    query, retrieval = codes["query"], codes["retrieval"]
    hits = ranked_hits(
        query[f"codes_{source}"][queries],
        retrieval[f"codes_{target}"],
        query["label"][queries],
        retrieval["label"],
        retrieval["index"],
        k,
    )
    family = cjk_family()
    font = [family, "DejaVu Sans"] if family else ["DejaVu Sans"]
    if family is None and any(has_cjk(items.text(int(query["index"][q]))) for q in queries):
        warnings.warn("no font with Chinese glyphs found (src/report/fonts.py): texts show boxes")
    columns = 1 + len(hits[0])
    figure = Figure(figsize=(1.55 * columns, 1.9 * len(queries)), layout="constrained")
    axes = np.atleast_2d(figure.subplots(len(queries), columns))
    for row, (q, ranked) in enumerate(zip(queries, hits)):
        index = int(query["index"][q])
        draw_cell(axes[row, 0], items, source, index, font)
        name = class_names(query["label"][q], items.classes)
        frame(axes[row, 0], None, f"query {q}", name, font)
        for rank, hit in enumerate(ranked, start=1):
            ax = axes[row, rank]
            draw_cell(ax, items, target, hit.index, font)
            mark = "\u2713" if hit.relevant else "\u2717"
            name = class_names(retrieval["label"][hit.position], items.classes)
            frame(ax, hit.relevant, f"{rank}. d={hit.distance} {mark}", name, font)
    figure.suptitle(f"{NAMES[direction]}: top {len(hits[0])} by Hamming distance")
    return figure
