"""An HTTP/2 request whose :method or :path could not stand in an HTTP/1.1 request line
is refused 400 at the listener: the next hop (an HTTP/1.1 app) never sees `G T /x`."""

from __future__ import annotations

import asyncio

import pytest
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import ResponseReceived

from mesh_runtime.sidecar.http1 import Request, Response
from mesh_runtime.sidecar.http_server import HttpServerProtocol
from mesh_runtime.sidecar.limits import HttpLimits, check_request_line
from mesh_runtime.sidecar.server_connections import ConnectionRegistry


async def status_of(method: bytes, path: bytes, seen: list[Request]) -> int:
    """Send one request over h2c (no client-side validation) to a listener on port 0."""

    async def handler(request: Request) -> Response:
        seen.append(request)
        return Response(200, [], b"ok")

    loop = asyncio.get_running_loop()
    registry = ConnectionRegistry()
    server = await loop.create_server(
        lambda: HttpServerProtocol(handler, registry, HttpLimits()), "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    config = H2Configuration(validate_outbound_headers=False, normalize_outbound_headers=False)
    conn = H2Connection(config)
    conn.initiate_connection()
    fields = [(b":method", method), (b":scheme", b"http"), (b":authority", b"catalog")]
    conn.send_headers(1, [*fields, (b":path", path)], end_stream=True)
    writer.write(conn.data_to_send())
    try:
        while True:
            data = await asyncio.wait_for(reader.read(65536), 5)
            assert data, "closed without an answer"
            for event in conn.receive_data(data):
                if isinstance(event, ResponseReceived):
                    return int(dict(event.headers)[b":status"])
            writer.write(conn.data_to_send())
    finally:
        writer.close()
        server.close()


@pytest.mark.parametrize(
    ("method", "path"),
    [(b"G T", b"/x"), (b"GET", b"/e cho"), (b"GET", b"/x\tHTTP/1.1"), (b"GET", "/é".encode())],
)
def test_a_request_line_http1_would_refuse_is_400(method: bytes, path: bytes) -> None:
    """A space or tab in :method or :path, or a byte over 0x7e in :path: 400, and the
    handler (which would send it on) sees nothing."""
    seen: list[Request] = []
    assert asyncio.run(status_of(method, path, seen)) == 400
    assert seen == []


def test_a_plain_request_line_passes() -> None:
    """Tokens and visible ASCII (a query, percent-encoding) pass, over h2 and in the rule."""
    seen: list[Request] = []
    assert asyncio.run(status_of(b"PATCH", b"/a/b?c=%20d&e=~", seen)) == 200
    assert [request.target for request in seen] == [b"/a/b?c=%20d&e=~"]
    assert check_request_line(b"GET", b"/pkg.Service/Method") is None
