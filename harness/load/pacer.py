"""One worker's share of the open-loop schedule, handed out to its connections.

Each Locust user of a worker is one connection (as in wrk2). A user loops: `claim()` the
next request of the worker's schedule, sleep until its intended time, send it, `done()`.
A request is claimed by whichever connection is free first; when every connection is busy
(the target stalls), the next request waits for one, is sent late, and its corrected latency
carries the wait. The pacer decides and keeps the books; it never sleeps or touches a
socket, so it is tested with plain values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from harness.load.livestats import WindowStats
from harness.load.records import Record
from harness.load.routes import RoutePicker
from harness.load.schedule import Schedule, Slot
from harness.load.tracecontext import TraceIds
from harness.spec.load import LoadSpec, RouteSpec

DEFAULT_HEADERS = {"Accept-Encoding": "identity", "User-Agent": "meshproof-load"}


@dataclass(frozen=True)
class PreparedRoute:
    """A route ready to send: the body encoded and the default headers merged in."""

    name: str
    method: str
    path: str
    body: bytes | None
    headers: dict[str, str]

    @classmethod
    def of(cls, route: RouteSpec) -> PreparedRoute:
        headers = {**DEFAULT_HEADERS, **route.headers}
        body = route.body.encode("utf-8") if route.body else None
        return cls(route.name, route.method, route.path, body, headers)


@dataclass(frozen=True)
class Request:
    """A claimed request: when it is meant to go, where, and its trace context."""

    number: int
    intended_s: float
    route: PreparedRoute
    traceparent: str
    trace_id: str

    def headers(self) -> dict[str, str]:
        return {**self.route.headers, "traceparent": self.traceparent}


class Pacer:
    """Hands out worker `worker`'s requests in order and records each one that completes."""

    def __init__(
        self,
        spec: LoadSpec,
        worker: int,
        workers: int,
        start_s: float,
        write: Callable[[str], None],
        trace_ids: TraceIds | None = None,
    ) -> None:
        schedule = Schedule.of(spec)
        self._slots: Iterator[Slot] = schedule.slots(worker, workers, start_s)
        self._end_s = schedule.duration
        self._picker = RoutePicker(spec.routes, spec.seed)
        self._routes = [PreparedRoute.of(r) for r in spec.routes]
        self._write = write
        self._trace_ids = trace_ids or TraceIds()
        self.stats = WindowStats()
        self.pending = 0
        self.unsent = 0
        self.exhausted = False

    @property
    def finished(self) -> bool:
        """Every request of the schedule has been claimed and has completed."""
        return self.exhausted and self.pending == 0

    def claim(self, now_s: float) -> Request | None:
        """The next request to send, or None when the schedule is done.

        Nothing is sent after the schedule's end: requests still waiting for a connection
        then (the target stalled) are counted as `unsent`, so every request ends within
        `spec.timeout` of the end, the driver's hard bound.
        """
        slot = None if now_s >= self._end_s else next(self._slots, None)
        if slot is None:
            if not self.exhausted:
                self.exhausted = True
                self.unsent += sum(1 for _ in self._slots)
            return None
        self.pending += 1
        traceparent, trace_id = self._trace_ids.traceparent()
        route = self._routes[self._picker.pick(slot.number)]
        return Request(slot.number, slot.intended_s, route, traceparent, trace_id)

    def sent(self) -> None:
        self.stats.record_send()

    def done(
        self,
        request: Request,
        sent_s: float,
        done_s: float,
        status: int,
        nbytes: int,
        error: str = "",
    ) -> Record:
        """Record a completed (or failed) request; every claimed request ends here once."""
        self.pending -= 1
        record = Record.of(
            request.intended_s,
            sent_s,
            done_s,
            status=status,
            nbytes=nbytes,
            route=request.route.name,
            method=request.route.method,
            trace_id=request.trace_id,
            error=error,
        )
        self._write(record.json_line())
        self.stats.record_done(done_s, record.latency_ms, record.corrected_ms, status)
        return record
