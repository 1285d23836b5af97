"""One worker's share of the open-loop schedule, handed out to its connections.

Each Locust user of a worker is one connection (as in wrk2). A user loops: `claim()` the
next request of the worker's schedule, sleep until its intended time, send it, `done()`.
A request is claimed by whichever connection is free first. When every connection is
waiting for an answer and a request is due, the worker opens more connections
(`connections_to_open`), up to its share of `load.max_connections`, so that requests keep
leaving on time (not when the answers are back and wait to be read: its CPU is behind);
once the ceiling is reached the next request waits for a free connection, is sent late,
and its corrected latency carries the wait. A request that leaves more than
`LATE_BOUND_MS` after its intended time is *late*: the run counts them and says so. The
pacer decides and keeps the books; it never sleeps or touches a socket, so it is tested
with plain values.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from harness.load.livestats import WindowStats
from harness.load.records import Record
from harness.load.routes import RoutePicker
from harness.load.schedule import Schedule, Slot
from harness.load.tracecontext import TraceIds
from harness.spec.load import GrpcRouteSpec, LoadSpec, RouteSpec, TcpRouteSpec

DEFAULT_HEADERS = {"Accept-Encoding": "identity", "User-Agent": "meshproof-load"}
GROW_AFTER_S = 0.002
"""A request this overdue, with every connection waiting for an answer, opens another."""
_LOOKAHEAD_MAX = 10_000


def share_of(total: int, worker: int, workers: int) -> int:
    """Worker `worker`'s share of `total` (connections), as Locust spreads users: the first
    `total % workers` workers get one more."""
    return total // workers + (1 if worker < total % workers else 0)


def connections_to_open(
    overdue: int, in_flight: int, connections: int, ceiling: int, answered: int = 0
) -> int:
    """How many connections to open now so that the `overdue` requests can leave.

    Only when every open connection is waiting for its answer. A due request with a
    connection free is waiting for the worker's CPU, and more connections would not help;
    nor do they when half the connections in flight or more have their answer back but
    not read yet (`answered`, as their sockets tell): the worker is behind on CPU, not
    short of connections, and each new one would only add work. Otherwise each answered
    connection takes an overdue request soon and the rest get one each, up to the ceiling
    and at most as many again as are open, so that the next look (a few ms later) sees
    what they did before a backlog of thousands becomes as many connections. None while
    none is open: the users Locust spawns at the start are still to come.
    """
    if overdue <= 0 or connections <= 0 or in_flight < connections or 2 * answered >= in_flight:
        return 0
    return max(0, min(overdue - answered, ceiling - connections, connections))


@dataclass(frozen=True)
class PreparedRoute:
    """A route ready to send: the body encoded and the default headers merged in."""

    name: str
    method: str
    path: str
    body: bytes | None
    headers: dict[str, str]
    tcp: TcpRouteSpec | None = None
    """A raw TCP exchange instead of an HTTP request (`method` is 'TCP')."""
    grpc: GrpcRouteSpec | None = None
    """A unary gRPC call instead of an HTTP request (`method` is 'GRPC')."""

    @classmethod
    def of(cls, route: RouteSpec) -> PreparedRoute:
        headers = {**DEFAULT_HEADERS, **route.headers}
        body = route.body.encode("utf-8") if route.body else None
        if route.grpc is not None:
            body = route.grpc.message_bytes()
        return cls(route.name, route.label_method, route.path, body, headers, route.tcp, route.grpc)


class Request(NamedTuple):
    """A claimed request: when it is meant to go, where, and its trace context (a named
    tuple: one is made a request)."""

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
        self._ahead: deque[Slot] = deque()
        self._end_s = schedule.duration
        self._picker = RoutePicker(spec.routes, spec.seed)
        self._routes = [PreparedRoute.of(r) for r in spec.routes]
        self._write = write
        self._trace_ids = trace_ids or TraceIds()
        self.stats = WindowStats()
        self.pending = 0
        """Claimed and not yet completed (waiting for their time, or in flight)."""
        self.in_flight = 0
        """Sent and not yet completed."""
        self.peak_in_flight = 0
        """The most requests in flight together since `take_peak` (`harness.load.pool`).
        Late sends count too: at its ceiling, with the target slow, every send is late and
        every connection needed. So a worker behind on CPU, which sends its overdue requests
        in a burst and reads their answers late, keeps as many as a burst had in flight."""
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
        slot = None if now_s >= self._end_s else self._next_slot()
        if slot is None:
            if not self.exhausted:
                self.exhausted = True
                self.unsent += len(self._ahead) + sum(1 for _ in self._slots)
                self._ahead.clear()
            return None
        self.pending += 1
        traceparent, trace_id = self._trace_ids.traceparent()
        route = self._routes[self._picker.pick(slot.number)]
        return Request(slot.number, slot.intended_s, route, traceparent, trace_id)

    def overdue(self, now_s: float, at_most: int = _LOOKAHEAD_MAX) -> int:
        """Unclaimed requests already `GROW_AFTER_S` past their intended time, counted up
        to `at_most` (a worker far behind would otherwise walk thousands of them every few
        milliseconds only to open the few connections its ceiling leaves)."""
        if self.exhausted or at_most <= 0:
            return 0
        limit = min(now_s, self._end_s) - GROW_AFTER_S
        count = 0
        for slot in self._ahead:
            if slot.intended_s > limit or count >= at_most:
                return count
            count += 1
        while len(self._ahead) < _LOOKAHEAD_MAX and count < at_most:
            upcoming = next(self._slots, None)
            if upcoming is None:
                break
            self._ahead.append(upcoming)
            if upcoming.intended_s > limit:
                break
            count += 1
        return count

    def _next_slot(self) -> Slot | None:
        return self._ahead.popleft() if self._ahead else next(self._slots, None)

    def sent(self, request: Request, sent_s: float) -> None:
        self.in_flight += 1
        if self.in_flight > self.peak_in_flight:
            self.peak_in_flight = self.in_flight
        self.stats.record_send((sent_s - request.intended_s) * 1000.0, sent_s)

    def take_peak(self) -> int:
        """The most requests in flight together since the last call; counting starts again
        from those in flight now."""
        peak, self.peak_in_flight = self.peak_in_flight, self.in_flight
        return peak

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
        self.in_flight -= 1
        record = Record.of(
            request.intended_s,
            sent_s,
            done_s,
            status=status,
            nbytes=nbytes,
            route=request.route.name,
            method=request.route.method,
            trace_id=request.trace_id if request.route.tcp is None else "",
            error=error,
        )
        self._write(record.json_line())
        self.stats.record_done(done_s, record.latency_ms, record.corrected_ms, status)
        return record
