"""Allocating free TCP ports on 127.0.0.1 up front, for a whole plan at once."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def port_allocator(host: str = "127.0.0.1") -> Iterator[Callable[[], int]]:
    """Yield `allocate() -> port`; the ports stay bound (so distinct) until the block ends."""
    held: list[socket.socket] = []

    def allocate() -> int:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        held.append(sock)
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port

    try:
        yield allocate
    finally:
        for sock in held:
            sock.close()
