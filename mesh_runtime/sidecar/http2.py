"""The HTTP/2 server side of a listener: an asyncio protocol on the sans-IO h2 library.

A listener's connection starts as `HttpServerProtocol` (HTTP/1.1); it hands itself over
to `H2ServerProtocol` when the client opens with the HTTP/2 preface (h2c with prior
knowledge) or when TLS negotiated `h2` by ALPN. Each stream becomes one `Request` (body
buffered up to `max_body`, 413 beyond) for the same handler HTTP/1.1 requests go to, so
routing, policy, retries, timeouts, faults and telemetry are the ones HTTP/1.1 has. The
answer streams back within the client's flow-control windows, trailers after the body.

Refused with the listener still serving: what the h2 library finds malformed (bad preface,
oversized frames, stream-ID reuse, HPACK bombs over the header-list limit, CONTINUATION
floods) is a GOAWAY with its error code; rapid reset and SETTINGS / PING floods
(`h2_guard`) a GOAWAY ENHANCE_YOUR_CALM. A stream the client resets has its work
cancelled at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from h2.connection import ConnectionState
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    PingReceived,
    RemoteSettingsChanged,
    RequestReceived,
    StreamEnded,
    StreamReset,
    WindowUpdated,
)
from h2.exceptions import ProtocolError
from h2.settings import SettingCodes, Settings

from mesh_runtime.sidecar.grpc import MessageCounter, as_grpc, is_grpc
from mesh_runtime.sidecar.h2_conn import MeshH2Connection
from mesh_runtime.sidecar.h2_guard import FloodGuard
from mesh_runtime.sidecar.h2_request import StreamedBody
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
    Downstream,
    Headers,
    Request,
    Response,
    simple_response,
)
from mesh_runtime.sidecar.limits import HttpLimits, Violation, check_request_line, check_target
from mesh_runtime.sidecar.telemetry.flags import (
    DOWNSTREAM_CONNECTION_TERMINATION,
    DOWNSTREAM_PROTOCOL_ERROR,
    DOWNSTREAM_REMOTE_RESET,
    STREAM_IDLE_TIMEOUT,
)

if TYPE_CHECKING:
    from mesh_runtime.sidecar.http_server import Handler

log = logging.getLogger(__name__)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
BUFFERED_BODIES = 4
"""Bytes of incomplete request bodies one connection may hold at once, in `max_body`s
(open streams x max_body would be gigabytes): beyond, GOAWAY ENHANCE_YOUR_CALM."""


async def answer(handler: Handler, request: Request) -> Response:
    """The handler's answer; 500 (and the traceback logged) when it fails (both protocols)."""
    try:
        return await handler(request)
    except Exception:
        log.exception("handler failed for %s %s", request.method, request.target)
        return simple_response(500)


def ended_body(body: bytes | BodyStream) -> bytes | BodyStream:
    """A streamed body that already ended without trailers, as its bytes: an upstream's
    trailers-only gRPC answer (HEADERS with END_STREAM) must go on as one HEADERS frame
    with END_STREAM. Sent as HEADERS and then an empty DATA frame ending the stream, a gRPC
    client reads `grpc-status` as initial metadata and fails the call with UNKNOWN
    "Stream removed (Data frame with END_STREAM flag received)"."""
    if isinstance(body, bytes) or body.trailers is not None:
        return body
    whole = body.take_complete()
    return body if whole is None else whole


class Registry(Protocol):
    draining: bool

    def add(self, conn: H2ServerProtocol) -> None: ...

    def remove(self, conn: H2ServerProtocol) -> None: ...


class Load(Protocol):
    active: int


@dataclass(slots=True)
class _Stream:
    headers: list[tuple[bytes, bytes]]
    started: float
    body: list[bytes] = field(default_factory=list)
    size: int = 0
    task: asyncio.Task[None] | None = None
    source: BodyStream | None = None
    """A gRPC call's body, handed on as it arrives (the call was served at its HEADERS)."""
    paused: bool = False
    unacked: int = 0
    active_at: float = 0.0
    """When data last moved on a streamed call (either way): its idle timeout runs from it."""


class H2ServerProtocol(asyncio.BufferedProtocol):
    """One HTTP/2 server connection; made by `HttpServerProtocol` when it sees HTTP/2.
    It reads into the process's shared `READ_BUFFER`, as the HTTP/1.1 protocols do."""

    def __init__(
        self,
        handler: Handler,
        registry: Registry,
        limits: HttpLimits,
        load: Load | None,
        downstream: Downstream,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._handler = handler
        self._registry = registry
        self._limits = limits
        self._load = load
        self._downstream = downstream
        self._wire = H2Wire(MeshH2Connection(h2_config(client_side=False)))
        self._streams: dict[int, _Stream] = {}
        self._guard = FloodGuard(limits.h2_floods)
        self._closing = False
        self._done = False
        self._since = time.monotonic()
        self._buffered = 0
        """Request body bytes held for streams not yet handed to the handler."""

    # --- set-up and asyncio callbacks -----------------------------------------------

    def take_over(self, transport: asyncio.Transport, first: bytes) -> None:
        """Start serving on `transport` (already this protocol's), `first` its bytes so far."""
        wire = self._wire
        wire.transport = transport
        conn = wire.conn
        limits = self._limits
        conn.local_settings = Settings(
            client=False,
            initial_values={
                SettingCodes.MAX_CONCURRENT_STREAMS: limits.h2_max_concurrent_streams,
                SettingCodes.MAX_HEADER_LIST_SIZE: limits.max_header_bytes,
                SettingCodes.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
            },
        )
        # The decoder takes the limit when the client acknowledges it; hold it from the start.
        conn.decoder.max_header_list_size = limits.max_header_bytes
        conn.initiate_connection()
        # A streamed gRPC call read on slowly holds its data unacknowledged: with the
        # default 64 KiB connection window one such stream would stall every other stream
        # of the connection (grpcio puts all calls on one), so the connection gets more.
        conn.increment_flow_control_window(CONNECTION_WINDOW - conn.inbound_flow_control_window)
        wire.flush()
        self._registry.add(self)
        if self._registry.draining:
            self.close_when_idle()
        if first:
            self.data_received(first)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        raise AssertionError("H2ServerProtocol starts through take_over")

    def connection_lost(self, exc: Exception | None) -> None:
        self._done = True
        self._wire.all_gone()
        self._registry.remove(self)
        if self._load is not None:
            self._load.active -= 1
            self._load = None
        for stream in self._streams.values():
            if stream.source is not None:
                stream.source.fail(ConnectionClosed("client connection lost"))
            if stream.task is not None:
                stream.task.cancel(DOWNSTREAM_CONNECTION_TERMINATION)
        # The transport goes now, not at the collector's next full pass: a gRPC call's
        # body stream and this protocol make a cycle, and so do uvloop's TLS protocol and
        # the HTTP/1.1 protocol this one took over from (a closed mTLS connection's memory).
        self._wire.transport = None

    def pause_writing(self) -> None:
        self._wire.pause_writing()

    def resume_writing(self) -> None:
        self._wire.resume_writing()

    def get_buffer(self, sizehint: int) -> memoryview:
        return READ_BUFFER

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(READ_BUFFER[:nbytes])

    def data_received(self, data: bytes | memoryview) -> None:
        if self._done:
            return
        try:
            events = self._wire.conn.receive_data(bytes(data))
        except ProtocolError as exc:
            code = getattr(exc, "error_code", ErrorCodes.PROTOCOL_ERROR)
            self._refuse(code, str(exc) or type(exc).__name__)
            return
        for event in events:
            self._on_event(event)
            if self._done:
                return
        self._wire.flush()

    # --- h2 events ------------------------------------------------------------------

    def _on_event(self, event: object) -> None:
        if isinstance(event, RequestReceived):
            stream = _Stream(list(event.headers or ()), time.monotonic())
            self._streams[event.stream_id] = stream
            if event.stream_ended is None and is_grpc(stream.headers):
                self._stream_request(event.stream_id, stream)
        elif isinstance(event, DataReceived):
            self._on_data(event)
        elif isinstance(event, StreamEnded):
            self._on_request(event.stream_id)
        elif isinstance(event, StreamReset):
            self._on_reset(event.stream_id)
        elif isinstance(event, WindowUpdated):
            self._wire.window_opened(event.stream_id or 0)
        elif isinstance(event, RemoteSettingsChanged):
            self._wire.window_opened(0)
            self._count("settings")
        elif isinstance(event, PingReceived):
            self._count("ping")
        elif isinstance(event, ConnectionTerminated):
            self.close_when_idle()

    def _stream_request(self, stream_id: int, stream: _Stream) -> None:
        """Serve a gRPC call now, its body read on as it comes (streaming RPCs)."""
        source = BodyStream(lambda: self._pause(stream), lambda: self._resume(stream_id, stream))
        source.messages = MessageCounter()
        stream.source = source
        stream.active_at = stream.started
        self._on_request(stream_id)

    def _pause(self, stream: _Stream) -> None:
        stream.paused = True

    def _resume(self, stream_id: int, stream: _Stream) -> None:
        reopen_window(self._wire, stream_id, stream, stream_id in self._streams)

    def _on_data(self, event: DataReceived) -> None:
        stream_id = event.stream_id or 0
        size = event.flow_controlled_length or 0
        stream = self._streams.get(stream_id)
        source = stream.source if stream is not None else None
        if source is not None and stream is not None and not source.complete:
            stream.active_at = time.monotonic()
            if event.data:
                if source.messages is not None:
                    source.messages.feed(event.data)
                source.feed(event.data)
            if stream.paused:
                stream.unacked += size  # the upstream is behind: the client's window stays
                return
        self._wire.conn.acknowledge_received_data(size, stream_id)
        if stream is None or event.data is None or source is not None:
            return
        stream.size += len(event.data)
        if stream.size <= self._limits.max_body:
            stream.body.append(event.data)
            self._buffered += len(event.data)
            if self._buffered > self._limits.max_body * BUFFERED_BODIES:
                self._refuse(ErrorCodes.ENHANCE_YOUR_CALM, "too many request bytes buffered")
        elif stream.body:
            self._drop_body(stream)

    def _on_request(self, stream_id: int) -> None:
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        if stream.task is not None:
            if stream.source is not None:
                stream.source.finish()  # a streamed call's body is complete
            return
        self._since = time.monotonic()
        self._buffered -= sum(len(part) for part in stream.body)  # complete: no longer held
        stream.task = self._loop.create_task(self._serve(stream_id, stream))

    def _on_reset(self, stream_id: int) -> None:
        self._wire.stream_gone(stream_id)
        stream = self._streams.pop(stream_id, None)
        if stream is not None and stream.source is not None:
            stream.source.fail(ConnectionClosed("the client reset the stream"))
        if stream is not None and stream.task is None:
            self._drop_body(stream)
        elif stream is not None and stream.task is not None:
            stream.task.cancel(DOWNSTREAM_REMOTE_RESET)  # rapid reset must not leave work behind
        self._count("reset")

    def _drop_body(self, stream: _Stream) -> None:
        self._buffered -= sum(len(part) for part in stream.body)
        stream.body = []

    def _count(self, kind: str) -> None:
        reason = self._guard.record(kind, time.monotonic())  # type: ignore[arg-type]
        if reason is not None:
            self._refuse(ErrorCodes.ENHANCE_YOUR_CALM, reason)

    # --- one stream -----------------------------------------------------------------

    async def _serve(self, stream_id: int, stream: _Stream) -> None:
        try:
            request_or_refusal = self._request(stream)
            if isinstance(request_or_refusal, Violation):
                response = simple_response(request_or_refusal.status, request_or_refusal.reason)
            else:
                response = await answer(self._handler, request_or_refusal)
            if self._grpc_error(stream, response):
                response = as_grpc(response)  # 413, 431, a failed handler: as gRPC
            await self._respond(stream_id, response)
        except ConnectionClosed:
            self._wire.reset(stream_id, ErrorCodes.INTERNAL_ERROR)
        finally:
            if stream.source is not None and not stream.source.complete:
                # answered before the client finished sending: it may stop (as gRPC servers do)
                stream.source.fail(ConnectionClosed("the call was answered"))
                self._wire.reset(stream_id, ErrorCodes.NO_ERROR)
            self._streams.pop(stream_id, None)
            self._since = time.monotonic()
            if self._closing and not self._streams:
                self._close()

    @staticmethod
    def _grpc_error(stream: _Stream, response: Response) -> bool:
        """Whether `response` is a local error answer to a gRPC call."""
        if not isinstance(response.body, bytes) or response.status < 400:
            return False
        return is_grpc(plain_headers(stream.headers)[1])

    def _request(self, stream: _Stream) -> Request | Violation:
        pseudo, headers = plain_headers(stream.headers)
        method = pseudo.get(b":method", b"")
        target = pseudo.get(b":path", b"")
        if method == b"CONNECT":
            return Violation(405, "CONNECT is not supported")
        if len(headers) > self._limits.max_headers:
            return Violation(431, f"more than {self._limits.max_headers} header fields")
        if stream.size > self._limits.max_body:
            return Violation(413, f"request body over {self._limits.max_body} bytes")
        violation = check_request_line(method, target) or check_target(method, target, self._limits)
        if violation is not None:
            return violation
        authority = pseudo.get(b":authority")
        if authority is not None and not any(name == b"host" for name, _ in headers):
            headers.insert(0, (b"host", authority))
        return Request(
            method=method,
            target=target,
            headers=headers,
            body=b"".join(stream.body),
            downstream=self._downstream,
            http2=True,
            stream=None if stream.source is None else StreamedBody(stream.source),
        )

    async def _respond(self, stream_id: int, response: Response) -> None:
        wire = self._wire
        body = ended_body(response.body)
        head: Headers = [(b":status", b"%d" % response.status), *h2_fields(response.headers)]
        if isinstance(body, bytes) and not body:
            self._send_headers(stream_id, head, end_stream=True)
            return
        self._send_headers(stream_id, head, end_stream=False)
        if isinstance(body, bytes):
            await wire.send_body(stream_id, body, end_stream=True)
            return
        await self._stream(stream_id, body)

    async def _stream(self, stream_id: int, body: BodyStream) -> None:
        wire = self._wire
        try:
            while chunk := await body.read():
                await wire.send_body(stream_id, chunk, end_stream=False)
                self._guard.answered()
                stream = self._streams.get(stream_id)
                if stream is not None:
                    stream.active_at = time.monotonic()
        except BaseException:
            body.abandon()  # the client went, or the upstream broke: release it
            raise
        if body.trailers:
            self._send_headers(stream_id, h2_fields(body.trailers), end_stream=True)
        else:
            wire.end_stream(stream_id)

    def _send_headers(self, stream_id: int, headers: Headers, end_stream: bool) -> None:
        try:
            self._wire.conn.send_headers(stream_id, headers, end_stream=end_stream)
        except ProtocolError as exc:
            raise ConnectionClosed(f"HTTP/2 stream {stream_id} closed: {exc}") from None
        self._guard.answered()
        self._wire.flush()

    # --- drain, timeouts, refusals --------------------------------------------------

    def close_when_idle(self) -> None:
        """GOAWAY now (streams already open finish), close once none is left."""
        if self._closing or self._done:
            return
        self._closing = True
        self._wire.conn.close_connection(ErrorCodes.NO_ERROR)
        self._wire.flush()
        if not self._streams:
            self._close()

    def abort(self) -> None:
        if self._wire.transport is not None:
            self._wire.transport.abort()

    def check_timeout(self, now: float) -> None:
        """Close a connection idle (no stream) for longer than the idle timeout; answer 408
        to a request whose body is not complete within the request timeout; reset a
        streamed gRPC call whose client has not ended its side and on which nothing moved
        either way for the idle timeout (Envoy's stream_idle_timeout: a client holding
        calls open cannot keep their upstream streams forever)."""
        if not self._streams and now - self._since >= self._limits.idle_timeout:
            self.close_when_idle()
        late = self._limits.request_timeout
        for stream_id, stream in list(self._streams.items()):
            if stream.task is None and now - stream.started >= late:
                self._drop_body(stream)
                slow = Violation(408, "request not received in time")
                stream.task = self._loop.create_task(self._refuse_stream(stream_id, slow))
            elif self._idle(stream, now):
                self._idle_out(stream_id, stream)

    def _idle(self, stream: _Stream, now: float) -> bool:
        """A streamed call the client keeps open with nothing moving either way."""
        if stream.source is None or stream.source.complete:
            return False
        return now - stream.active_at >= self._limits.idle_timeout

    def _idle_out(self, stream_id: int, stream: _Stream) -> None:
        assert stream.source is not None
        stream.source.fail(ConnectionClosed("no activity on the stream within the idle timeout"))
        self._wire.reset(stream_id, ErrorCodes.CANCEL)
        if stream.task is not None:
            stream.task.cancel(STREAM_IDLE_TIMEOUT)

    async def _refuse_stream(self, stream_id: int, violation: Violation) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._respond(stream_id, simple_response(violation.status, violation.reason))
        self._wire.reset(stream_id, ErrorCodes.NO_ERROR)
        self._streams.pop(stream_id, None)

    def _refuse(self, code: int, reason: str) -> None:
        log.info("HTTP/2 connection from %s refused: %s", self._downstream.remote, reason)
        conn = self._wire.conn
        if conn.state_machine.state is not ConnectionState.CLOSED:  # h2 sent its own GOAWAY
            with contextlib.suppress(ProtocolError):
                conn.close_connection(code, additional_data=reason.encode()[:200])
        self._wire.flush()
        for stream in self._streams.values():
            if stream.task is not None:
                stream.task.cancel(DOWNSTREAM_PROTOCOL_ERROR)
        self._close()

    def _close(self) -> None:
        self._done = True
        transport = self._wire.transport
        if transport is not None:
            self._wire.flush_now()  # a GOAWAY or last frames queued this turn go first
            transport.close()
