"""Verdict.outcome beside passed in run.json (harness.store.model)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from harness.store.model import PhaseRecord, RunRecord, Verdict, VerdictTally

BASE = {"slo": "p50_ms < 20", "metric": "p50_ms", "op": "<", "threshold": 20.0,
        "phase": "whole", "value": 28.0}  # fmt: skip


def test_a_record_from_before_outcomes_gets_one_from_passed() -> None:
    """run.json written before outcomes existed reads as pass / fail."""
    assert Verdict.model_validate({**BASE, "passed": True}).outcome == "pass"
    assert Verdict.model_validate({**BASE, "passed": False}).outcome == "fail"


def test_passed_is_true_only_for_pass() -> None:
    """An outcome alone sets passed; inconclusive is not passed."""
    assert Verdict.model_validate({**BASE, "outcome": "pass"}).passed
    inconclusive = Verdict.model_validate({**BASE, "outcome": "inconclusive"})
    assert not inconclusive.passed and inconclusive.disturbance == ""


def test_contradicting_fields_are_refused() -> None:
    """passed true with outcome inconclusive is a broken record."""
    with pytest.raises(ValidationError, match="contradicts outcome"):
        Verdict.model_validate({**BASE, "passed": True, "outcome": "inconclusive"})


def test_outcome_and_disturbance_round_trip_through_json() -> None:
    """What the writer dumps, the reader reads back unchanged."""
    verdict = Verdict.model_validate(
        {**BASE, "outcome": "inconclusive", "disturbance": "scheduling lag p99 9.7 ms"}
    )
    assert Verdict.model_validate_json(verdict.model_dump_json()) == verdict


def test_a_records_verdicts_are_counted_in_one_place() -> None:
    """An aborted run's verdicts: one passed, one failed, one inconclusive and two it
    could not judge (no value; a phase it never reached), which count as failed too."""
    verdicts = [
        Verdict.model_validate({**BASE, "outcome": "pass"}),
        Verdict.model_validate({**BASE, "outcome": "fail"}),
        Verdict.model_validate({**BASE, "outcome": "inconclusive"}),
        Verdict.model_validate({**BASE, "outcome": "fail", "value": None}),
        Verdict.model_validate({**BASE, "outcome": "fail", "phase": "after"}),
    ]
    record = RunRecord(
        id="r1",
        experiment={"name": "x"},
        status="aborted",
        started_at="2026-11-27T15:40:00Z",
        phases=[PhaseRecord(name="whole", start_s=0.0, end_s=10.0)],
        verdicts=verdicts,
    )
    tally = record.verdict_tally()
    assert tally == VerdictTally(passed=1, failed=3, inconclusive=1, unjudged=2)
    assert tally.verdicts == 5
