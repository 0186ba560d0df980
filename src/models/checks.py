"""Checks of the model's hyper-parameters, run at construction: one line naming the key."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

from src.models.similarity import ADJACENCIES, DISTANCES, GAMMA_MODES, SCALES
from src.utils.errors import ConfigError

POSITIVE_INTS = ("image_dim", "text_dim", "code_length", "hidden_dim", "gcn_dim", "eval_topk")
NON_NEGATIVE = (
    "alpha",
    "beta",
    "lam",
    "delta",
    "gamma_v",
    "gamma_t",
    "momentum",
    "weight_decay",
    "warmup_epochs",
    "grad_clip",
    "collapse_threshold",
)
POSITIVE = ("rho", "lr_image", "lr_text", "lr_fusion", "lr_hash", "lr_gcn")
CHOICES = {
    "gamma_mode": GAMMA_MODES,
    "distance": DISTANCES,
    "s_scale": SCALES,
    "adjacency": ADJACENCIES,
    "input_norm": ("standardize", "none"),
    "schedule": ("alternate", "joint"),
    "optimizer": ("sgd", "adam"),
    "eval_ties": ("stable", "average"),
}


def _fail(key: str, expected: str, value: Any) -> None:
    raise ConfigError(f"model.{key}: expected {expected}, got {value!r}")


def _is_real(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def check_hparams(hp: dict[str, Any]) -> None:
    """Raise `ConfigError` for the first impossible value (wrong type, sign or choice)."""
    for key in POSITIVE_INTS:
        value = hp[key]
        if isinstance(value, bool) or not isinstance(value, Integral) or value <= 0:
            _fail(key, "a positive integer", value)
    for key in NON_NEGATIVE:
        if not _is_real(hp[key]) or hp[key] < 0:
            _fail(key, "a non-negative number", hp[key])
    for key in POSITIVE:
        if not _is_real(hp[key]) or hp[key] <= 0:
            _fail(key, "a positive number", hp[key])
    for key, choices in CHOICES.items():
        if hp[key] not in choices:
            _fail(key, f"one of {list(choices)}", hp[key])
    if not isinstance(hp["stop_on_collapse"], bool):
        _fail("stop_on_collapse", "true or false", hp["stop_on_collapse"])
    ks = hp["eval_ks"]
    if not ks or any(isinstance(k, bool) or not isinstance(k, Integral) or k <= 0 for k in ks):
        _fail("eval_ks", "a non-empty list of positive integers", ks)
