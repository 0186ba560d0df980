"""The synthetic store a run reads must be the one of its parameters: a store of another
data set, or of other synthetic parameters, is refused with what it is and what to do, and
never replaced (other runs may share it). Split from src/data/synthetic.py."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from src.data.store import StoreInfo, missing_store, validate_store
from src.data.synthetic import matches_params, store_file, synthetic_params
from src.utils.errors import DataError
from src.utils.paths import input_problem


def params_differ(info: StoreInfo, params: Mapping[str, Any]) -> str:
    """The parameters in which the store ``info`` differs from ``params``, as
    "n_classes 10 in the store, 1 here; ..." (the generator version included)."""
    try:
        recorded = json.loads(info.attrs.get("synthetic_params") or "{}")
    except ValueError:
        recorded = {}
    wanted = synthetic_params(**params)
    names = sorted(k for k in set(recorded) | set(wanted) if recorded.get(k) != wanted.get(k))
    return "; ".join(f"{k} {recorded.get(k)} in the store, {wanted.get(k)} here" for k in names)


def check_existing_store(path: Path, params: Mapping[str, Any]) -> None:
    """The store at ``path`` is the synthetic store of ``params``; it is never replaced (it
    may be shared by other runs): else DataError naming what it is or what differs, and what
    to do."""
    if input_problem(path, "file") is not None:
        raise missing_store(path, "")
    info = validate_store(path, check_values=False)
    if not info.synthetic:
        held = info.attrs.get("dataset")
        what = f"a store of {held!r}" if held else "a store that is not synthetic"
        raise DataError(
            path,
            "data.path",
            f"{what}: data=synthetic (the default) reads only the synthetic store of its "
            "parameters and never overwrites another; choose the store's data= config"
            + (f" (data={held})" if held else ""),
        )
    if not matches_params(info, params):
        found = (
            f"expected the synthetic store of these parameters, found one made with others "
            f"({params_differ(info, params)}); it is never replaced: "
        )
        if Path(path).name == Path(store_file("", params)).name:  # the file of these parameters
            raise DataError(
                path,
                None,
                found + f"move or delete {path} (a store of other parameters under the name "
                "of these; the next run generates theirs), or give data.path=<another .h5 "
                "file>",
            )
        raise DataError(
            path,
            "data.path",
            found + "leave data.path unset (each set of parameters gets its own file, "
            "data/synthetic_<key>.h5) or name a new file",
        )
