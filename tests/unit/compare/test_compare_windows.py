"""Latency judged on time windows, not requests (harness.compare.windows, measures), pure.

The synthetic runs drift as a shared machine does: each second has its own level (a
random draw, the same distribution on both sides) and the second's requests scatter
around it. Nothing changed between the sides, so a judgment that calls them different is
a false alarm.
"""

from __future__ import annotations

import numpy as np

from harness.compare.config import CompareConfig
from harness.compare.judge import judge_metric
from harness.compare.measures import percentile_shift, window_shift
from harness.compare.samples import Timed
from harness.compare.stats import (
    Estimate,
    block_quantile_shift,
    for_autocorrelation,
    location_shift,
    quantile_shift,
)
from harness.compare.windows import (
    lag1_autocorrelation,
    window_length,
    window_quantiles,
    windows_of,
)

ALPHA = 0.05
SECONDS, RPS = 20, 100


def drifting_run(seed: int, scale: float = 1.0, level_sd: float = 4.0) -> Timed:
    """20 s at 100 RPS: each second's level ~ N(20, level_sd) ms, requests lognormal around it."""
    rng = np.random.default_rng(seed)
    levels = rng.normal(20.0, level_sd, SECONDS).clip(5.0)
    second = np.repeat(np.arange(SECONDS, dtype="int64"), RPS)
    values = levels[second] * rng.lognormal(0.0, 0.3, SECONDS * RPS) * scale
    return Timed(values, np.zeros(len(values), dtype="int64"), second)


def test_identical_runs_with_drift_pass_where_the_per_request_test_cries_wolf() -> None:
    """20 pairs of identical drifting runs: the windows' test is significant about as often
    as alpha says and every pair Passes; the per-request test calls most pairs different."""
    rule = CompareConfig().rule("latency_ms")
    windows_significant = requests_significant = 0
    for pair in range(20):
        base, cand = drifting_run(2 * pair), drifting_run(2 * pair + 1)
        measured = window_shift("latency_ms", base, cand, ALPHA, np.random.default_rng(1))
        assert measured.estimate is not None
        assert measured.sample_unit == "1 s windows"
        assert (measured.baseline_n, measured.candidate_n) == (SECONDS, SECONDS)
        windows_significant += measured.estimate.p_value < ALPHA
        assert judge_metric(measured, rule, ALPHA).classification == "Pass"
        per_request = location_shift(base.values, cand.values, ALPHA, np.random.default_rng(1))
        requests_significant += per_request.p_value < ALPHA
    assert windows_significant <= 3
    assert requests_significant >= 12


def persistent_run(seed: int, rho: float = 0.7) -> Timed:
    """As `drifting_run`, but each second's level carries on from the last (AR(1), rho)."""
    rng = np.random.default_rng(seed)
    levels = np.empty(SECONDS)
    levels[0] = rng.normal(0.0, 4.0)
    for t in range(1, SECONDS):
        levels[t] = rho * levels[t - 1] + rng.normal(0.0, 4.0 * np.sqrt(1 - rho**2))
    second = np.repeat(np.arange(SECONDS, dtype="int64"), RPS)
    values = (20.0 + levels).clip(5.0)[second] * rng.lognormal(0.0, 0.3, SECONDS * RPS)
    return Timed(values, np.zeros(len(values), dtype="int64"), second)


def test_windows_that_correlate_count_as_fewer() -> None:
    """Identical runs whose machine state lasts seconds (AR(1) levels): the windows' test,
    corrected for their lag-1 autocorrelation, is significant in fewer pairs than the
    same test counting every window as independent."""
    corrected = uncorrected = 0
    for pair in range(30):
        base, cand = persistent_run(2 * pair), persistent_run(2 * pair + 1)
        measured = window_shift("latency_ms", base, cand, ALPHA, np.random.default_rng(1))
        assert measured.estimate is not None
        corrected += measured.estimate.p_value < ALPHA
        left, right = windows_of(base, 1), windows_of(cand, 1)
        assert 0.2 < lag1_autocorrelation(left, right) <= 0.9
        plain = location_shift(window_quantiles(left, 0.5), window_quantiles(right, 0.5),
                               ALPHA, np.random.default_rng(1))  # fmt: skip
        uncorrected += plain.p_value < ALPHA
    assert corrected <= 5
    assert uncorrected >= corrected + 4


def test_the_autocorrelation_correction_widens_the_band_and_raises_p() -> None:
    """rho 0.6: the z shrinks by sqrt(0.4 / 1.6) = 0.5, the band doubles; rho 0 keeps it."""
    estimate = Estimate(2.0, 1.0, 3.0, 0.0027, "test")
    corrected = for_autocorrelation(estimate, 0.6)
    assert (corrected.low, corrected.high) == (0.0, 4.0)
    assert abs(corrected.p_value - 0.1336) < 0.002
    assert "autocorrelation 0.60" in corrected.method
    assert for_autocorrelation(estimate, 0.0) == estimate


def test_a_real_shift_is_high_on_windows() -> None:
    """The candidate 60 % slower in every second: latency High, the band above 0."""
    base, cand = drifting_run(1), drifting_run(2, scale=1.6)
    measured = window_shift("latency_ms", base, cand, ALPHA, np.random.default_rng(1))
    result = judge_metric(measured, CompareConfig().rule("latency_ms"), ALPHA)
    assert result.classification == "High" and result.failed
    assert result.low is not None and result.low > 0
    assert result.request_shift is not None and result.request_shift > 0


def test_the_block_bootstrap_keeps_a_percentiles_band_honest() -> None:
    """p50 of identical drifting runs: the block bootstrap over windows is significant in few
    pairs, the bootstrap of independent requests in most."""
    blocks = independent = 0
    for pair in range(12):
        base, cand = drifting_run(100 + 2 * pair), drifting_run(101 + 2 * pair)
        rng = np.random.default_rng(1)
        measured = percentile_shift("p50_ms", 0.5, base, cand, ALPHA, rng)
        assert measured.estimate is not None and measured.sample_unit == "1 s windows"
        blocks += measured.estimate.p_value < ALPHA
        independent += quantile_shift(base.values, cand.values, 0.5, ALPHA, rng).p_value < ALPHA
    assert blocks <= 2
    assert independent >= 6


def test_windows_of_pooled_runs_never_mix_runs_and_sparse_windows_are_left_out() -> None:
    """Two runs' second 0 are two windows; a second with 2 requests is dropped."""
    values = np.array([1.0, 2.0, 3.0, 10.0, 11.0, 12.0, 50.0, 60.0])
    run = np.array([0, 0, 0, 1, 1, 1, 1, 1], dtype="int64")
    second = np.array([0, 0, 0, 0, 0, 0, 1, 1], dtype="int64")
    windows = windows_of(Timed(values, run, second), 1)
    assert windows.count == 2
    assert list(window_quantiles(windows, 0.5)) == [2.0, 11.0]


def test_a_slow_rate_gets_longer_windows() -> None:
    """At 2 requests a second a window spans 5 s (10 requests); at 100 RPS 1 s."""
    second = np.repeat(np.arange(30, dtype="int64"), 2)
    slow = Timed(np.ones(60), np.zeros(60, dtype="int64"), second)
    assert window_length(slow) == 5
    assert windows_of(slow, 5).count == 6
    assert window_length(drifting_run(1)) == 1


def test_the_block_bootstrap_counts_correlated_windows_as_fewer() -> None:
    """p50 of identical runs whose machine state lasts seconds (AR(1) levels): drawing whole
    windows keeps the correlation inside a window but not between neighbours; corrected for
    the windows' lag-1 autocorrelation, the block bootstrap is significant in fewer pairs."""
    corrected = plain = 0
    for pair in range(30):
        base, cand = persistent_run(200 + 2 * pair), persistent_run(201 + 2 * pair)
        measured = percentile_shift("p50_ms", 0.5, base, cand, ALPHA, np.random.default_rng(1))
        assert measured.estimate is not None
        assert "autocorrelation" in measured.estimate.method
        corrected += measured.estimate.p_value < ALPHA
        left, right = windows_of(base, 1), windows_of(cand, 1)
        bare = block_quantile_shift((left.values, left.block, left.count),
                                    (right.values, right.block, right.count),
                                    0.5, ALPHA, np.random.default_rng(1))  # fmt: skip
        plain += bare.p_value < ALPHA
    assert corrected <= 5
    assert plain >= corrected + 3
