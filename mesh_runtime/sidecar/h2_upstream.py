"""One HTTP/2 connection to an upstream: many requests at once, each a stream.

`H2Upstream` is the asyncio protocol of a connection its `H2Pool` (`h2_pool.py`) opened: a
request opens a stream, sends its HEADERS (the pseudo-headers from `request_fields`) and its
body within the peer's flow-control windows, a streamed body chunk by chunk beside the
response, and waits for the response head. A response's body is read with flow control:
data is acknowledged (WINDOW_UPDATE) as the consumer keeps up, held back while its
`BodyStream` is over its high-water mark. Failures are the `AttemptError`s of HTTP/1.1: a
stream refused (REFUSED_STREAM) or above a GOAWAY's last stream id was never processed
(`before_any_byte`), so `exchange` sends it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    RemoteSettingsChanged,
    ResponseReceived,
    StreamEnded,
    StreamReset,
    TrailersReceived,
    WindowUpdated,
)
from h2.exceptions import ProtocolError
from h2.settings import SettingCodes, Settings

from mesh_runtime.sidecar.grpc import MessageCounter, is_grpc
from mesh_runtime.sidecar.h2_conn import MeshH2Connection
from mesh_runtime.sidecar.h2_request import StreamedBody, pump
from mesh_runtime.sidecar.h2_wire import (
    CONNECTION_WINDOW,
    STREAM_WINDOW,
    H2Wire,
    h2_config,
    h2_fields,
    plain_headers,
    reopen_window,
)
from mesh_runtime.sidecar.http1 import (
    READ_BUFFER,
    BodyStream,
    ConnectionClosed,
    Headers,
    Request,
    Response,
)
from mesh_runtime.sidecar.upstream import UpstreamReset

if TYPE_CHECKING:
    from mesh_runtime.sidecar.h2_pool import H2Pool

UNSETTLED_STREAMS = 100
"""Streams used on a connection before the server's SETTINGS say how many it takes
(RFC 9113 asks servers for at least 100)."""


def request_fields(request: Request, headers: Headers, tls: bool) -> Headers:
    """The HEADERS of `request` upstream: pseudo-headers, then `headers` as HTTP/2 allows."""
    fields: Headers = [
        (b":method", request.method),
        (b":scheme", b"https" if tls else b"http"),
        (b":authority", request.header(b"host") or b""),
        (b":path", request.target),
    ]
    fields += h2_fields(headers)
    if request.header(b"te") == b"trailers":
        fields.append((b"te", b"trailers"))  # gRPC's; end_to_end dropped it as hop-by-hop
    return fields


@dataclass(slots=True)
class _Exchange:
    head: asyncio.Future[Response]
    body: BodyStream | None = None
    paused: bool = False
    unacked: int = 0
    pump: asyncio.Task[None] | None = None
    """Sends a streamed request body on while the response comes back."""

    def stop_pump(self) -> bool:
        """Stop sending the request body; whether it was still being sent."""
        task = self.pump
        if task is None or task.done():
            return False
        task.cancel()
        return True


class H2Upstream(asyncio.BufferedProtocol):
    """One HTTP/2 connection to an upstream, carrying many requests at once. It reads
    into the process's shared `READ_BUFFER`, as the HTTP/1.1 protocols do."""

    def __init__(self, pool: H2Pool, stream_cap: int) -> None:
        self._loop = asyncio.get_running_loop()
        self._pool = pool
        self._cap = stream_cap
        self.wire = H2Wire(MeshH2Connection(h2_config(client_side=True)))
        self._streams: dict[int, _Exchange] = {}
        self.closed = False
        self.goaway = False
        self.settled = False
        self.requests = 0
        self.last_used = time.monotonic()

    # --- asyncio callbacks ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.wire.transport = transport  # type: ignore[assignment]
        conn = self.wire.conn
        conn.local_settings = Settings(
            client=True,
            initial_values={
                SettingCodes.ENABLE_PUSH: 0,
                SettingCodes.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
            },
        )
        conn.initiate_connection()
        conn.increment_flow_control_window(CONNECTION_WINDOW - conn.inbound_flow_control_window)
        # At once, not at the turn's end: a connect cancelled in this turn (the caller
        # hung up) has uvloop close the handle without `is_closing` or `connection_lost`,
        # and a flush left queued then wrote to it (RuntimeError, a traceback per hang-up).
        # Nothing else would share the write: the first request comes a turn later.
        self.wire.flush_now()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail_all(UpstreamReset("upstream HTTP/2 connection lost", before_any_byte=False))
        if not self.closed:
            self.closed = True
            self._pool.closed(self)
        # The transport goes now: a response's body stream and this protocol make a cycle
        # that only the collector's full pass frees, and it held the connection's TLS
        # state and uvloop's 256 KiB read buffer until then (a closed mTLS connection).
        self.wire.transport = None

    def pause_writing(self) -> None:
        self.wire.pause_writing()

    def resume_writing(self) -> None:
        self.wire.resume_writing()

    def get_buffer(self, sizehint: int) -> memoryview:
        return READ_BUFFER

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(READ_BUFFER[:nbytes])

    def data_received(self, data: bytes | memoryview) -> None:
        try:
            events = self.wire.conn.receive_data(bytes(data))
        except ProtocolError as exc:
            self._fail_all(UpstreamReset(f"upstream HTTP/2 error: {exc}", before_any_byte=False))
            self.close()
            return
        for event in events:
            self._on_event(event)
        self.wire.flush()

    # --- capacity -------------------------------------------------------------------

    @property
    def active(self) -> int:
        return len(self._streams)

    def has_room(self, max_requests: int) -> bool:
        """Whether another stream may start here now."""
        if self.closed or self.goaway:
            return False
        if max_requests and self.requests >= max_requests:
            return False
        peer = self.wire.conn.remote_settings.max_concurrent_streams
        limit = min(peer, self._cap) if self.settled else min(UNSETTLED_STREAMS, self._cap)
        return len(self._streams) < limit

    # --- one request ----------------------------------------------------------------

    async def send(self, fields: Headers, body: bytes | StreamedBody) -> Response:
        """Open a stream, send the request, wait for the response head. A streamed body
        goes on chunk by chunk as it arrives, beside the response."""
        conn = self.wire.conn
        if self.closed or self.goaway:
            raise UpstreamReset("HTTP/2 connection going away", before_any_byte=True)
        if isinstance(body, StreamedBody):
            if not body.replayable:
                raise UpstreamReset("the request stream was forwarded in part", False)
            whole = body.whole()
            if whole is not None:  # it arrived whole (a unary call): no stream needed
                body = whole
        streamed = isinstance(body, StreamedBody)
        try:
            stream_id = conn.get_next_available_stream_id()
        except ProtocolError as used_up:  # stream ids used up, or the connection is closed
            self.goaway = True
            raise UpstreamReset(f"no stream on this connection: {used_up}", True) from None
        exchange = _Exchange(self._loop.create_future())
        self._streams[stream_id] = exchange
        self.requests += 1
        self.last_used = time.monotonic()
        try:
            conn.send_headers(stream_id, fields, end_stream=not streamed and not body)
            self.wire.flush()
            if isinstance(body, StreamedBody):
                exchange.pump = self._loop.create_task(self._pump(stream_id, body))
            elif body:
                await self.wire.send_body(stream_id, body, end_stream=True)
            return await exchange.head
        except ConnectionClosed as closed:
            self._forget(stream_id)
            raise UpstreamReset(str(closed), before_any_byte=False) from None
        except ProtocolError as refused:
            self._forget(stream_id)
            raise UpstreamReset(f"HTTP/2 stream refused: {refused}", before_any_byte=True) from None
        except asyncio.CancelledError:
            self._cancel(stream_id)  # a timeout: the stream goes, the connection stays
            raise

    async def _pump(self, stream_id: int, body: StreamedBody) -> None:
        wire = self.wire
        try:
            await pump(
                body,
                lambda chunk: wire.send_body(stream_id, chunk, end_stream=False),
                lambda: wire.end_stream(stream_id),
            )
        except ConnectionClosed as exc:  # the caller's stream broke, or this one closed
            exchange = self._streams.get(stream_id)
            if exchange is not None:
                exchange.pump = None  # this task: not to be cancelled by `_forget`
            if exchange is not None and self._forget(stream_id):
                self.wire.reset(stream_id, ErrorCodes.CANCEL)
                self._fail(exchange, UpstreamReset(f"request stream broke: {exc}", False))
                self._stream_done()

    def close(self) -> None:
        self.goaway = True  # no new stream here, whatever comes next
        transport = self.wire.transport
        if transport is not None and not transport.is_closing():
            with contextlib.suppress(ProtocolError):
                self.wire.conn.close_connection(ErrorCodes.NO_ERROR)
                self.wire.flush_now()
            transport.close()

    # --- h2 events ------------------------------------------------------------------

    def _on_event(self, event: object) -> None:
        if isinstance(event, ResponseReceived):
            self._on_response(event.stream_id or 0, event.headers or [])
        elif isinstance(event, DataReceived):
            self._on_data(event)
        elif isinstance(event, TrailersReceived):
            exchange = self._streams.get(event.stream_id or 0)
            if exchange is not None and exchange.body is not None:
                exchange.body.trailers = plain_headers(event.headers or [])[1]
        elif isinstance(event, StreamEnded):
            self._on_end(event.stream_id or 0)
        elif isinstance(event, StreamReset):
            self._on_reset(event.stream_id or 0, event.error_code)
        elif isinstance(event, WindowUpdated):
            self.wire.window_opened(event.stream_id or 0)
        elif isinstance(event, RemoteSettingsChanged):
            self.settled = True
            self.wire.window_opened(0)
            self._pool.wake()
        elif isinstance(event, ConnectionTerminated):
            self._on_goaway(event.last_stream_id or 0)

    def _on_response(self, stream_id: int, pairs: list[tuple[bytes, bytes]]) -> None:
        exchange = self._streams.get(stream_id)
        if exchange is None:
            return
        pseudo, headers = plain_headers(pairs)
        body = BodyStream(
            lambda: self._pause(exchange),
            lambda: self._resume(stream_id, exchange),
            lambda: self._cancel(stream_id),
        )
        exchange.body = body
        if is_grpc(headers):
            body.messages = MessageCounter()
        length = next((v for k, v in headers if k == b"content-length"), None)
        response = Response(
            int(pseudo.get(b":status", b"502")),
            headers,
            body,
            content_length=int(length) if length is not None and length.isdigit() else None,
        )
        if not exchange.head.done():
            exchange.head.set_result(response)

    def _on_data(self, event: DataReceived) -> None:
        stream_id = event.stream_id or 0
        size = event.flow_controlled_length or 0
        exchange = self._streams.get(stream_id)
        if exchange is None or exchange.body is None:
            self.wire.conn.acknowledge_received_data(size, stream_id)
            return
        data = event.data or b""
        if exchange.body.messages is not None:
            exchange.body.messages.feed(data)
        exchange.body.feed(data)
        if exchange.paused:
            exchange.unacked += size  # the consumer is behind: the window stays closed
        else:
            self.wire.conn.acknowledge_received_data(size, stream_id)

    def _on_end(self, stream_id: int) -> None:
        exchange = self._streams.pop(stream_id, None)
        if exchange is not None:
            if exchange.stop_pump():  # the answer is complete: the rest of the request goes
                self.wire.reset(stream_id, ErrorCodes.NO_ERROR)
            if exchange.body is not None:
                exchange.body.finish()
            elif not exchange.head.done():
                exchange.head.set_exception(UpstreamReset("stream ended without a response", False))
        self._stream_done()

    def _on_reset(self, stream_id: int, code: int | None) -> None:
        self.wire.stream_gone(stream_id)
        exchange = self._streams.pop(stream_id, None)
        if exchange is not None:
            exchange.stop_pump()
            refused = code == ErrorCodes.REFUSED_STREAM
            self._fail(exchange, UpstreamReset(f"stream reset by the upstream ({code})", refused))
        self._stream_done()

    def _on_goaway(self, last_stream_id: int) -> None:
        self.goaway = True
        for stream_id in [s for s in self._streams if s > last_stream_id]:
            self.wire.stream_gone(stream_id)
            exchange = self._streams.pop(stream_id)
            exchange.stop_pump()
            self._fail(exchange, UpstreamReset("upstream went away (GOAWAY)", True))
        self._pool.wake()
        if not self._streams:
            self.close()

    def _pause(self, exchange: _Exchange) -> None:
        exchange.paused = True

    def _resume(self, stream_id: int, exchange: _Exchange) -> None:
        reopen_window(self.wire, stream_id, exchange, stream_id in self._streams)

    def _cancel(self, stream_id: int) -> None:
        """The consumer gave up on the stream (timeout, abandoned body): reset it."""
        if self._forget(stream_id):
            self.wire.reset(stream_id, ErrorCodes.CANCEL)
            self._stream_done()

    def _forget(self, stream_id: int) -> bool:
        self.wire.stream_gone(stream_id)
        exchange = self._streams.pop(stream_id, None)
        if exchange is None:
            return False
        exchange.stop_pump()
        return True

    def _stream_done(self) -> None:
        self.last_used = time.monotonic()
        if not self._streams and (self.goaway or self._pool.retire(self)):
            self.close()
        self._pool.wake()

    def _fail(self, exchange: _Exchange, error: UpstreamReset) -> None:
        if not exchange.head.done():
            exchange.head.set_exception(error)
        elif exchange.body is not None:
            exchange.body.fail(ConnectionClosed(str(error)))

    def _fail_all(self, error: UpstreamReset) -> None:
        self.wire.all_gone()
        streams, self._streams = self._streams, {}
        for exchange in streams.values():
            exchange.stop_pump()
            self._fail(exchange, error)
