"""t-intervals for differences of mAP between settings or methods, over seeds.

With three seeds a side, two standard errors are only a rough guide; the 95 % t-interval is what
the statistics allow: paired (n - 1 degrees of freedom, 4.30 standard errors at n = 3) where the
seeds pair (one setting against another of the same method), Welch's (Welch-Satterthwaite
degrees of freedom) where they do not (one method against another).
"""

from __future__ import annotations

import math

from scipy import stats


def _check(n: int, level: float, what: str) -> None:
    if n < 2:
        raise ValueError(f"{what}: expected at least 2 values for an interval, got {n}")
    if not 0 < level < 1:
        raise ValueError(f"level: expected a value in (0, 1), got {level}")


def _mean_var(values: list[float]) -> tuple[float, float]:
    """(mean, sample variance with n - 1) of at least two values."""
    mean = sum(values) / len(values)
    return mean, sum((v - mean) ** 2 for v in values) / (len(values) - 1)


def paired_t_interval(changes: list[float], level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) of the mean of paired ``changes`` (one per seed): mean ± t_{(1+level)/2,
    n-1} x std / sqrt(n), std the sample standard deviation. Raises ValueError for fewer than
    two changes or a level outside (0, 1)."""
    _check(len(changes), level, "changes")
    mean, var = _mean_var(changes)
    half = float(stats.t.ppf((1 + level) / 2, len(changes) - 1)) * math.sqrt(var / len(changes))
    return mean, mean - half, mean + half


def welch_t_interval(
    a: list[float], b: list[float], level: float = 0.95
) -> tuple[float, float, float]:
    """(diff, low, high) for mean(a) - mean(b) of two independent samples (Welch): diff ±
    t_{(1+level)/2, df} x se, se = sqrt(s_a^2/n_a + s_b^2/n_b), df the Welch-Satterthwaite
    se^4 / ((s_a^2/n_a)^2/(n_a-1) + (s_b^2/n_b)^2/(n_b-1)). Both spreads zero: the interval is the
    point. Raises ValueError for fewer than two values on either side or a level outside (0, 1).
    """
    _check(len(a), level, "a")
    _check(len(b), level, "b")
    (mean_a, var_a), (mean_b, var_b) = _mean_var(a), _mean_var(b)
    qa, qb = var_a / len(a), var_b / len(b)
    diff = mean_a - mean_b
    if qa + qb == 0:
        return diff, diff, diff
    df = (qa + qb) ** 2 / (qa**2 / (len(a) - 1) + qb**2 / (len(b) - 1))
    half = float(stats.t.ppf((1 + level) / 2, df)) * math.sqrt(qa + qb)
    return diff, diff - half, diff + half


def interval_reading(low: float, high: float) -> str:
    """ "above" when the interval lies above 0, "below" when below, else "includes 0"."""
    return "above" if low > 0 else "below" if high < 0 else "includes 0"


def interval_cell(mean: float, low: float, high: float, n: str = "") -> str:
    """A table cell: "+0.0400 [+0.0100, +0.0700] (n=3, above)"; ``n`` the count text or ""."""
    prefix = f"{n}, " if n else ""
    reading = interval_reading(low, high)
    return f"{mean:+.4f} [{low:+.4f}, {high:+.4f}] ({prefix}{reading})"
