"""A chunked request's trailer section never joins its headers: the head's checks ran
before it arrived, so a trailer field would reach the router and the app unchecked."""

from __future__ import annotations

import asyncio

from harness.bench.hotpath import Transport, feed
from mesh_runtime.sidecar.http1 import Request, Response
from mesh_runtime.sidecar.http_server import HttpServerProtocol
from mesh_runtime.sidecar.limits import HttpLimits
from mesh_runtime.sidecar.server_connections import ConnectionRegistry

HEAD = b"POST /in HTTP/1.1\r\nhost: catalog\r\ntransfer-encoding: chunked\r\n\r\n"


def serve(data: bytes, limits: HttpLimits | None = None) -> tuple[list[Request], bytes]:
    """Feed raw bytes to one listener connection: the requests its handler saw, and
    what it wrote back."""
    seen: list[Request] = []

    async def handler(request: Request) -> Response:
        seen.append(request)
        return Response(200, [], b"ok")

    async def scenario() -> bytes:
        protocol = HttpServerProtocol(handler, ConnectionRegistry(), limits or HttpLimits())
        transport = Transport()
        protocol.connection_made(transport)  # type: ignore[arg-type]
        feed(protocol, data)
        for _ in range(5):
            await asyncio.sleep(0)
        return transport.sent

    return seen, asyncio.run(scenario())


def test_trailer_fields_are_dropped_not_merged_into_the_headers() -> None:
    """A second Host and any other field sent as trailers are not among the request's
    headers; the body arrives whole and the request is answered."""
    body = b"5\r\nhello\r\n0\r\nhost: evil\r\nx-from-trailer: yes\r\n\r\n"
    seen, sent = serve(HEAD + body)
    assert sent.startswith(b"HTTP/1.1 200 OK\r\n")
    (request,) = seen
    assert request.body == b"hello"
    assert [value for name, value in request.headers if name == b"host"] == [b"catalog"]
    assert request.header(b"x-from-trailer") is None


def test_a_trailer_section_over_the_header_limit_is_refused() -> None:
    """Trailer fields still count against --max-headers: too many get 431, and the
    handler sees nothing."""
    body = b"0\r\n" + b"x-t: y\r\n" * 20 + b"\r\n"
    seen, sent = serve(HEAD + body, HttpLimits(max_headers=10))
    assert sent.startswith(b"HTTP/1.1 431 ")
    assert seen == []
