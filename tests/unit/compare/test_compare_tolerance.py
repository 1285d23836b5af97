"""Which tolerance a metric gets: the config file's, the calibration's, else the default."""

from __future__ import annotations

import pytest

from harness.calibrate import Calibration, CalibrationRun
from harness.calibrate.spread import metric_spread
from harness.compare.config import CompareConfig, RulePatch
from harness.compare.tolerance import select_tolerance
from harness.gate.gate import HEADLINE_RULES
from harness.gate.regression import calibrated_rule


def calibration() -> Calibration:
    spread = metric_spread("ms", [8.0, 8.5, 9.5, 9.0, 8.2])
    assert spread is not None
    runs = [CalibrationRun(id=f"r{i}", started_at="2026-12-03T10:00:00Z", status="passed")
            for i in range(5)]  # fmt: skip
    return Calibration(
        experiment="steady", created_at="2026-12-03T11:00:00Z", source="runs", coverage=0.99,
        runs=runs, metrics={"latency_ms": spread, "p50_ms": spread},
    )  # fmt: skip


def test_without_calibration_the_default_rule_applies_and_says_so() -> None:
    """latency_ms at 10 ms: max(30 % x 10, 2 ms) = 3 ms, 'default (30 % or 2 ms)'."""
    tolerance = select_tolerance("latency_ms", "ms", 10.0, CompareConfig(), None)
    assert tolerance.value == pytest.approx(3.0)
    assert tolerance.source == "default (30 % or 2 ms)"


def test_a_calibration_replaces_the_default_floor() -> None:
    """With a calibration the tolerance is its stored bound, named with its run count."""
    calibrated = calibration()
    tolerance = select_tolerance("latency_ms", "ms", 10.0, CompareConfig(), calibrated)
    assert tolerance.value == pytest.approx(calibrated.metrics["latency_ms"].tolerance)
    assert tolerance.source == "calibration of 5 runs on 2026-12-03"
    other = select_tolerance("p99_ms", "ms", 100.0, CompareConfig(), calibrated)
    assert other.source == "default (50 % or 5 ms)"


def test_a_tolerance_written_in_the_config_file_wins_over_the_calibration() -> None:
    """The user's own floor for latency_ms (also for a route of it) beats the calibration."""
    config = CompareConfig(metrics={"latency_ms": RulePatch(floor=7.0)})
    tolerance = select_tolerance("latency_ms", "ms", 10.0, config, calibration())
    assert tolerance.value == pytest.approx(7.0)
    assert tolerance.source.startswith("config file")
    route = select_tolerance("latency_ms{route=root}", "ms", 10.0, config, calibration())
    assert route.value == pytest.approx(7.0)
    critical_only = CompareConfig(metrics={"latency_ms": RulePatch(critical=False)})
    kept = select_tolerance("latency_ms", "ms", 10.0, critical_only, calibration())
    assert kept.source.startswith("calibration")


def test_the_gate_rule_takes_the_calibrated_minimum() -> None:
    """p50_ms's gate rule: the calibration's bound replaces 10 % or 1 ms; others unchanged."""
    calibrated = calibration()
    rule = calibrated_rule(HEADLINE_RULES["p50_ms"], "p50_ms", calibrated)
    assert rule.minimum(100.0) == pytest.approx(calibrated.metrics["p50_ms"].tolerance)
    assert rule.source_text() == "calibration of 5 runs on 2026-12-03"
    untouched = calibrated_rule(HEADLINE_RULES["p99_ms"], "p99_ms", calibrated)
    assert untouched.minimum(100.0) == pytest.approx(15.0)
    assert untouched.source_text() == "default (15 % or 2)"
