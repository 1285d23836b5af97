"""A comparison's p-value and band never disagree (harness.compare.stats, measures), pure.

Over many seeded sample pairs, skewed and symmetric, with and without autocorrelated
windows: p < alpha exactly when 0 lies outside the band (a band that holds 0 beside a
significant p, or the reverse, is a contradiction a reviewer cannot resolve).
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.compare.measures import percentile_shift, window_shift
from harness.compare.samples import Timed
from harness.compare.stats import Estimate, block_quantile_shift, location_shift, quantile_shift

ALPHA = 0.05
RHOS = (0.0, 0.3, 0.6, 0.9)


def agrees(estimate: Estimate | None) -> bool:
    """p < ALPHA iff 0 is outside the band (no band: too few values, never significant)."""
    assert estimate is not None
    if estimate.low is None or estimate.high is None:
        return estimate.p_value >= ALPHA
    return (estimate.p_value < ALPHA) == (estimate.low > 0 or estimate.high < 0)


def sample(rng: np.random.Generator, size: int, shift: float, skewed: bool) -> np.ndarray:
    if skewed:
        return rng.lognormal(shift, 1.0, size)
    return rng.normal(shift, 1.0, size)


def timed_run(seed: int, scale: float, rho: float, spikes: float) -> Timed:
    """30 s at 20 RPS, AR(1) second levels (rho), a share `spikes` of requests + Exp(200 ms)."""
    rng = np.random.default_rng(seed)
    seconds, rps = 30, 20
    levels = np.empty(seconds)
    levels[0] = rng.normal(0.0, 3.0)
    for t in range(1, seconds):
        levels[t] = rho * levels[t - 1] + rng.normal(0.0, 3.0 * np.sqrt(1 - rho**2))
    second = np.repeat(np.arange(seconds, dtype="int64"), rps)
    values = (20.0 + levels).clip(5.0)[second] * rng.lognormal(0.0, 0.3, seconds * rps) * scale
    spiked = rng.random(seconds * rps) < spikes
    values[spiked] += rng.exponential(200.0, int(spiked.sum()))
    return Timed(values, np.zeros(len(values), dtype="int64"), second)


@pytest.mark.parametrize("skewed", [True, False])
def test_rank_p_and_band_agree(skewed: bool) -> None:
    """Mann-Whitney p and Hodges-Lehmann band, 2 to 40 values a side, any rho."""
    for seed in range(300):
        rng = np.random.default_rng(seed)
        n, m = int(rng.integers(2, 41)), int(rng.integers(2, 41))
        shift = float(rng.uniform(0.0, 1.5))
        x, y = sample(rng, n, 0.0, skewed), sample(rng, m, shift, skewed)
        rho = RHOS[seed % len(RHOS)]
        assert agrees(location_shift(x, y, ALPHA, np.random.default_rng(1), rho)), (seed, rho)


@pytest.mark.parametrize("skewed", [True, False])
def test_bootstrap_p_and_band_agree(skewed: bool) -> None:
    """Percentile bootstrap (p50, p99) and block bootstrap over blocks, any rho."""
    for seed in range(120):
        rng = np.random.default_rng(1000 + seed)
        x, y = sample(rng, 200, 0.0, skewed), sample(rng, 200, rng.uniform(0, 0.5), skewed)
        q = (0.5, 0.99)[seed % 2]
        assert agrees(quantile_shift(x, y, q, ALPHA, np.random.default_rng(seed), 400)), seed
        blocks = np.repeat(np.arange(20), 10)
        rho = RHOS[seed % len(RHOS)]
        estimate = block_quantile_shift(
            (x, blocks, 20), (y, blocks, 20), q, ALPHA, np.random.default_rng(seed), 200, rho
        )
        assert agrees(estimate), (seed, rho)


def test_window_measures_agree_on_autocorrelated_skewed_runs() -> None:
    """latency_ms, p50_ms and p99_ms of runs with AR(1) windows and rare 200 ms spikes: the
    measured (autocorrelation-corrected) p and band agree for every pair."""
    for pair in range(40):
        rho, spikes = (0.0, 0.5, 0.8)[pair % 3], (0.0, 0.01, 0.02)[pair % 3]
        base = timed_run(2 * pair, 1.0, rho, spikes)
        cand = timed_run(2 * pair + 1, 1.0 + 0.1 * (pair % 4), rho, 2 * spikes)
        rng = np.random.default_rng(1)
        assert agrees(window_shift("latency_ms", base, cand, ALPHA, rng).estimate), pair
        for metric, q in (("p50_ms", 0.5), ("p99_ms", 0.99)):
            measured = percentile_shift(metric, q, base, cand, ALPHA, rng)
            assert agrees(measured.estimate), (pair, metric)
