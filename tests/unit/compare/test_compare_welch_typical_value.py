"""A latency comparison tested with Welch's t shows, as each side's value, the mean of its
windows' medians, the quantity the test's delta is the difference of (pure).

Before, the sides' values were the median window medians while the delta was the
difference of their means: two busy-host baseline runs read "1425 ms -> 1320 ms, delta
+86 ms", a faster candidate with a positive change.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.compare.measures import window_shift
from harness.compare.samples import Timed

ALPHA = 0.05
RPS = 10


def stepped_run(seed: int, levels_ms: list[tuple[int, float]]) -> Timed:
    """A run whose seconds stay at a level for a while (count, ms) and then step, the way
    a host's neighbour starting mid-run moves them; requests within 3 % of their level."""
    rng = np.random.default_rng(seed)
    levels = np.concatenate([np.full(count, level) for count, level in levels_ms])
    levels = levels + rng.normal(0.0, 0.1, len(levels))
    second = np.repeat(np.arange(len(levels), dtype="int64"), RPS)
    values = levels[second] * rng.lognormal(0.0, 0.03, len(second))
    return Timed(values, np.zeros(len(values), dtype="int64"), second)


def test_welch_sides_are_the_window_means_their_delta_is_the_difference_of() -> None:
    """Baseline: 14 s at 10 ms then 6 s at 40 ms (median window 10, mean 19); candidate
    steady at 12 ms. The delta (-7 ms, means) and the sides' values agree: candidate
    minus baseline, not 10 -> 12 beside a delta of -7."""
    base = stepped_run(1, [(14, 10.0), (6, 40.0)])
    cand = stepped_run(2, [(10, 11.9), (10, 12.1)])
    measured = window_shift("latency_ms", base, cand, ALPHA, np.random.default_rng(1))
    estimate = measured.estimate
    assert estimate is not None and estimate.method.startswith("Welch's t"), estimate
    assert measured.baseline is not None and measured.candidate is not None
    assert measured.baseline == pytest.approx(19.0, abs=0.5)
    assert measured.candidate - measured.baseline == pytest.approx(estimate.delta)


def test_ranked_sides_stay_the_median_window_medians() -> None:
    """Windows the rank test can judge (no drift): each side's value is still its median
    window median, the Hodges-Lehmann shift's counterpart."""
    rng = np.random.default_rng(4)
    base = Timed(
        rng.normal(10.0, 1.0, 200), np.zeros(200, dtype="int64"), np.repeat(np.arange(20), 10)
    )
    cand = Timed(
        rng.normal(11.0, 1.0, 200), np.zeros(200, dtype="int64"), np.repeat(np.arange(20), 10)
    )
    measured = window_shift("latency_ms", base, cand, ALPHA, np.random.default_rng(1))
    assert measured.estimate is not None
    assert measured.estimate.method.startswith("Mann-Whitney U")
    medians = [float(np.median(base.values[base.second == s])) for s in range(20)]
    assert measured.baseline == pytest.approx(float(np.median(medians)))
