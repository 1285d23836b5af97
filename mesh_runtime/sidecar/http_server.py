"""The HTTP/1.1 server side of a listener: an asyncio protocol on httptools.

Every listener (inbound, outbound, admin) is this protocol with a different handler, an
`async (Request) -> Response` function. Requests are parsed and their bodies buffered (up
to `max_body` bytes, 413 beyond) and answered in order; pipelined requests wait in a short
queue. Response bodies are streamed with back-pressure. Malformed HTTP, and anything the
strict rules of `limits` refuse (smuggling shapes, oversized heads), is answered 4xx/5xx
with `Connection: close` and never reaches the handler; the listener keeps serving.
The registry's sweeper enforces the header-read, request-read and idle timeouts; a
`ListenerLoad` caps the concurrent connections of one listener.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Final, cast

import httptools

from mesh_runtime.sidecar.http1 import (
    READ_BUFFER,
    ConnectionClosed,
    Downstream,
    Request,
    Response,
    simple_response,
)
from mesh_runtime.sidecar.http1_answer import write_answer, write_refusal
from mesh_runtime.sidecar.http1_wire import CONTINUE
from mesh_runtime.sidecar.limits import (
    HttpLimits,
    Phase,
    Rejected,
    Violation,
    check_head,
    check_header_count,
    check_target_size,
    parser_violation,
    timeout_action,
)
from mesh_runtime.sidecar.server_connections import ConnectionRegistry, ListenerLoad
from mesh_runtime.sidecar.telemetry.flags import DOWNSTREAM_CONNECTION_TERMINATION
from mesh_runtime.sidecar.tls import downstream_of, negotiated_h2

Handler = Callable[[Request], Awaitable[Response]]

log = logging.getLogger(__name__)

H2_PREFACE_START: Final = b"PRI "
"""The first bytes of the HTTP/2 client preface (`http2.PREFACE`), which no HTTP/1.1
request starts with."""

MAX_PIPELINE: Final = 8

CLOSED_PARSER = httptools.HttpRequestParser(object())
"""The parser a connection holds once it is closed or handed to HTTP/2. A parser holds
its protocol's `on_*` methods, so a protocol kept its own parser in a cycle that only the
collector's full pass frees (rare after the sidecar's `gc.freeze()`): each closed
connection's objects stayed until then, hundreds at a time (a soak's frontend sidecar
held 380 with 66 fds open; a full pass over 126 server and 103 client protocols freed
525 KB), and pymalloc kept the arenas they spread over (issue 17's soak)."""

DRAIN_IDLE_S: Final = 1.0
"""In a drain, a keep-alive connection idle this long is closed; one still in use is closed
after its next answer, which says `Connection: close` (Envoy's drain does the same). Closing
every idle connection the moment the drain starts would leave a client's whole pool stale at
once, and an HTTP client retries a request on a stale connection only once (aiohttp, Go)."""


class HttpServerProtocol(asyncio.BufferedProtocol):
    def __init__(
        self,
        handler: Handler,
        registry: ConnectionRegistry,
        limits: HttpLimits,
        load: ListenerLoad | None = None,
    ) -> None:
        # Made by the listener's factory, inside the loop. Kept: each asyncio
        # get_running_loop() is a getpid() system call (the loop remembers its pid).
        self._loop = asyncio.get_running_loop()
        self._handler = handler
        self._registry = registry
        self._limits = limits
        self._max_body = limits.max_body
        self._load = load
        self._counted = False
        self._downstream = Downstream()
        self._phase = Phase.IDLE
        self._since = time.monotonic()
        self._head_bytes = 0
        self._head_size = 0
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._queue: deque[Request] = deque()
        self._task: asyncio.Task[None] | None = None
        """The connection's one serving task, started with its first request and kept
        (waiting on `_more`) between requests: a task per request cost its creation, the
        loop's registry of tasks (a WeakSet, interpreted) and a first step each time."""
        self._more: asyncio.Future[None] | None = None
        self._serving = False
        self._writable = asyncio.Event()
        self._writable.set()
        self._closing = False
        self._bad_input = False
        self._pending_reject: Response | None = None
        self._paused = False
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._trailers = 0
        self._body: list[bytes] = []
        self._body_size = 0
        self._fresh = True

    # --- asyncio callbacks ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        if self._load is not None:
            if self._load.full:
                self._load.refused += 1
                self._bad_input = True
                self._transport.abort()
                return
            self._load.active += 1
            self._counted = True
        self._downstream = downstream_of(transport)
        if negotiated_h2(transport):
            self._become_h2(b"")
            return
        self._registry.add(self)
        if self._registry.draining:
            self.close_when_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._writable.set()
        self._registry.remove(self)
        if self._counted and self._load is not None:
            self._load.active -= 1
            self._counted = False
        if self._task is not None:
            # Nobody is left to answer: stop the work (a hung upstream must not pin it).
            # A half-close counts as a hang-up too, as nginx (499) and Envoy treat it.
            self._task.cancel(DOWNSTREAM_CONNECTION_TERMINATION)  # counted 0, DC
        # The transport goes now, not at the collector's next full pass: see
        # UpstreamConnection.connection_lost (a closed mTLS connection's memory); and the
        # parser, which holds this protocol's methods (CLOSED_PARSER). uvloop calls this
        # from the loop, never from within a read, so no parser call is under way.
        self._transport = None
        self._parser = CLOSED_PARSER

    def get_buffer(self, sizehint: int) -> memoryview:
        return READ_BUFFER

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(READ_BUFFER[:nbytes])

    def data_received(self, data: bytes | memoryview) -> None:
        """Parse what arrived (read into READ_BUFFER, or handed in directly)."""
        if self._bad_input:
            return
        if self._fresh:
            self._fresh = False
            # h2c with prior knowledge (or h2 over TLS without ALPN): the client preface
            if len(data) >= 4 and bytes(data[:4]) == H2_PREFACE_START:
                self._registry.remove(self)
                self._become_h2(bytes(data))
                return
        if self._phase is not Phase.BODY:
            self._head_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._reject(simple_response(501, "protocol upgrade is not supported"))
            return
        except httptools.HttpParserError as exc:
            self._refuse(parser_violation(exc))
            return
        if self._phase is Phase.HEAD and self._head_bytes > self._limits.max_header_bytes:
            # httptools holds a header line until it ends: cap the bytes of an open head.
            self._refuse(Violation(431, "request head too large"))

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # --- httptools callbacks --------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._trailers = 0
        self._body = []
        self._body_size = 0
        self._head_size = 0
        if self._phase is Phase.IDLE:
            self._phase = Phase.HEAD
            self._since = time.monotonic()

    def on_url(self, url: bytes) -> None:
        self._url += url
        too_long = check_target_size(len(self._url), self._limits)
        if too_long is not None:
            raise Rejected(too_long)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._phase is Phase.BODY:
            # A field of a chunked body's trailer section (llhttp hands those in here too):
            # dropped, as Envoy drops HTTP/1.1 request trailers. Merged into the headers it
            # would pass the head's checks unseen: a second Host, or any field, reaching the
            # router and the app (RFC 9110 6.5.1: never merge). It still counts below.
            self._trailers += 1
        else:
            self._headers.append((name.lower(), value))
        self._head_size += len(name) + len(value) + 4
        # The limits' own check only once one is crossed: this runs for every header.
        limits = self._limits
        count = len(self._headers) + self._trailers
        size = len(self._url) + self._head_size
        if count > limits.max_headers or size > limits.max_header_bytes:
            violation = check_header_count(count, size, limits)
            if violation is not None:
                raise Rejected(violation)

    def on_headers_complete(self) -> None:
        parser = self._parser
        violation = check_head(
            parser.get_method(), self._url, parser.get_http_version(), self._headers, self._limits
        )
        if violation is None and parser.should_upgrade():
            violation = Violation(501, "protocol upgrade is not supported")
        if violation is not None:
            raise Rejected(violation)
        self._phase = Phase.BODY
        self._head_bytes = 0
        for key, value in self._headers:
            if key == b"expect" and value.lower() == b"100-continue" and self._transport:
                self._transport.write(CONTINUE)

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size <= self._max_body:
            self._body.append(body)
        elif self._body:
            self._body = []  # too large: read the rest to answer 413, but keep none of it

    def on_message_complete(self) -> None:
        if self._body_size > self._max_body:
            # Raised, not answered here: the parser must not go on to a pipelined request.
            raise Rejected(Violation(413, f"request body over {self._max_body} bytes"))
        request = Request(
            method=self._parser.get_method(),
            target=self._url,
            headers=self._headers,
            body=b"".join(self._body),
            keep_alive=self._parser.should_keep_alive(),
            downstream=self._downstream,
        )
        self._phase = Phase.IDLE
        self._since = time.monotonic()
        self._head_bytes = 0
        self._queue.append(request)
        if len(self._queue) >= MAX_PIPELINE and self._transport and not self._paused:
            self._paused = True
            self._transport.pause_reading()
        self._wake_server()

    # --- HTTP/2 ----------------------------------------------------------------------

    def _become_h2(self, first: bytes) -> None:
        """Hand the connection (and its place under the listener's cap) to HTTP/2."""
        transport = self._transport
        assert transport is not None
        load = self._load if self._counted else None
        self._counted = False
        self._bad_input = True  # this protocol reads nothing more
        # Imported at the first HTTP/2 connection: the h2 library and the sidecar's HTTP/2
        # modules are ~1.5 MB resident that a sidecar speaking only HTTP/1.1 never uses.
        from mesh_runtime.sidecar.http2 import H2ServerProtocol

        h2 = H2ServerProtocol(self._handler, self._registry, self._limits, load, self._downstream)
        transport.set_protocol(h2)
        h2.take_over(transport, first)
        # uvloop's TLS protocol keeps this protocol's get_buffer / buffer_updated after the
        # switch: holding the transport too would keep the connection's TLS state (and its
        # 256 KiB read buffer) alive until the collector's next full pass after the close.
        self._transport = None
        self._parser = CLOSED_PARSER

    # --- drain and errors ----------------------------------------------------------

    def close_when_idle(self) -> None:
        """Close after the next answer (`Connection: close`), or once idle for
        `DRAIN_IDLE_S`: a request the client sent before it could see the close is answered."""
        self._closing = True
        self._close_if_idle()

    def _close_if_idle(self) -> None:
        if self._transport is None or self._transport.is_closing() or self._serving:
            return  # closed, or serving: the answer closes it
        if self._phase is not Phase.IDLE:
            return  # a request is arriving: it is answered, then the connection closes
        idle_s = time.monotonic() - self._since
        if idle_s >= DRAIN_IDLE_S:
            self._transport.close()
        else:
            self._loop.call_later(DRAIN_IDLE_S - idle_s, self._close_if_idle)

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def check_timeout(self, now: float) -> None:
        """Close an idle connection, or answer 408 to a request read too slowly."""
        if self._serving or self._bad_input or self._transport is None:
            return
        action = timeout_action(self._phase, self._since, now, self._limits)
        if action == "close":
            self._transport.close()
        elif action == "408":
            self._refuse(Violation(408, "request not received in time"))

    def _refuse(self, violation: Violation) -> None:
        self._reject(simple_response(violation.status, violation.reason))

    def _reject(self, response: Response | None) -> None:
        """Answer bad input once, after any request already being served, then close."""
        self._bad_input = True
        self._pending_reject = response
        self._wake_server()

    # --- serving --------------------------------------------------------------------

    def _wake_server(self) -> None:
        """Have the serving task look at the queue (and a pending reject): start it, or
        wake it where it waits between requests."""
        if self._serving:
            return  # it looks again once the answer in hand is written
        if self._task is None:
            self._serving = True
            self._task = self._loop.create_task(self._serve())
            return
        more = self._more
        if more is not None and not more.done():
            self._serving = True
            more.set_result(None)

    async def _serve(self) -> None:
        """Answer what is queued, then wait for more, until the connection closes."""
        transport = self._transport
        assert transport is not None
        try:
            while True:
                if not await self._serve_queue(transport) or transport.is_closing():
                    return
                self._serving = False
                self._more = more = self._loop.create_future()
                await more
                self._more = None
        finally:
            self._serving = False
            self._more = None
            self._task = None

    async def _serve_queue(self, transport: asyncio.Transport) -> bool:
        """Answer the queued requests in order; False once the connection is done with."""
        try:
            while self._queue and not transport.is_closing():
                request = self._queue.popleft()
                if self._paused and len(self._queue) < MAX_PIPELINE // 2:
                    self._paused = False
                    transport.resume_reading()
                try:  # as http2.answer, written here so that no interpreted frame wraps it
                    response = await self._handler(request)
                except Exception:
                    log.exception("handler failed for %s %s", request.method, request.target)
                    response = simple_response(500)
                keep_alive = request.keep_alive and not self._closing and not self._bad_input
                rest = write_answer(
                    self._transport, request.method, response, keep_alive, self._writable
                )
                if rest is not None:
                    await rest
                if not keep_alive:
                    transport.close()
                    return False
            if self._phase is Phase.IDLE:
                self._since = time.monotonic()
            if self._bad_input:
                write_refusal(transport, self._pending_reject)
                return False
            if self._closing:
                transport.close()
                return False
        except (ConnectionClosed, ConnectionError):
            transport.close()
            return False
        return True
