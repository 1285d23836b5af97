"""The client side: one upstream HTTP/1.1 connection, and a keep-alive pool per endpoint.

`UpstreamConnection` carries one request at a time. `EndpointPool` hands out idle
connections (skipping any the peer closed while they sat idle) and takes them back once
their response is complete. A request that finds none idle waits for the first one to
come free or to be opened, whichever is first: connections are opened for the waiting
requests (never more at once than wait, nor than `MAX_CONNECTING`, nor than the circuit
breaker allows), under a connect timeout. A pool that opened one connection per request
that found every connection busy turned each pause of a loaded host into hundreds of mTLS
handshakes (each 60-85 KB of resident memory that stays with the process after the
connection closes), and the handshakes' CPU into a longer pause (the soak of issue 17).
Failures are raised as the small `AttemptError` tree below, which the retry logic maps to
Envoy's conditions.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, cast

import httptools

from mesh_runtime.sidecar.http1 import (
    NO_BODY_STATUS,
    READ_BUFFER,
    BodyStream,
    ConnectionClosed,
    Response,
    end_to_end,
)
from mesh_runtime.sidecar.tls import principal_of

if TYPE_CHECKING:
    from mesh_runtime.sidecar.h2_pool import H2Pool


class AttemptError(Exception):
    """One try to an upstream failed without a usable response."""

    kind: ClassVar[str] = "reset"
    """Envoy's retry-on condition it matches (a class attribute: compiled by mypyc, an
    exception's plain class-level default would not be seen on its instances)."""


class ConnectFailure(AttemptError):
    kind: ClassVar[str] = "connect-failure"


class UpstreamReset(AttemptError):
    """The connection broke before the response head arrived."""

    kind: ClassVar[str] = "reset"

    def __init__(self, message: str, before_any_byte: bool) -> None:
        super().__init__(message)
        self.before_any_byte = before_any_byte


class UpstreamTimeout(AttemptError):
    kind: ClassVar[str] = "timeout"


class PoolOverflow(Exception):
    """No connection may be opened and no request may wait (circuit breaker)."""


MAX_CONNECTING = 4
"""Connections one endpoint pool opens at once at most; the requests beyond wait for the
first connection to come free or to be opened."""


def _always() -> bool:
    return True


class UpstreamConnection(asyncio.BufferedProtocol):
    def __init__(
        self,
        on_idle: Callable[[UpstreamConnection], None],
        on_closed: Callable[[UpstreamConnection], None],
    ) -> None:
        self._loop = asyncio.get_running_loop()  # made inside the loop; see http_server
        self._on_idle = on_idle
        self._on_closed = on_closed
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.requests = 0
        self.last_used = time.monotonic()
        self._parser = httptools.HttpResponseParser(self)
        self._head: asyncio.Future[Response] | None = None
        self._stream: BodyStream | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._got_bytes = False
        self._head_only = False
        self._until_close = False
        self._busy = False
        self._busy_close = False

    # --- asyncio callbacks ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        return READ_BUFFER  # see http1.READ_BUFFER: shared, consumed at once

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(READ_BUFFER[:nbytes])

    def data_received(self, data: bytes | memoryview) -> None:
        self._got_bytes = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._break(UpstreamReset(f"malformed response: {exc}", before_any_byte=False))

    def eof_received(self) -> bool | None:
        if self._until_close and self._stream is not None:
            self._stream.finish()
            self._stream = None
        self._break(UpstreamReset("upstream closed the connection", not self._got_bytes))
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._break(UpstreamReset("upstream connection lost", not self._got_bytes))
        # Let the transport go now: uvloop's TLS protocol keeps this protocol's methods,
        # so connection and transport form a cycle that only the collector's full pass
        # frees, and each closed mTLS connection held uvloop's 256 KiB read buffer and
        # OpenSSL's state until then (issue 17's soak, DEVELOPING.md).
        self.transport = None

    # --- httptools callbacks --------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:
            self._headers = []
            return
        length = None
        chunked = False
        for key, value in self._headers:
            if key == b"content-length":
                length = int(value)
            elif key == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
        no_body = self._head_only or status in NO_BODY_STATUS
        self._until_close = not no_body and length is None and not chunked
        stream = BodyStream(self._pause, self._resume, self._abandon)
        self._stream = stream
        response = Response(status, end_to_end(self._headers), stream, content_length=length)
        if not self._parser.should_keep_alive() or self._head_only:
            self._busy_close = True
        if self._head is not None and not self._head.done():
            self._head.set_result(response)
        if no_body:
            self._complete(stream)

    def on_body(self, body: bytes) -> None:
        if self._stream is not None:
            self._stream.feed(body)

    def on_message_complete(self) -> None:
        if self._parser.get_status_code() < 200:
            return
        if self._stream is not None:
            self._complete(self._stream)

    # --- the request ----------------------------------------------------------------

    async def send(self, head: bytes, body: bytes, head_only: bool) -> Response:
        """Write one request and wait for the response head (the body streams after)."""
        assert self.transport is not None
        if self.closed or self.transport.is_closing():
            # The peer closed this idle connection (a draining sidecar does) and its
            # connection_lost has not run yet: a stale connection, sent again elsewhere.
            error = UpstreamReset("pooled connection closed by the peer", before_any_byte=True)
            self._break(error)
            raise error
        self._busy = True
        self._busy_close = False
        self._got_bytes = False
        self._head_only = head_only
        self._headers = []
        self.requests += 1
        self._head = self._loop.create_future()
        if len(body) < 65536:
            self.transport.write(head + body)
        else:
            self.transport.writelines((head, body))
        try:
            return await self._head
        except asyncio.CancelledError:
            # A timeout mid-request: the connection has an answer on its way, never reuse it.
            self.close()
            raise

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self._break(UpstreamReset("connection closed by the sidecar", not self._got_bytes))

    def drop_unopened(self) -> None:
        """Close a connection whose connect was given up on, without telling its pool
        (which counts the connect down itself)."""
        self.closed = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _complete(self, stream: BodyStream) -> None:
        stream.finish()
        self._stream = None
        self._busy = False
        self.last_used = time.monotonic()
        if self._busy_close:
            self.close()
        else:
            self._on_idle(self)

    def _break(self, error: UpstreamReset) -> None:
        if self._head is not None and not self._head.done():
            self._head.set_exception(error)
        if self._stream is not None:
            self._stream.fail(ConnectionClosed(str(error)))
            self._stream = None
        if not self.closed:
            self.closed = True
            if self.transport is not None and not self.transport.is_closing():
                self.transport.close()
            self._on_closed(self)

    def _pause(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def _resume(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def _abandon(self) -> None:
        self._stream = None
        self.close()


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
