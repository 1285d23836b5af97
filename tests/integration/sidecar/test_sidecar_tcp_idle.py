"""The L4 proxy's idle timeout (DestinationRule `connectionPool.tcp.idleTimeout`, Envoy's
tcp_proxy `idle_timeout`): a connection with no bytes either way for that long is closed,
downstream and upstream; bytes reset the clock; 0s disables it.

A real sidecar process and a real upstream (an echo server on a socket in this process).
Every wait on a close is a blocking recv with a socket timeout as its guard.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sidecar_mesh import endpoint, mesh_config, metric_sum
from sidecar_procs import Processes, Sidecar

from mesh_runtime.runtimes.ports import fresh_port

pytestmark = pytest.mark.integration

GUARD_S = 10.0
"""The longest any close is waited for (the idle timeouts here are under a second)."""


@dataclass
class Echo:
    """An upstream echoing what it reads; `ended` is set once a connection reads EOF.
    With `close_on_eof` False it keeps its side open after EOF (a half-closed peer)."""

    port: int
    close_on_eof: bool = True
    ended: threading.Event = field(default_factory=threading.Event)
    accepted: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)

    def serve(self, listener: socket.socket) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            self.accepted.set()
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    def _echo(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(GUARD_S * 2)
            with contextlib.suppress(OSError):
                while data := conn.recv(65536):
                    conn.sendall(data)
            self.ended.set()
            if not self.close_on_eof:
                self.stop.wait(GUARD_S * 2)


@contextlib.contextmanager
def echo_server(close_on_eof: bool = True) -> Iterator[Echo]:
    port = fresh_port()
    listener = socket.create_server(("127.0.0.1", port))
    echo = Echo(port, close_on_eof)
    thread = threading.Thread(target=echo.serve, args=(listener,), daemon=True)
    thread.start()
    try:
        yield echo
    finally:
        echo.stop.set()
        listener.close()


def tcp_service(upstream_port: int, idle_timeout: str) -> dict[str, Any]:
    policy = {"trafficPolicy": {"connectionPool": {"tcp": {"idleTimeout": idle_timeout}}}}
    return {"protocol": "tcp", "endpoints": [endpoint("kv-0", upstream_port)], "policy": policy}


def outbound_sidecar(
    procs: Processes, services: dict[str, dict[str, Any]]
) -> tuple[Sidecar, dict[str, int]]:
    """A `gateway` sidecar with an L4 outbound listener per service; (sidecar, service -> port)."""
    ports = {name: fresh_port() for name in services}
    extra = [arg for name, port in ports.items() for arg in ("--tcp-outbound", f"{name}={port}")]
    config = mesh_config({"gateway": {}, **services})
    return procs.sidecar("gateway", "gateway-0", fresh_port(), config, extra=extra), ports


def echo_once(sock: socket.socket, data: bytes) -> None:
    sock.sendall(data)
    got = b""
    while len(got) < len(data):
        chunk = sock.recv(len(data) - len(got))
        assert chunk, "closed while busy"
        got += chunk
    assert got == data


def wait_closed(sock: socket.socket) -> None:
    """Block until the peer ends the connection (EOF); the socket timeout is the guard."""
    sock.settimeout(GUARD_S)
    assert sock.recv(100) == b""


@pytest.mark.parametrize("side", ["outbound", "inbound"])
def test_an_idle_connection_is_closed_both_ends_and_bytes_reset_the_clock(
    procs: Processes, side: str
) -> None:
    """idleTimeout 1s: a connection kept busy for 2.5x that stays open; once idle, the
    sidecar closes the client's end and the upstream's end (both read EOF) after at least
    the timeout, and counts one idle timeout under its reporter."""
    with echo_server() as echo:
        if side == "outbound":
            car, ports = outbound_sidecar(procs, {"kv": tcp_service(echo.port, "1s")})
            port, reporter = ports["kv"], "source"
        else:
            config = mesh_config({"kv": tcp_service(fresh_port(), "1s")})
            car = procs.sidecar("kv", "kv-0", echo.port, config)
            port, reporter = car.inbound, "destination"
        with socket.create_connection(("127.0.0.1", port), timeout=GUARD_S) as sock:
            opened = time.monotonic()
            while True:
                echo_once(sock, b"ping\n")
                last = time.monotonic()
                if last - opened >= 2.5:
                    break
                time.sleep(0.15)  # pacing, not a wait: 6 chunks per timeout, room for a stall
            wait_closed(sock)
            closed = time.monotonic()
        assert echo.ended.wait(GUARD_S), "the upstream's end was not closed"
    assert closed - opened >= 2.5
    assert 0.95 <= closed - last < 1.0 + 3.0
    assert car.stats()["tcp"]["idle_timeouts"] == 1
    text = car.metrics()
    assert metric_sum(text, "meshproof_tcp_idle_timeouts_total", reporter=reporter) == 1
    assert metric_sum(text, "istio_tcp_connections_closed_total", reporter=reporter) == 1


def test_a_half_closed_connection_still_times_out(procs: Processes) -> None:
    """The client half-closes, the upstream keeps its side open and silent: the open
    direction idles too, and the timeout closes it (no connection left open forever)."""
    with echo_server(close_on_eof=False) as echo:
        car, ports = outbound_sidecar(procs, {"kv": tcp_service(echo.port, "300ms")})
        with socket.create_connection(("127.0.0.1", ports["kv"]), timeout=GUARD_S) as sock:
            echo_once(sock, b"ping\n")
            sock.shutdown(socket.SHUT_WR)
            assert echo.ended.wait(GUARD_S), "the half-close did not reach the upstream"
            wait_closed(sock)
    assert car.stats()["tcp"]["idle_timeouts"] == 1


def test_zero_disables_the_idle_timeout(procs: Processes) -> None:
    """kv has idleTimeout 0s, kvshort 300ms: once kvshort's idle connection was closed
    (so kv's, opened first, has been idle longer than that), kv's is still open and
    carries bytes, and only kvshort counts an idle timeout."""
    with echo_server() as echo, echo_server() as short_echo:
        car, ports = outbound_sidecar(
            procs,
            {"kv": tcp_service(echo.port, "0s"), "kvshort": tcp_service(short_echo.port, "300ms")},
        )
        with (
            socket.create_connection(("127.0.0.1", ports["kv"]), timeout=GUARD_S) as kept,
            socket.create_connection(("127.0.0.1", ports["kvshort"]), timeout=GUARD_S) as short,
        ):
            echo_once(kept, b"first\n")
            echo_once(short, b"first\n")
            wait_closed(short)
            echo_once(kept, b"still here\n")
    stats = car.stats()["tcp"]
    assert stats["idle_timeouts"] == 1
    text = car.metrics()
    assert metric_sum(text, "meshproof_tcp_idle_timeouts_total", destination_service="kv") == 0
    assert metric_sum(text, "meshproof_tcp_idle_timeouts_total", destination_service="kvshort") == 1
