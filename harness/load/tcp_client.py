"""One TCP load request: connect, send, read the reply, close (a new connection each).

Runs in a Locust worker (gevent's sockets, cooperative); the decisions are in
`harness.load.tcp_reply`.
"""

from __future__ import annotations

import socket
import time

from harness.load.http1_client import open_socket
from harness.load.tcp_reply import FAILED, OK, error_name, judge_reply, reply_complete
from harness.spec.load import TcpRouteSpec

READ_CHUNK = 64 * 1024


def tcp_exchange(address: str, route: TcpRouteSpec, timeout: float) -> tuple[int, int, str]:
    """(status, bytes received, error) of one exchange with `address` (host:port)."""
    host, _, port = address.rpartition(":")
    deadline = time.monotonic() + timeout
    reply = b""
    connected = False
    try:
        with open_socket((host, int(port)), timeout) as sock:
            connected = True
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if route.send:
                sock.sendall(route.send.encode("utf-8"))
            if route.half_close:
                sock.shutdown(socket.SHUT_WR)
            closed = False
            while not (not route.half_close and reply_complete(route, reply)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                sock.settimeout(remaining)
                chunk = sock.recv(READ_CHUNK)
                if not chunk:
                    closed = True
                    break
                reply += chunk
    except (OSError, TimeoutError) as exc:
        return FAILED, len(reply), error_name(exc, connected)
    error = judge_reply(route, reply, closed)
    return (FAILED if error else OK), len(reply), error
