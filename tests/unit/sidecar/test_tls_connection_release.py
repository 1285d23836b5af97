"""A closed mTLS connection's memory goes back at once, not at the collector's next full
pass: the sidecar's client and server protocols, HTTP/1.1 and HTTP/2, drop their transport
when it is lost, and the TCP proxy's ends leave no cycle behind.

uvloop's TLS protocol keeps the app protocol's methods after the close, so a protocol
that kept its transport made a cycle holding uvloop's 256 KiB read buffer and OpenSSL's
state (about 325 KB of heap a connection) until a full collection, which the sidecar's
`gc.freeze()` makes rare: issue 17's soak, where the frontend's sidecar grew all hour.
HTTP/2 had the same cycle twice: the HTTP/1.1 protocol a connection starts with kept its
transport after handing over to HTTP/2 (uvloop still holds its methods), and an upstream
connection is in a cycle with each response's body stream."""

from __future__ import annotations

import asyncio
import gc
import socket
import struct
import time
from collections.abc import Callable, Iterator

import pytest
import uvloop

from mesh_runtime.control.ca import CertificateAuthority
from mesh_runtime.sidecar.endpoint_pool import EndpointPool, UpstreamTLS
from mesh_runtime.sidecar.exchange import send_request
from mesh_runtime.sidecar.http1 import Request, Response, simple_response
from mesh_runtime.sidecar.http_server import HttpServerProtocol
from mesh_runtime.sidecar.limits import HttpLimits
from mesh_runtime.sidecar.server_connections import ConnectionRegistry
from mesh_runtime.sidecar.tcp_stream import End, TlsSession, join
from mesh_runtime.sidecar.tls import Credentials
from tests.unit.sidecar.test_tls_direct_sslobject import credentials

CONNECTIONS = 30
PER_CONNECTION = 3
HEAD = b"GET / HTTP/1.1\r\nhost: catalog\r\n\r\n"


@pytest.fixture
def collector_off() -> Iterator[None]:
    """The collector off: what is still alive was kept by references, not by its timing."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def live(type_name: str) -> int:
    """Objects of that type alive (the collector tracks them)."""
    return sum(1 for o in gc.get_objects() if type(o).__name__ == type_name)


def live_tls_protocols() -> int:
    """uvloop's TLS protocol objects alive (each owns a 256 KiB buffer and an SSL*)."""
    return live("SSLProtocol")


def live_http1_protocols() -> int:
    """The sidecar's HTTP/1.1 protocols alive, server and client side (each held in a
    cycle by its own httptools parser, which holds its methods, until the fix)."""
    return live("HttpServerProtocol") + live("UpstreamConnection")


async def handler(request: Request) -> Response:
    return simple_response(200, "ok")


async def until(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not done():
        assert time.monotonic() < deadline, f"not within 10 s: {what}"
        await asyncio.sleep(0.01)


async def churn(http2: Request | None = None) -> tuple[tuple[int, int], tuple[int, int]]:
    """CONNECTIONS x PER_CONNECTION requests from the sidecar's pool to the sidecar's
    server over mTLS (the `http2` request over HTTP/2 by ALPN, when given), each
    connection closed by the pool after PER_CONNECTION; the TLS protocols and the
    HTTP/1.1 protocols alive before and after, once both ends saw every close."""
    ca = CertificateAuthority.create()
    server_creds, client_creds = credentials(ca, "catalog"), credentials(ca, "frontend")
    loop = asyncio.get_running_loop()
    registry = ConnectionRegistry()
    server = await loop.create_server(
        lambda: HttpServerProtocol(handler, registry, HttpLimits()),
        "127.0.0.1",
        0,
        ssl=server_creds.server,
    )
    pool = EndpointPool("127.0.0.1", server.sockets[0].getsockname()[1])
    pool.tls = UpstreamTLS(
        lambda: client_creds.client, server_creds.principal, lambda: client_creds.client_h2
    )
    pool.max_requests_per_connection = PER_CONNECTION
    before = live_tls_protocols(), live_http1_protocols()
    for _ in range(CONNECTIONS * PER_CONNECTION):
        if http2 is not None:
            response = await send_request(pool, None, http2, [])
            await response.read_body()
        else:
            conn, _ = await pool.checkout(5.0)
            response = await conn.send(HEAD, b"", False)
            del conn  # what is left alive is the pool's or a cycle's
        assert response.status == 200
    del response
    # both ends saw the last close
    await until(lambda: not pool.open and not registry.connections, "every connection closed")
    await asyncio.sleep(0)  # uvloop's close callbacks of the last connection
    after = live_tls_protocols(), live_http1_protocols()
    server.close()
    await server.wait_closed()
    return before, after


@pytest.mark.usefixtures("collector_off")
def test_closed_mtls_connections_leave_no_tls_state_behind() -> None:
    """90 requests on 30 mTLS connections, all closed, the collector off: no TLS protocol
    of theirs is left (before the fix all 60, one per end of each connection, were), nor
    an HTTP/1.1 protocol (all 60 were, each in a cycle with its httptools parser, which
    holds its methods, and the pool's with its last answer's body stream: objects that
    waited for a full collection, hundreds at a time in the soak)."""
    (tls_before, http1_before), (tls_after, http1_after) = uvloop.run(churn())
    assert tls_after <= tls_before, f"{tls_after - tls_before} closed connections' TLS state"
    assert http1_after <= http1_before, (
        f"{http1_after - http1_before} closed connections' protocols"
    )


H2_GET = Request(b"GET", b"/", [(b"host", b"catalog")], http2=True)


@pytest.mark.usefixtures("collector_off")
def test_closed_h2_mtls_connections_leave_no_tls_state_behind() -> None:
    """The same over HTTP/2 (ALPN h2: the sidecar's H2Pool to its server, which hands
    each connection from HttpServerProtocol to H2ServerProtocol): no TLS protocol left.
    Before, all 60 were: 30 kept by the pool's H2Upstream (in a cycle with each answer's
    body stream), 30 by the HttpServerProtocol that handed over; either fix alone left 30.
    Nor is the HttpServerProtocol that handed over (its httptools parser held it)."""
    (tls_before, http1_before), (tls_after, http1_after) = uvloop.run(churn(H2_GET))
    assert tls_after <= tls_before, f"{tls_after - tls_before} closed connections' TLS state"
    assert http1_after <= http1_before, f"{http1_after - http1_before} handed-over protocols"


async def tcp_churn(server: Credentials, client: Credentials) -> tuple[int, int]:
    """CONNECTIONS connections through the TCP proxy's ends as the sidecars join them
    (a client's TLS end piped from a local end, the server's TLS end piped to the app's),
    a few bytes sent, then the client resets; the TLS sessions alive before and
    after, once every end saw its close."""
    loop = asyncio.get_running_loop()
    accepted: list[tuple[End, End]] = []

    def accept() -> End:
        down = End(TlsSession(server.server, server_side=True))
        accepted.append((down, End()))
        return down

    listener = await loop.create_server(accept, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    before = live("TlsSession")
    closed: list[asyncio.Future[None]] = []
    for _ in range(CONNECTIONS):
        _, up = await loop.create_connection(
            lambda: End(TlsSession(client.client, server_side=False)), "127.0.0.1", port
        )
        await up.ready
        await until(lambda: bool(accepted), "the server's end accepted")
        down, app = accepted.pop()
        await down.ready
        join(End(), up)
        join(down, app)
        up.send(b"ping")
        # A reset on the wire, not a FIN: the server's end must see the connection end
        # (its app end here has no socket to finish a half-close with). It came by chance
        # while the server sent session tickets, left unread when the client closed.
        assert up.transport is not None
        sock = up.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        up.abort()
        closed += [up.closed, down.closed]
        del up, down, app
    await asyncio.gather(*closed)
    del closed
    await asyncio.sleep(0)
    after = live("TlsSession")
    listener.close()
    await listener.wait_closed()
    return before, after


@pytest.mark.usefixtures("collector_off")
def test_closed_tcp_proxy_ends_leave_no_tls_state_behind() -> None:
    """30 mTLS connections through the TCP proxy's ends, closed, the collector off: no
    TLS session of theirs is left (each holds OpenSSL's state, about 29 KB; before, all
    60 stayed: a joined end and its peer, and an end and its `ready` future, were cycles)."""
    ca = CertificateAuthority.create()
    server, client = credentials(ca, "kv"), credentials(ca, "cart")
    before, after = uvloop.run(tcp_churn(server, client))
    assert after <= before, f"{after - before} closed ends' TLS sessions still alive"
