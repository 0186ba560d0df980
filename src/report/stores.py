"""Runs of two stores of one dataset are never averaged together.

A store is told apart by its feature widths (results.json ``image_dim``, ``text_dim``,
src/utils/records.py): two news stores of 1,000- and 4,000-word bags share the dataset name,
often the path, but not the text width. results.json files written before the widths were
recorded are one unnamed store of their dataset ("store not recorded"), neither merged with a
recorded store nor split further.

The report groups runs by dataset (src/report/runs.py); ``label_stores`` names a dataset by
its store wherever the runs of that dataset come from more than one store, so that each store
gets rows, tables and headings of its own ("news (image 1280-d, text 4000-d)"), and leaves the
name as it is where a dataset has a single store (recorded or not).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import replace

from src.report.runs import Run

UNRECORDED = "store not recorded"


def store_words(store: tuple[int, int] | None) -> str:
    """A store's widths in words, as table headings name them.

    >>> store_words((1280, 4000)), store_words(None)
    ('image 1280-d, text 4000-d', 'store not recorded')
    """
    return UNRECORDED if store is None else f"image {store[0]}-d, text {store[1]}-d"


def label_stores(runs: list[Run]) -> list[Run]:
    """``runs`` in order, those of a dataset with runs of more than one store (widths, or none
    recorded) renamed ``"<dataset> (<store_words>)"`` (copies, ``base_dataset`` keeping the
    dataset's own name for its configuration); the others unchanged."""
    stores: dict[str, set[tuple[int, int] | None]] = defaultdict(set)
    for run in runs:
        stores[run.dataset].add(run.store)
    return [
        (
            replace(run, dataset=f"{run.dataset} ({store_words(run.store)})", base=run.dataset)
            if len(stores[run.dataset]) > 1
            else run
        )
        for run in runs
    ]


def file_tag(dataset: str) -> str:
    """A dataset label as a file-name part (plots): runs of other characters than letters,
    digits, ``.``, ``_`` and ``-`` become one ``_``.

    >>> file_tag("news (image 1280-d, text 4000-d)"), file_tag("wiki")
    ('news_image_1280-d_text_4000-d', 'wiki')
    """
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", dataset).strip("_")
