"""Proxied TCP ends without sockets: piping, half-close over TLS, backpressure, resets."""

from __future__ import annotations

import asyncio
import functools
import socket
from collections.abc import Callable, Coroutine
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mesh_runtime.config.security import spiffe_id
from mesh_runtime.control.ca import CertificateAuthority
from mesh_runtime.sidecar.keygen import make_csr
from mesh_runtime.sidecar.tcp_stream import End, TlsSession, join
from mesh_runtime.sidecar.tls import Credentials


def in_loop(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    """Run an async test in a fresh event loop (an End is made inside a running loop)."""

    @functools.wraps(test)
    def run() -> None:
        asyncio.run(test())

    return run


class FakeTransport(asyncio.Transport):
    """Records what an End writes; `reading` says whether it was paused."""

    def __init__(self, eof: bool = True) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.eof = False
        self.closing = False
        self.aborted = False
        self.reading = True
        self._can_eof = eof

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def write(self, data: Any) -> None:
        self.written.append(bytes(data))

    def write_eof(self) -> None:
        self.eof = True

    def can_write_eof(self) -> bool:
        return self._can_eof

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.aborted = self.closing = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def take(self) -> bytes:
        data, self.written = b"".join(self.written), []
        return data


def credentials(ca: CertificateAuthority, service: str) -> Credentials:
    key = ec.generate_private_key(ec.SECP256R1())
    principal = spiffe_id("meshproof.local", service)
    issued = ca.sign(make_csr(key, service), principal)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return Credentials.build(
        issued.certificate,
        key_pem,
        issued.root,
        principal=principal,
        serial=1,
        not_after=0,
        issued_at=0,
    )


def attach(end: End, eof: bool = True) -> FakeTransport:
    transport = FakeTransport(eof)
    end.connection_made(transport)
    return transport


def shuttle(a: End, ta: FakeTransport, b: End, tb: FakeTransport) -> None:
    """Carry bytes between two ends wired back to back until both are quiet."""
    for _ in range(10):
        x, y = ta.take(), tb.take()
        if not x and not y:
            return
        if x:
            b.data_received(x)
        if y:
            a.data_received(y)


@in_loop
async def test_plain_ends_pipe_both_ways_and_half_close() -> None:
    """Bytes flow both ways; an EOF on one side shuts the other's write side only."""
    counts: list[int] = []
    down, up = End(on_count=counts.append), End()
    td, tu = attach(down), attach(up)
    down.data_received(b"early")  # read before the upstream joined: held, then sent
    join(down, up)
    assert tu.take() == b"early"
    down.eof_received()
    assert tu.eof and not tu.closing
    up.data_received(b"reply")
    assert td.take() == b"reply"
    up.eof_received()
    assert td.eof and td.closing and tu.closing
    assert counts == [5]


@in_loop
async def test_half_close_crosses_mtls_and_the_reply_still_arrives() -> None:
    """The client's EOF reaches the server as close_notify; the server's reply follows it."""
    ca = CertificateAuthority.create()
    client_creds, server_creds = credentials(ca, "cart"), credentials(ca, "kv")
    client = End(TlsSession(client_creds.client, server_side=False))
    server = End(TlsSession(server_creds.server, server_side=True))
    tc, ts = attach(client), attach(server)
    shuttle(client, tc, server, ts)
    assert client.ready.done() and server.ready.done()
    assert server.tls is not None and server.tls.peer_principal() == client_creds.principal
    app, app_t = End(), None
    app_t = attach(app)
    join(server, app)
    source = End()
    source_t = attach(source)
    join(source, client)
    source.data_received(b"GET k\n")
    source.eof_received()  # the caller half-closes
    shuttle(client, tc, server, ts)
    assert app_t.take() == b"GET k\n"
    assert app_t.eof  # the app saw the caller's EOF
    app.data_received(b"VALUE v\n")
    app.eof_received()
    shuttle(client, tc, server, ts)
    assert source_t.take() == b"VALUE v\n"
    assert source_t.eof


@in_loop
async def test_a_bad_certificate_fails_the_handshake() -> None:
    """A server certificate from another CA fails the client's handshake; ready raises."""
    client = End(TlsSession(credentials(CertificateAuthority.create(), "a").client, False))
    server = End(TlsSession(credentials(CertificateAuthority.create(), "b").server, True))
    tc, ts = attach(client), attach(server)
    shuttle(client, tc, server, ts)
    assert client.reset or server.reset
    failed = client if client.reset else server
    assert isinstance(failed.ready.exception(), ConnectionError)


@in_loop
async def test_a_downstream_reads_nothing_until_joined() -> None:
    """A paused end (waiting for its upstream's connect) starts reading at the join."""
    down, up = End(paused=True), End()
    td, _ = attach(down), attach(up)
    assert not td.reading
    join(down, up)
    assert td.reading


@in_loop
async def test_a_full_writer_pauses_the_other_reader() -> None:
    """Backpressure: the upstream's transport over its high mark pauses downstream reading."""
    down, up = End(), End()
    td, _ = attach(down), attach(up)
    join(down, up)
    up.pause_writing()
    assert not td.reading
    up.resume_writing()
    assert td.reading


@in_loop
async def test_a_reset_on_one_side_resets_the_other() -> None:
    """A connection lost with an error aborts the other end; an orderly close only ends it."""
    down, up = End(), End()
    td, _ = attach(down), attach(up)
    join(down, up)
    up.connection_lost(ConnectionResetError("reset"))
    assert td.aborted and down.reset
    other_down, other_up = End(), End()
    t2, _ = attach(other_down), attach(other_up)
    join(other_down, other_up)
    other_up.eof_received()
    other_up.connection_lost(None)
    assert t2.eof and not t2.aborted


def test_an_aborted_end_resets_its_socket_where_a_closed_one_ends_it() -> None:
    """Over real loopback TCP: `abort` (a reset or failed peer end) reaches the client as
    a reset (ECONNRESET), `close` as an orderly end of stream."""

    async def ended_by(how: str) -> str:
        listener = socket.create_server(("127.0.0.1", 0))
        client = socket.create_connection(listener.getsockname())
        accepted, _ = listener.accept()
        listener.close()
        end = End()
        await asyncio.get_running_loop().connect_accepted_socket(lambda: end, accepted)
        end.abort() if how == "abort" else end.close()
        await end.closed
        client.settimeout(5)
        try:
            return "eof" if client.recv(1) == b"" else "data"
        except ConnectionResetError:
            return "reset"
        finally:
            client.close()

    assert asyncio.run(ended_by("abort")) == "reset"
    assert asyncio.run(ended_by("close")) == "eof"
