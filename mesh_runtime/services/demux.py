"""One listening port for both faces of a gRPC sample service: a connection that opens
with the HTTP/2 client preface (`PRI * HTTP/2.0`, as gRPC's cleartext calls do) is
carried to the grpcio server, any other to the HTTP/1.1 behaviour API (`/_health`,
`/_behaviour`), so the runtimes probe and steer a gRPC instance as they do every other.

grpcio cannot adopt an accepted socket, so each backend listens on its own loopback
port and a connection's bytes are copied between the two sockets as they come.
"""

from __future__ import annotations

import asyncio
import contextlib

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_SNIFF = 3
_CHUNK = 64 * 1024


def opens_h2(first: bytes) -> bool:
    """Whether a connection's first bytes (at least 3, or all there were) start the
    HTTP/2 preface; no HTTP/1.1 method starts with 'PRI'."""
    return first[:_SNIFF] == H2_PREFACE[:_SNIFF]


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until end of stream, then pass the half-close on."""
    with contextlib.suppress(ConnectionError):
        while chunk := await reader.read(_CHUNK):
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()


class Demux:
    """Accepts on one port and hands each connection to `h2_backend` or `http_backend`
    (both (host, port) on loopback)."""

    def __init__(self, h2_backend: tuple[str, int], http_backend: tuple[str, int]) -> None:
        self._h2 = h2_backend
        self._http = http_backend

    async def start(self, host: str, port: int) -> asyncio.Server:
        return await asyncio.start_server(self._connection, host, port)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            first = await reader.read(_SNIFF)
            while first and len(first) < _SNIFF:
                more = await reader.read(_SNIFF - len(first))
                if not more:
                    break
                first += more
            if not first:
                return
            backend = self._h2 if opens_h2(first) else self._http
            up_reader, up_writer = await asyncio.open_connection(*backend)
            try:
                up_writer.write(first)
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            finally:
                up_writer.close()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
