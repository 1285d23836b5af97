"""HTTP/2 in one event loop: the listener's protocol switch, streams multiplexed on the
pooled upstream connection, flow control and trailers (no sidecar process)."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
from collections.abc import Awaitable, Callable

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import ConnectionTerminated, ResponseReceived

from mesh_runtime.sidecar.endpoint_pool import EndpointPool
from mesh_runtime.sidecar.exchange import send_request
from mesh_runtime.sidecar.h2_pool import h2_pool_of
from mesh_runtime.sidecar.h2_wire import H2Wire
from mesh_runtime.sidecar.http1 import BodyStream, Request, Response
from mesh_runtime.sidecar.http_server import HttpServerProtocol
from mesh_runtime.sidecar.inbound import InboundProxy
from mesh_runtime.sidecar.limits import HttpLimits
from mesh_runtime.sidecar.observe import Identity, Observer
from mesh_runtime.sidecar.server_connections import ConnectionRegistry
from mesh_runtime.sidecar.telemetry import MeshMetrics

Handler = Callable[[Request], Awaitable[Response]]


async def serve(handler: Handler) -> tuple[asyncio.Server, int]:
    loop = asyncio.get_running_loop()
    registry = ConnectionRegistry()
    server = await loop.create_server(
        lambda: HttpServerProtocol(handler, registry, HttpLimits()), "127.0.0.1", 0
    )
    return server, server.sockets[0].getsockname()[1]


def h2_get(path: bytes, **headers: bytes) -> Request:
    extra = [(k.replace("_", "-").encode(), v) for k, v in headers.items()]
    return Request(b"GET", path, [(b"host", b"catalog"), *extra], http2=True)


async def echo(request: Request) -> Response:
    body = b"%s %s h2=%d" % (request.method, request.target, request.http2)
    return Response(200, [(b"content-type", b"text/plain")], body)


def test_h2c_prior_knowledge_reaches_the_same_handler() -> None:
    """A client opening with the HTTP/2 preface is served over HTTP/2 by the listener's
    handler; the request is marked http2 and keeps its path and Host."""

    async def main() -> bytes:
        server, port = await serve(echo)
        pool = EndpointPool("127.0.0.1", port)
        response = await send_request(pool, None, h2_get(b"/a?b=1"), [(b"x-k", b"v")])
        body = await response.read_body()
        pool.close_all()
        server.close()
        return body

    assert asyncio.run(main()) == b"GET /a?b=1 h2=1"


def test_hundred_concurrent_streams_share_one_connection() -> None:
    """100 requests at once ride one HTTP/2 connection; a slow stream does not hold the
    others back (no head-of-line blocking): the slow one answers only once the 99 others
    have all been answered, so with head-of-line blocking they would never be."""

    async def main() -> tuple[int, int, bytes]:
        arrived, release = asyncio.Event(), asyncio.Event()

        async def handler(request: Request) -> Response:
            if request.target == b"/slow":
                arrived.set()
                await release.wait()
            return Response(200, [], request.target)

        server, port = await serve(handler)
        pool = EndpointPool("127.0.0.1", port)

        async def one(path: bytes) -> bytes:
            response = await send_request(pool, None, h2_get(path), [])
            return await response.read_body()

        slow = asyncio.ensure_future(one(b"/slow"))
        await asyncio.wait_for(arrived.wait(), 30.0)
        fast = [b"/fast/%d" % i for i in range(99)]
        answers = await asyncio.wait_for(asyncio.gather(*(one(p) for p in fast)), 30.0)
        served = sum(answer == path for answer, path in zip(answers, fast, strict=True))
        release.set()
        slow_body = await asyncio.wait_for(slow, 30.0)
        connections = len(h2_pool_of(pool).conns)
        pool.close_all()
        server.close()
        return connections, served, slow_body

    connections, served, slow_body = asyncio.run(main())
    assert connections == 1
    assert served == 99
    assert slow_body == b"/slow"


def test_large_body_and_trailers_pass_within_flow_control() -> None:
    """A 3 MiB streamed body (over the 1 MiB stream window) arrives whole, and the
    trailers set after it reach the client."""
    size = 3 * 1024 * 1024

    async def handler(request: Request) -> Response:
        body = BodyStream()

        async def produce() -> None:
            for _ in range(size // 65536):
                body.feed(b"y" * 65536)
                await asyncio.sleep(0)
            body.trailers = [(b"grpc-status", b"0")]
            body.finish()

        asyncio.get_running_loop().create_task(produce())
        return Response(200, [(b"content-type", b"application/grpc")], body)

    async def main() -> tuple[int, list[tuple[bytes, bytes]] | None]:
        server, port = await serve(handler)
        pool = EndpointPool("127.0.0.1", port)
        response = await send_request(pool, None, h2_get(b"/big"), [])
        data = await response.read_body()
        assert isinstance(response.body, BodyStream)
        trailers = response.body.trailers
        pool.close_all()
        server.close()
        return len(data), trailers

    length, trailers = asyncio.run(main())
    assert length == size
    assert trailers == [(b"grpc-status", b"0")]


def test_stream_cap_opens_a_second_connection() -> None:
    """With maxConcurrentStreams 4, eight slow requests at once need two connections."""

    async def handler(request: Request) -> Response:
        await asyncio.sleep(0.2)
        return Response(200, [], b"ok")

    async def main() -> int:
        server, port = await serve(handler)
        pool = EndpointPool("127.0.0.1", port)
        pool.max_concurrent_streams = 4

        async def one() -> None:
            response = await send_request(pool, None, h2_get(b"/"), [])
            await response.read_body()

        await asyncio.gather(*(one() for _ in range(8)))
        count = len(h2_pool_of(pool).conns)
        pool.close_all()
        server.close()
        return count

    assert asyncio.run(main()) == 2


def test_a_draining_server_goaway_sends_the_next_request_on_a_new_connection() -> None:
    """A drain sends GOAWAY on the idle pooled connection: the next request does not fail,
    it goes on a fresh connection (to the server beside it, in a hot restart)."""

    async def main() -> tuple[int, int, int]:
        loop = asyncio.get_running_loop()
        registry = ConnectionRegistry()
        server = await loop.create_server(
            lambda: HttpServerProtocol(echo, registry, HttpLimits()), "127.0.0.1", 0
        )
        port = server.sockets[0].getsockname()[1]
        pool = EndpointPool("127.0.0.1", port)
        first = await send_request(pool, None, h2_get(b"/one"), [])
        await first.read_body()
        registry.start_drain()
        registry.draining = False  # the replacement server takes new connections
        await registry.wait_empty(2.0)
        second = await send_request(pool, None, h2_get(b"/two"), [])
        await second.read_body()
        conns = len(h2_pool_of(pool).conns)
        pool.close_all()
        server.close()
        return first.status, second.status, conns

    assert asyncio.run(main()) == (200, 200, 1)


def test_slow_request_bodies_get_408_and_held_bytes_are_capped() -> None:
    """A stream whose body does not end within the request timeout is answered 408; a
    connection holding more than 4 x max_body of unfinished bodies is told GOAWAY."""

    limits = dataclasses.replace(HttpLimits(), max_body=1000, request_timeout=0.2)

    async def exchange(body_parts: list[tuple[int, bytes]]) -> list[object]:
        loop = asyncio.get_running_loop()
        registry = ConnectionRegistry()
        server = await loop.create_server(
            lambda: HttpServerProtocol(echo, registry, limits), "127.0.0.1", 0
        )
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        conn = H2Connection(H2Configuration(client_side=True))
        conn.initiate_connection()
        for stream_id, part in body_parts:
            fields = [(":method", "POST"), (":scheme", "http"), (":authority", "c"), (":path", "/")]
            conn.send_headers(stream_id, fields)
            conn.send_data(stream_id, part)
        writer.write(conn.data_to_send())
        events: list[object] = []
        deadline = loop.time() + 3
        while loop.time() < deadline and not events:
            registry.sweep(time.monotonic())
            try:
                data = await asyncio.wait_for(reader.read(65536), 0.1)
            except TimeoutError:
                continue
            if not data:
                break
            events += [
                e
                for e in conn.receive_data(data)
                if isinstance(e, (ResponseReceived, ConnectionTerminated))
            ]
        writer.close()
        server.close()
        return events

    slow = asyncio.run(exchange([(1, b"x" * 10)]))
    assert isinstance(slow[0], ResponseReceived)
    assert dict(slow[0].headers)[b":status"] == b"408"
    held = asyncio.run(exchange([(i, b"x" * 900) for i in (1, 3, 5, 7, 9)]))
    assert isinstance(held[0], ConnectionTerminated) and held[0].error_code == 0xB


def test_inbound_passes_http2_on_only_to_an_app_that_takes_it() -> None:
    """An HTTP/2 request goes on to the app as HTTP/2 when its service speaks grpc, else
    as HTTP/1.1 (an HTTP/1.1 app beside a sidecar keeps working for HTTP/2 callers)."""

    async def main(app_h2: bool) -> bytes:
        server, port = await serve(echo)
        observer = Observer(Identity("catalog", "catalog-0", "v1"), MeshMetrics())
        pool = EndpointPool("127.0.0.1", port)
        inbound = InboundProxy(pool, observer, app_h2=lambda: app_h2)
        response = await inbound.handle(h2_get(b"/x"))
        body = await response.read_body()
        pool.close_all()
        server.close()
        return body

    assert asyncio.run(main(True)) == b"GET /x h2=1"
    assert asyncio.run(main(False)) == b"GET /x h2=0"


def test_frames_made_in_one_turn_leave_together_when_it_ends() -> None:
    """`flush` writes at the end of the loop's turn, so an answer's HEADERS, DATA and
    trailers made in one turn go in one write; `flush_now` writes at once."""

    async def main() -> tuple[bytes, bytes, bytes]:
        ours, peer = socket.socketpair()
        peer.setblocking(False)
        transport, _ = await asyncio.get_running_loop().connect_accepted_socket(
            asyncio.Protocol, ours
        )
        wire = H2Wire(H2Connection(H2Configuration(client_side=True, header_encoding=None)))
        wire.transport = transport
        wire.conn.initiate_connection()
        wire.flush()
        headers = [(b":method", b"POST"), (b":scheme", b"http"), (b":path", b"/"),
                   (b":authority", b"catalog")]  # fmt: skip
        wire.conn.send_headers(1, headers)
        wire.flush()
        await wire.send_body(1, b"x" * 1000, end_stream=False)
        wire.conn.send_headers(1, [(b"grpc-status", b"0")], end_stream=True)
        wire.flush()
        before = _pending(peer)
        await asyncio.sleep(0)
        after_turn = _pending(peer)
        wire.conn.ping(b"12345678")
        wire.flush_now()
        at_once = _pending(peer)
        transport.close()
        peer.close()
        return before, after_turn, at_once

    before, after_turn, at_once = asyncio.run(main())
    assert before == b""
    assert after_turn.startswith(b"PRI * HTTP/2.0") and b"x" * 1000 in after_turn
    assert len(at_once) == 9 + 8  # the PING frame, written without waiting for the turn


def _pending(sock: socket.socket) -> bytes:
    """What the peer socket can read now (b"" when nothing has arrived)."""
    try:
        return sock.recv(1 << 20)
    except BlockingIOError:
        return b""
