"""Latency windows too autocorrelated for ranks are tested on the shift's size
(harness.compare.stats.window_location_shift, welch_shift), pure.

A run whose window medians drift (a cache warming, a neighbour's load slowly lifting) has
a lag-1 autocorrelation near 0.9: 20 windows a side then hold about one independent value
each, and a rank test cannot reject whatever the shift. A candidate 4x slower compared as
Pass. Welch's t on the effective windows weighs the shift against the sides' spread.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.compare.measures import window_shift
from harness.compare.samples import Timed
from harness.compare.stats import (
    effective_count,
    rank_can_reject,
    welch_shift,
    window_location_shift,
)

ALPHA = 0.05
RPS = 10


def drifting_run(seed: int, start_ms: float, end_ms: float, seconds: int = 20) -> Timed:
    """`seconds` s at 10 RPS whose second levels drift from start_ms to end_ms (plus 0.1 ms
    of noise a second), requests within 3 % of their second's level."""
    rng = np.random.default_rng(seed)
    levels = np.linspace(start_ms, end_ms, seconds) + rng.normal(0.0, 0.1, seconds)
    second = np.repeat(np.arange(seconds, dtype="int64"), RPS)
    values = levels[second] * rng.lognormal(0.0, 0.03, seconds * RPS)
    return Timed(values, np.zeros(len(values), dtype="int64"), second)


def ar1_windows(rng: np.random.Generator, count: int, rho: float) -> np.ndarray:
    values = np.empty(count)
    values[0] = rng.normal()
    for index in range(1, count):
        values[index] = rho * values[index - 1] + rng.normal(0.0, np.sqrt(1 - rho**2))
    return values


def test_a_4x_slower_drifting_candidate_is_high_not_pass() -> None:
    """Both runs drift (baseline 6.8 -> 8.3 ms, candidate 26.3 -> 28.6 ms, as a run with
    20 ms of Toxiproxy latency did): every candidate window is above every baseline one,
    yet at their autocorrelation (0.80) the rank test's p was 0.075, no band: Pass. Now
    Welch's t on the effective windows: significant, its band well above 0."""
    base, cand = drifting_run(1, 6.8, 8.3), drifting_run(2, 26.3, 28.6)
    measured = window_shift("latency_ms", base, cand, ALPHA, np.random.default_rng(1))
    estimate = measured.estimate
    assert estimate is not None
    assert estimate.method.startswith("Welch's t"), estimate.method
    assert estimate.p_value < ALPHA
    assert estimate.low is not None and estimate.low > 15.0
    assert estimate.delta == pytest.approx(19.9, abs=0.5)


def test_a_small_drift_apart_is_not_significant() -> None:
    """The same drifting shape 0.3 ms apart: within the sides' spread, not significant."""
    base, cand = drifting_run(3, 6.8, 8.3), drifting_run(4, 7.1, 8.6)
    estimate = window_shift("latency_ms", base, cand, ALPHA, np.random.default_rng(1)).estimate
    assert estimate is not None and estimate.method.startswith("Welch's t")
    assert estimate.p_value >= ALPHA


def test_ranks_reject_at_moderate_autocorrelation_and_cannot_from_about_0_77() -> None:
    assert rank_can_reject(20, 20, ALPHA, 0.0)
    assert rank_can_reject(20, 20, ALPHA, 0.75)
    assert not rank_can_reject(20, 20, ALPHA, 0.78)
    assert not rank_can_reject(3, 3, ALPHA, 0.0)  # too few values at any rho
    assert rank_can_reject(60, 60, ALPHA, 0.9)  # more windows hold more independent values


def test_the_choice_follows_rho_and_counts_never_the_outcome() -> None:
    """Below the rank test's limit the windows are ranked, as before."""
    rng = np.random.default_rng(5)
    base, cand = rng.normal(10, 1, 20), rng.normal(11, 1, 20)
    ranked = window_location_shift(base, cand, ALPHA, np.random.default_rng(1), 0.5)
    assert ranked.method.startswith("Mann-Whitney U")
    welch = window_location_shift(base, cand, ALPHA, np.random.default_rng(1), 0.85)
    assert welch.method.startswith("Welch's t")


def test_effective_values_are_between_the_floor_and_n() -> None:
    assert effective_count(20, 0.0) == 20.0
    assert effective_count(20, 0.5) == pytest.approx(20 / 3)
    assert effective_count(20, 0.9) == 2.0  # 1.05, floored: df >= 1


def test_welch_p_and_band_never_disagree() -> None:
    """p < alpha exactly when the band leaves 0 out, over 400 seeded pairs of shifts."""
    rng = np.random.default_rng(11)
    for _ in range(400):
        rho = float(rng.uniform(0.75, 0.9))
        base = ar1_windows(rng, 20, rho)
        cand = ar1_windows(rng, 20, rho) + rng.uniform(0.0, 3.0)
        estimate = welch_shift(base, cand, ALPHA, rho)
        assert estimate.low is not None and estimate.high is not None
        excludes = estimate.low > 0 or estimate.high < 0
        assert (estimate.p_value < ALPHA) == excludes, estimate


def test_constant_windows_have_no_spread() -> None:
    same = welch_shift(np.full(20, 5.0), np.full(20, 5.0), ALPHA, 0.9)
    assert same.p_value == 1.0 and same.delta == 0.0
    apart = welch_shift(np.full(20, 5.0), np.full(20, 7.0), ALPHA, 0.9)
    assert apart.p_value < ALPHA and apart.low == apart.high == 2.0


@pytest.mark.slow
def test_identical_strongly_autocorrelated_runs_are_rarely_significant() -> None:
    """Identical AR(1) windows at rho 0.9, 20 a side (the test chosen per pair): significant
    in at most 12 % of 300 pairs at alpha 5 % (8-10 % measured; the rank test alone with the
    uncorrected rho: 24 %). The tolerances keep such changes from failing."""
    rng = np.random.default_rng(3)
    hits = 0
    for pair in range(300):
        base = Timed(*_windows_as_requests(ar1_windows(rng, 20, 0.9) + 20.0))
        cand = Timed(*_windows_as_requests(ar1_windows(rng, 20, 0.9) + 20.0))
        estimate = window_shift("latency_ms", base, cand, ALPHA, np.random.default_rng(pair))
        assert estimate.estimate is not None
        hits += estimate.estimate.p_value < ALPHA
    assert hits / 300 <= 0.12, hits


def _windows_as_requests(levels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    second = np.repeat(np.arange(len(levels), dtype="int64"), 3)
    return levels[second], np.zeros(len(second), dtype="int64"), second
