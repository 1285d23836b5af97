"""Waiting with a deadline, driven by a fake clock."""

from __future__ import annotations

from mesh_runtime.runtimes.readiness import Deadline, wait_until


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_ready_as_soon_as_the_check_passes() -> None:
    """The wait ends at the first passing check."""
    clock = FakeClock()
    answers = iter([False, False, True])
    outcome = wait_until(lambda: next(answers), Deadline.after(10, clock), sleep=clock.sleep)
    assert outcome == "ready"
    assert clock.now < 1


def test_failure_stops_the_wait_early() -> None:
    """A failed part (the process died) ends the wait at once."""
    clock = FakeClock()
    outcome = wait_until(
        lambda: False, Deadline.after(10, clock), failed=lambda: clock.now > 0.2, sleep=clock.sleep
    )
    assert outcome == "failed"
    assert clock.now < 1


def test_timeout_after_the_deadline() -> None:
    """A check that never passes times out at the deadline, not later."""
    clock = FakeClock()
    outcome = wait_until(lambda: False, Deadline.after(2, clock), sleep=clock.sleep)
    assert outcome == "timeout"
    assert 2 <= clock.now < 2.1


def test_last_check_at_the_deadline_counts() -> None:
    """A part that becomes ready exactly at the deadline is ready, not a timeout."""
    clock = FakeClock()
    outcome = wait_until(lambda: clock.now >= 1, Deadline.after(1, clock), sleep=clock.sleep)
    assert outcome == "ready"
