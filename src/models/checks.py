"""Checks of a method's hyper-parameters by rule, run at construction: the first impossible
value raises one `ConfigError` line naming the key ("model.<key>: expected ..., got ...").

Every method declares its rules as a mapping of `check_rules` arguments (its ``RULES``);
`src.models.base.CrossModalHashingModule` applies them with the evaluation keys' rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from src.models.derived import Derived, check_derived, check_representable
from src.utils.rule_kinds import RuleBroken
from src.utils.rule_kinds import is_int as _is_int
from src.utils.rule_kinds import is_real as _is_real  # finite: inf and nan are refused

EVAL_CHOICES = {"eval_ties": ("stable", "average")}
# Hamming distances are counted in int16 above 255 bits (src/metrics/ranking.py)
MAX_CODE_LENGTH = 2**15 - 1


def _fail(key: str, expected: str, value: Any) -> None:
    raise RuleBroken(f"model.{key}", expected, value)


def check_rules(
    hp: Mapping[str, Any],
    positive_ints: Iterable[str] = (),
    non_negative_ints: Iterable[str] = (),
    non_negative: Iterable[str] = (),
    positive: Iterable[str] = (),
    unit_interval: Iterable[str] = (),
    below_one: Iterable[str] = (),
    optional_positive: Iterable[str] = (),
    bools: Iterable[str] = (),
    choices: Mapping[str, tuple[Any, ...]] | None = None,
    at_most: Mapping[str, int] | None = None,
    derived: Iterable[Derived] = (),
) -> None:
    """Raise `ConfigError` for the first value of `hp` that breaks its rule (``at_most``: an
    integer's largest value); then for a real
    value, or a constant the method derives from them (``derived``), that float32/bfloat16
    cannot hold (src/models/derived.py)."""
    for key in positive_ints:
        if not _is_int(hp[key]) or hp[key] <= 0:
            _fail(key, "a positive integer", hp[key])
    for key in non_negative_ints:
        if not _is_int(hp[key]) or hp[key] < 0:
            _fail(key, "a non-negative integer", hp[key])
    for key in non_negative:
        if not _is_real(hp[key]) or hp[key] < 0:
            _fail(key, "a finite non-negative number", hp[key])
    for key in positive:
        if not _is_real(hp[key]) or hp[key] <= 0:
            _fail(key, "a finite positive number", hp[key])
    for key in unit_interval:
        if not _is_real(hp[key]) or not 0 <= hp[key] <= 1:
            _fail(key, "a number in [0, 1]", hp[key])
    for key in below_one:
        if not _is_real(hp[key]) or not 0 <= hp[key] < 1:
            _fail(key, "a number in [0, 1)", hp[key])
    for key in optional_positive:
        if hp[key] is not None and (not _is_real(hp[key]) or hp[key] <= 0):
            _fail(key, "null or a finite positive number", hp[key])
    for key in bools:
        if not isinstance(hp[key], bool):
            _fail(key, "true or false", hp[key])
    for key, limit in (at_most or {}).items():
        if _is_int(hp[key]) and hp[key] > limit:
            _fail(key, f"a positive integer <= {limit}", hp[key])
    for key, allowed in (choices or {}).items():
        if hp[key] not in allowed:
            _fail(key, f"one of {list(allowed)}", hp[key])
    reals = (non_negative, positive, unit_interval, below_one, optional_positive)
    check_representable(hp, [key for keys in reals for key in keys])
    check_derived(hp, derived)


def check_eval_hparams(hp: Mapping[str, Any]) -> None:
    """The evaluation keys every `CrossModalHashingModule` takes."""
    check_rules(
        hp,
        positive_ints=("image_dim", "text_dim", "code_length", "eval_topk"),
        unit_interval=("collapse_threshold",),
        bools=("stop_on_collapse",),
        choices=EVAL_CHOICES,
    )
    if hp["code_length"] > MAX_CODE_LENGTH:
        _fail("code_length", f"a positive integer <= {MAX_CODE_LENGTH}", hp["code_length"])
    ks = hp["eval_ks"]
    if not isinstance(ks, (list, tuple)) or not ks or any(not _is_int(k) or k <= 0 for k in ks):
        _fail("eval_ks", "a non-empty list of positive integers", ks)
