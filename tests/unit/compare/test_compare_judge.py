"""Classification, score and verdict of a comparison (Kayenta's judge), on synthetic samples."""

from __future__ import annotations

import numpy as np
import pytest

from harness.compare.config import CompareConfig, MetricRule
from harness.compare.judge import classify, judge_metric, score_of, verdict_of
from harness.compare.measures import distribution, percentile_shift, proportion
from harness.compare.model import MetricResult
from harness.compare.samples import Timed

ALPHA = 0.05


def rng(seed: int = 3) -> np.random.Generator:
    return np.random.default_rng(seed)


def latency(n: int, scale: float = 1.0, seed: int = 3) -> np.ndarray:
    return rng(seed).lognormal(np.log(20.0), 0.3, n) * scale


def timed(values: np.ndarray, rps: int = 100) -> Timed:
    """The values as one run's requests sent at `rps` a second."""
    seconds = np.arange(len(values), dtype="int64") // rps
    return Timed(values, np.zeros(len(values), dtype="int64"), seconds)


def test_identical_samples_pass() -> None:
    """The same latency sample on both sides is Pass."""
    sample = latency(3000)
    measured = distribution("latency_ms", "ms", sample, sample.copy(), ALPHA, rng())
    result = judge_metric(measured, MetricRule(tolerance=0.05, floor=1.0), ALPHA)
    assert result.classification == "Pass"
    assert not result.failed


def test_a_20_percent_shift_in_p50_is_high() -> None:
    """20 % slower on 3000 requests a side: latency and p50 are High and fail."""
    base, cand = latency(3000, seed=1), latency(3000, 1.2, seed=2)
    rule = MetricRule(tolerance=0.05, floor=1.0)
    shift = judge_metric(distribution("latency_ms", "ms", base, cand, ALPHA, rng()), rule, ALPHA)
    measured = percentile_shift("p50_ms", 0.5, timed(base), timed(cand), ALPHA, rng())
    p50 = judge_metric(measured, rule, ALPHA)
    for result in (shift, p50):
        assert result.classification == "High"
        assert result.failed
    assert shift.delta == pytest.approx(4.0, rel=0.15)
    assert shift.low is not None and shift.low > 0


def test_a_1_percent_shift_within_tolerance_passes() -> None:
    """1 % slower on 200k requests a side is significant but inside the 5 % tolerance."""
    base = latency(200_000, seed=1)
    cand = base * 1.01
    measured = distribution("latency_ms", "ms", base, cand, ALPHA, rng())
    result = judge_metric(measured, MetricRule(tolerance=0.05, floor=1.0), ALPHA)
    assert result.p_value is not None and result.p_value < ALPHA
    assert result.classification == "Pass"


def test_error_rate_from_0_1_to_2_percent_fails() -> None:
    """Error rate 0.1 % -> 2 % over 5000 requests a side is High and fails."""
    measured = proportion("error_rate", (5, 5000), (100, 5000), ALPHA)
    result = judge_metric(measured, CompareConfig().rule("error_rate"), ALPHA)
    assert result.baseline == pytest.approx(0.001)
    assert result.candidate == pytest.approx(0.02)
    assert result.classification == "High"
    assert result.failed and result.critical


def test_missing_data_is_nodata_and_not_judged() -> None:
    """A side without samples is NoData, and NoData does not count in the score."""
    measured = distribution(
        "sidecar_rss_mb", "MB", np.array([]), np.array([50.0, 51.0]), ALPHA, rng()
    )
    result = judge_metric(measured, MetricRule(), ALPHA)
    assert result.classification == "NoData"
    assert "baseline" in result.reason
    passing = MetricResult(
        metric="x", unit="ms", baseline=1, candidate=1, delta=0, classification="Pass"
    )
    assert score_of([result, passing]) == (1, 1, 100.0)


def test_a_percentile_with_one_request_on_a_side_names_that_side() -> None:
    """p99 of a candidate with a single successful request is NoData naming the candidate."""
    base, cand = timed(latency(300)), timed(np.array([12.0]))
    measured = percentile_shift("p99_ms", 0.99, base, cand, ALPHA, rng())
    assert measured.estimate is None
    assert measured.reason.startswith("the candidate has fewer than 2 windows of 1 s")


def test_improvement_is_low_but_does_not_fail() -> None:
    """Faster latency is Low, which harms nothing when the harmful direction is increase."""
    base, cand = latency(3000, seed=1), latency(3000, 0.7, seed=2)
    measured = distribution("latency_ms", "ms", base, cand, ALPHA, rng())
    result = judge_metric(measured, MetricRule(direction="increase"), ALPHA)
    assert result.classification == "Low"
    assert not result.failed
    either = judge_metric(measured, MetricRule(direction="either"), ALPHA)
    assert either.failed


def test_classify_needs_significance_and_size() -> None:
    """Only a significant change beyond tolerance is High/Low; untested ones by size alone."""
    assert classify(5.0, 0.01, 1.0, ALPHA) == "High"
    assert classify(5.0, 0.20, 1.0, ALPHA) == "Pass"
    assert classify(0.5, 0.0001, 1.0, ALPHA) == "Pass"
    assert classify(-5.0, 0.01, 1.0, ALPHA) == "Low"
    assert classify(5.0, None, 1.0, ALPHA) == "High"


def test_verdict_thresholds_and_critical_failures() -> None:
    """Pass >= 90, Marginal >= 75, Fail below; a failed critical metric always fails."""
    config = CompareConfig()
    assert verdict_of(100.0, False, 10, config) == "Pass"
    assert verdict_of(80.0, False, 10, config) == "Marginal"
    assert verdict_of(70.0, False, 10, config) == "Fail"
    assert verdict_of(95.0, True, 10, config) == "Fail"
    assert verdict_of(0.0, False, 0, config) == "Fail"
