"""The host's disturbance per second (foreign CPU) and per phase, from probe rows."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from harness.analysis.host import (
    HOST_WINDOW_COLUMNS,
    deployment_cores,
    host_disturbance,
    host_seconds,
    with_host,
    with_host_summaries,
)
from harness.store.model import PhaseRecord, PhaseSummary


def probe(seconds: list[int], **columns: list[float | None]) -> pd.DataFrame:
    """A probe table with defaults for the columns a test does not care about."""
    n = len(seconds)
    base: dict[str, list[float | None]] = {
        "sched_lag_p50_ms": [0.1] * n,
        "sched_lag_p99_ms": [0.5] * n,
        "sched_lag_max_ms": [1.0] * n,
        "steal_share": [0.0] * n,
        "iowait_share": [0.0] * n,
        "busy_cores": [1.0] * n,
        "load1": [1.0] * n,
        "harness_cores": [0.2] * n,
        "probe_cpu_cores": [0.01] * n,
    }
    base.update(columns)
    return pd.DataFrame({"second": seconds, "wakeups": [200] * n, **base})


def resources(rows: list[tuple[float, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"t_s": t, "role": "sidecar", "name": name, "cpu_cores": c} for t, name, c in rows]
    )


def test_deployment_cpu_counts_for_the_second_its_interval_mostly_covers() -> None:
    """A row at t_s 3.2 covers about (2.2, 3.2]: it counts for second 2; rows add up."""
    table = resources([(3.2, "a", 0.5), (3.25, "b", 0.25), (4.2, "a", 0.1)])
    assert deployment_cores(table).to_dict() == {2: 0.75, 3: 0.1}
    assert deployment_cores(None).empty


def test_foreign_cpu_is_busy_minus_harness_minus_deployment() -> None:
    """1.9 busy - 0.2 harness - 0.5 deployment = 1.2 foreign cores; never below 0."""
    table = probe([2, 3], busy_cores=[1.9, 0.4])
    deployed = resources([(3.2, "a", 0.5), (4.2, "a", 0.5)])
    host = host_seconds(table, deployed)
    assert host["foreign_cpu_cores"].tolist() == pytest.approx([1.2, 0.0])


def test_a_second_the_sampler_missed_takes_its_neighbours_reading() -> None:
    """No resources row for second 3 (the sampler was late): second 4's reading counts."""
    table = probe([2, 3, 4], busy_cores=[1.0, 1.0, 1.0])
    deployed = resources([(3.2, "a", 0.5), (5.2, "a", 0.3)])
    host = host_seconds(table, deployed)
    assert host["foreign_cpu_cores"].tolist() == pytest.approx([0.3, 0.5, 0.5])


def test_no_resources_means_all_non_harness_cpu_is_foreign() -> None:
    """Without a resources table nothing is subtracted but the harness's own CPU."""
    host = host_seconds(probe([0], busy_cores=[1.0]), None)
    assert host["foreign_cpu_cores"].tolist() == pytest.approx([0.8])


def test_no_probe_rows_give_an_empty_table_and_an_empty_disturbance() -> None:
    """No probe: empty host table; a phase's disturbance has every field None."""
    host = host_seconds(None, None)
    assert host.empty
    windows = pd.DataFrame({"second": [0, 1]})
    disturbance = host_disturbance(host, windows, PhaseRecord(name="whole", start_s=0, end_s=2))
    assert all(v is None for v in disturbance.model_dump().values())


def test_windows_get_the_host_columns_by_second() -> None:
    """Each window gets its second's probe values; a second without a probe row is NaN."""
    host = host_seconds(probe([0, 1], sched_lag_p99_ms=[0.5, 9.0]), None)
    windows = pd.DataFrame({"second": [0, 1, 2], "rps": [10.0, 10.0, 10.0]})
    merged = with_host(windows, host)
    assert list(merged.columns) == ["second", "rps", *HOST_WINDOW_COLUMNS]
    assert merged["sched_lag_p99_ms"].tolist()[:2] == [0.5, 9.0]
    assert math.isnan(merged["sched_lag_p99_ms"].iloc[2])


def test_a_phase_summary_takes_the_seconds_whose_middle_lies_in_it() -> None:
    """Phase [1.2, 3.0): seconds 1 and 2; p99 is their mean, max and load the largest."""
    table = probe(
        [0, 1, 2, 3],
        sched_lag_p50_ms=[9.0, 0.1, 0.3, 9.0],
        sched_lag_p99_ms=[9.0, 1.0, 3.0, 9.0],
        sched_lag_max_ms=[99.0, 2.0, 8.0, 99.0],
        steal_share=[0.5, 0.1, 0.3, 0.5],
        load1=[9.0, 2.0, 4.0, 9.0],
        busy_cores=[2.0, 1.2, 1.6, 2.0],
        steal_cores=[1.0, 0.2, 0.6, 1.0],
        online_cores=[2.0, 2.0, 2.0, 2.0],
    )
    host = host_seconds(table, None)
    windows = pd.DataFrame({"second": [0, 1, 2, 3], "max_send_lag_ms": [50.0, 1.0, 4.0, 2.0]})
    got = host_disturbance(host, windows, PhaseRecord(name="during:x", start_s=1.2, end_s=3.0))
    assert got.sched_lag_p50_ms == pytest.approx(0.2)
    assert got.sched_lag_p99_ms == pytest.approx(2.0)
    assert got.sched_lag_max_ms == 8.0
    assert got.steal_share == pytest.approx(0.2)
    assert got.steal_cores == pytest.approx(0.4)
    assert got.online_cores == 2.0
    assert got.load1_max == 4.0
    assert got.foreign_cpu_cores == pytest.approx(1.2)
    assert got.send_lag_max_ms == 4.0  # windows 1 and 2 overlap the phase
    assert got.probe_cpu_cores == pytest.approx(0.01)


def test_send_lag_is_none_when_the_windows_have_no_send_lag_column() -> None:
    """Windows of a load driver that records no send lag: send_lag_max_ms is None."""
    host = host_seconds(probe([0]), None)
    got = host_disturbance(
        host, pd.DataFrame({"second": [0]}), PhaseRecord(name="a", start_s=0, end_s=1)
    )
    assert got.send_lag_max_ms is None and got.sched_lag_p99_ms == 0.5
    assert got.steal_cores is None  # the default probe table predates the column
    assert got.online_cores is None  # so does this one


def test_every_phase_summary_gets_its_host() -> None:
    """with_host_summaries fills PhaseSummary.host per phase and keeps the values."""
    host = host_seconds(probe([0, 1], load1=[1.0, 3.0]), None)
    summaries = {
        "before": PhaseSummary(phase="before", start_s=0, end_s=1, values={"rps": 5.0}),
        "whole": PhaseSummary(phase="whole", start_s=0, end_s=2),
    }
    out = with_host_summaries(summaries, host, pd.DataFrame({"second": [0, 1]}))
    assert out["before"].host is not None and out["before"].host.load1_max == 1.0
    assert out["whole"].host is not None and out["whole"].host.load1_max == 3.0
    assert out["before"].values == {"rps": 5.0}
