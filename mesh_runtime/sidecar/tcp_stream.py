"""One end of a proxied TCP connection: bytes in, bytes out, half-close, backpressure.

An `End` is the asyncio protocol of one socket (the downstream the proxy accepted, or the
upstream it opened). Two ends are joined with `join(a, b)`: what one reads the other
writes, an EOF read on one is a write-side shutdown on the other (half-close), and when
one end's transport buffers too much the other stops reading until it drains.

mTLS is done here, over memory BIOs (`ssl.SSLObject`), not by asyncio's TLS transport:
asyncio cannot half-close a TLS connection (its TLS transports have no `write_eof`),
while TLS 1.3 can (a close_notify ends one direction; the peer may go on sending).
So a half-close crosses the mTLS hop between sidecars as a close_notify (the FIN follows
once both directions are done: Toxiproxy, which may sit on that hop, ends a connection
both ways when it reads a FIN).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
from collections.abc import Callable
from typing import cast

from mesh_runtime.sidecar.tls import principal_of

READ_CHUNK = 64 * 1024
HIGH_WATER = 256 * 1024
"""Bytes a transport may buffer before the other end stops reading."""
LINGER_RESET = struct.pack("ii", 1, 0)
"""SO_LINGER on, 0 s: the socket's close sends a TCP reset (RST), not a FIN."""


class TlsSession:
    """A TLS client or server over two memory BIOs; the caller moves the bytes."""

    def __init__(self, context: ssl.SSLContext, server_side: bool) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._obj = context.wrap_bio(self._incoming, self._outgoing, server_side=server_side)
        self.established = False

    def handshake(self) -> bool:
        """Advance the handshake; True once it is done (raises ssl.SSLError on failure)."""
        try:
            self._obj.do_handshake()
        except ssl.SSLWantReadError:
            return False
        self.established = True
        return True

    def feed(self, data: bytes) -> None:
        self._incoming.write(data)

    def read(self) -> tuple[list[bytes], bool]:
        """The plaintext the fed records hold, and whether the peer ended its side."""
        chunks: list[bytes] = []
        while True:
            try:
                chunk = self._obj.read(READ_CHUNK)
            except ssl.SSLWantReadError:
                return chunks, False
            except ssl.SSLZeroReturnError:
                return chunks, True
            if not chunk:
                return chunks, True
            chunks.append(chunk)

    def write(self, data: bytes) -> None:
        self._obj.write(data)

    def close_write(self) -> None:
        """Send close_notify: this side sends no more; reading goes on (TLS 1.3)."""
        with contextlib.suppress(ssl.SSLWantReadError, ssl.SSLError):
            self._obj.unwrap()

    def pending(self) -> bytes:
        """Records to send to the peer."""
        return self._outgoing.read()

    def peer_principal(self) -> str:
        return principal_of(self._obj.getpeercert())


class End(asyncio.Protocol):
    """One socket of a proxied connection (see the module docstring)."""

    def __init__(
        self,
        tls: TlsSession | None = None,
        on_count: Callable[[int], None] | None = None,
        *,
        paused: bool = False,
    ) -> None:
        self.tls = tls
        self._paused = paused
        """Read nothing until joined (a downstream waiting for its upstream's connect)."""
        loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.peer: End | None = None
        self._now = loop.time
        self.last_active = loop.time()
        """The loop's time when bytes last arrived (the idle timeout reads it, tcp_idle)."""
        self.ready: asyncio.Future[None] = loop.create_future()
        """Done once the socket is connected and any TLS handshake finished (its result
        is not this end: that would be a cycle, kept until the collector's full pass)."""
        self.closed: asyncio.Future[None] = loop.create_future()
        self._count = on_count
        """Called with the size of each chunk read from this socket (metrics)."""
        self._held: list[bytes] = []
        self._read_done = False
        self._write_done = False
        self.reset = False
        """The connection ended with an error (reset, TLS failure), not an orderly close."""

    # --- asyncio callbacks --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if self.reset:  # abort() came before the socket did: a connection refused at once
            self.ready.cancel()  # nobody waits on it: no exception left unretrieved
            self.abort()
            return
        self.transport.set_write_buffer_limits(high=HIGH_WATER)
        if self._paused:
            self.transport.pause_reading()
        if self.tls is None:
            self._set_ready()
        else:
            self._step_handshake()

    def data_received(self, data: bytes) -> None:
        self.last_active = self._now()
        if self.tls is None:
            self._deliver([data], False)
            return
        self.tls.feed(data)
        if not self.tls.established and not self._step_handshake():
            return
        chunks, ended = self.tls.read()
        self._flush_tls()
        self._deliver(chunks, ended)

    def eof_received(self) -> bool:
        self._deliver([], True)
        return True  # keep the write side open: the other direction may go on

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None or not (self._read_done and self._write_done):
            self.reset = self.reset or exc is not None or not self._read_done
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(str(exc) if exc else "closed"))
        if not self.closed.done():
            self.closed.set_result(None)
        peer = self.peer
        if peer is not None and not peer.closed.done():
            if self.reset:
                peer.abort()
            else:
                peer.shutdown_write()
        # No cycle left (the joined ends point at each other): a closed end goes as soon as
        # its task lets it go, and its TLS state (about 29 KB) with it, not at the
        # collector's next full pass, which the sidecar's gc.freeze() makes rare.
        self.peer = None
        self.transport = None

    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()

    # --- what the other end calls -------------------------------------------------------

    def send(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing() or self._write_done:
            return
        if self.tls is None:
            self.transport.write(data)
        else:
            self.tls.write(data)
            self._flush_tls()

    def shutdown_write(self) -> None:
        """The other end's reader reached EOF: end this direction (half-close)."""
        if self._write_done or self.transport is None or self.transport.is_closing():
            return
        self._write_done = True
        if self.tls is not None:
            # close_notify alone ends this direction; no FIN until both are done, as a
            # TCP hop between the sidecars (Toxiproxy) may end both ways on a FIN.
            self.tls.close_write()
            self._flush_tls()
        elif self.transport.can_write_eof():
            self.transport.write_eof()
        self._close_if_done()

    def abort(self) -> None:
        """End this connection with a TCP reset, as a reset or failed peer end did (a
        transport's own `abort` closes the socket, which sends a FIN: the caller would
        read an orderly end of a stream that broke). Called before `connection_made` (an
        outbound's task refuses a connection before the loop hands over its socket), the
        reset is done once the socket comes."""
        self.reset = True
        transport = self.transport
        if transport is not None:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
            transport.abort()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def close_idle(self) -> None:
        """The idle timeout: close now with a FIN, dropping what is still buffered (Envoy's
        NoFlush close), and pass no reset on: the other end is closed the same way."""
        self.peer = None
        if self.transport is not None:
            self.transport.abort()

    # --- inside ---------------------------------------------------------------------------

    def _deliver(self, chunks: list[bytes], ended: bool) -> None:
        peer = self.peer
        for chunk in chunks:
            if self._count is not None:
                self._count(len(chunk))
            if peer is None:
                self._held.append(chunk)
            else:
                peer.send(chunk)
        if ended and not self._read_done:
            self._read_done = True
            if peer is not None:
                peer.shutdown_write()
            self._close_if_done()

    def _close_if_done(self) -> None:
        if self._read_done and self._write_done and self.transport is not None:
            self.transport.close()

    def _step_handshake(self) -> bool:
        assert self.tls is not None
        try:
            done = self.tls.handshake()
        except ssl.SSLError as exc:
            self.reset = True
            if not self.ready.done():
                self.ready.set_exception(ConnectionError(f"TLS handshake failed: {exc}"))
            self.abort()
            return False
        self._flush_tls()
        if done:
            self._set_ready()
        return done

    def _flush_tls(self) -> None:
        assert self.tls is not None and self.transport is not None
        records = self.tls.pending()
        if records and not self.transport.is_closing():
            self.transport.write(records)

    def _set_ready(self) -> None:
        if not self.ready.done():
            self.ready.set_result(None)


def join(a: End, b: End) -> None:
    """Pipe `a` and `b` both ways; bytes either read before the join go out now."""
    a.peer, b.peer = b, a
    for end, other in ((a, b), (b, a)):
        held, end._held = end._held, []
        for chunk in held:
            other.send(chunk)
        if end._read_done:
            other.shutdown_write()
        if end.closed.done() and not other.closed.done():
            other.abort() if end.reset else other.shutdown_write()
        if end._paused and end.transport is not None and not end.transport.is_closing():
            end._paused = False
            end.transport.resume_reading()
