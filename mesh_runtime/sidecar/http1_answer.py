"""Writing an HTTP/1.1 answer on a listener's connection (`http_server`'s other half).

A whole answer is one `transport.write` (head and body together); an answer whose body is
still streaming has its head written with the first chunk and each chunk after it with
back-pressure. A refusal of malformed input is written and the connection closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from mesh_runtime.sidecar.http1 import BodyStream, ConnectionClosed, Response
from mesh_runtime.sidecar.http1_wire import (
    BAD_REQUEST,
    LAST_CHUNK,
    NO_BODY_STATUS,
    encode_chunk,
    encode_response_head,
)


def write_answer(
    transport: asyncio.Transport | None,
    method: bytes,
    response: Response,
    keep_alive: bool,
    writable: asyncio.Event,
) -> Awaitable[None] | None:
    """Write the answer to a `method` request; what is left to await when its body is still
    streaming (`writable` is set while the transport takes more). Not a coroutine itself:
    most answers are whole by now, and a coroutine a request fewer is a generator object,
    its frame and its StopIteration fewer."""
    body = response.body
    if transport is None or transport.is_closing():  # the client hung up meanwhile
        if isinstance(body, BodyStream):
            body.abandon()
        raise ConnectionClosed("the client closed before its answer")
    if method == b"HEAD" or response.status in NO_BODY_STATUS:
        if isinstance(body, BodyStream):
            body.abandon()
        framing = _head_framing(response)
        transport.write(
            encode_response_head(response.status, response.headers, framing, keep_alive)
        )
        return None
    if isinstance(body, bytes):
        framing = b"content-length: %d\r\n" % len(body)
        head = encode_response_head(response.status, response.headers, framing, keep_alive)
        transport.write(head + body)
        return None
    length = response.content_length
    chunked = length is None
    framing = (
        b"transfer-encoding: chunked\r\n" if length is None else b"content-length: %d\r\n" % length
    )
    head = encode_response_head(response.status, response.headers, framing, keep_alive)
    whole = body.take_complete()
    if whole is not None:  # the usual small answer: it came in with its head
        if chunked:
            whole = (encode_chunk(whole) if whole else b"") + LAST_CHUNK
        transport.write(head + whole)
        return None
    return _stream(transport, head, body, chunked, writable)


async def _stream(
    transport: asyncio.Transport,
    head: bytes,
    body: BodyStream,
    chunked: bool,
    writable: asyncio.Event,
) -> None:
    """The body as it comes, each chunk written with back-pressure (`head` with the first)."""
    first = True
    try:
        while chunk := await body.read():
            if transport.is_closing():  # closed while the chunk was awaited
                body.abandon()
                return
            data = encode_chunk(chunk) if chunked else chunk
            transport.write(head + data if first else data)
            first = False
            if not writable.is_set():
                await writable.wait()
    except asyncio.CancelledError:
        body.abandon()  # the client hung up: release the upstream (and its deadline)
        raise
    except ConnectionClosed:
        # The upstream broke mid-body (or its deadline cut it): the only honest signal left
        # is to cut this connection too (as Envoy does), so the client sees a truncated
        # message.
        if first and not transport.is_closing():
            transport.write(head)
        transport.abort()
        raise
    if transport.is_closing():
        return
    tail = LAST_CHUNK if chunked else b""
    transport.write(head + tail if first else tail)


def write_refusal(transport: asyncio.Transport, response: Response | None) -> None:
    """Answer malformed input (`response`, or a bare 400 when there is none or its body
    streams) and close the connection."""
    if response is None or not isinstance(response.body, bytes):
        transport.write(BAD_REQUEST)
    else:
        framing = b"content-length: %d\r\n" % len(response.body)
        head = encode_response_head(response.status, response.headers, framing, False)
        transport.write(head + response.body)
    transport.close()


def _head_framing(response: Response) -> bytes:
    """Content-Length of an answer without a body: the length a GET would have had."""
    if response.status in NO_BODY_STATUS:
        return b""
    if response.content_length is not None:
        return b"content-length: %d\r\n" % response.content_length
    if isinstance(response.body, bytes):
        return b"content-length: %d\r\n" % len(response.body)
    return b""
