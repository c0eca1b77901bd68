"""Percentiles of measured latencies, one definition for every benchmark."""

from __future__ import annotations

import math
from collections.abc import Sequence


def nearest_rank(ordered: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of sorted `ordered`: the smallest value with at least
    `fraction` of the values at or below it. For 100 values p99 is the 99th (the second largest),
    for 1,000 the 990th; the largest is reported as the maximum, beside it."""
    if not ordered:
        raise ValueError("no values")
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]
