"""A method's config floats and the constants it derives from them (squares, products,
reciprocals: gamma_v^2, lam x factor, 1/rho, ...) must be finite and representable in the
training dtypes, float32 and bfloat16 (which share float32's exponent range), checked at the
door: model.gamma_v=1e200 passed every range rule and then raised Python's OverflowError at
step 0 (trial 9, fault 9).

Every real-valued key of a method's ``RULES`` is checked to be 0 or a normal float32 number of
magnitude in [`DTYPE_TINY`, `DTYPE_MAX`]; the constants by declaration (``derived`` of the
method's ``RULES``: `Derived` lines), each naming the key it is refused under.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from src.utils.rule_kinds import RuleBroken, is_real

DTYPE_MAX = float(torch.finfo(torch.bfloat16).max)  # 3.39e38, just below float32's 3.40e38
DTYPE_TINY = float(torch.finfo(torch.float32).tiny)  # 1.18e-38, bfloat16's smallest normal too
RANGE = f"0 or a magnitude in [{DTYPE_TINY:.3g}, {DTYPE_MAX:.3g}] (float32/bfloat16)"


@dataclass(frozen=True)
class Derived:
    """A constant a method computes from its hyper-parameters: ``name`` as the error line
    writes it, the ``keys`` it is made of (the first is the one named) and its ``value``."""

    name: str
    keys: tuple[str, ...]
    value: Callable[[Mapping[str, Any]], float]


def representable(value: float) -> bool:
    """A finite ``value`` that float32 and bfloat16 hold as itself: 0, or a normal number."""
    return math.isfinite(value) and (value == 0 or DTYPE_TINY <= abs(value) <= DTYPE_MAX)


def check_representable(hp: Mapping[str, Any], keys: Iterable[str]) -> None:
    """Raise `RuleBroken` for the first real value of ``keys`` outside the dtypes' range
    (checked after the key's own rule: values of another type are its rule's to refuse)."""
    for key in keys:
        value = hp.get(key)
        if is_real(value) and not representable(float(value)):
            raise RuleBroken(f"model.{key}", RANGE, value)


def derived_value(line: Derived, hp: Mapping[str, Any]) -> float | None:
    """``line``'s value for ``hp`` as Python computes it, or None where it overflows or
    divides by zero (Python raises for ``x ** 2`` and ``1 / 0`` where float32 gives inf)."""
    try:
        value = float(line.value(hp))
    except (OverflowError, ZeroDivisionError):
        return None
    return value if representable(value) else None


def check_derived(hp: Mapping[str, Any], lines: Iterable[Derived]) -> None:
    """Raise `RuleBroken` naming the leading key of the first of ``lines`` whose value is not
    finite in float32/bfloat16, with the other keys' values for context."""
    for line in lines:
        if not all(is_real(hp.get(key)) for key in line.keys):
            continue  # a key's own rule refuses it (or it is null: the constant is not used)
        if derived_value(line, hp) is None:
            key, *others = line.keys
            given = "".join(f"; model.{k}={hp[k]!r}" for k in others)
            expected = f"a value whose {line.name} is {RANGE}{given}"
            raise RuleBroken(f"model.{key}", expected, hp[key])


def square(key: str) -> Derived:
    """``key``^2 (a weight squared in a Gram matrix, a scale squared in a loss)."""
    return Derived(f"{key}^2", (key,), lambda hp: hp[key] ** 2)


def reciprocal(key: str) -> Derived:
    """1/``key`` (a temperature, a bandwidth, a divisor)."""
    return Derived(f"1/{key}", (key,), lambda hp: 1.0 / hp[key])


def product(key: str, other: str) -> Derived:
    """``key`` x ``other``."""
    return Derived(f"{key} x {other}", (key, other), lambda hp: hp[key] * hp[other])


def ratio(key: str, other: str) -> Derived:
    """``key`` / ``other``, refused under ``other`` (the divisor)."""
    return Derived(f"{key}/{other}", (other, key), lambda hp: hp[key] / hp[other])
