"""Allocating free TCP ports on 127.0.0.1 up front, for a whole plan at once.

A port the kernel hands out for `bind(0)` comes from the ephemeral range, the same range
every outgoing connection on the machine draws its source port from; between our probe
and the process binding it, some client's connection may take it ("address already in
use"). Ports are therefore chosen below the ephemeral range, where only listeners live,
and probed with a bind; `bind(0)` is the fallback when that range is too small.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

LOWEST_PORT = 20000
PROBES = 200
_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def ephemeral_low(range_file: Path = _RANGE_FILE) -> int:
    """The first port of the kernel's ephemeral range (32768 when it cannot be read)."""
    try:
        return int(range_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def candidate_ports(rng: random.Random, low: int, ephemeral: int) -> Iterator[int]:
    """Random ports in [low, ephemeral), at most PROBES of them."""
    if ephemeral - low < 100:
        return
    for _ in range(PROBES):
        yield rng.randrange(low, ephemeral)


def _bind(host: str, port: int) -> socket.socket | None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        return None
    return sock


def listen_problem(host: str, port: int) -> str:
    """Why nothing could listen on host:port now ('' when it could: bound, then closed)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as exc:
        return exc.strerror or str(exc)
    return ""


@contextmanager
def port_allocator(host: str = "127.0.0.1") -> Iterator[Callable[[], int]]:
    """Yield `allocate() -> port`; the ports stay bound (so distinct) until the block ends."""
    held: list[socket.socket] = []
    rng = random.Random()
    ephemeral = ephemeral_low()

    def allocate() -> int:
        for port in candidate_ports(rng, LOWEST_PORT, ephemeral):
            sock = _bind(host, port)
            if sock is not None:
                held.append(sock)
                return port
        sock = _bind(host, 0)
        if sock is None:
            raise OSError(f"no free TCP port on {host}")
        held.append(sock)
        bound: int = sock.getsockname()[1]
        return bound

    try:
        yield allocate
    finally:
        for sock in held:
            sock.close()
