"""A one-shot HTTP/1.1 client for the sidecar's side channels (not the proxied traffic).

The config long poll and the certificate request (and the span export to an https
endpoint) each send one request on a fresh connection (`connection: close`) and read one
answer with httptools; the span export to a plain http endpoint keeps its connection
(`telemetry/export.py`). Failures
come out as `ExchangeError` with a message naming what went wrong; each caller adds
which peer it was talking to and raises its own error from the tree.
"""

from __future__ import annotations

import asyncio

import httptools

from mesh_runtime.errors import ControlPlaneError


class ExchangeError(Exception):
    """The request got no complete answer: refused, timed out, cut or malformed."""


class _Collector:
    """httptools callbacks collecting one response."""

    def __init__(self) -> None:
        self.body: list[bytes] = []
        self.done = False

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.done = True


def request_head(
    method: str,
    host: str,
    port: int,
    target: str,
    headers: dict[str, str],
    *,
    keep_alive: bool = False,
) -> bytes:
    """The request line and headers of a request, `connection: close` included unless
    `keep_alive` (the span export keeps its connection)."""
    lines = [f"{method} {target} HTTP/1.1", f"host: {host}:{port}"]
    if not keep_alive:
        lines.append("connection: close")
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def request_once(
    host: str, port: int, data: bytes, timeout: float, *, tls: bool = False
) -> tuple[int, bytes]:
    """Send `data` (a whole request) and return the answer's status and body (HTTPS if `tls`)."""
    try:
        async with asyncio.timeout(timeout):
            return await _exchange(host, port, data, tls)
    except TimeoutError:
        raise ExchangeError("did not answer in time") from None
    except OSError as exc:
        raise ExchangeError(f"unreachable: {exc}") from None
    except httptools.HttpParserError as exc:
        raise ExchangeError(f"sent malformed HTTP: {exc}") from None


async def control_plane_request(
    host: str, port: int, data: bytes, timeout: float
) -> tuple[int, bytes]:
    """`request_once` to the control plane; any failure is a ControlPlaneError."""
    try:
        return await request_once(host, port, data, timeout)
    except ExchangeError as exc:
        raise ControlPlaneError(f"control plane {host}:{port} {exc}") from None


async def _exchange(host: str, port: int, data: bytes, tls: bool) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection(host, port, ssl=True if tls else None)
    try:
        writer.write(data)
        collector = _Collector()
        parser = httptools.HttpResponseParser(collector)
        while not collector.done:
            chunk = await reader.read(65536)
            if not chunk:
                break
            parser.feed_data(chunk)
        if not collector.done:
            raise ExchangeError("closed the connection mid-answer")
        return parser.get_status_code(), b"".join(collector.body)
    finally:
        writer.close()
