"""Values that overflow inside the computation (trial 9, fault 9: model.gamma_v=1e200 passed
the door and raised Python's OverflowError at step 0, a 120-line traceback and a folder of
logs). (a) Every method's real keys and the constants it derives from them are refused at the
door, one line naming the key; (b) an arithmetic error inside a training step is the same
one-line stop as a non-finite loss. Also: a run cut short by trainer.max_steps before any
validation names that cut, not the validation cadence, when optimized_metric is missing."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from omegaconf import OmegaConf

import src.train as train_script
from src.models.agch_module import AGCHModule
from src.models.cca_itq import CCAITQModule
from src.models.cmfh import CMFHModule
from src.models.derived import derived_value, representable
from src.models.dgcpn_module import DGCPNModule
from src.models.djsrh_module import DJSRHModule
from src.models.jdsh_module import JDSHModule
from src.models.ucch_module import UCCHModule
from src.utils.config_rules import check_model_values
from src.utils.errors import ConfigError, TrainingError
from src.utils.utils import get_metric_value

METHODS = (AGCHModule, UCCHModule, DJSRHModule, JDSHModule, DGCPNModule, CMFHModule, CCAITQModule)
REAL_RULES = ("non_negative", "positive", "unit_interval", "below_one", "optional_positive")
# beyond float32/bfloat16 (1e200, 1e308), a subnormal that rounds to 0 there (5e-324), and a
# tiny negative (refused by every real key's range: none takes a negative value)
OUT_OF_RANGE = (1e200, 1e308, 5e-324, -5e-324, -1e-300)
BASE = {"image_dim": 4, "text_dim": 3}


def _real_keys(cls: type) -> list[str]:
    rules = cls.RULES
    return sorted({key for kind in REAL_RULES for key in rules.get(kind, ())})


CASES = [(cls, key) for cls in METHODS for key in _real_keys(cls)]


def _refusal(cls: type, key: str, value: Any) -> str | None:
    try:
        check_model_values(cls, BASE | {key: value})
    except ConfigError as err:
        return str(err)
    return None


@pytest.mark.parametrize("value", OUT_OF_RANGE)
@pytest.mark.parametrize("cls, key", CASES, ids=[f"{c.__name__}-{k}" for c, k in CASES])
def test_a_value_no_training_dtype_holds_is_refused_naming_its_key(cls, key, value) -> None:
    message = _refusal(cls, key, value)
    assert message is not None, f"{cls.__name__} accepted model.{key}={value!r}"
    assert "\n" not in message and message.startswith(f"model.{key}:"), message


@pytest.mark.parametrize("cls, key", CASES, ids=[f"{c.__name__}-{k}" for c, k in CASES])
def test_1e38_is_refused_exactly_where_a_derived_constant_overflows(cls, key) -> None:
    """1e38 fits float32; refused only where a declared constant of it does not, naming a key
    of that constant; accepted values also construct the module (door and model agree)."""
    hp = BASE | {key: 1e38}
    lines = [line for line in cls.DERIVED if key in line.keys]
    full = _defaults(cls) | hp
    overflowing = [line for line in lines if derived_value(line, full) is None]
    message = _refusal(cls, key, 1e38)
    if overflowing:
        assert message is not None and "\n" not in message
        assert any(message.startswith(f"model.{line.keys[0]}:") for line in overflowing)
    elif message is None:
        cls(**hp)


def _defaults(cls: type) -> dict[str, Any]:
    import inspect

    params = inspect.signature(cls.__init__).parameters.values()
    return {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}


@pytest.mark.parametrize(
    "cls, key, value",
    [
        (AGCHModule, "gamma_v", 1e20),  # gamma_v^2 = 1e40
        (AGCHModule, "gamma_t", 1e38),
        (AGCHModule, "rho", 1e-39),  # subnormal
        (AGCHModule, "lam", 1e30),  # lam x tuned_lam_factor (0.06): 6e28 fits, see below
        (UCCHModule, "temperature", 1e-38),  # 1/t = 1e38 fits; 2e-39 below is subnormal
        (DJSRHModule, "mu", 1e20),
        (JDSHModule, "mu", 1e20),
        (CMFHModule, "mu", 1e-38),  # gamma/mu
        (CMFHModule, "lam", 0.0),  # gamma/lam divides by zero
        (CMFHModule, "lam", 1.0),  # gamma/(1-lam)
    ],
)
def test_derived_constants_are_checked_by_declaration(cls, key, value) -> None:
    full = _defaults(cls) | BASE | {key: value}
    expected_refused = not representable(value) or any(
        derived_value(line, full) is None for line in cls.DERIVED
    )
    message = _refusal(cls, key, value)
    assert (message is not None) == expected_refused, (key, value, message)
    if message:
        assert "\n" not in message and message.startswith("model."), message


def test_the_agch_product_of_lam_and_its_factor_is_checked() -> None:
    assert _refusal(AGCHModule, "tuned_lam_factor", 1e30) is None  # x lam 1: fits
    both = BASE | {"lam": 1e20, "tuned_lam_factor": 1e20}
    with pytest.raises(ConfigError, match=r"^model\.lam: .*lam x tuned_lam_factor"):
        check_model_values(AGCHModule, both)


class _Trainer(SimpleNamespace):
    def fit(self, **_: Any) -> None:
        raise self.fault


@pytest.mark.parametrize(
    "fault",
    [
        OverflowError(34, "Numerical result out of range"),
        FloatingPointError("overflow encountered in multiply"),
        ZeroDivisionError("float division by zero"),
    ],
)
def test_an_arithmetic_error_in_a_step_is_a_one_line_training_stop(monkeypatch, fault) -> None:
    monkeypatch.setattr(train_script, "fit_started", lambda: None)
    trainer = _Trainer(
        fault=fault, checkpoint_callback=None, interrupted=False, current_epoch=0, global_step=0
    )
    cfg = OmegaConf.create({"ckpt_path": None})
    with pytest.raises(TrainingError) as caught:
        train_script._fit(cfg, trainer, model=None, datamodule=None)
    text = str(caught.value)
    assert "\n" not in text and "global step 0" in text and type(fault).__name__ in text
    assert "checkpoint" in text  # the last good checkpoint, or that there is none


CUT = "training stopped after 2 of the 31 training batches (cut by trainer.max_steps=3)"


def test_a_missing_metric_of_a_cut_run_names_the_cut() -> None:
    with pytest.raises(ConfigError) as caught:
        get_metric_value({"train/loss": 1.0}, "val/map@50", CUT)
    assert "trainer.max_steps=3" in str(caught.value)
    with pytest.raises(ConfigError, match="validation cadence"):
        get_metric_value({"train/loss": 1.0}, "val/map@50")
