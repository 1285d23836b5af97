"""One TCP load request against real sockets on 127.0.0.1: what its record says."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Iterator

import pytest

from harness.load.tcp_client import tcp_exchange
from harness.spec.load import TcpRouteSpec

pytestmark = pytest.mark.integration

Behaviour = Callable[[socket.socket], None]


def pong_after_eof(conn: socket.socket) -> None:
    while conn.recv(4096):
        pass
    conn.sendall(b"PONG kv-0\n")


def reset(conn: socket.socket) -> None:
    conn.recv(4096)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def close_silently(conn: socket.socket) -> None:
    conn.recv(4096)


def hang(conn: socket.socket) -> None:
    while conn.recv(4096):
        pass
    threading.Event().wait(2.0)


@pytest.fixture
def server() -> Iterator[Callable[[Behaviour], str]]:
    """A listener on an ephemeral port whose connections get the given behaviour."""
    listeners: list[socket.socket] = []

    def start(behaviour: Behaviour) -> str:
        listener = socket.create_server(("127.0.0.1", 0))
        listeners.append(listener)

        def serve() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                with conn:
                    behaviour(conn)

        threading.Thread(target=serve, daemon=True).start()
        return f"127.0.0.1:{listener.getsockname()[1]}"

    yield start
    for listener in listeners:
        listener.close()


ROUTE = TcpRouteSpec(service="kv", send="PING\n", expect="PONG")


def test_an_answered_exchange_is_ok_with_its_bytes(server: Callable[[Behaviour], str]) -> None:
    """The reply after the half-close holds PONG: status 200, its byte count, no error."""
    assert tcp_exchange(server(pong_after_eof), ROUTE, 2.0) == (200, 10, "")


@pytest.mark.parametrize(
    ("behaviour", "error"),
    [(reset, "reset"), (close_silently, "closed-early"), (hang, "timeout")],
)
def test_failed_exchanges_name_why(
    server: Callable[[Behaviour], str], behaviour: Behaviour, error: str
) -> None:
    """A reset, a close without the reply, no reply in time: status 0 and the error's name."""
    status, _, got = tcp_exchange(server(behaviour), ROUTE, 0.5)
    assert (status, got) == (0, error)


def test_a_closed_port_is_connect_refused() -> None:
    """Nothing listening: connect-refused."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        address = f"127.0.0.1:{probe.getsockname()[1]}"
    assert tcp_exchange(address, ROUTE, 1.0) == (0, 0, "connect-refused")
