"""The gate's judgment of the newest run of a series against its history (pure)."""

from __future__ import annotations

import numpy as np

from harness.gate.regression import GateRule, GateSettings, judge_series

RULE = GateRule("increase", relative=0.10, absolute=1.0)
SETTINGS = GateSettings()


def ids(n: int) -> list[str]:
    return [f"run-{i:02d}" for i in range(n)]


def noisy(n: int, mean: float = 20.0, seed: int = 5) -> list[float]:
    return list(np.random.default_rng(seed).normal(mean, 0.4, n))


def test_a_regressed_last_run_fails_and_names_itself() -> None:
    """Five steady nights then one 50 % slower: a regression that started at the last run."""
    values = [*noisy(5), 30.0]
    result = judge_series("p99_ms", values, ids(6), RULE, SETTINGS)
    assert result.status == "regression"
    assert result.started_at == "run-05"
    assert result.relative is not None and result.relative > 0.4


def test_a_steady_series_passes() -> None:
    """Noise around a constant level is ok."""
    values = noisy(12)
    assert judge_series("p99_ms", values, ids(12), RULE, SETTINGS).status == "ok"


def test_a_significant_but_small_change_passes() -> None:
    """A 3 % rise beyond the noise is below the 10 % minimum magnitude: ok."""
    values = [*[20.0 + 0.01 * i for i in range(8)], 20.6]
    result = judge_series("p99_ms", values, ids(9), RULE, SETTINGS)
    assert result.p_value is not None and result.p_value < 0.05
    assert result.status == "ok"


def test_a_recent_change_point_names_the_run_it_started_from() -> None:
    """A level shift three runs ago keeps failing, naming the run it started at."""
    values = [*noisy(10), *noisy(3, mean=30.0, seed=6)]
    result = judge_series("p50_ms", values, ids(13), RULE, SETTINGS)
    assert result.status == "regression"
    assert result.started_at == "run-10"
    assert "E-divisive" in result.method


def test_an_old_change_point_is_the_new_normal() -> None:
    """A shift older than the window: the current run is judged against the new level."""
    values = [*noisy(10), *noisy(8, mean=30.0, seed=6)]
    result = judge_series("p50_ms", values, ids(18), RULE, SETTINGS)
    assert result.status == "ok"
    assert result.change_points == ("run-10",)


def test_an_improvement_does_not_fail() -> None:
    """Latency halving is an improvement, not a regression."""
    values = [*noisy(6), 10.0]
    assert judge_series("p99_ms", values, ids(7), RULE, SETTINGS).status == "improvement"


def test_decrease_is_harmful_for_trace_completeness() -> None:
    """Completeness falling from 1.0 to 0.95 is a regression."""
    rule = GateRule("decrease", relative=0.0, absolute=0.001)
    values = [1.0, 0.9995, 1.0, 0.9998, 1.0, 0.95]
    assert judge_series("trace_completeness", values, ids(6), rule, SETTINGS).status == "regression"


def test_too_little_history_or_no_value_is_nodata() -> None:
    """Two earlier runs are not enough; a run without the metric is nodata."""
    short = judge_series("p99_ms", [20.0, 20.0, 40.0], ids(3), RULE, SETTINGS)
    assert short.status == "nodata" and "3 needed" in short.reason
    missing = judge_series("p99_ms", [20.0, 20.0, 20.0, None], ids(4), RULE, SETTINGS)
    assert missing.status == "nodata"


def test_one_earlier_run_is_judged_by_the_minimum_magnitude_alone() -> None:
    """`--min-history 1`: one earlier run has no spread, so no t-test (p is None); a rise
    beyond the minimum magnitude is a regression, one within it is ok."""
    settings = GateSettings(min_history=1)
    worse = judge_series("p50_ms", [20.0, 30.0], ids(2), RULE, settings)
    assert worse.status == "regression" and worse.p_value is None
    assert "minimum magnitude only" in worse.method
    same = judge_series("p50_ms", [20.0, 20.5], ids(2), RULE, settings)
    assert same.status == "ok" and same.p_value is None
