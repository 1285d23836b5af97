"""The sidecar listener's Python cost per request, in process, without sockets.

    python -m harness.bench.hotpath [--requests 20000] [--repeats 7]

One HttpServerProtocol on a transport that drops what it is sent, fed a fortio-like
1 KiB POST (the mesh benchmark's request, with the mesh's own headers) through the
shared read buffer as the loop would, answered at once by a handler: parsing, request
validation, the per-request task and the answer's head, i.e. the listener half of one
sidecar hop. Reported: CPU microseconds per request (process time; min and median of
the repeats). No kernel and no peer is involved, so on a busy machine this moves by a
few per cent where the socket benchmark's CPU per request moves by a third: the measure
for a change to the Python of the request path.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import uvloop

from harness.errors import RunError
from mesh_runtime.sidecar.http1 import Request, Response
from mesh_runtime.sidecar.http_server import HttpServerProtocol
from mesh_runtime.sidecar.limits import HttpLimits
from mesh_runtime.sidecar.server_connections import ConnectionRegistry

REQUEST = (
    b"POST /echo HTTP/1.1\r\nHost: echo\r\nUser-Agent: fortio.org/fortio-1.69.0\r\n"
    b"Content-Type: application/octet-stream\r\nContent-Length: 1024\r\n"
    b"x-request-id: 0123456789abcdef0123456789abcdef\r\n"
    b"traceparent: 00-0123456789abcdef0123456789abcdef-0123456789abcdef-01\r\n"
    b"x-meshproof-peer: client\r\n\r\n" + b"x" * 1024
)


class Transport:
    """What HttpServerProtocol uses of a transport; keeps what it is sent when asked."""

    def __init__(self, keep: bool = True) -> None:
        self.sent = bytearray()
        self.closed = False
        self.answered_200 = 0
        self._keep = keep

    def write(self, data: bytes) -> None:
        if data.startswith(b"HTTP/1.1 200 "):
            self.answered_200 += 1
        if self._keep:
            self.sent += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default


def feed(protocol: HttpServerProtocol, data: bytes) -> None:
    """As the loop does: read into the protocol's buffer, then tell it how much came."""
    buffer = protocol.get_buffer(len(data))
    buffer[: len(data)] = data
    protocol.buffer_updated(len(data))


async def _listener_cpu_us(requests: int) -> float:
    answer = Response(200, [(b"content-type", b"application/octet-stream")], b"y" * 1024)

    async def handler(request: Request) -> Response:
        return answer

    return await handler_cpu_us(handler, REQUEST, requests, HttpLimits())


async def handler_cpu_us(
    handler: Callable[[Request], Awaitable[Response]],
    request: bytes,
    requests: int,
    limits: HttpLimits,
) -> float:
    """CPU microseconds per request of the listener serving `handler` in process, without
    sockets: `request` fed `requests` times as the loop would, each task run to its end."""
    protocol = HttpServerProtocol(handler, ConnectionRegistry(), limits)
    transport = Transport(keep=False)
    protocol.connection_made(transport)  # type: ignore[arg-type]
    start = time.process_time()
    for _ in range(requests):
        feed(protocol, request)
        await asyncio.sleep(0)  # the request's task runs
        await asyncio.sleep(0)  # and ends
    used = time.process_time() - start
    if transport.answered_200 != requests:  # a refusal path would be measured instead
        raise RunError(f"{transport.answered_200} of {requests} requests answered 200")
    return used / requests * 1e6


def measure(requests: int, repeats: int) -> list[float]:
    """CPU microseconds per request, one figure per repeat (each on a fresh loop)."""
    return [uvloop.run(_listener_cpu_us(requests)) for _ in range(repeats)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.bench.hotpath", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    if args.requests < 1 or args.repeats < 1:
        parser.exit(2, "python -m harness.bench.hotpath: error: --requests and --repeats >= 1\n")
    load = os.getloadavg()[0]
    figures = measure(args.requests, args.repeats)
    spread = " ".join(f"{f:.1f}" for f in figures)
    print(
        f"sidecar listener, Python per request (parse, validate, task, answer head):"
        f" min {min(figures):.1f} us, median {statistics.median(figures):.1f} us CPU"
        f" ({args.repeats} x {args.requests} requests: {spread}); load average {load:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
