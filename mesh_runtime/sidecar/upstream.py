"""One upstream HTTP/1.1 connection, and the errors of a try that got no usable response.

`UpstreamConnection` carries one request at a time: its `EndpointPool`
(`endpoint_pool.py`) opens it, hands it out and takes it back once its response is
complete. Failures are raised as the small `AttemptError` tree below, which the retry
logic maps to Envoy's conditions.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import ClassVar, cast

import httptools

from mesh_runtime.sidecar.http1 import READ_BUFFER, BodyStream, ConnectionClosed, Response
from mesh_runtime.sidecar.http1_wire import NO_BODY_STATUS, end_to_end

CLOSED_PARSER = httptools.HttpResponseParser(object())
"""The parser a connection holds once closed: see http_server.CLOSED_PARSER."""


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
        # OpenSSL's state until then (issue 17's soak, DEVELOPING.md). The parser (it
        # holds this connection's methods) and the last answer (its body stream holds
        # them too) go as well: each made a cycle of its own, a closed connection's
        # objects left to the collector's next full pass.
        self.transport = None
        self._parser = CLOSED_PARSER
        self._head = None

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
        answer = self.start(head, body, head_only)
        try:
            return await answer
        except asyncio.CancelledError:
            # A timeout mid-request: the connection has an answer on its way, never reuse it.
            self.close()
            raise

    def start(self, head: bytes, body: bytes, head_only: bool) -> asyncio.Future[Response]:
        """Write one request; the future of its response head. `send` without its
        coroutine, for the request paths, which await the future themselves: whoever
        awaits it must `close()` the connection when cancelled, as `send` does."""
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
        self._head = head_future = self._loop.create_future()
        if len(body) < 65536:
            self.transport.write(head + body)
        else:
            self.transport.writelines((head, body))
        return head_future

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
