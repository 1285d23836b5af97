"""The small loop that carries out a planned timeline on the wall clock.

It owns no decision: `harness.engine.timeline.plan_actions` says what happens when; this
loop waits for each action's time (in short slices, so the progress display keeps
ticking and a signal is acted on at once), hands the action to `execute`, and calls
`tick` about once per `tick_interval`. A fault applied late (the host was busy, the
apply slow) has its revert moved as much later (`timeline.after_apply`), so the fault
lasts its duration. Clock and sleep are arguments, so tests run it on
a fake clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from harness.engine.timeline import Action, after_apply

Clock = Callable[[], float]
Sleep = Callable[[float], None]

SLICE_S = 0.1


class Scheduler:
    """Runs `actions` (seconds since `t0`) in order; `execute` does the work of each."""

    def __init__(
        self,
        actions: Sequence[Action],
        t0: float,
        execute: Callable[[Action], None],
        *,
        tick: Callable[[float], None] | None = None,
        tick_interval: float = 1.0,
        clock: Clock = time.time,
        sleep: Sleep = time.sleep,
    ) -> None:
        self._actions = list(actions)
        self._t0 = t0
        self._execute = execute
        self._tick = tick
        self._tick_interval = tick_interval
        self._clock = clock
        self._sleep = sleep
        self._next_tick: float | None = None
        self.done: list[Action] = []

    def run(self) -> None:
        """Carry out every action at its time; returns after the last one."""
        pending = list(self._actions)
        while pending:
            action = pending.pop(0)
            self._wait_until(self._t0 + action.at_s)
            self._execute(action)
            self.done.append(action)
            if action.kind == "apply":
                late = self._clock() - (self._t0 + action.at_s)
                pending = after_apply(pending, action, late)
            self._maybe_tick(force=True)

    def _wait_until(self, moment: float) -> None:
        while True:
            self._maybe_tick(force=False)
            now = self._clock()
            left = moment - now
            if left <= 0:
                return
            if self._next_tick is not None:
                left = min(left, max(self._next_tick - now, 0.001))
            self._sleep(min(SLICE_S, left))

    def _maybe_tick(self, *, force: bool) -> None:
        if self._tick is None:
            return
        now = self._clock()
        due = self._next_tick is None or now >= self._next_tick - 1e-6
        if force or due:
            self._next_tick = now + self._tick_interval
            self._tick(now - self._t0)
