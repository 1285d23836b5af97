"""Serve a sample service's HTTP/1.1 handler on the sidecar's own server stack.

The listener is `mesh_runtime.sidecar.http_server.HttpServerProtocol` (httptools,
keep-alive, pipelining, bodies buffered, bad input refused at the edge): the same raw
asyncio protocol the sidecar's listeners are, with an `async (Request) -> Response`
handler. A client that hangs up cancels its request's handler. On SIGTERM / SIGINT the
listener closes and open connections drain as the sidecar's do (each closes after its
next answer, or once idle for a second), bounded by `shutdown_timeout`.

    sys.exit(serve_http(service.handle, "127.0.0.1", 8080, shutdown_timeout=2.0))
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import uvloop

from mesh_runtime.sidecar.http1 import Response
from mesh_runtime.sidecar.http_server import Handler, HttpServerProtocol
from mesh_runtime.sidecar.limits import HttpLimits
from mesh_runtime.sidecar.server_connections import ConnectionRegistry, ListenerLoad

LIMITS = HttpLimits(idle_timeout=75.0)
"""The sidecar's request limits; an idle keep-alive connection closes after 75 s (as
aiohttp's server did), longer than the sidecar's pool keeps one idle (60 s)."""
JSON = [(b"content-type", b"application/json")]

Hook = Callable[[], Awaitable[None]]


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(status, list(JSON), json.dumps(payload).encode())


async def listen(
    handler: Handler, host: str, port: int, registry: ConnectionRegistry
) -> asyncio.Server:
    """A listener on host:port (port 0: any) serving `handler`."""
    load = ListenerLoad(LIMITS.max_connections)
    return await asyncio.get_running_loop().create_server(
        lambda: HttpServerProtocol(handler, registry, LIMITS, load), host, port, backlog=1024
    )


async def sweep(registry: ConnectionRegistry) -> None:
    """Header-read, request-read and idle timeouts of every connection, once a second."""
    while True:
        await asyncio.sleep(1.0)
        registry.sweep(time.monotonic())


def serve_http(
    handler: Handler,
    host: str,
    port: int,
    *,
    shutdown_timeout: float,
    on_start: Hook | None = None,
    on_stop: Hook | None = None,
) -> int:
    """Serve until SIGINT / SIGTERM, then drain; 0 when stopped, 2 with one line on stderr
    when it cannot listen."""
    try:
        uvloop.run(_run(handler, host, port, shutdown_timeout, on_start, on_stop))
    except OSError as exc:
        print(f"services: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 2
    return 0


async def _run(
    handler: Handler,
    host: str,
    port: int,
    shutdown_timeout: float,
    on_start: Hook | None,
    on_stop: Hook | None,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    registry = ConnectionRegistry()
    if on_start is not None:
        await on_start()
    try:
        server = await listen(handler, host, port, registry)
        sweeper = loop.create_task(sweep(registry))
        gc.freeze()  # what lives as long as the process stays out of full collections
        await stop.wait()
        server.close()
        registry.start_drain()
        if not await registry.wait_empty(shutdown_timeout):
            registry.close_all()
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
    finally:
        if on_stop is not None:
            await on_stop()
