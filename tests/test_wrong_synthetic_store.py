"""A synthetic store of other parameters under the file name of these (trial 8 S08): the
line says to move or delete that file, not "leave data.path unset" (it already was), and
names no data.path the user never gave. Under any other name the old advice stands."""

from __future__ import annotations

from pathlib import Path

import pytest

from src.data.synthetic import make_synthetic, store_file
from src.data.synthetic_checks import check_existing_store
from src.utils.errors import DataError

CHANGES = [{"seed": 5}, {"n_val": 10}, {"n_classes": 4}, {"text_dim": 40}, {"noise": 0.5}]


@pytest.mark.parametrize("change", CHANGES)
@pytest.mark.parametrize("derived", [True, False])
def test_a_wrong_store_under_the_derived_name_is_to_be_moved(
    tmp_path: Path, synthetic_store_params: dict, change: dict, derived: bool
) -> None:
    params = dict(synthetic_store_params)
    other = params | change
    path = Path(store_file(str(tmp_path), params)) if derived else tmp_path / "mine.h5"
    make_synthetic(path, **other)
    with pytest.raises(DataError) as err:
        check_existing_store(path, params)
    line = str(err.value)
    if derived:
        assert (
            line.startswith(f"{path}: expected the synthetic store") and "[data.path]" not in line
        )
        assert f"move or delete {path}" in line and "leave data.path unset" not in line
    else:
        assert line.startswith(f"{path} [data.path]: ") and "leave data.path unset" in line
