"""When connections a worker grew for a backlog close again (`load.idle_timeout`).

A worker opens connections when requests fall due with every connection waiting for an
answer (`harness.load.pacer.connections_to_open`). Once the backlog is gone they are not
needed, but they are not idle one by one either: each free connection claims the next
request of the schedule, so a pool of 1 464 connections at 200 RPS sends on every one of
them every 7 s and none ever sits unused. What tells that the pool is too large is how
many requests were in flight together: a pool that hands each request to the connection
used last (as Go's net/http does) would have left all the others unused. So the worker
keeps, once `idle_timeout` has passed since the pool last grew, the most requests in flight
together over that time plus one spare (never fewer than its share of `load.connections`);
the others close one by one as they finish a request (`harness.load.user`), which is when
nothing is in flight on them and their answer is read. A look every `LOOK_S`; decisions
only, no clock or socket here.
"""

from __future__ import annotations

import math
from collections import deque

LOOK_S = 0.5
"""How often a worker takes the peak of its requests in flight and sets what it keeps."""
SPARE = 1
"""Connections kept beyond the most requests in flight together: a free one is there to
claim the next request while the others wait for their answers."""


class InFlightPeaks:
    """The most requests in flight together over the last `span_s` seconds, from the peak
    of each look; unknown (None) until looks have covered that span since the last reset
    (the pool grew: what it had before says nothing about what it needs now)."""

    def __init__(self, span_s: float, look_s: float = LOOK_S) -> None:
        self._peaks: deque[int] = deque(maxlen=max(1, math.ceil(span_s / look_s - 1e-9)))

    def add(self, peak: int) -> None:
        """The most requests in flight together since the previous look."""
        self._peaks.append(peak)

    def reset(self) -> None:
        self._peaks.clear()

    def most(self) -> int | None:
        if len(self._peaks) < (self._peaks.maxlen or 1):
            return None
        return max(self._peaks)


def connections_to_keep(base: int, most_in_flight: int | None, ceiling: int) -> int:
    """How many connections a worker keeps: all it may have (`ceiling`) while the span is
    not covered, else the most requests in flight together plus `SPARE`, at least `base`
    (its share of `load.connections`, which it opened at the start)."""
    if most_in_flight is None:
        return ceiling
    return min(ceiling, max(base, most_in_flight + SPARE))
