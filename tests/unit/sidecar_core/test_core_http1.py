"""HTTP/1.1 heads, hop-by-hop rules and the body stream, without sockets."""

from __future__ import annotations

import asyncio

import pytest

from mesh_runtime.sidecar.http1 import BodyStream, ConnectionClosed, Response
from mesh_runtime.sidecar.http1_wire import (
    encode_chunk,
    encode_request_head,
    encode_response_head,
    end_to_end,
)


def test_end_to_end_drops_hop_by_hop_and_connection_named_headers() -> None:
    """Connection, Keep-Alive, framing headers and names listed in Connection are dropped."""
    headers = [
        (b"host", b"catalog"),
        (b"connection", b"keep-alive, X-Hop"),
        (b"x-hop", b"1"),
        (b"keep-alive", b"timeout=5"),
        (b"transfer-encoding", b"chunked"),
        (b"content-length", b"10"),
        (b"x-keep", b"yes"),
    ]
    assert end_to_end(headers) == [(b"host", b"catalog"), (b"x-keep", b"yes")]


def test_end_to_end_keeps_host_even_when_connection_names_it() -> None:
    """`Connection: host` drops nothing but the Connection header itself: the request
    goes on with its Host (without one, the next hop would answer 400)."""
    headers = [(b"host", b"catalog"), (b"connection", b"Host, x-hop"), (b"x-hop", b"1")]
    assert end_to_end(headers) == [(b"host", b"catalog")]


def test_request_head_has_length_only_when_a_body_may_follow() -> None:
    """GET without a body has no Content-Length; POST always has one, even 0."""
    get = encode_request_head(b"GET", b"/a?b=1", [(b"host", b"x")], 0)
    post = encode_request_head(b"POST", b"/a", [(b"host", b"x")], 0)
    assert get == b"GET /a?b=1 HTTP/1.1\r\nhost: x\r\n\r\n"
    assert b"content-length: 0\r\n" in post


def test_response_head_marks_close_and_framing() -> None:
    """The status line has its reason phrase; not keeping alive adds Connection: close."""
    head = encode_response_head(503, [(b"x-a", b"1")], b"content-length: 3\r\n", False)
    assert head.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert head.endswith(b"content-length: 3\r\nconnection: close\r\n\r\n")


def test_unknown_status_still_has_a_status_line() -> None:
    """A status Python does not name (e.g. 599) is written with a generic phrase."""
    assert encode_response_head(599, [], b"", True).startswith(b"HTTP/1.1 599 Unknown\r\n")


def test_chunk_encoding() -> None:
    """A chunk is its hex size, CRLF, the data, CRLF."""
    assert encode_chunk(b"x" * 26) == b"1a\r\n" + b"x" * 26 + b"\r\n"


def test_body_stream_delivers_in_order_then_ends() -> None:
    """Fed chunks come out in order (coalesced), then b'' after finish."""

    async def scenario() -> list[bytes]:
        stream = BodyStream()
        stream.feed(b"ab")
        stream.feed(b"cd")
        first = await stream.read()
        stream.feed(b"ef")
        stream.finish()
        return [first, await stream.read(), await stream.read()]

    assert asyncio.run(scenario()) == [b"abcd", b"ef", b""]


def test_body_stream_reader_waits_for_the_producer() -> None:
    """A read before any data waits until the producer feeds."""

    async def scenario() -> bytes:
        stream = BodyStream()
        loop = asyncio.get_running_loop()
        loop.call_soon(stream.feed, b"late")
        return await stream.read()

    assert asyncio.run(scenario()) == b"late"


def test_body_stream_pauses_producer_above_high_water_and_resumes() -> None:
    """Above high water the producer is paused; reading it down resumes it."""
    events: list[str] = []

    async def scenario() -> None:
        stream = BodyStream(
            lambda: events.append("pause"), lambda: events.append("resume"), high_water=10
        )
        stream.feed(b"x" * 8)
        stream.feed(b"x" * 8)
        assert events == ["pause"]
        await stream.read()
        assert events == ["pause", "resume"]

    asyncio.run(scenario())


def test_body_stream_failure_raises_to_the_reader() -> None:
    """A broken connection surfaces as ConnectionClosed once buffered data is read."""

    async def scenario() -> None:
        stream = BodyStream()
        stream.feed(b"partial")
        stream.fail(ConnectionClosed("gone"))
        assert await stream.read() == b"partial"
        with pytest.raises(ConnectionClosed):
            await stream.read()

    asyncio.run(scenario())


def test_abandoning_an_unfinished_body_tells_the_connection() -> None:
    """Discarding a response whose body is still arriving calls the abandon hook once."""
    calls: list[int] = []
    stream = BodyStream(on_abandon=lambda: calls.append(1))
    Response(503, [], stream).discard()
    Response(503, [], stream).discard()
    assert calls == [1]
