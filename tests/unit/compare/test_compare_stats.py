"""The statistics of a comparison against known answers (scipy, hand-checked samples)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from harness.compare.stats import (
    EXACT_PAIRS,
    bootstrap_quantiles,
    hodges_lehmann,
    location_shift,
    poisson_rates,
    quantile_shift,
    rank_p,
    two_proportions,
)


def rng() -> np.random.Generator:
    return np.random.default_rng(42)


def test_hodges_lehmann_of_a_hand_checked_sample() -> None:
    """HL shift is the median of the pairwise differences: {1,2,3} -> {4,5,6} is 3."""
    shift, low, high, method = hodges_lehmann(
        np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0]), 0.05, rng()
    )
    # differences: 1 2 2 3 3 3 4 4 5 -> median 3; with n=m=3 no order statistic bounds a
    # 95 % band (k = floor(4.5 - 1.96 x 2.29) = 0): none, and p stays above 0.05
    assert shift == 3.0
    assert (low, high) == (None, None)
    assert method == "exact pairs"
    assert (
        location_shift(np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0]), 0.05, rng()).p_value
        > 0.05
    )


def test_hodges_lehmann_band_uses_the_order_statistics_of_the_differences() -> None:
    """The band is [D_(k), D_(nm-k+1)] with k from the normal approximation of U."""
    x = np.arange(20, dtype=float)
    y = np.arange(20, dtype=float) + 10.0
    shift, low, high, _ = hodges_lehmann(x, y, 0.05, rng())
    k = math.floor(400 / 2 - 1.959964 * math.sqrt(400 * 41 / 12))
    differences = np.sort(np.subtract.outer(y, x).ravel())
    assert shift == 10.0
    assert (low, high) == (differences[k - 1], differences[400 - k])
    assert low is not None and high is not None
    assert low < 10.0 < high


def test_rank_p_is_mann_whitneys_normal_approximation() -> None:
    """The p-value is the two-sided Mann-Whitney U p (normal approximation) counted from the
    pairwise differences, with a continuity correction of 1 (scipy's is 1/2)."""
    generator = rng()
    x, y = generator.normal(0, 1, 40), generator.normal(0.5, 1, 45)
    differences = np.sort(np.subtract.outer(y, x).ravel())
    u = stats.mannwhitneyu(y, x).statistic
    z = (abs(u - 40 * 45 / 2) - 1) / math.sqrt(40 * 45 * 86 / 12)
    assert rank_p(differences, 40, 45) == pytest.approx(2 * stats.norm.sf(z))
    scipy_p = stats.mannwhitneyu(y, x, alternative="two-sided", method="asymptotic").pvalue
    assert rank_p(differences, 40, 45) == pytest.approx(scipy_p, rel=0.05)


def test_identical_samples_show_no_shift() -> None:
    """Identical samples: shift 0, p-value 1, a band around 0."""
    x = rng().lognormal(2, 0.3, 500)
    estimate = location_shift(x, x.copy(), 0.05, rng())
    assert estimate.delta == 0.0
    assert estimate.p_value == pytest.approx(1.0)
    assert estimate.low is not None and estimate.high is not None
    assert estimate.low <= 0 <= estimate.high


def test_large_samples_subsample_pairs_and_say_so() -> None:
    """Beyond EXACT_PAIRS the shift and band come from sampled pairs, close to the exact ones."""
    generator = rng()
    n = int(math.sqrt(EXACT_PAIRS)) + 500
    x = generator.normal(100, 5, n)
    y = generator.normal(103, 5, n)
    estimate = location_shift(x, y, 0.05, rng())
    differences = np.sort(np.subtract.outer(y, x).ravel())
    k = math.floor(n * n / 2 - 1.959964 * math.sqrt(n * n * (2 * n + 1) / 12))
    assert "sampled pairs" in estimate.method
    assert estimate.delta == pytest.approx(np.median(differences), abs=0.05)
    assert estimate.low == pytest.approx(differences[k - 1], abs=0.05)
    assert estimate.high == pytest.approx(differences[n * n - k], abs=0.05)
    assert estimate.p_value < 1e-6


def test_two_proportions_known_answer() -> None:
    """45/100 vs 55/100: pooled z = 1.414, two-sided p = 0.157."""
    estimate = two_proportions(45, 100, 55, 100, 0.05)
    assert estimate.delta == pytest.approx(0.10)
    assert estimate.p_value == pytest.approx(0.1573, abs=1e-3)


def test_two_proportions_without_events_is_no_change() -> None:
    """No failure on either side: no difference, p = 1."""
    estimate = two_proportions(0, 1000, 0, 1000, 0.05)
    assert (estimate.delta, estimate.p_value) == (0.0, 1.0)


def test_poisson_rates_is_the_conditional_binomial_test() -> None:
    """10 events vs 30 over equal exposure: binomial test of 30 of 40 at 1/2."""
    estimate = poisson_rates(10, 5.0, 30, 5.0, 0.05)
    assert estimate.delta == pytest.approx(4.0)
    assert estimate.p_value == pytest.approx(stats.binomtest(30, 40, 0.5).pvalue)


def test_bootstrap_quantiles_match_a_brute_force_bootstrap() -> None:
    """The Beta order-statistic draw has the distribution of a resampled percentile."""
    values = np.sort(rng().exponential(10, 300))
    fast = bootstrap_quantiles(values, 0.9, 4000, rng())
    generator = np.random.default_rng(7)
    brute = [
        np.quantile(generator.choice(values, 300), 0.9, method="inverted_cdf") for _ in range(4000)
    ]
    assert np.mean(fast) == pytest.approx(np.mean(brute), rel=0.02)
    assert np.std(fast) == pytest.approx(np.std(brute), rel=0.1)


def test_quantile_shift_finds_a_p99_increase() -> None:
    """A 30 % larger p99 on 5000 samples a side: a band above 0 and p < 0.05."""
    generator = rng()
    base = generator.lognormal(np.log(10), 0.4, 5000)
    cand = base * 1.3
    estimate = quantile_shift(base, cand, 0.99, 0.05, rng())
    assert estimate.low is not None and estimate.low > 0
    assert estimate.p_value < 0.05
    assert estimate.delta == pytest.approx(np.quantile(base, 0.99) * 0.3)
