"""The sample services' keep-alive client against real loopback servers that close
connections the ways a draining sidecar does."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from mesh_runtime.services.http_pool import KeepAlivePool
from mesh_runtime.sidecar.upstream import UpstreamReset

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
OK_CLOSE = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"

Answer = Callable[[int], bytes | None]
"""What the server does with the n-th request on a connection (from 1): the bytes to
answer, or None to close the connection unanswered."""


async def _serve(answer: Answer, connections: list[int]) -> asyncio.Server:
    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        number = 0
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                number += 1
                data = answer(number)
                if data is None:
                    break
                writer.write(data)
                await writer.drain()
                if b"connection: close" in data:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(on_connection, "127.0.0.1", 0)


def _run(answer: Answer, client: Callable[[KeepAlivePool, str], Awaitable[object]]) -> list[int]:
    """Run `client` against a server answering as `answer` says; the connections it saw."""
    connections: list[int] = []

    async def main() -> None:
        server = await _serve(answer, connections)
        port = server.sockets[0].getsockname()[1]
        pool = KeepAlivePool()
        try:
            await client(pool, f"127.0.0.1:{port}")
        finally:
            pool.close()
            server.close()

    asyncio.run(main())
    return connections


async def _get(pool: KeepAlivePool, address: str, method: bytes = b"GET") -> tuple[int, bytes]:
    headers = [(b"host", address.encode())]
    return await asyncio.wait_for(pool.request(address, method, b"/x", headers, b""), 5)


def test_requests_share_one_keep_alive_connection() -> None:
    """Three calls in turn go over one connection."""

    async def client(pool: KeepAlivePool, address: str) -> None:
        assert [await _get(pool, address) for _ in range(3)] == [(200, b"ok")] * 3

    assert len(_run(lambda n: OK, client)) == 1


def test_an_answer_saying_connection_close_is_not_reused() -> None:
    """After an answer with `Connection: close` the next call opens a new connection."""

    async def client(pool: KeepAlivePool, address: str) -> None:
        assert [await _get(pool, address) for _ in range(3)] == [(200, b"ok")] * 3

    assert len(_run(lambda n: OK_CLOSE, client)) == 3


def test_a_get_on_a_connection_closed_unanswered_is_sent_again() -> None:
    """A pooled connection the peer closes on the next request, before any byte of the
    answer, is passed over: the GET goes out again on a fresh connection and succeeds."""

    async def client(pool: KeepAlivePool, address: str) -> None:
        assert [await _get(pool, address) for _ in range(4)] == [(200, b"ok")] * 4

    assert len(_run(lambda n: OK if n == 1 else None, client)) == 4


def test_a_post_on_a_connection_closed_unanswered_is_not_sent_twice() -> None:
    """A POST may have been processed: its reset is the caller's to see."""

    async def client(pool: KeepAlivePool, address: str) -> None:
        assert await _get(pool, address) == (200, b"ok")
        with pytest.raises(UpstreamReset):
            await _get(pool, address, b"POST")

    assert len(_run(lambda n: OK if n == 1 else None, client)) == 1
