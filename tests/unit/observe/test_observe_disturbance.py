"""The disturbance probe's arithmetic: /proc/stat deltas, wake-up lag summaries, rows."""

from __future__ import annotations

import pytest

from harness.observe.disturbance import (
    ROW_COLUMNS,
    CpuShares,
    CpuTimes,
    cpu_shares,
    nearest_rank,
    parse_loadavg,
    parse_proc_stat,
    probe_row,
    summarise_lags,
)

STAT = """cpu  100 5 50 800 20 3 2 20 7 0
cpu0 50 2 25 400 10 1 1 10 7 0
cpu1 50 3 25 400 10 2 1 10 0 0
intr 12345 0 0
ctxt 999
"""


def test_the_aggregate_cpu_line_and_the_core_count_are_read() -> None:
    """The `cpu` line gives user..steal (guest left out); the `cpuN` lines count cores."""
    times = parse_proc_stat(STAT)
    assert times == CpuTimes(100, 5, 50, 800, 20, 3, 2, 20, cores=2)
    assert times.busy == 160
    assert times.total == 1000


def test_an_old_kernels_short_cpu_line_counts_missing_fields_as_zero() -> None:
    """Kernels before 2.6.11 have no steal field: it reads as 0."""
    times = parse_proc_stat("cpu  10 0 5 85 0 0 0\ncpu0 10 0 5 85 0 0 0\n")
    assert times.steal == 0 and times.total == 100 and times.cores == 1


def test_proc_stat_without_a_cpu_line_is_an_error() -> None:
    """Text that is not /proc/stat raises ValueError rather than reading zeros."""
    with pytest.raises(ValueError, match="cpu"):
        parse_proc_stat("intr 1 2 3\n")


def test_shares_are_of_all_cpu_time_between_readings() -> None:
    """Steal and iowait are shares of the counters' total; busy cores scale by the cores."""
    before = CpuTimes(100, 0, 50, 800, 20, 0, 0, 30, cores=2)
    # 200 jiffies pass: 100 busy (user 80, system 20), 40 idle, 20 iowait, 40 steal
    after = CpuTimes(180, 0, 70, 840, 40, 0, 0, 70, cores=2)
    shares = cpu_shares(before, after)
    assert shares == CpuShares(
        steal_share=0.2, iowait_share=0.1, busy_cores=1.0, steal_cores=0.4, online_cores=2
    )


def test_no_time_between_readings_gives_no_shares() -> None:
    """Equal (or backwards) counters: None, not a division by zero."""
    times = parse_proc_stat(STAT)
    assert cpu_shares(times, times) is None


def test_the_load_average_is_the_first_field() -> None:
    """/proc/loadavg's first field is the 1-minute load average."""
    assert parse_loadavg("1.13 0.86 0.41 1/219 21083\n") == 1.13


def test_lag_summary_is_nearest_rank() -> None:
    """p50 / p99 / max of 200 wake-ups: the 100th, 198th and 200th smallest."""
    lags = [float(i) for i in range(1, 201)]
    summary = summarise_lags(list(reversed(lags)))
    assert summary is not None
    assert (summary.wakeups, summary.p50_ms, summary.p99_ms, summary.max_ms) == (
        200,
        100.0,
        198.0,
        200.0,
    )
    assert nearest_rank([3.0], 0.99) == 3.0


def test_an_early_wake_up_counts_as_on_time() -> None:
    """A negative lateness (timer granularity) is 0, and no wake-up is no summary."""
    summary = summarise_lags([-0.01, -0.02])
    assert summary is not None and summary.max_ms == 0.0
    assert summarise_lags([]) is None


def test_a_row_has_every_column_and_none_for_what_was_not_read() -> None:
    """A second without /proc/stat reading has None shares, never 0."""
    row = probe_row(7, summarise_lags([0.1, 0.3]), None, 1.5, 0.25, 0.01)
    assert tuple(row) == ROW_COLUMNS
    assert row["second"] == 7 and row["wakeups"] == 2 and row["sched_lag_max_ms"] == 0.3
    assert row["steal_share"] is None and row["busy_cores"] is None
    assert row["harness_cores"] == 0.25
