"""Per-phase summaries, recovery time and mesh signals (harness.analysis.summary)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from harness.analysis.phases import phase_intervals
from harness.analysis.recovery import recovery_criteria, recovery_seconds
from harness.analysis.signals import counter_increase, cpu_per_krps_by_second
from harness.analysis.stats import PERCENTILES
from harness.analysis.summary import CORRECTED, RunFrames, summarize
from harness.analysis.windows import compute_windows
from harness.spec.slo import SLO
from harness.store.model import FaultEvent, PhaseRecord
from tests.fixtures.make_run import on_time_requests

FAULT = FaultEvent(name="x", kind="toxic", target="a->b", start_s=10.0, end_s=20.0)
PHASES = phase_intervals(5.0, 30.0, [FAULT])


def steady_requests(rps: int = 100, end: float = 30.0) -> pd.DataFrame:
    """Requests at `rps`: 10 % answered 503 in [10, 22), latency 5 ms (50 ms in the fault)."""
    times = np.arange(0, end, 1 / rps)
    failing = (times >= 10) & (times < 22) & (np.arange(len(times)) % 10 == 0)
    latency = np.where((times >= 10) & (times < 20), 50.0, 5.0)
    return on_time_requests(times, latency, failing)


def summaries(slos: list[SLO], **frames: pd.DataFrame) -> dict:
    requests = steady_requests()
    run = RunFrames(requests, compute_windows(requests, PHASES), **frames)
    return summarize(run, PHASES, [FAULT], slos)


def test_traffic_metrics_per_phase() -> None:
    """rps (answers arriving in the phase), error rate and latency percentiles per phase."""
    result = summaries([])
    during, before = result["during:x"].values, result["before"].values
    assert during["rps"] == pytest.approx(100.0, rel=0.01)  # the last 50 ms arrive after it
    assert during["error_rate"] == pytest.approx(0.1)
    assert during["p99_ms"] == pytest.approx(50.0)
    assert before["error_rate"] == 0.0 and before["p50_ms"] == pytest.approx(5.0)
    assert result["whole"].values["max_error_rate_1s"] == pytest.approx(0.1)


def test_shed_latency_is_no_data_without_503s() -> None:
    """shed_p99_ms is the p99 of 503s, None with a reason when there were none."""
    result = summaries([])
    assert result["during:x"].values["shed_p99_ms"] == pytest.approx(50.0)
    assert result["before"].values["shed_p99_ms"] is None
    assert "503" in result["before"].notes["shed_p99_ms"]


def test_recovery_counts_from_the_fault_end_until_slos_hold() -> None:
    """Errors stop 2 s after the fault ends: recovery_s is 2 in during:x, after and whole."""
    result = summaries([SLO.model_validate("error_rate < 0.01")])
    assert result["during:x"].values["recovery_s"] == pytest.approx(2.0)
    assert result["after:x"].values["recovery_s"] == pytest.approx(2.0)
    assert result["whole"].values["recovery_s"] == pytest.approx(2.0)
    assert result["before"].values["recovery_s"] is None


def test_recovery_never_reached_is_no_data_with_a_reason() -> None:
    """When the SLOs never hold for 5 s after the fault, recovery_s is None, with why."""
    result = summaries([SLO.model_validate("p50_ms < 1")])
    assert result["during:x"].values["recovery_s"] is None
    assert result["during:x"].notes["recovery_s"] == (
        "did not recover: p50_ms < 1 and error_rate < 0.01 never held 5 s in a row in the 10 s"
        " with requests after the fault ended: p50_ms < 1 failed in 10 s (last at 29 s),"
        " error_rate < 0.01 failed in 2 s (last at 21 s) (conditions: the run's SLOs outside"
        " during: phases, plus the default error_rate < 0.01)"
    )


def test_recovery_needs_five_consecutive_healthy_seconds() -> None:
    """A healthy second followed by a bad one restarts the count."""
    windows = pd.DataFrame(
        {
            "second": range(20, 32),
            "requests": [100] * 12,
            "error_rate": [0, 0.5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        }
    )
    assert recovery_seconds(windows, 20.0, recovery_criteria([])) == pytest.approx(2.0)


def test_during_slos_are_not_recovery_criteria() -> None:
    """SLOs of during: phases are tolerances, not what recovery means; default is 1 %."""
    criteria = recovery_criteria([SLO.model_validate("error_rate < 0.5 during:x")])
    assert [c.describe() for c in criteria.conditions] == ["error_rate < 0.01"]


def sidecar_resources(times: tuple[float, ...] = (6.0, 7.0)) -> pd.DataFrame:
    """Two sidecars (0.02 and 0.04 cores, 40 and 55 MB) and a busy service, per time."""
    return pd.DataFrame(
        {
            "t_s": t,
            "role": role,
            "name": name,
            "pid": 1,
            "cpu_s": 0.0,
            "cpu_cores": cores,
            "rss_mb": rss,
        }
        for t in times
        for role, name, cores, rss in (
            ("sidecar", "a-0", 0.02, 40.0),
            ("sidecar", "b-0", 0.04, 55.0),
            ("service", "a-0", 1.0, 500.0),
        )
    )


def proxied_requests(per_second: float, end: int = 30) -> pd.DataFrame:
    """istio_requests_total of a client sidecar (outbound) and a server sidecar (inbound)."""
    rows = []
    for reporter, instance in (("source", "a-0"), ("destination", "b-0")):
        samples = [(float(t), per_second / 2 * t) for t in range(1, end + 1)]
        rows += metric_rows("istio_requests_total", samples, reporter=reporter, instance=instance)
    return pd.DataFrame(rows)


def test_sidecar_cpu_per_krps_is_per_request_through_the_sidecars() -> None:
    """CPU per krps: summed sidecar cores over istio_requests_total's rate; rss the largest."""
    metrics = proxied_requests(per_second=1000.0)
    result = summaries([], resources=sidecar_resources(), metrics=metrics)["before"].values
    assert result["sidecar_rps"] == pytest.approx(1000.0)
    assert result["sidecar_cpu_per_krps"] == pytest.approx(0.06 / 1.0)
    assert result["sidecar_rss_mb"] == 55.0


def test_sidecar_cpu_per_krps_without_metrics_is_no_data() -> None:
    """Without metrics the proxied requests are unknown: None with a note, no harness RPS."""
    result = summaries([], resources=sidecar_resources())["before"]
    assert result.values["sidecar_cpu_per_krps"] is None
    assert "istio_requests_total" in result.notes["sidecar_cpu_per_krps"]
    assert result.values["sidecar_rps"] is None and result.notes["sidecar_rps"]
    assert result.values["sidecar_rss_mb"] == 55.0


def test_sidecar_cpu_per_krps_when_nothing_was_proxied_is_no_data() -> None:
    """Metrics scraped but istio_requests_total flat: 0 RPS through sidecars, CPU per krps None."""
    metrics = proxied_requests(per_second=0.0)
    result = summaries([], resources=sidecar_resources(), metrics=metrics)["before"]
    assert result.values["sidecar_rps"] == 0.0
    assert result.values["sidecar_cpu_per_krps"] is None
    assert "did not grow" in result.notes["sidecar_cpu_per_krps"]


def test_cpu_per_krps_by_second_gives_a_value_per_measured_second() -> None:
    """Per second: that second's summed sidecar cores over its proxied RPS, x 1000."""
    resources = sidecar_resources(times=(5.5, 6.5, 7.5, 12.5))
    metrics = proxied_requests(per_second=200.0, end=8)
    values = cpu_per_krps_by_second(resources, metrics, PhaseRecord(name="p", start_s=5, end_s=9))
    # seconds 5, 6, 7 have both; 8 has requests but no CPU sample; 12 is outside the phase
    assert values.tolist() == pytest.approx([0.3, 0.3, 0.3])


def test_overheads_without_samples_are_no_data() -> None:
    """No resources, no metrics: the overhead and mesh signals are None, never 0."""
    result = summaries([])["whole"]
    for name in ("sidecar_cpu_per_krps", "sidecar_rss_mb", "retries_per_krequests", "ejections"):
        assert result.values[name] is None
        assert result.notes[name]
    assert result.values["overhead_p99_ms"] is None


def metric_rows(metric: str, samples: list[tuple[float, float]], **labels: str) -> list[dict]:
    text = json.dumps(labels, sort_keys=True)
    return [{"t_s": t, "metric": metric, "labels": text, "value": v} for t, v in samples]


def test_counter_increase_handles_resets_and_late_series() -> None:
    """Increase over a phase: base before the phase, resets, a new series from 0."""
    rows = metric_rows("meshproof_retries_total", [(4, 10), (6, 12), (8, 3), (9, 5)], d="a")
    rows += metric_rows("meshproof_retries_total", [(7, 4), (9, 6)], d="b")
    rows += metric_rows("meshproof_config_version", [(1, 1)])
    phase = PhaseRecord(name="p", start_s=5.0, end_s=10.0)
    # a: 10 -> 12 (+2), reset to 3 (+3), 5 (+2) = 7; b: appeared at 7 from 0: +6
    assert counter_increase(pd.DataFrame(rows), "meshproof_retries_total", phase) == 13.0


def test_counter_increase_from_rates_when_the_raw_counter_is_absent() -> None:
    """rate(...) samples are integrated over the phase at their step."""
    rows = metric_rows(
        "rate(meshproof_retries_total[5s])", [(5, 2.0), (6, 2.0), (7, 1.0), (11, 9.0)]
    )
    phase = PhaseRecord(name="p", start_s=5.0, end_s=10.0)
    assert counter_increase(pd.DataFrame(rows), "meshproof_retries_total", phase) == 5.0


def test_absent_counter_is_zero_when_other_metrics_were_scraped() -> None:
    """A labelled counter never incremented has no series: 0 if the phase was scraped."""
    rows = metric_rows("meshproof_config_version", [(6, 1.0)])
    phase = PhaseRecord(name="p", start_s=5.0, end_s=10.0)
    assert counter_increase(pd.DataFrame(rows), "meshproof_overflow_total", phase) == 0.0
    late = PhaseRecord(name="q", start_s=20.0, end_s=30.0)
    assert counter_increase(pd.DataFrame(rows), "meshproof_overflow_total", late) is None


def test_retries_per_thousand_requests() -> None:
    """retries_per_krequests divides the retries' increase by sent requests / 1000."""
    rows = metric_rows("meshproof_retries_total", [(9.0, 0.0), (15.0, 30.0), (19.0, 50.0)], d="a")
    result = summaries([], metrics=pd.DataFrame(rows))["during:x"].values
    assert result["retries_per_krequests"] == pytest.approx(50.0 / 1.0)
    assert result["ejections"] == 0.0


def test_open_ended_fault_is_left_out_of_the_runs_recovery() -> None:
    """A setup policy left on all run has no recovery; whole takes the faults that ended."""
    policy = FaultEvent(name="policy", kind="policy", target="catalog", start_s=5.0, end_s=None)
    phases = phase_intervals(5.0, 30.0, [policy, FAULT])
    requests = steady_requests()
    run = RunFrames(requests, compute_windows(requests, phases))
    result = summarize(run, phases, [policy, FAULT], [])
    assert result["during:policy"].values["recovery_s"] is None
    assert "until the end" in result["during:policy"].notes["recovery_s"]
    assert result["whole"].values["recovery_s"] == pytest.approx(2.0)


def test_a_phase_without_requests_has_no_traffic_numbers() -> None:
    """No request sent in a phase: rps, error rate and latencies are None, with the reason."""
    requests = steady_requests(end=8.0)
    run = RunFrames(requests, compute_windows(requests, PHASES))
    after = summarize(run, PHASES, [FAULT], [])["after"]
    for name in ("rps", "error_rate", "p99_ms", "corrected_p99_ms"):
        assert after.values[name] is None
        assert after.notes[name] == "no requests were sent in this phase"


def behind_requests() -> pd.DataFrame:
    """100 RPS for 30 s; from 10 s the pool is exhausted: 20 RPS leave, the rest queue."""
    frame = steady_requests()
    intended = frame["intended_s"].to_numpy()
    backlog_start = 10.0
    queued = intended >= backlog_start
    # Sends at 20 RPS from 10 s on, in order: request k of the backlog leaves at 10 + k / 20.
    order = np.cumsum(queued) - 1
    sent = np.where(queued, backlog_start + order / 20.0, intended)
    frame["sent_s"] = sent
    frame["latency_ms"] = np.where(queued, 50.0, 5.0)
    frame["corrected_ms"] = frame["latency_ms"] + (sent - intended) * 1000
    return frame


def test_a_phase_where_the_load_fell_behind_says_by_how_much() -> None:
    """Sent late by up to seconds: late_share, max_send_lag_ms, achieved vs target rps and
    the note; the phase before, sent on time, has none of it."""
    from harness.load.schedule import Schedule
    from harness.spec.load import LoadSpec

    requests = behind_requests()
    schedule = Schedule.of(LoadSpec(rps=100, duration="25s", warmup="5s"))
    run = RunFrames(requests, compute_windows(requests, PHASES), schedule=schedule)
    result = summarize(run, PHASES, [FAULT], [])
    during, before = result["during:x"], result["before"]
    assert during.values["late_share"] == pytest.approx(1.0, abs=0.01)
    assert during.values["max_send_lag_ms"] > 30_000  # the last one due at 20 s left at 60 s
    assert during.values["target_rps"] == pytest.approx(100.0)
    assert during.values["rps"] == pytest.approx(20.0, rel=0.02)
    assert "the load fell behind its schedule by up to" in during.notes["load"]
    assert before.values["late_share"] == 0.0 and "load" not in before.notes
    assert before.values["rps"] == pytest.approx(100.0, rel=0.01)


def test_target_rps_is_no_data_without_a_schedule() -> None:
    """Without the load's schedule the intended rate is None, with the reason."""
    result = summaries([])
    assert result["whole"].values["target_rps"] is None
    assert "schedule" in result["whole"].notes["target_rps"]


def test_every_percentile_has_an_interval_that_holds_its_value() -> None:
    """The whole run's p99 (latencies of 5 and 50 ms) lies from 50 to 50 ms; in a phase of
    25 requests the p99.9's interval is widened down to its interpolated value."""
    result = summaries([])
    whole = result["whole"]
    assert whole.intervals["p99_ms"] == (50.0, 50.0)
    assert set(whole.intervals) == {*PERCENTILES, *CORRECTED}
    for name, (low, high) in whole.intervals.items():
        assert low <= whole.values[name] <= high, name
    times = np.arange(25) / 100
    requests = on_time_requests(times, np.arange(1.0, 26.0), np.zeros(25, dtype=bool))
    phase = PhaseRecord(name="whole", start_s=0.0, end_s=1.0)
    tiny = summarize(RunFrames(requests, compute_windows(requests, [phase])), [phase], [], [])
    low, high = tiny["whole"].intervals["p999_ms"]
    assert tiny["whole"].values["p999_ms"] == pytest.approx(24.976)
    assert (low, high) == (pytest.approx(24.976), 25.0)
