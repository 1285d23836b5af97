"""Latency judged on time windows, not requests (harness.compare.windows, measures), pure.

The synthetic runs drift as a shared machine does: each second has its own level (a
random draw, the same distribution on both sides) and the second's requests scatter
around it. Nothing changed between the sides, so a judgment that calls them different is
a false alarm.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.compare.config import CompareConfig
from harness.compare.judge import judge_metric
from harness.compare.measures import percentile_shift, window_shift
from harness.compare.samples import Timed
from harness.compare.stats import (
    block_quantile_shift,
    location_shift,
    percentile_band,
    quantile_shift,
    rank_band,
    rank_p,
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


def test_the_autocorrelation_widens_the_bootstrap_replicates_around_the_estimate() -> None:
    """rho 0.6: every replicate's distance from the estimate doubles (sqrt(1.6 / 0.4)), so
    the band's distances double; p is read from the same widened replicates."""
    replicates = np.linspace(1.0, 3.0, 1001)
    low, high, p_value = percentile_band(2.0, replicates, ALPHA)
    wide_low, wide_high, wide_p = percentile_band(2.0, replicates, ALPHA, rho=0.6)
    assert wide_low == pytest.approx(2.0 - 2 * (2.0 - low))
    assert wide_high == pytest.approx(2.0 + 2 * (high - 2.0))
    # no replicate beyond 0: p < 2 / B, said as 1 / (B + 1), never 0; widened, only 0.0
    # itself reaches 0
    assert p_value == pytest.approx(1 / 1002) and wide_p == pytest.approx(3 / 1002)
    assert percentile_band(2.0, replicates, ALPHA, rho=0.0) == (low, high, p_value)


def test_the_autocorrelation_widens_the_rank_spread_for_band_and_p() -> None:
    """rho 0.6 halves U's z (its spread doubles): p rises and the band widens together."""
    x, y = np.arange(20, dtype=float), np.arange(20, dtype=float) + 8.0
    differences = np.sort(np.subtract.outer(y, x).ravel())
    low, high = rank_band(differences, 20, 20, ALPHA)
    wide_low, wide_high = rank_band(differences, 20, 20, ALPHA, rho=0.6)
    assert low is not None and high is not None and wide_low is not None and wide_high is not None
    assert wide_low < low and wide_high > high
    assert rank_p(differences, 20, 20) < ALPHA < rank_p(differences, 20, 20, rho=0.6)
    assert low > 0 and wide_low < 0


def skewed_run(seed: int, scale: float, spikes: float) -> Timed:
    """30 s at 20 RPS, AR(1) levels (rho 0.5) and a share `spikes` of requests + Exp(200 ms)."""
    rng = np.random.default_rng(seed)
    seconds, rps = 30, 20
    levels = np.empty(seconds)
    levels[0] = rng.normal(0.0, 3.0)
    for t in range(1, seconds):
        levels[t] = 0.5 * levels[t - 1] + rng.normal(0.0, 3.0 * np.sqrt(0.75))
    second = np.repeat(np.arange(seconds, dtype="int64"), rps)
    values = (20.0 + levels).clip(5.0)[second] * rng.lognormal(0.0, 0.3, seconds * rps) * scale
    spiked = rng.random(seconds * rps) < spikes
    values[spiked] += rng.exponential(200.0, int(spiked.sum()))
    return Timed(values, np.zeros(len(values), dtype="int64"), second)


def test_a_skewed_p99_change_is_significant_only_when_its_band_excludes_0() -> None:
    """A p99 whose block-bootstrap replicates are skewed (rare 200 ms spikes, more of them in
    the candidate), windows autocorrelated: the band was widened linearly and p shrunk
    through a normal z, so p = 0.025 stood beside [-14.8, +371.3] ms. Now both come from the
    widened replicates: p >= alpha while the band holds 0."""
    base, cand = skewed_run(112, 1.0, 0.01), skewed_run(113, 1.0, 0.02)
    measured = percentile_shift("p99_ms", 0.99, base, cand, ALPHA, np.random.default_rng(1))
    estimate = measured.estimate
    assert estimate is not None and "autocorrelation" in estimate.method
    assert estimate.low is not None and estimate.high is not None
    assert estimate.low < 0 < estimate.high
    assert estimate.p_value >= ALPHA


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
