"""Unit tests of the framework helpers: error reporting, results file, progress, metrics."""

import json
import os
from pathlib import Path

import pytest
from hydra.errors import InstantiationException

from src.callbacks.progress import PlainProgressBar, auto_progress_bar
from src.utils import ConfigError, DataError, get_metric_value, git_commit, write_json
from src.utils.errors import one_line_errors, user_error
from src.utils.reporting import _table_rows, table_title


def test_user_error_found_through_wrappers() -> None:
    inner = DataError("/x.h5", None, "file not found; python scripts/prepare_data.py wiki")
    try:
        try:
            raise inner
        except DataError as err:
            raise InstantiationException("Error in call to target") from err
    except InstantiationException as wrapped:
        assert user_error(wrapped) is inner
    assert user_error(ValueError("bug")) is None


def test_one_line_errors_exits_2(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        with one_line_errors():
            raise InstantiationException("wrapped") from ConfigError("model.code_length: bad\n-3")
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "error: model.code_length: bad -3\n"


def test_one_line_errors_reraises_bugs() -> None:
    with pytest.raises(ZeroDivisionError):
        with one_line_errors():
            1 / 0


def test_results_json_is_plain_and_replaced(tmp_path: Path) -> None:
    path = tmp_path / "run" / "results.json"
    write_json(path, {"metrics": {"val/map@50": float("nan")}, "seed": 0})
    write_json(path, {"metrics": {"val/map@50": 0.5}, "seed": 0})
    assert json.loads(path.read_text()) == {"metrics": {"val/map@50": 0.5}, "seed": 0}
    write_json(path, {"x": float("inf")})
    assert json.loads(path.read_text()) == {"x": None}  # strict JSON: non-finite -> null
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]  # no temp file left
    assert path.stat().st_mode & 0o777 == 0o666 & ~current_umask()  # not mkstemp's 0600


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_metric_value_for_sweepers() -> None:
    assert get_metric_value({"val/map@50": 0.25}, "val/map@50") == 0.25
    assert get_metric_value({}, None) is None
    with pytest.raises(ConfigError, match="optimized_metric"):
        get_metric_value({"val/map@50": 0.25}, "val/map@100")


def test_a_missing_metric_never_offers_test_metrics() -> None:
    """Selection reads validation metrics only (sixth trial: a run that never validated was
    told to pick one of test/..., train/...); without any, the cadence keys are named."""
    logged = {"test/map@50": 0.3, "train/loss": 1.0, "health/x": 0.1, "val/map@all": 0.2}
    with pytest.raises(ConfigError) as error:
        get_metric_value(logged, "val/map@50")
    assert "expected one of: val/map@all" in str(error.value), str(error.value)
    assert "test/" not in str(error.value) and "train/" not in str(error.value)
    with pytest.raises(ConfigError) as error:
        get_metric_value({k: v for k, v in logged.items() if k != "val/map@all"}, "val/map@50")
    assert "test/" not in str(error.value) and "logged none" in str(error.value)
    assert "check_val_every_n_epoch" in str(error.value)


def test_git_commit_outside_a_repository(tmp_path: Path) -> None:
    assert git_commit(tmp_path) == "unknown"


def test_plain_progress_bar_off_a_terminal() -> None:
    # pytest captures stdout, so it is not a terminal here
    assert isinstance(auto_progress_bar(), PlainProgressBar)


def test_metric_table_rows_and_synthetic_title() -> None:
    metrics = {"test/i2t_map@50": 0.5, "test/t2i_map@50": 0.25, "test/map@50": 0.375}
    assert _table_rows(metrics, "test") == [("map@50", "0.5000", "0.2500", "0.3750")]
    ranked = {f"test/i2t_p@{k}": 0.5 for k in (1000, 5, 100)} | {"test/i2t_map@all": 0.5}
    assert [row[0] for row in _table_rows(ranked, "test")] == ["map@all", "p@5", "p@100", "p@1000"]
    title = table_title("Test", {"dataset": "synthetic", "code_length": 16, "synthetic": True})
    assert title.startswith("SYNTHETIC data")
    assert "SYNTHETIC" not in table_title("Test", {"dataset": "wiki", "synthetic": False})


def test_unknown_key_added_with_plus_is_a_one_line_config_error() -> None:
    class Target:
        def __init__(self, alpha: float = 1.0) -> None:
            self.alpha = alpha

    try:
        Target(alpah=0.5)
    except TypeError as err:
        wrapped = InstantiationException("Error in call to target 'Target'")
        wrapped.__cause__ = err
    error = user_error(wrapped)
    assert str(error) == (
        "alpah: unknown key, not an argument of Target; expected one of its arguments"
    )
    other = InstantiationException("x")
    other.__cause__ = TypeError("unsupported operand type(s) for +: 'int' and 'str'")
    assert user_error(other) is None  # a genuine bug keeps its traceback
