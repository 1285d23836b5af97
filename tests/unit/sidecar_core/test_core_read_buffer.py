"""Every connection reads into one shared buffer (http1.READ_BUFFER): nothing a connection
keeps may point into it, since the next read, on any connection, overwrites it."""

from __future__ import annotations

import asyncio

from harness.bench.hotpath import Transport, feed
from mesh_runtime.sidecar.http1 import Request, Response
from mesh_runtime.sidecar.http_server import HttpServerProtocol
from mesh_runtime.sidecar.limits import HttpLimits
from mesh_runtime.sidecar.server_connections import ConnectionRegistry


def test_interleaved_reads_on_two_connections_keep_each_request_whole() -> None:
    """A head split across reads, with another connection's read in between, arrives
    intact: target, header value and body are each the connection's own."""
    seen: list[tuple[bytes, bytes | None, bytes]] = []

    async def handler(request: Request) -> Response:
        seen.append((request.target, request.header(b"x-id"), request.body))
        return Response(200, [], b"ok " + request.body)

    async def scenario() -> list[Transport]:
        transports = []
        protocols = []
        for _ in range(2):
            protocol = HttpServerProtocol(handler, ConnectionRegistry(), HttpLimits())
            transport = Transport()
            protocol.connection_made(transport)  # type: ignore[arg-type]
            protocols.append(protocol)
            transports.append(transport)
        alpha, bravo = protocols
        feed(alpha, b"POST /alpha HTTP/1.1\r\nhost: s\r\nx-id: aa")
        feed(bravo, b"POST /bravo HTTP/1.1\r\nhost: s\r\nx-id: bb\r\ncontent-length: 4\r\n\r\nBB")
        feed(alpha, b"aa-tail\r\ncontent-length: 4\r\n\r\nAA")
        feed(bravo, b"BB")
        feed(alpha, b"AA")
        for _ in range(5):
            await asyncio.sleep(0)
        return transports

    alpha, bravo = asyncio.run(scenario())
    assert seen == [(b"/bravo", b"bb", b"BBBB"), (b"/alpha", b"aaaa-tail", b"AAAA")]
    assert alpha.sent.startswith(b"HTTP/1.1 200 OK\r\n") and alpha.sent.endswith(b"ok AAAA")
    assert bravo.sent.endswith(b"ok BBBB")
