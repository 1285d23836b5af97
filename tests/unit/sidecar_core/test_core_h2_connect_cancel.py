"""An HTTP/2 upstream connect cancelled as it completes (the caller hung up) leaves
nothing behind that writes to the closed connection: no error in the loop."""

from __future__ import annotations

import asyncio
from typing import Any

import uvloop

from mesh_runtime.sidecar.endpoint_pool import EndpointPool
from mesh_runtime.sidecar.h2_pool import h2_pool_of
from mesh_runtime.sidecar.h2_upstream import H2Upstream


async def cancelled_connects() -> list[dict[str, Any]]:
    """Connects cancelled at each of their first steps: at one of them (the second, with
    uvloop 0.23) the connect has completed, its `connection_made` run, but its task not
    yet resumed; the cancel then has uvloop close the handle."""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: errors.append(context))
    server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = h2_pool_of(EndpointPool("127.0.0.1", port))
    for steps in range(1, 5):
        connect = loop.create_connection(lambda: H2Upstream(pool, 100), "127.0.0.1", port)
        task = loop.create_task(asyncio.wait_for(connect, 5))
        for _ in range(steps):
            await asyncio.sleep(0)
        task.cancel()
        for _ in range(5):
            await asyncio.sleep(0)
    server.close()
    return errors


def test_a_connect_cancelled_as_it_completes_writes_nothing_to_the_closed_connection() -> None:
    """The preface goes out inside connection_made: no flush is left queued for a
    transport that uvloop closes when the connect is cancelled."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        errors = runner.run(cancelled_connects())
    assert [str(error.get("exception")) for error in errors] == []
