"""Messages that say where a value came from and the values they compare (trial 28 c05: "too
small for the preset" of a value set on the command line; c09: "n_query + n_train + n_val
exceeds n_items" without the numbers; s09: a dangling --source link called "not found")."""

import os
from pathlib import Path

import numpy as np
import pytest

from src.data.converters import _source_dir
from src.data.synthetic import check_params
from src.utils.errors import ConfigError, DataError
from src.utils.run_checks import check_evaluates_something, value_source
from test_deleted_keys import SMALL, composed, project_root  # noqa: F401  (a fixture)

SIZES = {"val_query": 1, "val_retrieval": 1, "query": 1, "retrieval": 1, "train": 200}


@pytest.mark.parametrize(
    "overrides, key, source, refused",
    [
        (["+trainer.overfit_batches=0.5"], "trainer.overfit_batches", "set on the command", 1),
        (
            ["++trainer.limit_val_batches=0.3"],
            "trainer.limit_val_batches",
            "set on the command",
            1,
        ),
        (["debug=limit"], "trainer.limit_val_batches", "set by the debug=limit preset", 1),
        (["debug=overfit"], "trainer.overfit_batches", "set by the debug=overfit preset", 0),
        ([], "trainer.min_epochs", "from the configuration", 0),
    ],
)
def test_value_source_names_the_override_or_the_preset(overrides, key, source, refused) -> None:
    """The source named for a value set on the command line, by a preset, or by neither; the
    0-batch evaluation refusal of a fraction carries it (never "the preset" for an
    override)."""
    cfg = composed([*SMALL, *overrides])
    assert value_source(key).startswith(source)
    if refused:
        with pytest.raises(ConfigError, match=rf"^{key}: [\d.]+ \({source}"):
            check_evaluates_something(cfg, SIZES, ("val",))


def test_value_source_without_hydra() -> None:
    assert value_source("trainer.overfit_batches") == "from the configuration"


def test_synthetic_sizes_give_the_values() -> None:
    """200 generated split sizes: refused exactly when they exceed n_items, with the sum
    written out and what is expected."""
    rng = np.random.default_rng(9)
    for _ in range(200):
        n_items, q, t, v = (int(x) for x in rng.integers([10, 1, 2, 0], [500, 300, 300, 100]))
        params = dict(n_items=n_items, n_query=q, n_train=t, n_val=v, n_classes=2)
        if q + t + v > n_items:
            sum_ = rf"{q} \+ {t} \+ {v} = {q + t + v} > n_items {n_items}; expected at most"
            with pytest.raises(ConfigError, match=rf"^data\.synthetic: .* = {sum_}"):
                check_params(params)
        else:
            check_params(params)
    with pytest.raises(ConfigError, match=r"^data\.synthetic\.n_classes: 11 > n_items 10;"):
        check_params(dict(n_items=10, n_query=1, n_train=2, n_val=0, n_classes=11))


def test_source_folder_says_what_it_found(tmp_path: Path) -> None:
    """--source: a dangling link, a missing path and a file are each named as what they are,
    with what --source expects."""
    os.symlink(tmp_path / "gone", tmp_path / "dangling")
    (tmp_path / "a_file").write_text("x")
    for name, found in [
        ("dangling", "a link to a missing path"),
        ("missing", "nothing there"),
        ("a_file", "found a file"),
    ]:
        with pytest.raises(
            DataError, match=rf"expected the release's folder \(--source DIR.*{found}"
        ):
            _source_dir(tmp_path / name)
    assert _source_dir(tmp_path) == tmp_path
