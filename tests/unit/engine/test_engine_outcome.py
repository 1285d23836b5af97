"""How a run ended and what run.json records for it (harness.engine.outcome), pure."""

from __future__ import annotations

from harness.engine.outcome import NOTHING_MEASURED, RunOutcome


def test_completed_run_is_judged_by_its_verdicts() -> None:
    """A run that ran to its end and measured something is not stopped: its SLOs decide."""
    outcome = RunOutcome().final(measured=True)
    assert outcome == RunOutcome() and not outcome.stopped and str(outcome) == "completed"


def test_aborted_run_keeps_its_reason_and_prefix() -> None:
    """An aborted run's note and run.json error both read 'aborted: <reason>'."""
    outcome = RunOutcome.aborted("interrupted (SIGINT)").final(measured=True)
    assert (outcome.status, outcome.stopped) == ("aborted", True)
    assert str(outcome) == outcome.record_error() == "aborted: interrupted (SIGINT)"


def test_error_records_the_reason_alone() -> None:
    """An error's note has 'error: ' before the reason; run.json's error is the reason."""
    outcome = RunOutcome.error("unexpected KeyError: 'x'")
    assert str(outcome) == "error: unexpected KeyError: 'x'"
    assert outcome.record_error() == "unexpected KeyError: 'x'"


def test_rollback_problems_make_a_completed_run_an_error() -> None:
    """A completed run whose rollback left problems is an error naming each of them."""
    outcome = RunOutcome().with_rollback_problems(("fault 'a': gone", "fault 'b': 503"))
    final = outcome.final(measured=True)
    assert final.status == "error"
    assert final.record_error() == "rollback: fault 'a': gone; rollback: fault 'b': 503"
    assert final.rollback_problems == ("fault 'a': gone", "fault 'b': 503")


def test_first_failure_wins() -> None:
    """A stopped run keeps why it stopped: rollback problems and a failed analysis after
    it do not replace the reason; a completed run's failed analysis becomes the error."""
    aborted = RunOutcome.aborted("SIGTERM").with_rollback_problems(("x",))
    assert aborted.failed_with("analysis: bad").final(measured=False) == aborted
    failed = RunOutcome().with_rollback_problems(("x",)).failed_with("analysis: bad").final(False)
    assert (failed.status, failed.record_error()) == ("error", "analysis: bad")


def test_nothing_measured_is_an_error() -> None:
    """A run that completed without measuring anything is an error saying so."""
    final = RunOutcome().final(measured=False)
    assert (final.status, final.record_error()) == ("error", NOTHING_MEASURED)
