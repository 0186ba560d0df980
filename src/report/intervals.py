"""Paired t-intervals for differences between settings measured with the same seeds.

With three seeds a side, two standard errors are a rough guide; the 95 % t-interval with n - 1
degrees of freedom (4.30 standard errors at n = 3) is what the statistics allow.
"""

from __future__ import annotations

import math

from scipy import stats


def paired_t_interval(changes: list[float], level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) of the mean of paired ``changes`` (one per seed): mean ± t_{(1+level)/2,
    n-1} x std / sqrt(n), std the sample standard deviation. Raises ValueError for fewer than
    two changes or a level outside (0, 1)."""
    n = len(changes)
    if n < 2:
        raise ValueError(f"changes: expected at least 2 for an interval, got {n}")
    if not 0 < level < 1:
        raise ValueError(f"level: expected a value in (0, 1), got {level}")
    mean = sum(changes) / n
    std = math.sqrt(sum((c - mean) ** 2 for c in changes) / (n - 1))
    half = float(stats.t.ppf((1 + level) / 2, n - 1)) * std / math.sqrt(n)
    return mean, mean - half, mean + half


def interval_reading(low: float, high: float) -> str:
    """ "above" when the interval lies above 0, "below" when below, else "includes 0"."""
    return "above" if low > 0 else "below" if high < 0 else "includes 0"
