"""The scheduler loop on a fake clock: actions on time, in order, with progress ticks."""

from __future__ import annotations

import itertools

import pytest

from harness.engine.scheduler import Scheduler
from harness.engine.timeline import Action


class FakeClock:
    """A clock that moves only when the code under test sleeps."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert 0 < seconds <= 0.1 + 1e-9, "the loop sleeps in short slices"
        self.now += seconds


ACTIONS = [
    Action(2.0, "apply", "a"),
    Action(2.0, "apply", "b"),
    Action(5.0, "revert", "a"),
    Action(6.0, "end"),
]


def test_each_action_runs_at_its_time_in_order() -> None:
    """Every action runs once, in the planned order, no earlier than t0 + at_s."""
    clock = FakeClock(1000.0)
    seen: list[tuple[str, str, float]] = []
    scheduler = Scheduler(
        ACTIONS,
        1000.0,
        lambda a: seen.append((a.kind, a.fault, clock.now - 1000.0)),
        clock=clock,
        sleep=clock.sleep,
    )
    scheduler.run()
    assert [(k, f) for k, f, _ in seen] == [
        ("apply", "a"),
        ("apply", "b"),
        ("revert", "a"),
        ("end", ""),
    ]
    for (_, _, at), action in zip(seen, ACTIONS, strict=True):
        assert action.at_s <= at < action.at_s + 0.11
    assert scheduler.done == ACTIONS


def test_late_start_runs_overdue_actions_at_once() -> None:
    """Actions whose time has passed run immediately, in order, without sleeping; a fault
    that went on late is not reverted at once (it would last milliseconds): its revert
    moves past the end of the load, so it stays on until the end."""
    clock = FakeClock(1010.0)
    seen: list[str] = []
    Scheduler(ACTIONS, 1000.0, lambda a: seen.append(a.kind), clock=clock, sleep=clock.sleep).run()
    assert seen == ["apply", "apply", "end"]
    assert clock.now == 1010.0


def test_a_fault_applied_late_still_lasts_its_duration() -> None:
    """An apply that went on 1.5s late (a slow apply on a busy host) is reverted its full
    3s after it went on, not at its planned time (which would cut it to 1.5s)."""
    clock = FakeClock(0.0)
    seen: list[tuple[str, str, float]] = []

    def execute(action: Action) -> None:
        if action.kind == "apply" and action.fault == "a":
            clock.now += 1.5  # the apply itself took 1.5s
        seen.append((action.kind, action.fault, clock.now))

    actions = [Action(2.0, "apply", "a"), Action(5.0, "revert", "a"), Action(9.0, "end")]
    Scheduler(actions, 0.0, execute, clock=clock, sleep=clock.sleep).run()
    applied = next(at for kind, _, at in seen if kind == "apply")
    reverted = next(at for kind, _, at in seen if kind == "revert")
    assert applied == pytest.approx(3.5)
    assert 3.0 <= reverted - applied < 3.11


def test_ticks_about_once_a_second() -> None:
    """The progress tick fires about every tick_interval while waiting, with elapsed time."""
    clock = FakeClock(0.0)
    ticks: list[float] = []
    Scheduler(
        [Action(5.0, "end")],
        0.0,
        lambda a: None,
        tick=ticks.append,
        clock=clock,
        sleep=clock.sleep,
    ).run()
    assert ticks[0] == 0.0
    assert 5 <= len(ticks) <= 7
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert all(gap <= 1.0 + 1e-6 for gap in gaps[:-1])


def test_an_exception_in_an_action_stops_the_loop() -> None:
    """A failing action propagates; later actions are not run."""
    clock = FakeClock(0.0)
    ran: list[str] = []

    def execute(action: Action) -> None:
        ran.append(action.fault)
        if action.fault == "b":
            raise RuntimeError("boom")

    scheduler = Scheduler(ACTIONS, 0.0, execute, clock=clock, sleep=clock.sleep)
    with pytest.raises(RuntimeError, match="boom"):
        scheduler.run()
    assert ran == ["a", "b"]
    assert scheduler.done == ACTIONS[:1]
