"""Helpers of the hot-restart tests: processes on ephemeral ports, and a counting client."""

from __future__ import annotations

import http.client
import signal
import socketserver
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from io import BufferedIOBase
from pathlib import Path
from typing import Any

import requests

from tests.conftest import poll, stop_group


def wait_for(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    """Poll `check` until it returns something truthy (returned); fail after `timeout` s."""
    return poll(check, timeout, 0.05, what)


def ready_pid(admin_port: int) -> int | None:
    """The pid in a 200 answer of a sidecar's admin /ready (a fresh connection each time)."""
    try:
        response = requests.get(f"http://127.0.0.1:{admin_port}/ready", timeout=1)
    except requests.RequestException:
        return None
    return int(response.json()["pid"]) if response.status_code == 200 else None


class Processes:
    """Processes started in their own sessions; `stop_all` kills every group."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.popens: list[subprocess.Popen[bytes]] = []

    def spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("ab") as out:
            popen = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.popens.append(popen)
        return popen

    def stop_all(self) -> None:
        for popen in reversed(self.popens):
            stop_group(popen, signal.SIGKILL, 10)


class KeepAliveLoad:
    """GETs of `path` on `port` at about `rps` over `connections` keep-alive connections
    (one thread each); every answer and every error is counted.

    As Go's net/http, browsers and Envoy do (RFC 9112 section 9.3.1), a GET that fails on
    a *reused* connection before any response byte is sent once more on a new connection
    and counted in `stale_retries`: the server closed the idle connection as the request
    went out, so it was never processed. Any other failure counts as one.
    """

    def __init__(self, port: int, path: str, rps: float = 100.0, connections: int = 4) -> None:
        self.port = port
        self.path = path
        self.interval = connections / rps
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.stale_retries = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(connections)]

    def __enter__(self) -> KeepAliveLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    @property
    def sent(self) -> int:
        with self._lock:
            return sum(self.statuses.values()) + sum(self.errors.values())

    @property
    def failures(self) -> int:
        with self._lock:
            bad = sum(n for status, n in self.statuses.items() if status != 200)
            return bad + sum(self.errors.values())

    def _run(self) -> None:
        conn = _Connection(self.port)
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                status, retried = conn.get(self.path)
                with self._lock:
                    self.statuses[status] += 1
                    self.stale_retries += retried
            except (OSError, http.client.HTTPException) as exc:
                with self._lock:
                    self.errors[f"{type(exc).__name__}: {exc}"] += 1
                conn.close()
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))
        conn.close()


class _Connection:
    """One keep-alive connection that is replaced when the server closes it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._conn: http.client.HTTPConnection | None = None
        self._used = False

    def get(self, path: str) -> tuple[int, int]:
        """(status, stale-connection retries made: 0 or 1)."""
        reused = self._conn is not None and self._used
        retried = 0
        try:
            response = self._send(path)
        except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
            self.close()
            if not reused:
                raise
            retried = 1
            response = self._send(path)
        response.read()
        self._used = True
        if response.will_close:
            self.close()
        return response.status, retried

    def _send(self, path: str) -> http.client.HTTPResponse:
        if self._conn is None:
            self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            self._used = False
        self._conn.request("GET", path)
        return self._conn.getresponse()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class _AnswerOnceThenClose(socketserver.StreamRequestHandler):
    """Answers the first request of a connection (keep-alive); reads the second and closes
    without a byte of answer, as a draining server closing an idle connection races it."""

    def handle(self) -> None:
        for served in range(2):
            head = _read_head(self.rfile)
            if head is None:
                return
            if served == 1:
                return  # closed before any response byte
            body = b"ok"
            self.wfile.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body) + body)


def _read_head(rfile: BufferedIOBase) -> bytes | None:
    """A request head (no body: the probe's requests carry at most one byte, ignored)."""
    lines = []
    while (line := rfile.readline()) not in (b"\r\n", b"\n", b""):
        lines.append(line)
    return b"".join(lines) if lines else None


@contextmanager
def closing_server() -> Iterator[int]:
    """For the block, the port of a server that answers the first request of each connection
    and closes the connection on the second one without a byte of answer."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _AnswerOnceThenClose)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
