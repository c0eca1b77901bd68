"""The benchmarks' percentile: nearest rank, so p99 of 100 samples is not their maximum."""

from __future__ import annotations

import pytest

from tests.benchmarks.percentiles import nearest_rank


def test_nearest_rank() -> None:
    hundred = [float(i) for i in range(1, 101)]
    assert nearest_rank(hundred, 0.99) == 99.0  # the second largest; max is reported beside it
    assert nearest_rank(hundred, 0.50) == 50.0
    assert nearest_rank([float(i) for i in range(1, 1001)], 0.99) == 990.0
    assert nearest_rank([7.0], 0.99) == 7.0
    with pytest.raises(ValueError):
        nearest_rank([], 0.99)
