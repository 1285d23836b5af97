"""A closed mTLS connection's memory goes back at once, not at the collector's next full
pass: the sidecar's client and server protocols drop their transport when it is lost.

uvloop's TLS protocol keeps the app protocol's methods after the close, so a protocol
that kept its transport made a cycle holding uvloop's 256 KiB read buffer and OpenSSL's
state (about 325 KB of heap a connection) until a full collection, which the sidecar's
`gc.freeze()` makes rare: issue 17's soak, where the frontend's sidecar grew all hour."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Iterator

import pytest
import uvloop

from mesh_runtime.control.ca import CertificateAuthority
from mesh_runtime.sidecar.http1 import Request, Response, simple_response
from mesh_runtime.sidecar.http_server import ConnectionRegistry, HttpServerProtocol
from mesh_runtime.sidecar.limits import HttpLimits
from mesh_runtime.sidecar.upstream import EndpointPool, UpstreamTLS
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


def live_tls_protocols() -> int:
    """uvloop's TLS protocol objects alive (each owns a 256 KiB buffer and an SSL*)."""
    return sum(1 for o in gc.get_objects() if type(o).__name__ == "SSLProtocol")


async def handler(request: Request) -> Response:
    return simple_response(200, "ok")


async def churn() -> tuple[int, int]:
    """CONNECTIONS x PER_CONNECTION requests from the sidecar's pool to the sidecar's
    server over mTLS, each connection closed by the pool after PER_CONNECTION; the TLS
    protocols alive before and after, once both ends saw every close."""
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
    pool.tls = UpstreamTLS(lambda: client_creds.client, server_creds.principal)
    pool.max_requests_per_connection = PER_CONNECTION
    before = live_tls_protocols()
    for _ in range(CONNECTIONS * PER_CONNECTION):
        conn, _ = await pool.checkout(5.0)
        response = await conn.send(HEAD, b"", False)
        assert response.status == 200
    del conn, response
    deadline = time.monotonic() + 10
    while pool.open or registry.connections:  # both ends saw the last close
        assert time.monotonic() < deadline, (pool.open, len(registry.connections))
        await asyncio.sleep(0.01)
    await asyncio.sleep(0)  # uvloop's close callbacks of the last connection
    after = live_tls_protocols()
    server.close()
    await server.wait_closed()
    return before, after


@pytest.mark.usefixtures("collector_off")
def test_closed_mtls_connections_leave_no_tls_state_behind() -> None:
    """90 requests on 30 mTLS connections, all closed, the collector off: no TLS protocol
    of theirs is left (before the fix all 60, one per end of each connection, were)."""
    before, after = uvloop.run(churn())
    assert after <= before, f"{after - before} closed connections' TLS state still alive"
