"""Allocating free TCP ports on 127.0.0.1 up front, for a whole plan at once.

A port the kernel hands out for `bind(0)` comes from the ephemeral range, the same range
every outgoing connection on the machine draws its source port from; between our probe
and the process binding it, some client's connection may take it ("address already in
use"). Ports are therefore chosen below the ephemeral range, where only listeners live,
and probed with a bind; `bind(0)` is the fallback when that range is too small.

`fresh_port` is for callers that take one port at a time (the benches, the tests): a port
free now is not enough there, since `bind(0)` hands a just-released port out again (about
one 9-port mesh in 360 got a port twice). Every sidecar listener sets SO_REUSEPORT (hot
restart), so two of them given one port both bind it and the kernel splits the
connections between them: a plaintext request landed on a STRICT mTLS listener and was
reset. `fresh_port` never returns a port this process has handed out before.
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
def port_allocator(
    host: str = "127.0.0.1", avoid: frozenset[int] | set[int] = frozenset()
) -> Iterator[Callable[[], int]]:
    """Yield `allocate() -> port`; the ports stay bound (so distinct) until the block ends.
    No port in `avoid` is returned."""
    held: list[socket.socket] = []
    rng = random.Random()
    ephemeral = ephemeral_low()

    def allocate() -> int:
        for port in candidate_ports(rng, LOWEST_PORT, ephemeral):
            if port in avoid:
                continue
            sock = _bind(host, port)
            if sock is not None:
                held.append(sock)
                return port
        for _ in range(PROBES):
            sock = _bind(host, 0)
            if sock is None:
                break
            held.append(sock)  # held even when avoided: the next bind(0) gets another
            bound: int = sock.getsockname()[1]
            if bound not in avoid:
                return bound
        raise OSError(f"no free TCP port on {host}")

    try:
        yield allocate
    finally:
        for sock in held:
            sock.close()


_HANDED_OUT: set[int] = set()


def fresh_port(host: str = "127.0.0.1") -> int:
    """A port free now that this process has never handed out before (see the module's
    docstring): two callers that each take one get two ports."""
    with port_allocator(host, avoid=_HANDED_OUT) as allocate:
        port = allocate()
    _HANDED_OUT.add(port)
    return port
