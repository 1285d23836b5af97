"""Waiting with a deadline: the pure part of readiness checks.

`wait_until` polls a check until it passes, the deadline passes, or a failure check says
waiting is pointless (the process died). The clock and the sleep are arguments, so tests
drive it with a fake clock and no sockets.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Clock = Callable[[], float]
Sleep = Callable[[float], None]
Outcome = Literal["ready", "failed", "timeout"]


@dataclass(frozen=True)
class Deadline:
    at: float
    clock: Clock = time.monotonic

    @classmethod
    def after(cls, seconds: float, clock: Clock = time.monotonic) -> Deadline:
        return cls(clock() + seconds, clock)

    def remaining(self) -> float:
        return max(0.0, self.at - self.clock())

    def passed(self) -> bool:
        return self.clock() >= self.at


def wait_until(
    ready: Callable[[], bool],
    deadline: Deadline,
    *,
    failed: Callable[[], bool] = lambda: False,
    interval: float = 0.05,
    sleep: Sleep = time.sleep,
) -> Outcome:
    """Poll `ready` every `interval` s until it is true, `failed` is true, or time is up.

    `ready` is checked once more after the deadline would have cut a sleep short, so a
    part that became ready in the last interval is not reported as a timeout.
    """
    while True:
        if ready():
            return "ready"
        if failed():
            return "failed"
        if deadline.passed():
            return "timeout"
        sleep(min(interval, max(deadline.remaining(), 0.001)))
