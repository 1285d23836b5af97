"""The open-loop schedule: when each request is *meant* to be sent.

The rate is piecewise linear in time: warm-up at `load.rps`, then either the measured
duration at the same rate or the stages, each ramping linearly from the previous rate to its
own (the first from `load.rps`). Requests are numbered in order of their intended send time;
request `k` is meant to go out at the time `t` where the expected number of requests sent
since the start, the integral of the rate, reaches `k`. So request 0 goes at 0 and, at a
constant 200 RPS, request `k` at `k / 200` seconds.

With `N` workers, worker `i` takes every `N`-th request (`i, i + N, i + 2N, ...`): the
workers together keep the whole schedule, each at a rate of `rps / N`, interleaved.
Times are seconds since the schedule's start (`t0`); nothing here reads a clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

from harness.spec.load import LoadSpec


class Slot(NamedTuple):
    """Request number `number` of the run is meant to be sent at `intended_s`."""

    number: int
    intended_s: float


@dataclass(frozen=True)
class Segment:
    """`duration` seconds from `start_s`, the rate ramping linearly `rate0` -> `rate1`."""

    start_s: float
    duration: float
    rate0: float
    rate1: float

    @property
    def requests(self) -> float:
        """Expected number of requests in the segment (the integral of the rate)."""
        return self.duration * (self.rate0 + self.rate1) / 2

    def time_of(self, count: float) -> float:
        """Seconds after the segment's start when `count` requests of it are due."""
        if count <= 0:
            return 0.0
        slope = (self.rate1 - self.rate0) / self.duration
        if abs(slope) < 1e-12:
            return count / self.rate0
        # Solve rate0 * x + slope / 2 * x^2 = count, in the form that is stable when
        # rate0 is 0 or slope is small.
        root = math.sqrt(max(self.rate0 * self.rate0 + 2 * slope * count, 0.0))
        return 2 * count / (self.rate0 + root)


def segments_of(spec: LoadSpec) -> list[Segment]:
    """The rate over the whole run (warm-up included) as linear segments."""
    parts: list[tuple[float, float, float]] = []
    if spec.warmup > 0:
        parts.append((spec.warmup, spec.rps, spec.rps))
    if spec.stages:
        previous = spec.rps
        for stage in spec.stages:
            parts.append((stage.duration, previous, stage.rps))
            previous = stage.rps
    else:
        parts.append((spec.duration, spec.rps, spec.rps))
    segments: list[Segment] = []
    start = 0.0
    for duration, rate0, rate1 in parts:
        if duration > 0:
            segments.append(Segment(start, duration, rate0, rate1))
            start += duration
    return segments


class Schedule:
    """Intended send times of the requests of a run, lazily, for one worker or for all."""

    def __init__(self, segments: list[Segment]) -> None:
        self._segments = segments
        self.duration = sum(s.duration for s in segments)
        self.total = math.ceil(sum(s.requests for s in segments) - 1e-9)
        """Number of requests in the whole schedule (all workers)."""

    @classmethod
    def of(cls, spec: LoadSpec) -> Schedule:
        return cls(segments_of(spec))

    def rate_at(self, t_s: float) -> float:
        """The target rate at `t_s` seconds (0 outside the schedule)."""
        for seg in self._segments:
            if seg.start_s <= t_s < seg.start_s + seg.duration:
                return seg.rate0 + (seg.rate1 - seg.rate0) * (t_s - seg.start_s) / seg.duration
        return 0.0

    def expected_between(self, start_s: float, end_s: float) -> float:
        """Requests due in `[start_s, end_s)` (all workers): the integral of the rate."""
        total = 0.0
        for seg in self._segments:
            a = max(start_s, seg.start_s)
            b = min(end_s, seg.start_s + seg.duration)
            if b > a:
                total += (b - a) * (self.rate_at(a) + self._rate_before(seg, b)) / 2
        return total

    @staticmethod
    def _rate_before(seg: Segment, t_s: float) -> float:
        """The segment's rate at `t_s`, its end included (where `rate_at` moves on)."""
        return seg.rate0 + (seg.rate1 - seg.rate0) * (t_s - seg.start_s) / seg.duration

    def slots(self, worker: int = 0, workers: int = 1, start_s: float = 0.0) -> Iterator[Slot]:
        """Intended send times of worker `worker` of `workers`, from `start_s` on, in order.

        Requests due before `start_s` are skipped: a worker that becomes ready late does not
        fire a burst of the requests it missed.
        """
        if not 0 <= worker < workers:
            raise ValueError(f"worker {worker} is not one of {workers} workers")
        k = worker
        before = 0.0  # requests due before the current segment
        for seg in self._segments:
            after = before + seg.requests
            while k < after - 1e-9:
                t = seg.start_s + seg.time_of(k - before)
                if t >= start_s:
                    yield Slot(k, t)
                k += workers
            before = after
