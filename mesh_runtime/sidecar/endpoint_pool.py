"""The client side over HTTP/1.1: a keep-alive pool of connections per endpoint.

`EndpointPool` hands out idle connections (`upstream.UpstreamConnection`, skipping any the
peer closed while they sat idle) and takes them back once their response is complete. A
request that finds none idle waits for the first one to come free or to be opened,
whichever is first: connections are opened for the waiting requests (never more at once
than wait, nor than `MAX_CONNECTING`, nor than the circuit breaker allows), under a
connect timeout. A pool that opened one connection per request that found every
connection busy turned each pause of a loaded host into hundreds of mTLS handshakes (each
60-85 KB of resident memory that stays with the process after the connection closes), and
the handshakes' CPU into a longer pause (the soak of issue 17). A connection that fails to
open is the `ConnectFailure` of the request first in line.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from mesh_runtime.sidecar.tls import principal_of
from mesh_runtime.sidecar.upstream import AttemptError, ConnectFailure, UpstreamConnection

if TYPE_CHECKING:
    from mesh_runtime.sidecar.h2_pool import H2Pool


class PoolOverflow(Exception):
    """No connection may be opened and no request may wait (circuit breaker)."""


MAX_CONNECTING: Final = 4
"""Connections one endpoint pool opens at once at most; the requests beyond wait for the
first connection to come free or to be opened."""


def _always() -> bool:
    return True


@dataclass(frozen=True)
class UpstreamTLS:
    """Originate mTLS: the current client context, and the SPIFFE ID the peer must have."""

    context: Callable[[], ssl.SSLContext | None]
    principal: str
    h2_context: Callable[[], ssl.SSLContext | None] | None = None
    """The context of HTTP/2 connections (ALPN `h2`); None: `context`."""


class EndpointPool:
    """Keep-alive connections to one upstream address (over mTLS when `tls` is set)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.address = f"{host}:{port}"
        """host:port, as the access log names the upstream (made once, not per request)."""
        self.idle: deque[UpstreamConnection] = deque()
        self.open = 0
        """Connections open or being opened (each counted down once, when it closes)."""
        self.connecting = 0
        """Connections being opened (`MAX_CONNECTING` at most)."""
        self.max_connecting = MAX_CONNECTING
        self.active = 0
        """Requests in flight to this endpoint (least-request balancing reads it)."""
        self.max_requests_per_connection = 0
        self.max_concurrent_streams = 2**31 - 1
        """Streams one HTTP/2 connection carries at once at most (below the peer's limit)."""
        self.idle_timeout = 60.0
        self.tls: UpstreamTLS | None = None
        self._waiters: deque[asyncio.Future[UpstreamConnection | None]] = deque()
        self._opening: set[asyncio.Task[None]] = set()
        self._returned = 0
        """Connections that came back from a request (the pool's sign of throughput)."""
        self.h2: H2Pool | None = None
        """The HTTP/2 connections to the same address (`h2_pool.h2_pool_of` makes it)."""

    @property
    def pending(self) -> int:
        """Requests waiting beyond those a connection is being opened for (Envoy's
        pending requests, which the circuit breaker bounds)."""
        waiting = max(0, len(self._waiters) - self.connecting)
        return waiting + self.h2.pending if self.h2 is not None else waiting

    async def checkout(
        self,
        connect_timeout: float,
        may_open: Callable[[], bool] = _always,
        may_wait: Callable[[], bool] = _always,
    ) -> tuple[UpstreamConnection, bool]:
        """A connection to send one request on, and whether it carried one before.

        An idle connection at once; else the request waits for the first connection to
        come free or to be opened. One is opened for it while fewer are being opened than
        requests wait (at most `max_connecting`) and `may_open` (the circuit breaker's
        connection limit) allows; when none is, `may_wait` false (its pending limit) is
        PoolOverflow. A connection that failed to open is the ConnectFailure of the
        request first in line."""
        first = False
        while True:
            conn = self.take_idle()
            if conn is not None:
                return conn, True
            opening = self.connecting < min(len(self._waiters) + 1, self.max_connecting)
            if opening and may_open():
                self._open_one(connect_timeout)
            elif not may_wait():
                raise PoolOverflow
            conn = await self.wait_for_connection(first)
            if conn is not None and not conn.closed:
                return conn, conn.requests > 0
            first = True  # woken to look again (a connection closed): keep its place

    def _open_one(self, timeout: float) -> None:
        self.connecting += 1
        self.open += 1  # now: the next request's `may_open` counts it
        task = asyncio.get_running_loop().create_task(self._opened(timeout))
        self._opening.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(self._opening.discard)

    async def _opened(self, timeout: float) -> None:
        """Open a connection for the waiting requests: it goes to the first in line (or
        idle); a failure is the first one's error. While none came back meanwhile (the
        upstream holds them all), the next waiting request opens another."""
        returned = self._returned
        try:
            conn = await self._connect(timeout)
        except AttemptError as exc:
            self.connecting -= 1
            self._fail_first(exc)
            self._look_again()
            return
        except BaseException:
            self.connecting -= 1
            raise
        self.connecting -= 1
        self._idle(conn)
        if self._returned == returned:
            self._look_again()

    def _look_again(self) -> None:
        """More requests wait than connections are being opened: the first of them looks
        again (and opens one, if it may)."""
        if len(self._waiters) > self.connecting:
            self._wake_one(None)

    def _fail_first(self, error: AttemptError) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(error)
                return

    def take_idle(self) -> UpstreamConnection | None:
        """An idle connection still open and fresh enough, or None."""
        now = time.monotonic()
        while self.idle:
            conn = self.idle.pop()
            if conn.closed or conn.transport is None or conn.transport.is_closing():
                continue
            if now - conn.last_used > self.idle_timeout:
                conn.close()
                continue
            return conn
        return None

    def set_tls(self, tls: UpstreamTLS | None) -> None:
        """Change how new connections are made; idle ones of the old kind are closed."""
        if tls != self.tls:
            self.tls = tls
            self.close_all()

    async def connect(self, timeout: float) -> UpstreamConnection:
        """One new connection, not through the line of waiting requests (ConnectFailure)."""
        self.open += 1
        return await self._connect(timeout)

    async def _connect(self, timeout: float) -> UpstreamConnection:
        """Open a connection already counted in `open` (counted down once if none is)."""
        loop = asyncio.get_running_loop()
        tls = self.tls
        context = tls.context() if tls is not None else None
        if tls is not None and context is None:
            self.open -= 1
            raise ConnectFailure("no workload certificate yet to originate mTLS")
        made: list[UpstreamConnection] = []

        def protocol() -> UpstreamConnection:
            conn = UpstreamConnection(self._idle, self._closed)
            made.append(conn)
            return conn

        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(protocol, self.host, self.port, ssl=context), timeout
            )
        except (OSError, TimeoutError) as exc:  # ssl.SSLError is an OSError
            self._not_opened(made)
            raise ConnectFailure(f"connect to {self.host}:{self.port} failed: {exc}") from None
        except BaseException:
            self._not_opened(made)
            raise
        if tls is not None:
            self._check_peer(conn, tls.principal)
        return conn

    def _not_opened(self, made: list[UpstreamConnection]) -> None:
        """Count down a connect that returned no connection, once, without waking a
        waiting request (the failure is for the first one). A cancel or a timeout can
        land after the connection was made (over TLS once the handshake is done) and
        uvloop makes the protocol before it connects: counting such a connection down
        here and again as it closed drove `open` below zero under load (the gateway's
        pool read -198), so the circuit breaker's and the services' caps never held."""
        conn = made[0] if made else None
        if conn is not None and conn.closed:
            return  # counted down as it closed
        if conn is not None:
            conn.drop_unopened()
        self.open -= 1

    def _check_peer(self, conn: UpstreamConnection, expected: str) -> None:
        """Secure naming: the server's certificate must carry the destination's SPIFFE ID."""
        transport = conn.transport
        if transport is None:  # closed by the peer as it opened, counted down in _closed
            raise ConnectFailure(f"upstream {self.host}:{self.port} closed the connection")
        got = principal_of(transport.get_extra_info("peercert"))
        if got != expected:
            conn.close()  # counted down in _closed
            raise ConnectFailure(f"upstream {self.host}:{self.port} is {got!r}, not {expected!r}")

    async def wait_for_connection(self, first: bool = False) -> UpstreamConnection | None:
        """Wait until a connection comes back or is opened (None: one closed, look again;
        raises the AttemptError of a connection that failed to open); `first`: at the
        head of the line."""
        waiter: asyncio.Future[UpstreamConnection | None] = (
            asyncio.get_running_loop().create_future()
        )
        if first:
            self._waiters.appendleft(waiter)
        else:
            self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            handed = (
                waiter.result()
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None
                else None
            )
            if handed is not None:
                self._idle(handed)  # handed over as we were cancelled: pass it on
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def close_all(self) -> None:
        while self.idle:
            self.idle.pop().close()
        if self.h2 is not None:
            self.h2.close_all()

    def _idle(self, conn: UpstreamConnection) -> None:
        if conn.requests:
            self._returned += 1
        limit = self.max_requests_per_connection
        if limit and conn.requests >= limit:
            conn.close()
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self.idle.append(conn)
        self._close_stale(conn.last_used)

    def _close_stale(self, now: float) -> None:
        """Close the idle connections unused for `idle_timeout`. Requests take the most
        recently used (the right end), so those a burst opened sit at the left end and are
        never taken while steady traffic keeps a few busy: without this they stayed open,
        and held their buffers, for as long as the sidecar ran."""
        idle = self.idle
        while idle and now - idle[0].last_used > self.idle_timeout:
            idle.popleft().close()

    def _closed(self, conn: UpstreamConnection) -> None:
        self.open -= 1
        with contextlib.suppress(ValueError):
            self.idle.remove(conn)
        self._wake_one(None)

    def _wake_one(self, value: UpstreamConnection | None) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(value)
                return
