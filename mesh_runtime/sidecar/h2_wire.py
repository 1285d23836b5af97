"""What both ends of an HTTP/2 connection share: the h2 state machine on a transport.

`H2Wire` owns one `h2.connection.H2Connection` and the transport under it. It writes
what the state machine has to send once the current turn of the event loop ends (`flush`),
so that an answer's HEADERS, DATA and trailers, and the frames of other streams made in the
same turn, leave in one write: one TLS record and one system call instead of one per frame
(`flush_now` writes at once: before the transport closes, and past `FLUSH_AT` bytes). It
sends a body only as fast as the peer's flow-control windows allow (waiting on
WINDOW_UPDATE) and the transport drains, and turns headers between h2's pairs and the
proxy's lower-case `Headers`. The server connection
(`http2.py`) and the upstream connection (`h2_upstream.py`) each hold one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Protocol

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.exceptions import ProtocolError, StreamClosedError

from mesh_runtime.sidecar.h2_hpack import FieldDecoder, FieldEncoder
from mesh_runtime.sidecar.http1 import ConnectionClosed, Headers
from mesh_runtime.sidecar.http1_wire import HOP_BY_HOP

CONNECTION_WINDOW = 16 * 1024 * 1024
"""Receive window of a whole connection (the stream windows stay at their setting)."""
STREAM_WINDOW = 1024 * 1024
"""SETTINGS_INITIAL_WINDOW_SIZE: what a peer may send on one stream before we read it."""

FLUSH_AT = 64 * 1024
"""Body bytes queued in the state machine that are written at once, not at the turn's end."""

_NOT_FORWARDED = HOP_BY_HOP | {b"host"}


def h2_config(client_side: bool) -> H2Configuration:
    """The h2 configuration of both ends. Headers arriving are validated; what the proxy
    sends is not validated (nor normalised) again: every field it sends came in through a
    parser that checked it (h2's inbound validation, or httptools with names lower-cased)
    and through `h2_fields` (no connection-specific fields, `te` only as trailers), or was
    made here. Checking it again was about a fifth of h2's CPU per exchange."""
    return H2Configuration(
        client_side=client_side,
        header_encoding=None,
        validate_outbound_headers=False,
        normalize_outbound_headers=False,
    )


def plain_headers(pairs: Iterable[tuple[bytes, bytes]]) -> tuple[dict[bytes, bytes], Headers]:
    """h2's header list split into pseudo-headers (`:path` ...) and the rest."""
    pseudo: dict[bytes, bytes] = {}
    rest: Headers = []
    for name, value in pairs:
        if name.startswith(b":"):
            pseudo[name] = value
        else:
            rest.append((name, value))
    return pseudo, rest


def h2_fields(headers: Headers) -> Headers:
    """The headers HTTP/2 may carry: no connection-specific ones; `te` only as 'trailers'."""
    out: Headers = []
    for name, value in headers:
        if name in _NOT_FORWARDED:
            if name == b"te" and value.strip().lower() == b"trailers":
                out.append((name, b"trailers"))
            continue
        out.append((name, value))
    return out


class H2Wire:
    """One HTTP/2 connection's state machine, its transport and its send windows."""

    def __init__(self, conn: H2Connection) -> None:
        # Our HPACK codec in place of h2's (the interface h2 calls, not its classes),
        # before any SETTINGS can resize a table.
        conn.encoder = FieldEncoder()  # type: ignore[assignment]
        conn.decoder = FieldDecoder(conn.decoder.max_header_list_size)  # type: ignore[assignment]
        self.conn = conn
        self.transport: asyncio.Transport | None = None
        self._window: dict[int, asyncio.Future[None]] = {}
        self._writable = asyncio.Event()
        self._writable.set()
        self._flush_due = False
        self._queued = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        """The loop the connection runs on, once known: asking for the running loop makes
        a getpid() system call each time (asyncio's check for a fork)."""

    def flush(self) -> None:
        """Write what the state machine has queued when this turn of the loop ends."""
        if not self._flush_due:
            self._flush_due = True
            loop = self._loop
            if loop is None:
                loop = self._loop = asyncio.get_running_loop()
            loop.call_soon(self.flush_now)

    def flush_now(self) -> None:
        self._queued = 0
        data = self.conn.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
        self._flush_due = False

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def window_opened(self, stream_id: int) -> None:
        """A WINDOW_UPDATE (or new SETTINGS) arrived: wake the senders it may unblock."""
        if stream_id == 0:
            waiters = list(self._window.values())
            self._window.clear()
        else:
            waiter = self._window.pop(stream_id, None)
            waiters = [waiter] if waiter is not None else []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def stream_gone(self, stream_id: int) -> None:
        """The stream was reset or the connection ended: a sender waiting on it gives up."""
        waiter = self._window.pop(stream_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionClosed("HTTP/2 stream closed"))

    def all_gone(self) -> None:
        for stream_id in list(self._window):
            self.stream_gone(stream_id)
        self._writable.set()

    async def send_body(self, stream_id: int, data: bytes, end_stream: bool) -> None:
        """Send `data` within the flow-control windows; raises ConnectionClosed when the
        stream or the connection goes away first."""
        view = memoryview(data)
        while view:
            try:
                window = self.conn.local_flow_control_window(stream_id)
                size = min(window, self.conn.max_outbound_frame_size, len(view))
                if size <= 0:
                    await self._wait_window(stream_id)
                    continue
                last = end_stream and size == len(view)
                self.conn.send_data(stream_id, view[:size].tobytes(), end_stream=last)
            except (StreamClosedError, ProtocolError) as exc:
                raise ConnectionClosed(f"HTTP/2 stream {stream_id} closed: {exc}") from None
            view = view[size:]
            self._queued += size
            if self._queued >= FLUSH_AT:
                self.flush_now()  # a large body streams; back-pressure sees its writes
            else:
                self.flush()
            await self._drained()
        if not data and end_stream:
            self.end_stream(stream_id)

    def end_stream(self, stream_id: int) -> None:
        try:
            self.conn.end_stream(stream_id)
        except (StreamClosedError, ProtocolError) as exc:
            raise ConnectionClosed(f"HTTP/2 stream {stream_id} closed: {exc}") from None
        self.flush()

    def reset(self, stream_id: int, code: int) -> None:
        """Reset a stream (ignored when it is already closed)."""
        try:
            self.conn.reset_stream(stream_id, code)
        except (StreamClosedError, ProtocolError):
            return
        self.flush()

    async def _wait_window(self, stream_id: int) -> None:
        waiter = self._window.get(stream_id)
        if waiter is None or waiter.done():
            waiter = self._window[stream_id] = asyncio.get_running_loop().create_future()
        await waiter

    async def _drained(self) -> None:
        if not self._writable.is_set():
            await self._writable.wait()
        if self.transport is None or self.transport.is_closing():
            raise ConnectionClosed("HTTP/2 connection closed")


class HeldWindow(Protocol):
    """A stream whose receive window is held shut while its reader is behind."""

    paused: bool
    unacked: int
    """Bytes received while paused, not yet given back to the sender's window."""


def reopen_window(wire: H2Wire, stream_id: int, held: HeldWindow, live: bool) -> None:
    """The reader caught up: give the sender back what arrived while it was paused
    (nothing when the stream is no longer `live`)."""
    held.paused = False
    if held.unacked and live:
        with contextlib.suppress(ProtocolError):
            wire.conn.acknowledge_received_data(held.unacked, stream_id)
            wire.flush()
    held.unacked = 0
