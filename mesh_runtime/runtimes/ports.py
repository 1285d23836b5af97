"""Allocating free TCP ports on 127.0.0.1 up front, for a whole plan at once.

A port the kernel hands out for `bind(0)` comes from the ephemeral range, the same range
every outgoing connection on the machine draws its source port from; between our probe
and the process binding it, some client's connection may take it ("address already in
use"). Ports are therefore chosen below the ephemeral range, where only listeners live,
and probed with a bind; `bind(0)` is the fallback when that range is too small.

A port free now is not enough either: `bind(0)` hands a just-released port out again
(14 of 5000 nine-port draws here got one twice), and two blocks of the allocator may
each pick the same random port when the first block's processes have not bound theirs
yet. Every sidecar listener sets SO_REUSEPORT (hot restart), so two sidecars given one
port both bind it and the kernel splits the connections between them (a plaintext
request landed on a STRICT mTLS listener and was reset). So no port this process handed
out among its last `REMEMBERED` is handed out again, whichever call took it;
`fresh_port` is one such port, for callers that take them one at a time.
"""

from __future__ import annotations

import random
import socket
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

LOWEST_PORT = 20000
PROBES = 200
REMEMBERED = 4096
"""Ports handed out that are not handed out again (a third of the range below 32768)."""
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


class HandedOut:
    """The last `size` ports handed out, in order, with a set to look them up."""

    def __init__(self, size: int = REMEMBERED) -> None:
        self._order: deque[int] = deque()
        self._ports: set[int] = set()
        self._size = size

    def __contains__(self, port: int) -> bool:
        return port in self._ports

    def add(self, port: int) -> None:
        self._order.append(port)
        self._ports.add(port)
        if len(self._order) > self._size:
            self._ports.discard(self._order.popleft())


_HANDED_OUT = HandedOut()


@contextmanager
def port_allocator(
    host: str = "127.0.0.1", handed_out: HandedOut = _HANDED_OUT
) -> Iterator[Callable[[], int]]:
    """Yield `allocate() -> port`; the ports stay bound (so distinct) until the block ends,
    and none of `handed_out` (by default this process's) is returned; each is added."""
    held: list[socket.socket] = []
    rng = random.Random()
    ephemeral = ephemeral_low()

    def take(sock: socket.socket) -> int | None:
        held.append(sock)  # held even when refused: the next bind(0) gets another
        port: int = sock.getsockname()[1]
        if port in handed_out:
            return None
        handed_out.add(port)
        return port

    def allocate() -> int:
        for port in candidate_ports(rng, LOWEST_PORT, ephemeral):
            sock = None if port in handed_out else _bind(host, port)
            if sock is not None and (taken := take(sock)) is not None:
                return taken
        for _ in range(PROBES):
            sock = _bind(host, 0)
            if sock is None:
                break
            if (taken := take(sock)) is not None:
                return taken
        raise OSError(f"no free TCP port on {host}")

    try:
        yield allocate
    finally:
        for sock in held:
            sock.close()


def fresh_port(host: str = "127.0.0.1") -> int:
    """A port free now that this process has not handed out lately (see the module's
    docstring): two callers that each take one get two ports."""
    with port_allocator(host) as allocate:
        return allocate()
