"""The overload bench's arithmetic: the memory slope."""

from __future__ import annotations

import pytest

from aiserve.bench.overload import slope_per_minute

pytestmark = pytest.mark.unit


def test_slope_is_per_minute_and_least_squares() -> None:
    assert slope_per_minute([(0.0, 100.0), (30.0, 101.0), (60.0, 102.0)]) == pytest.approx(2.0)
    noisy = [(0.0, 100.0), (1.0, 103.0), (2.0, 100.0), (3.0, 103.0)]
    assert slope_per_minute(noisy) == pytest.approx(0.6 * 60)
    assert slope_per_minute([(0.0, 100.0), (10.0, 100.0)]) == 0.0


def test_slope_needs_two_distinct_times() -> None:
    assert slope_per_minute([]) is None
    assert slope_per_minute([(1.0, 100.0)]) is None
    assert slope_per_minute([(1.0, 100.0), (1.0, 120.0)]) is None
