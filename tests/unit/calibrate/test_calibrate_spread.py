"""The calibration's spread, tolerance bound, host levels and file format (pure, no runs)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from harness.calibrate import Calibration, CalibrationRun, load_calibration, write_calibration
from harness.calibrate.spread import host_levels, metric_spread, pair_bound
from harness.store.model import HostDisturbance
from mesh_runtime.errors import InvalidInput


def test_the_bound_is_students_t_times_sd_times_root_2() -> None:
    """99 % with 5 runs: t(0.995, 4) = 4.604 x sd x sqrt 2; nothing below 2 runs."""
    assert pair_bound(1.0, 5) == pytest.approx(4.604 * math.sqrt(2), rel=1e-3)
    assert pair_bound(2.0, 5) == pytest.approx(2 * pair_bound(1.0, 5))
    assert pair_bound(1.0, 10) < pair_bound(1.0, 5) < pair_bound(1.0, 3)
    assert pair_bound(1.0, 1) == 0.0


def test_a_metric_spread_leaves_out_missing_values() -> None:
    """None and NaN runs do not count; median, sd and window spread from the rest."""
    spread = metric_spread(
        "ms", [10.0, None, 12.0, math.nan, 14.0], [1.0, 3.0, None], "1 s windows"
    )
    assert spread is not None
    assert spread.values == [10.0, 12.0, 14.0] and spread.runs == 3
    assert spread.median == 12.0 and spread.sd == pytest.approx(2.0)
    assert spread.tolerance == pytest.approx(pair_bound(2.0, 3))
    assert spread.window_sd == 2.0 and spread.window_unit == "1 s windows"
    assert metric_spread("ms", [None, None]) is None


def test_host_levels_are_the_runs_median_and_worst_field_by_field() -> None:
    """Typical = median, worst = largest; a field no run measured stays None."""
    hosts = [
        HostDisturbance(sched_lag_p99_ms=1.0, load1_max=0.5),
        None,
        HostDisturbance(sched_lag_p99_ms=3.0, load1_max=2.5),
        HostDisturbance(sched_lag_p99_ms=9.0, load1_max=1.0),
    ]
    typical, worst = host_levels(hosts)
    assert typical is not None and worst is not None
    assert (typical.sched_lag_p99_ms, typical.load1_max) == (3.0, 1.0)
    assert (worst.sched_lag_p99_ms, worst.load1_max) == (9.0, 2.5)
    assert worst.steal_share is None
    assert host_levels([None, None]) == (None, None)


def calibration(values: list[float]) -> Calibration:
    spread = metric_spread("ms", values)
    assert spread is not None
    runs = [CalibrationRun(id=f"r{i}", started_at="2026-12-03T10:00:00Z", status="passed")
            for i in range(len(values))]  # fmt: skip
    return Calibration(
        experiment="steady", created_at="2026-12-03T11:00:00Z", source="runs", coverage=0.99,
        runs=runs, metrics={"latency_ms": spread},
    )  # fmt: skip


def test_a_spread_serves_as_tolerance_only_from_3_runs_with_some_spread() -> None:
    """2 runs, or runs that all agree, give no tolerance; 3 differing runs do."""
    assert calibration([10.0, 11.0]).spread("latency_ms") is None
    assert calibration([10.0, 10.0, 10.0]).spread("latency_ms") is None
    usable = calibration([10.0, 11.0, 12.0])
    assert usable.spread("latency_ms") is not None
    assert usable.spread("p99_ms") is None
    assert usable.describe() == "calibration of 3 runs on 2026-12-03"


def test_the_file_round_trips_and_a_bad_one_is_one_line(tmp_path: Path) -> None:
    """write -> reports/calibration/<experiment>.json -> load gives the same model."""
    original = calibration([10.0, 11.0, 12.0])
    path = write_calibration(original, tmp_path)
    assert path == tmp_path / "calibration" / "steady.json"
    assert load_calibration(path) == original
    path.write_text('{"experiment": "steady"}', encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        load_calibration(path)
    assert "steady.json" in str(caught.value) and "\n" not in str(caught.value)
