"""SLO verdicts and exit codes (harness.judge)."""

from __future__ import annotations

from harness.judge import exit_code, judge, run_status
from harness.spec.slo import SLO
from harness.store.model import PhaseSummary


def phase(name: str, notes: dict[str, str] | None = None, **values: float | None) -> PhaseSummary:
    return PhaseSummary(phase=name, start_s=0, end_s=1, values=values, notes=notes or {})


SUMMARIES = {
    "whole": phase("whole", p99_ms=120.0, error_rate=0.002, shed_p99_ms=None,
                   notes={"shed_p99_ms": "no request was answered 503 in this phase"}),
    "during:x": phase("during:x", error_rate=0.04),
}  # fmt: skip


def test_each_slo_is_judged_in_its_phase_with_value_and_threshold() -> None:
    """A verdict carries the measured value, the threshold and pass/fail."""
    slos = [
        SLO.model_validate(t)
        for t in ("p99_ms < 250", "error_rate < 0.001", "error_rate < 0.05 during:x")
    ]
    verdicts = judge(slos, SUMMARIES)
    assert [(v.slo, v.value, v.passed) for v in verdicts] == [
        ("p99_ms < 250", 120.0, True),
        ("error_rate < 0.001", 0.002, False),
        ("error_rate < 0.05 during:x", 0.04, True),
    ]
    assert verdicts[2].phase == "during:x" and verdicts[2].threshold == 0.05


def test_no_data_fails_with_the_summarys_reason() -> None:
    """A metric that could not be computed fails and says why."""
    (verdict,) = judge([SLO.model_validate("shed_p99_ms < 100")], SUMMARIES)
    assert not verdict.passed and verdict.value is None
    assert verdict.reason == "no data: no request was answered 503 in this phase"


def test_a_missing_phase_fails_with_a_reason() -> None:
    """An SLO on a phase the run never had (e.g. 'after') fails as no data."""
    (verdict,) = judge([SLO.model_validate("error_rate < 0.01 after")], SUMMARIES)
    assert not verdict.passed
    assert "no phase 'after'" in verdict.reason


def test_a_phase_a_stopped_run_never_reached_says_where_it_stopped() -> None:
    """A run stopped before a phase: its SLOs say so, not that the phase is missing."""
    slo = SLO.model_validate("error_rate < 0.01 after")
    (verdict,) = judge([slo], SUMMARIES, stopped_s=12.34)
    assert not verdict.passed and verdict.value is None
    assert verdict.reason == "no data: the run was stopped at 12.3 s, before phase 'after'"
    (reached,) = judge([SLO.model_validate("error_rate < 0.05 during:x")], SUMMARIES, stopped_s=5)
    assert reached.passed and reached.reason == ""


def test_boundaries_follow_the_operator() -> None:
    """<= passes at the threshold, < does not."""
    summaries = {"whole": phase("whole", trace_completeness=0.999)}
    slos = [
        SLO.model_validate("trace_completeness >= 0.999"),
        SLO.model_validate("trace_completeness > 0.999"),
    ]
    assert [v.passed for v in judge(slos, summaries)] == [True, False]


def test_exit_codes() -> None:
    """0 all pass, 1 any failed, 2 aborted regardless of verdicts."""
    ok = judge([SLO.model_validate("p99_ms < 250")], SUMMARIES)
    bad = judge([SLO.model_validate("p99_ms < 10")], SUMMARIES)
    assert (exit_code(ok, False), exit_code(bad, False), exit_code(ok, True)) == (0, 1, 2)
    assert exit_code([], False) == 0
    assert (run_status(ok, False), run_status(bad, False), run_status(ok, True)) == (
        "passed",
        "failed",
        "aborted",
    )


BEHIND = "the load fell behind its schedule by up to 16.4 s (37.0% of requests left more than 10 ms late)"


def test_service_time_slo_where_the_load_fell_behind_is_judged_on_corrected_latency() -> None:
    """p99 service time 834 ms would pass < 1500, but users waited 16.4 s: it fails, saying so."""
    summaries = {
        "during:slow": phase(
            "during:slow",
            notes={"load": BEHIND},
            p99_ms=834.0,
            corrected_p99_ms=16_400.0,
            late_share=0.37,
            max_send_lag_ms=16_400.0,
        )
    }
    (verdict,) = judge([SLO.model_validate("p99_ms < 1500 during:slow")], summaries)
    assert verdict.outcome == "fail" and verdict.value == 16_400.0
    assert verdict.reason.startswith(BEHIND)
    assert "service time (834.0 ms) does not describe what users waited" in verdict.reason
    assert "corrected_p99_ms" in verdict.reason


def test_a_phase_on_schedule_is_judged_on_service_time() -> None:
    """0.05 % of requests late (under the 0.1 % bound), or 2 % late by at most 30 ms (the
    host's jitter, under 100 ms): the service time is judged."""
    for late, lag in ((0.0005, 900.0), (0.02, 30.0)):
        summaries = {
            "whole": phase(
                "whole", p99_ms=120.0, corrected_p99_ms=900.0, late_share=late, max_send_lag_ms=lag
            )
        }
        (verdict,) = judge([SLO.model_validate("p99_ms < 250")], summaries)
        assert verdict.passed and verdict.value == 120.0 and verdict.reason == ""


def test_a_late_load_leaves_error_rate_slos_alone() -> None:
    """Only service-time latency SLOs switch to corrected latency; error rate does not."""
    summaries = {"whole": phase("whole", error_rate=0.0, late_share=0.5, notes={"load": BEHIND})}
    (verdict,) = judge([SLO.model_validate("error_rate < 0.01")], summaries)
    assert verdict.passed and verdict.reason == ""
