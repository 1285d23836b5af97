"""The server connections a process has open, and one listener's load against its cap.

A `ConnectionRegistry` holds every open server connection (`HttpServerProtocol`, or the
`H2ServerProtocol` it handed over to) so that a drain reaches them all and the sweeper
applies the header-read, request-read and idle timeouts about once a second. A
`ListenerLoad` counts the connections one listener has open against its
`max_connections`.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class ServerConnection(Protocol):
    """What a drain and the sweeper do to a server connection (HTTP/1.1 or HTTP/2)."""

    def close_when_idle(self) -> None: ...

    def abort(self) -> None: ...

    def check_timeout(self, now: float) -> None: ...


class ConnectionRegistry:
    """The open server connections of a process, so that a drain can reach them all."""

    def __init__(self) -> None:
        self.connections: set[ServerConnection] = set()
        self.draining = False
        self._empty = asyncio.Event()
        self._empty.set()

    def add(self, conn: ServerConnection) -> None:
        self.connections.add(conn)
        self._empty.clear()

    def remove(self, conn: ServerConnection) -> None:
        self.connections.discard(conn)
        if not self.connections:
            self._empty.set()

    def start_drain(self) -> None:
        """Every connection closes after its next answer, or once idle for a while
        (`http_server.DRAIN_IDLE_S`)."""
        self.draining = True
        for conn in list(self.connections):
            conn.close_when_idle()

    async def wait_empty(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._empty.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def close_all(self) -> None:
        for conn in list(self.connections):
            conn.abort()

    def sweep(self, now: float) -> None:
        """Apply the timeouts to every connection (called about once a second)."""
        for conn in list(self.connections):
            conn.check_timeout(now)


class ListenerLoad:
    """Open connections of one listener, against its cap."""

    def __init__(self, max_connections: int) -> None:
        self.max_connections = max_connections
        self.active = 0
        self.refused = 0

    @property
    def full(self) -> bool:
        return self.active >= self.max_connections
