"""recovery_s: which conditions must hold, for how long, and the text that says so."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.analysis.phases import phase_intervals
from harness.analysis.recovery import (
    DEFAULT_CRITERIA,
    Criteria,
    experiment_criteria,
    recover,
    recovery_criteria,
)
from harness.analysis.summary import RunFrames, summarize
from harness.analysis.windows import compute_windows
from harness.errors import ExperimentError
from harness.judge import judge_one
from harness.spec import SLO, Experiment
from harness.store.model import FaultEvent
from mesh_runtime.validation import model_from_data
from tests.fixtures.make_run import on_time_requests

FAULT_END = 30.0


def windows(errors_until: int, slow_until: int, last: int = 45) -> pd.DataFrame:
    """Seconds 20..last at 100 requests each: 10 % errors before `errors_until`, p99 800 ms
    before `slow_until` (40 ms after)."""
    seconds = list(range(20, last + 1))
    return pd.DataFrame(
        {
            "second": seconds,
            "requests": [100] * len(seconds),
            "rps": [100.0] * len(seconds),
            "error_rate": [0.1 if s < errors_until else 0.0 for s in seconds],
            "p50_ms": [5.0] * len(seconds),
            "p90_ms": [10.0] * len(seconds),
            "p99_ms": [800.0 if s < slow_until else 40.0 for s in seconds],
            "p999_ms": [900.0] * len(seconds),
            "corrected_p99_ms": [800.0 if s < slow_until else 40.0 for s in seconds],
        }
    )


def slos(*texts: str) -> list[SLO]:
    return [SLO.model_validate(t) for t in texts]


def test_recovery_waits_for_latency_when_an_slo_names_it() -> None:
    """Errors stop at 32 s, latency at 36 s: with a p99 SLO recovery is 6 s, without it 2 s."""
    frame = windows(errors_until=32, slow_until=36)
    both = recovery_criteria(slos("error_rate < 0.01", "p99_ms < 100"))
    errors_only = recovery_criteria(slos("error_rate < 0.01"))
    assert recover(frame, FAULT_END, both).seconds == pytest.approx(6.0)
    assert recover(frame, FAULT_END, errors_only).seconds == pytest.approx(2.0)


def test_the_explanation_names_the_conditions_and_the_start() -> None:
    """'recovered: ... held for 5 s from 36.0 s, ...' and where the conditions came from."""
    frame = windows(errors_until=32, slow_until=36)
    found = recover(frame, FAULT_END, recovery_criteria(slos("error_rate < 0.01", "p99_ms < 100")))
    assert found.explain() == (
        "recovered: error_rate < 0.01 and p99_ms < 100 held for 5 s from 36.0 s, 6.0 s after"
        " the fault ended at 30.0 s (conditions: the run's SLOs outside during: phases)"
    )


def test_without_a_latency_condition_the_text_says_latency_was_not_checked() -> None:
    """The default (no SLO outside during:) checks errors only, and says both things."""
    criteria = recovery_criteria(slos("p99_ms < 500 during:x"))
    assert criteria == DEFAULT_CRITERIA
    text = recover(windows(32, 36), FAULT_END, criteria).explain()
    assert text.startswith("recovered: error_rate < 0.01 held for 5 s from 32.0 s")
    assert "(conditions: the default, as the run has no error or latency SLO" in text
    assert text.endswith(
        "; latency was not checked (no latency condition; name one under recovery:)"
    )


def test_never_recovered_names_the_condition_that_still_failed() -> None:
    """Latency high to the end: no value, and the text says p99 failed, errors held."""
    frame = windows(errors_until=30, slow_until=99, last=40)
    found = recover(frame, FAULT_END, recovery_criteria(slos("error_rate < 0.01", "p99_ms < 100")))
    assert found.seconds is None
    assert found.explain() == (
        "did not recover: error_rate < 0.01 and p99_ms < 100 never held 5 s in a row in the 11 s"
        " with requests after the fault ended: error_rate < 0.01 held, p99_ms < 100 failed in"
        " 11 s (last at 40 s) (conditions: the run's SLOs outside during: phases)"
    )


def test_fewer_seconds_after_the_fault_than_the_hold_is_not_judged() -> None:
    """A run (e.g. `--duration 20s`) ending 4 s after the fault, every window healthy: the
    text says the hold could not fit, never 'did not recover'."""
    frame = windows(errors_until=30, slow_until=30, last=33)
    found = recover(frame, FAULT_END, recovery_criteria(slos("error_rate < 0.01")))
    assert found.seconds is None
    assert found.explain() == (
        "not judged: 4 s with requests after the fault ended, fewer than the 5 s hold:"
        " error_rate < 0.01 held (conditions: the run's SLOs outside during: phases);"
        " latency was not checked (no latency condition; name one under recovery:)"
    )


def test_slo_conditions_drop_their_phase_and_repeat_once() -> None:
    """'error_rate < 0.001' whole and after are one condition; a latency-only set gets the
    default error condition added."""
    criteria = recovery_criteria(slos("error_rate < 0.001", "error_rate < 0.001 after"))
    assert criteria.describe() == "error_rate < 0.001"
    latency_only = recovery_criteria(slos("p99_ms < 250"))
    assert latency_only.describe() == "p99_ms < 250 and error_rate < 0.01"
    assert latency_only.source.endswith("plus the default error_rate < 0.01")


def experiment(**extra: object) -> Experiment:
    behaviour = {"kind": "service_behaviour", "target": "catalog-1", "params": {"error_rate": 1}}
    faults = extra.pop("faults", [{"name": "x", "at": "5s", "duration": "20s", **behaviour}])
    data = {
        "title": "t",
        "target": {"topology": "topologies/shop.yaml"},
        "load": {"warmup": "5s", "duration": "40s"},
        "faults": faults,
        "slos": ["error_rate < 0.01", "recovery_s < 10"],
        **extra,
    }
    return model_from_data(data, Experiment, "x.yaml", ExperimentError)


def test_the_experiments_own_conditions_win_and_a_faults_own_win_over_those() -> None:
    """recovery: of the experiment replaces the SLOs' conditions; a fault's own replaces it."""
    block = {"conditions": ["p99_ms < 100"], "hold": "3s"}
    own = experiment(recovery=block)
    assert experiment_criteria(own)["x"] == Criteria(
        (SLO.model_validate("p99_ms < 100"),), 3, "the experiment's recovery:"
    )
    behaviour = {"kind": "service_behaviour", "target": "catalog-1", "params": {"error_rate": 1}}
    fault = {"name": "x", "at": "5s", "duration": "20s", "recovery": {"conditions": ["rps > 90"]}}
    per_fault = experiment(recovery=block, faults=[{**fault, **behaviour}])
    criteria = experiment_criteria(per_fault)["x"]
    assert (criteria.describe(), criteria.hold_s, criteria.source) == (
        "rps > 90",
        5,
        "faults[0].recovery",
    )
    assert experiment_criteria(experiment())["x"].describe() == "error_rate < 0.01"


def requests(end: float = 46.0) -> pd.DataFrame:
    """100 RPS: every 10th request answered 503 in [10, 32), 800 ms in [10, 36), else 40 ms."""
    times = np.arange(0, end, 0.01)
    failing = (times >= 10) & (times < 32) & (np.arange(len(times)) % 10 == 0)
    latency = np.where((times >= 10) & (times < 36), 800.0, 40.0)
    return on_time_requests(times, latency, failing)


def test_the_verdict_reason_says_what_recovered_means() -> None:
    """The recovery_s verdict of a run: its value and, in its reason, the conditions and when
    they held; with the experiment's own conditions (a 3 s hold) recovery waits for latency."""
    fault = FaultEvent(name="x", kind="service_behaviour", target="c", start_s=10.0, end_s=30.0)
    phases = phase_intervals(5.0, 46.0, [fault])
    sent = requests()
    frames = RunFrames(sent, compute_windows(sent, phases))
    spec = experiment(recovery={"conditions": ["error_rate < 0.01", "p99_ms < 100"], "hold": "3s"})
    summaries = summarize(frames, phases, [fault], spec.slos, experiment_criteria(spec))
    verdict = judge_one(SLO.model_validate("recovery_s < 10"), summaries)
    assert verdict.value == pytest.approx(6.0) and verdict.passed
    assert verdict.reason == (
        "recovered: error_rate < 0.01 and p99_ms < 100 held for 3 s from 36.0 s, 6.0 s after"
        " the fault ended at 30.0 s (conditions: the experiment's recovery:)"
    )
    default = summarize(frames, phases, [fault], spec.slos)
    assert judge_one(SLO.model_validate("recovery_s < 10"), default).value == pytest.approx(2.0)
