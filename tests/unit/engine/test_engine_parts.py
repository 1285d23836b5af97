"""Small engine parts: the interrupt guard, the sidecar version, the progress phase name."""

from __future__ import annotations

import os
import signal

import pytest

from harness.engine.environment import sidecar_version_of
from harness.engine.interrupts import InterruptGuard, RunInterrupted, late_signal_note
from harness.engine.progress import phase_at


def test_guard_turns_sigterm_into_run_interrupted_and_restores_handlers() -> None:
    """Inside the guard SIGTERM raises RunInterrupted; outside, the old handler is back."""
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(RunInterrupted) as caught, InterruptGuard():
        os.kill(os.getpid(), signal.SIGTERM)
    assert caught.value.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before


def test_shielded_block_remembers_the_signal_without_raising() -> None:
    """A signal during clean-up is remembered, not raised, so a rollback is not cut short."""
    with InterruptGuard() as guard:
        with guard.shielded():
            os.kill(os.getpid(), signal.SIGINT)
        assert guard.interrupted
        assert guard.received == signal.SIGINT


def test_a_signal_remembered_while_a_finished_run_is_written_is_told() -> None:
    """A Ctrl-C during the judging and writing of a run that ran to its end changes
    nothing, and the run's last lines say so; none when it stopped the run, or none came."""
    with InterruptGuard() as guard, guard.shielded():
        os.kill(os.getpid(), signal.SIGINT)
    note = late_signal_note(guard.received, stopped=False)
    assert note is not None and note.startswith("SIGINT came while the run was being judged")
    assert late_signal_note(guard.received, stopped=True) is None
    assert late_signal_note(None, stopped=False) is None


def test_sidecar_version_from_admin_documents_or_fallback() -> None:
    """The first version field found wins; none found gives meshproof's version."""
    assert sidecar_version_of([None, {"sidecar_version": "1.2.3"}], "0.1.0") == "1.2.3"
    assert sidecar_version_of([{"config_version": 4}, {"total": 2}], "0.1.0") == "0.1.0"


def test_display_phase_names() -> None:
    """Warm-up first, then the active faults, then before / after by whether a fault ran."""
    assert phase_at(1.0, 5.0, [], 0, 2) == "warmup"
    assert phase_at(6.0, 5.0, [], 0, 2) == "before"
    assert phase_at(9.0, 5.0, ["a", "b"], 2, 2) == "during:a,b"
    assert phase_at(20.0, 5.0, [], 2, 2) == "after"


def test_display_phase_between_two_faults_is_between_not_after() -> None:
    """The gap after one fault ended and before the next began shows `between`, as the
    requests' phase column says; `after` only once the last fault is off."""
    assert phase_at(32.0, 5.0, [], 1, 2) == "between"
    assert phase_at(36.0, 5.0, ["b"], 2, 2) == "during:b"
    assert phase_at(55.0, 5.0, [], 2, 2) == "after"
    assert phase_at(55.0, 5.0, [], 1, 1) == "after"
