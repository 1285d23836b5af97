"""A client that hangs up while its answer is being made: the answer is dropped quietly.

A handler may still return an answer after the listener cancelled it for a client gone
(the sample services answer 499 then, to count it). uvloop's transports raise on a write
after close (asyncio's only log), so the listener must not write that answer, or its task
dies with 'Task exception was never retrieved ... the handler is closed' in the log."""

from __future__ import annotations

import asyncio
import gc
import socket
from typing import Any

import uvloop

from mesh_runtime.sidecar.http1 import BodyStream, Request, Response
from mesh_runtime.sidecar.http_server import HttpServerProtocol
from mesh_runtime.sidecar.limits import HttpLimits
from mesh_runtime.sidecar.server_connections import ConnectionRegistry


async def _hang_up_while_answering(streamed: bool) -> tuple[list[dict[str, Any]], list[str]]:
    loop = asyncio.get_running_loop()
    problems: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: problems.append(context))
    arrived, answered = asyncio.Event(), []

    async def handler(request: Request) -> Response:
        arrived.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            answered.append("499")
        if not streamed:
            return Response(499, [], b"client closed")
        body = BodyStream()
        body.feed(b"client closed")
        body.finish()
        return Response(499, [], body)

    registry = ConnectionRegistry()
    server = await loop.create_server(
        lambda: HttpServerProtocol(handler, registry, HttpLimits()), "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.sendall(b"GET / HTTP/1.1\r\nhost: s\r\n\r\n")
        await asyncio.wait_for(arrived.wait(), 5)
    for _ in range(500):  # until the handler has seen the hang-up and answered
        await asyncio.sleep(0.01)
        if answered and not registry.connections:
            break
    for _ in range(10):
        await asyncio.sleep(0)
    server.close()
    await server.wait_closed()
    gc.collect()  # a task's unretrieved exception is reported when it is collected
    await asyncio.sleep(0)
    return problems, answered


def test_an_answer_for_a_client_gone_is_dropped_without_an_error() -> None:
    for streamed in (False, True):
        problems, answered = uvloop.run(_hang_up_while_answering(streamed))
        assert answered == ["499"], streamed
        assert problems == [], (streamed, [str(p.get("exception")) for p in problems])
