"""Live figures: histogram precision, windows, and merging the workers' snapshots."""

from __future__ import annotations

import pytest

from harness.load.livestats import (
    LiveStats,
    WindowStats,
    bucket_of,
    bucket_upper_ms,
    merge_snapshots,
    quantile_ms,
)


@pytest.mark.parametrize("ms", [0.05, 1.0, 9.99, 123.4, 5000.0])
def test_bucket_edge_is_within_2_percent_above_the_value(ms: float) -> None:
    """A value's bucket upper edge is >= the value and at most 2 % higher."""
    edge = bucket_upper_ms(bucket_of(ms))
    assert ms <= edge <= ms * 1.0201


def test_quantile_of_a_histogram() -> None:
    """p99 of 99 values of 1 ms and one of 100 ms is 1 ms; p100 is 100 ms."""
    hist = {bucket_of(1.0): 99, bucket_of(100.0): 1}
    assert quantile_ms(hist, 0.99) == pytest.approx(1.0, rel=0.02)
    assert quantile_ms(hist, 1.0) == pytest.approx(100.0, rel=0.02)
    assert quantile_ms({}, 0.99) == 0.0


def test_window_counts_only_the_last_whole_seconds() -> None:
    """At 10.5 s a 3 s window holds seconds 7, 8, 9: not 6, not the running 10th."""
    stats = WindowStats(window_s=3)
    for second in range(5, 11):
        for i in range(100):
            stats.record_send()
            stats.record_done(second + i / 100, 5.0, 5.0, 503 if second == 9 and i < 10 else 200)
    snap = stats.snapshot(10.5)
    assert snap["window_count"] == 300
    assert snap["window_failed"] == 10
    assert snap["sent"] == snap["completed"] == 600


def test_merge_adds_workers_rates_and_counts() -> None:
    """Two workers at 100 RPS each merge to 200 RPS; errors and p99 over both."""
    a, b = WindowStats(), WindowStats()
    for i in range(300):
        a.record_done(i / 100, 2.0, 2.0, 200)
        b.record_done(i / 100, 50.0 if i % 30 == 0 else 2.0, 60.0, 500 if i % 100 == 0 else 200)
    live = merge_snapshots([{**a.snapshot(3.0), "done": True}, b.snapshot(3.0)])
    assert live.rps == pytest.approx(200.0)
    assert live.error_rate == pytest.approx(3 / 600)
    assert live.p99_ms == pytest.approx(50.0, rel=0.02)
    assert live.corrected_p99_ms == pytest.approx(60.0, rel=0.02)
    assert live.failed == 3 and live.workers_done == 1


def test_no_snapshots_give_zeros() -> None:
    """Before any worker wrote its status the figures are all zero."""
    assert merge_snapshots([]) == LiveStats()
