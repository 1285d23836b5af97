"""The backlog bench's target: it counts the connections it holds and stalls on demand."""

from __future__ import annotations

import socket
import time

from harness.bench.backlog import StallingTarget


def _get(sock: socket.socket) -> bytes:
    sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    answer = b""
    while not answer.endswith(b"ok"):
        answer += sock.recv(1024)
    return answer


def _held_becomes(target: StallingTarget, count: int) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if target.held == count:
            return True
        time.sleep(0.01)
    return False


def test_the_target_counts_what_it_holds_and_answers_after_a_stall() -> None:
    """Three keep-alive connections are held (and the peak kept); a request during a 300 ms
    stall is answered at its end; closed connections are no longer held."""
    target = StallingTarget()
    port = int(target.url.rsplit(":", 1)[1])
    try:
        socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(3)]
        assert all(_get(s).startswith(b"HTTP/1.1 200 OK") for s in socks)
        assert _held_becomes(target, 3)
        target.stall(0.3)
        began = time.monotonic()
        assert _get(socks[0]).endswith(b"ok")
        assert time.monotonic() - began >= 0.25
        for sock in socks:
            sock.close()
        assert _held_becomes(target, 0)
        assert target.peak == 3
    finally:
        target.close()
