"""The Locust side of a worker: one Locust user per connection, keeping the schedule.

Imports Locust, hence gevent and its monkey-patching: only `harness.load.locust_main`,
running in a Locust process of its own, may import this module.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import gevent
from gevent.event import Event
from locust import User, constant, task
from locust.exception import StopUser

from harness.load.grpc_client import GrpcChannels, grpc_exchange
from harness.load.grpc_reply import call_timeout
from harness.load.hdr import SecondHistograms
from harness.load.http1_client import KeptConnection, PreparedRequest
from harness.load.ingress import ssl_context
from harness.load.pacer import Pacer, PreparedRoute, Request, connections_to_open, share_of
from harness.load.plan import LoadPlan
from harness.load.pool import LOOK_S, InFlightPeaks, connections_to_keep
from harness.load.readable import GreenReadable, answers_waiting
from harness.load.records import Record, error_text
from harness.load.tcp_client import tcp_exchange
from harness.load.transport import Batcher
from harness.spec.load import GrpcRouteSpec, TcpRouteSpec
from mesh_runtime.target import IngressAccess

USER_CLASS_NAME = "OpenLoopUser"
BEGIN_TIMEOUT_S = 60.0
"""How long a spawned user waits for its worker to take its share of the schedule."""
GROW_CHECK_S = 0.005
"""How often a worker looks for due requests that no connection is free to send."""


class RunClock:
    """Seconds since the run's `t0`, from the monotonic clock (immune to wall-clock steps)."""

    def __init__(self, t0: float) -> None:
        self._offset = time.time() - t0 - time.perf_counter()

    def now_s(self) -> float:
        return time.perf_counter() + self._offset


class WorkerState:
    """A worker process's pacer and outgoing batches, made once its index is known.

    `announced` is set once the master's plan and t0 arrived, `began` once the share is
    taken; the users Locust spawns wait for `began` (they may be spawned first, in the
    same turn of the event loop as the spawn message that announces t0). The worker writes
    no file: its records, histograms and status go to the master in batches (`send`, a
    Locust custom message; `harness.load.transport`).
    """

    def __init__(self, send: Callable[[dict[str, Any]], object]) -> None:
        self.plan: LoadPlan | None = None
        self.t0: float | None = None
        self.clock = RunClock(time.time())
        self.worker = -1
        self.pacer: Pacer | None = None
        self._send = send
        self.batcher: Batcher | None = None
        self._histograms = SecondHistograms()
        self.done = False
        self.shipped_done = False
        """The batch saying `done` is sent: this state ships nothing more."""
        self.stale_retries = 0
        """Requests sent again on a new connection because their pooled one was closed."""
        self.connections = 0
        """Connections (Locust users) of this worker, open or about to open."""
        self.peak_connections = 0
        self.keep = 1 << 30
        """Connections to keep: a user that finishes a request while there are more closes
        its connection instead of claiming another (`harness.load.pool`)."""
        self.closed_idle = 0
        """Connections closed so, the pool above what the load needed."""
        self.kept: set[KeptConnection] = set()
        """The users' HTTP connections (their sockets tell whether an answer waits)."""
        self.announced = Event()
        self.began = Event()

    def set_plan(self, plan: LoadPlan, t0: float) -> None:
        """The plan and the schedule's start, as the master announced them (before it
        spawns users)."""
        self.plan = plan
        self.t0 = t0
        self.clock = RunClock(t0)
        self.announced.set()

    def begin(self, worker: int) -> None:
        """Start keeping worker `worker`'s share of the schedule (the master assigns `worker`)."""
        if self.plan is None or self.t0 is None:
            raise RuntimeError("the master spawned users before announcing the plan and t0")
        workers = self.plan.spec.workers
        if not 0 <= worker < workers:
            raise RuntimeError(f"worker index {worker} outside 0..{workers - 1}")
        self.worker = worker
        self.batcher = Batcher(worker)
        self.pacer = Pacer(
            self.plan.spec, worker, workers, self.clock.now_s(), self.batcher.add_record
        )
        self.ship()
        self.began.set()

    @property
    def sends_http(self) -> bool:
        """Whether any route of the plan is an HTTP request (on the users' kept connections)."""
        routes = self.plan.spec.routes if self.plan is not None else []
        return any(route.tcp is None and route.grpc is None for route in routes)

    def leave(self) -> bool:
        """Whether a user that has just finished a request (nothing in flight on its
        connection, the answer read) closes its connection: the pool keeps fewer. It
        is counted out at once, so no more leave than there are to close."""
        if self.connections <= self.keep:
            return False
        self.connections -= 1
        self.closed_idle += 1
        return True

    def kept_filenos(self) -> list[int]:
        """The descriptors of the HTTP connections open now."""
        return [fd for fd in (http.fileno() for http in self.kept) if fd >= 0]

    def record_latency(self, record: Record) -> None:
        """Into the HDR histogram of the request's intended second (`harness.load.hdr`)."""
        self._histograms.record(record.intended_s, record.latency_ms, record.corrected_ms)

    def after_request(self) -> None:
        if self.pacer is not None and self.pacer.finished and not self.done:
            self.done = True
            self.ship()
        elif self.batcher is not None and self.batcher.full:
            self.ship()

    def ship(self) -> None:
        """Send the master what is waiting: records, histograms, then the status (called
        each second, when a batch is full, and once the share is done). Nothing after the
        batch that said done: it held the last record, and a later one would reach the
        master after it moved on to the next block of a series (`LoadDriver.series`)."""
        if self.pacer is None or self.batcher is None or self.shipped_done:
            return
        self._histograms.flush(self.batcher.add_hdr)
        now = self.clock.now_s()
        status: dict[str, Any] = self.pacer.stats.snapshot(now)
        status.update(worker=self.worker, done=self.done, updated_s=now, unsent=self.pacer.unsent)
        status["stale_retries"] = self.stale_retries
        status.update(connections=self.connections, peak_connections=self.peak_connections)
        status["closed_idle"] = self.closed_idle
        status["shipped"] = self.batcher.shipped + self.batcher.waiting
        self._send(self.batcher.take(status))
        self.shipped_done = self.done


def grow_connections(state: WorkerState, spawn: Callable[[int], object]) -> None:
    """Open connections while requests fall due with every connection waiting for an answer,
    and let those not needed for `load.idle_timeout` since the pool last grew close.

    Runs as a greenlet of the worker once its share is taken, until the schedule is done;
    `spawn(n)` starts `n` more Locust users. The worker's ceiling is its share of
    `load.max_connections`. Connections whose answers are back but not read yet are the
    worker's CPU behind, not the pool (`answers_waiting`). Every `pool.LOOK_S` it sets
    how many connections it keeps (`state.keep`, `harness.load.pool`); users above that
    close as they finish a request.
    """
    pacer = state.pacer
    if pacer is None or state.plan is None:
        return
    spec = state.plan.spec
    ceiling = share_of(spec.connection_ceiling, state.worker, spec.workers)
    base = share_of(spec.connections, state.worker, spec.workers)
    peaks = InFlightPeaks(spec.idle_timeout) if spec.idle_timeout > 0 else None
    next_look = state.clock.now_s() + LOOK_S
    while not pacer.exhausted:
        now = state.clock.now_s()
        if peaks is not None and now >= next_look:
            next_look = now + LOOK_S
            peaks.add(pacer.take_peak())
            state.keep = connections_to_keep(base, peaks.most(), ceiling)
        # More connections help only when every one is waiting for an answer, and no more
        # than the ceiling leaves: count the overdue requests only then, and only so far.
        room = ceiling - state.connections if pacer.in_flight >= state.connections else 0
        overdue = pacer.overdue(now, at_most=room)
        answered = answers_waiting(state.kept_filenos()) if overdue else 0
        more = connections_to_open(overdue, pacer.in_flight, state.connections, ceiling, answered)
        if more:
            state.keep = ceiling  # the new ones are needed now; none may leave
            if peaks is not None:
                peaks.reset()
            spawn(more)
        gevent.sleep(GROW_CHECK_S)


class ScheduledConnection(User):
    """One keep-alive connection keeping its share of the worker's schedule.

    It sends on a `KeptConnection` of its own rather than through `FastHttpUser`: the
    cookie jar, URL handling and, above all, Locust's per-request statistics (which the
    records replace) would halve the rate a worker can send. `user_class` makes the
    concrete class.

    A keep-alive connection the server closed while it sat idle (a draining sidecar does)
    fails the next request before any response byte. As Go's net/http, browsers and Envoy
    do, the connection then sends an idempotent request once more on a new one; the
    record's latency includes that retry, and `WorkerState.stale_retries` counts them.
    """

    abstract = True
    wait_time = constant(0)
    state: WorkerState | None = None
    target_host: str = "127.0.0.1"
    target_port: int = 80
    prefix: str = ""
    """The target URL's path, without its trailing slash: every route's path follows it."""
    timeout: float = 10.0
    ingress: IngressAccess | None = None
    """Host header, extra headers and TLS of the ingress (an external target's)."""
    tcp_targets: dict[str, str] = {}
    """tcp service -> host:port the load's TCP routes connect to."""
    grpc_targets: dict[str, str] = {}
    """grpc service -> host:port the load's gRPC routes call."""

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        # Its own block's state: the class's is the next block's once a series moves on.
        self.state = type(self).state
        if self.state is not None:
            self.state.connections += 1
            self.state.peak_connections = max(self.state.peak_connections, self.state.connections)
        tls = self.ingress is not None and self.ingress.tls
        self.http = KeptConnection(
            self.target_host,
            self.target_port,
            self.timeout,
            ssl_context=ssl_context(self.ingress) if tls and self.ingress else None,
            server_name=self.ingress.server_name if tls and self.ingress else None,
            readable=GreenReadable,
        )
        if self.state is not None:
            self.state.kept.add(self.http)
        self.ingress_headers = self.ingress.request_headers() if self.ingress else {}
        self.left = False
        """It closed its connection because the pool keeps fewer (`WorkerState.leave`)."""
        self._prepared: dict[str, PreparedRequest] = {}
        """Route name -> its request, made on the route's first request."""
        self.channels = GrpcChannels()

    def on_stop(self) -> None:
        self.http.close()
        self.channels.close()
        if self.state is not None:
            if not self.left:
                self.state.connections -= 1
            self.state.kept.discard(self.http)

    @task
    def keep_schedule(self) -> None:
        state = self.state
        if state is None or not state.began.wait(BEGIN_TIMEOUT_S) or state.pacer is None:
            raise StopUser()
        if state.sends_http:
            self._open()
        pacer, clock = state.pacer, state.clock
        # Between two requests, before it claims the next: nothing in flight on it, its
        # answer read, and no request waits for it.
        while not state.leave():
            request = pacer.claim(clock.now_s())
            if request is None:
                break
            delay = request.intended_s - clock.now_s()
            if delay > 0:
                gevent.sleep(delay)
            self._send(state, pacer, request)
        else:  # the loop's condition ended it: the pool keeps fewer
            self.left = True
        state.after_request()
        raise StopUser()

    def _open(self) -> None:
        """Connect before claiming a request: the first users connect before t0 (they are
        spawned half a second ahead), and a user opened because requests fell due connects
        before it takes one. A connection that fails here is tried again by the request,
        which records the failure."""
        with contextlib.suppress(OSError):
            self.http.connect()

    def _send(self, state: WorkerState, pacer: Pacer, request: Request) -> None:
        route = request.route
        if route.tcp is not None:
            self._send_tcp(state, pacer, request, route.tcp)
            return
        if route.grpc is not None:
            self._send_grpc(state, pacer, request, route.grpc)
            return
        sent = state.clock.now_s()
        pacer.sent(request, sent)
        retried = self.http.stale_retries
        try:
            prepared = self._prepared.get(route.name) or self._prepare(route)
            traceparent = f"traceparent: {request.traceparent}\r\n"
            status, nbytes = self.http.send(prepared, traceparent)
            error = ""
        except Exception as exc:  # no answer: refused, reset, timed out, malformed
            status, nbytes, error = 0, 0, error_text(exc)
        state.stale_retries += self.http.stale_retries - retried
        state.record_latency(pacer.done(request, sent, state.clock.now_s(), status, nbytes, error))
        state.after_request()

    def _prepare(self, route: PreparedRoute) -> PreparedRequest:
        """The route's request as this connection sends it, but for its traceparent: the
        ingress's headers, then the route's (which win)."""
        headers = {**self.ingress_headers, **route.headers}
        headers.pop("traceparent", None)
        prepared = self.http.prepare(route.method, self.prefix + route.path, headers, route.body)
        self._prepared[route.name] = prepared
        return prepared

    def _send_tcp(
        self, state: WorkerState, pacer: Pacer, request: Request, tcp: TcpRouteSpec
    ) -> None:
        """A raw TCP route: a connection of its own to the service's address."""
        sent = state.clock.now_s()
        pacer.sent(request, sent)
        status, nbytes, error = tcp_exchange(self.tcp_targets[tcp.service], tcp, self.timeout)
        state.record_latency(pacer.done(request, sent, state.clock.now_s(), status, nbytes, error))
        state.after_request()

    def _send_grpc(
        self, state: WorkerState, pacer: Pacer, request: Request, call: GrpcRouteSpec
    ) -> None:
        """A unary gRPC call on this connection's channel to the service's address, with
        the request's traceparent in its metadata."""
        channel = self.channels.get(self.grpc_targets[call.service], call.service)
        metadata = (*call.metadata.items(), ("traceparent", request.traceparent))
        timeout = call_timeout(call.deadline, self.timeout)
        sent = state.clock.now_s()
        pacer.sent(request, sent)
        status, nbytes, error = grpc_exchange(
            channel, call.full_method, request.route.body or b"", metadata, timeout
        )
        state.record_latency(pacer.done(request, sent, state.clock.now_s(), status, nbytes, error))
        state.after_request()


def user_class(state: WorkerState | None) -> type[ScheduledConnection]:
    """The run's user class; `state` is None in the master, which only counts users. A
    worker learns where to send from the plan in the master's spawn message (`aim`)."""
    attributes = {"abstract": False, "state": state, "__module__": __name__}
    return type(USER_CLASS_NAME, (ScheduledConnection,), attributes)


def aim(cls: type[ScheduledConnection], plan: LoadPlan) -> None:
    """Point the user class at the plan's target (before any user of it is made)."""
    cls.host = plan.target_url
    target = urlsplit(plan.target_url)
    cls.target_host = target.hostname or "127.0.0.1"
    cls.target_port = target.port or (443 if target.scheme == "https" else 80)
    cls.prefix = target.path.rstrip("/")
    cls.timeout = plan.spec.timeout
    cls.ingress = plan.ingress
    cls.tcp_targets = dict(plan.tcp_targets)
    cls.grpc_targets = dict(plan.grpc_targets)
