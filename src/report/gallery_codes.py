"""The codes a retrieval gallery is drawn from: codes.h5 (src/eval.py ``export_codes=true``) or
the rows a test metric gathered (src/metrics/retrieval.py), in one layout.

Layout: ``{"query": split, "retrieval": split}``, each split ``{"codes_image": int8 [n, c],
"codes_text": int8 [n, c], "index": int64 [n] (store rows), "label": uint8 [n, C]}``; and the
store's attributes the raw items need (``dataset``, ``source_files``, ``store_rows``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from src.data.sources import reading
from src.utils.errors import DataError

SPLITS = ("query", "retrieval")
FIELDS = ("codes_image", "codes_text", "index", "label")
STORE_ATTRS = ("dataset", "source_files", "store_rows")


def store_attrs(store: Path | str) -> dict[str, Any]:
    """``dataset``, ``source_files`` and ``store_rows`` (its item count) of a feature store;
    DataError naming the file when it is no store (src/data/store.py)."""
    from src.data.store import validate_store

    info = validate_store(store, check_values=False)
    return {
        "dataset": str(info.attrs.get("dataset")),
        "source_files": str(info.attrs.get("source_files", "[]")),
        "store_rows": int(info.n_items),
    }


def read_codes(path: Path, store: Path | None = None) -> tuple[dict, dict[str, Any]]:
    """(codes, attrs) of a codes.h5; the attributes from ``store`` when given (a codes.h5
    written before eval.py recorded them). DataError naming the file and key otherwise."""
    import h5py

    codes: dict[str, dict[str, np.ndarray]] = {}
    with reading(path, None, "a codes.h5 of src/eval.py export_codes=true"):
        with h5py.File(path, "r") as h5:
            for split in SPLITS:
                codes[split] = {}
                for field in FIELDS:
                    with reading(path, f"{split}/{field}", "the codes.h5 layout"):
                        codes[split][field] = np.asarray(h5[f"{split}/{field}"][()])
            attrs = {k: h5.attrs[k] for k in STORE_ATTRS if k in h5.attrs}
    if store is not None:
        attrs = store_attrs(store)
    missing = [k for k in STORE_ATTRS if k not in attrs]
    if missing:
        raise DataError(path, missing[0], "expected eval.py's store attributes (or give --store)")
    attrs["store_rows"] = int(attrs["store_rows"])
    return codes, attrs


def metric_codes(rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, np.ndarray]]:
    """codes.h5's layout from a metric's gathered rows, ``rows[split]`` with ``image``,
    ``text`` (codes [n, c]), ``index`` [n] and ``label`` [n, C] tensors (its ``_split``)."""
    names = {"codes_image": "image", "codes_text": "text", "index": "index", "label": "label"}
    return {
        split: {field: rows[split][name].detach().cpu().numpy() for field, name in names.items()}
        for split in SPLITS
    }
