"""Malformed and smuggling requests, slow clients and connection floods against both listeners.

Each case is raw bytes over a socket; every one carries a smuggled inner request for
`/smuggled`. The catalog app records every request it receives: none of them may ever
show up there, and a normal request still succeeds after all of them.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from security_procs import HERE, PYTHON, read_all
from sidecar_mesh import endpoint, mesh_config, request
from sidecar_procs import Processes, Sidecar, ready_200, wait_until

from mesh_runtime.runtimes.ports import fresh_port

pytestmark = pytest.mark.integration

LIMITS = [
    "--max-header-bytes", "8192", "--max-headers", "50", "--max-uri-bytes", "2048",
    "--max-body", "65536", "--header-timeout", "2s", "--max-connections", "32",
]  # fmt: skip
SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: catalog\r\n\r\n"
H = b"Host: catalog\r\n"


def post(headers: bytes, body: bytes = b"") -> bytes:
    return b"POST /in HTTP/1.1\r\n" + H + headers + b"\r\n" + body


CASES: dict[str, tuple[bytes, int]] = {
    "CL and TE": (post(b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n" + SMUGGLED), 400),
    "TE and CL": (post(b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n", b"0\r\n\r\n" + SMUGGLED), 400),
    "duplicate CL": (post(b"Content-Length: 3\r\nContent-Length: 3\r\n", b"abc" + SMUGGLED), 400),
    "conflicting CL": (post(b"Content-Length: 3\r\nContent-Length: 40\r\n", b"abc" + SMUGGLED), 400),
    "CL list": (post(b"Content-Length: 3, 3\r\n", b"abc" + SMUGGLED), 400),
    "CL with plus": (post(b"Content-Length: +3\r\n", b"abc" + SMUGGLED), 400),
    "TE gzip, chunked": (post(b"Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n" + SMUGGLED), 501),
    "TE chunked, gzip": (post(b"Transfer-Encoding: chunked, gzip\r\n", b"0\r\n\r\n" + SMUGGLED), 400),
    "TE identity": (post(b"Transfer-Encoding: identity\r\n", SMUGGLED), 501),
    "TE xchunked": (post(b"Transfer-Encoding: xchunked\r\n", b"0\r\n\r\n" + SMUGGLED), 501),
    "TE twice": (post(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n" + SMUGGLED), 400),
    "TE on HTTP/1.0": (b"POST /in HTTP/1.0\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED, 400),
    "chunk size not hex": (post(b"Transfer-Encoding: chunked\r\n", b"zz\r\nhello\r\n0\r\n\r\n" + SMUGGLED), 400),
    "chunk size overflow": (post(b"Transfer-Encoding: chunked\r\n", b"fffffffffffffffff1\r\nx\r\n" + SMUGGLED), 400),
    "negative chunk size": (post(b"Transfer-Encoding: chunked\r\n", b"-1\r\n\r\n" + SMUGGLED), 400),
    "chunk longer than size": (post(b"Transfer-Encoding: chunked\r\n", b"1\r\nxy\r\n0\r\n\r\n" + SMUGGLED), 400),
    "CL in trailer": (post(b"Transfer-Encoding: chunked\r\n", b"0\r\nContent-Length: 40\r\n\r\n" + SMUGGLED), 400),
    "bare LF line ends": (b"GET /in HTTP/1.1\nHost: catalog\n\n" + SMUGGLED, 400),
    "bare LF in a header": (b"GET /in HTTP/1.1\r\nHost: catalog\nX: y\r\n\r\n" + SMUGGLED, 400),
    "bare CR in a header": (b"GET /in HTTP/1.1\r\nHost: catalog\rX: y\r\n\r\n" + SMUGGLED, 400),
    "obs-fold": (b"GET /in HTTP/1.1\r\n" + H + b"X: y\r\n Content-Length: 40\r\n\r\n" + SMUGGLED, 400),
    "space before colon": (post(b"Content-Length : 40\r\n", SMUGGLED), 400),
    "NUL in a value": (b"GET /in HTTP/1.1\r\n" + H + b"X: a\x00b\r\n\r\n" + SMUGGLED, 400),
    "control char in a value": (b"GET /in HTTP/1.1\r\n" + H + b"X: a\x0bb\r\n\r\n" + SMUGGLED, 400),
    "header block too large": (b"GET /in HTTP/1.1\r\n" + H + b"X: " + b"a" * 9000 + b"\r\n\r\n" + SMUGGLED, 431),
    "too many headers": (b"GET /in HTTP/1.1\r\n" + H + b"X: y\r\n" * 60 + b"\r\n" + SMUGGLED, 431),
    "URI too long": (b"GET /" + b"u" * 3000 + b" HTTP/1.1\r\n" + H + b"\r\n" + SMUGGLED, 414),
    "body too large": (post(b"Content-Length: 70000\r\n", b"b" * 70000) + SMUGGLED, 413),
    "HTTP/2.0 on HTTP/1": (b"GET /in HTTP/2.0\r\n" + H + b"\r\n" + SMUGGLED, 505),
    "HTTP/1.2": (b"GET /in HTTP/1.2\r\n" + H + b"\r\n" + SMUGGLED, 505),
    "HTTP/0.9": (b"GET /in HTTP/0.9\r\n" + H + b"\r\n" + SMUGGLED, 505),
    "invalid method token": (b"G@T /in HTTP/1.1\r\n" + H + b"\r\n" + SMUGGLED, 400),
    "absolute-form target": (b"GET http://catalog/smuggled HTTP/1.1\r\n" + H + b"\r\n" + SMUGGLED, 400),
    "CONNECT": (b"CONNECT catalog:80 HTTP/1.1\r\nHost: catalog:80\r\n\r\n" + SMUGGLED, 405),
    "websocket upgrade": (b"GET /in HTTP/1.1\r\n" + H + b"Connection: upgrade\r\nUpgrade: websocket\r\n\r\n" + SMUGGLED, 501),
    "no Host": (b"GET /in HTTP/1.1\r\n\r\n" + SMUGGLED, 400),
    "two Hosts": (b"GET /in HTTP/1.1\r\n" + H + b"Host: other\r\n\r\n" + SMUGGLED, 400),
    "dot-segments": (b"GET /in/../smuggled HTTP/1.1\r\n" + H + b"\r\n" + SMUGGLED, 400),
    "encoded slash": (b"GET /in%2f..%2fsmuggled HTTP/1.1\r\n" + H + b"\r\n" + SMUGGLED, 400),
    "fragment": (b"GET /in#frag HTTP/1.1\r\n" + H + b"\r\n" + SMUGGLED, 400),
    "NUL in the target": (b"GET /in\x00 HTTP/1.1\r\n" + H + b"\r\n" + SMUGGLED, 400),
    "space in the target": (b"GET /in /smuggled HTTP/1.1\r\n" + H + b"\r\n" + SMUGGLED, 400),
}  # fmt: skip


@dataclass
class HardenedMesh:
    client: Sidecar
    server: Sidecar
    app_log: Path

    def port(self, listener: str) -> int:
        return self.client.outbound if listener == "outbound" else self.server.inbound

    def app_paths(self) -> list[str]:
        import json

        if not self.app_log.exists():
            return []
        return [json.loads(line)["path"] for line in self.app_log.read_text().splitlines()]


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HardenedMesh]:
    procs = Processes(tmp_path_factory.mktemp("hardening"))
    try:
        app_port, app_log = fresh_port(), procs.tmp / "app.jsonl"
        argv = [PYTHON, str(HERE / "recording_app.py"), "--port", str(app_port)]
        procs.spawn("catalog-app", [*argv, "--log", str(app_log)])
        wait_until(ready_200(app_port, "/_health"), 15, "catalog app")
        ports = (fresh_port(), fresh_port(), fresh_port())
        config = mesh_config({"catalog": {"endpoints": [endpoint("catalog-0", ports[0])]}})
        server = procs.sidecar("catalog", "catalog-0", app_port, config, extra=LIMITS, ports=ports)
        client = procs.sidecar("frontend", "frontend-0", fresh_port(), config, extra=LIMITS)
        yield HardenedMesh(client, server, app_log)
    finally:
        procs.stop_all()


def exchange(port: int, data: bytes, timeout: float = 5.0) -> tuple[bytes, bool]:
    """Send raw bytes; the answer, and whether the sidecar closed the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        # Refused mid-send (a large head): the answer is still there to read.
        with contextlib.suppress(ConnectionError):
            sock.sendall(data)
        start = time.monotonic()
        try:
            answer = read_all(sock, timeout)
        except TimeoutError:
            return b"", False
        except ConnectionResetError:
            return b"", True
        return answer, time.monotonic() - start < timeout


@pytest.mark.parametrize("listener", ["outbound", "inbound"])
@pytest.mark.parametrize("name", list(CASES))
def test_malformed_request_is_refused_and_closed(
    mesh: HardenedMesh, listener: str, name: str
) -> None:
    """Each malformed or smuggling request gets its 4xx/5xx with Connection: close, and the
    connection is closed (so nothing after it is read as another request)."""
    data, status = CASES[name]
    answer, closed = exchange(mesh.port(listener), data)
    assert answer.startswith(f"HTTP/1.1 {status} ".encode()), answer[:80]
    assert b"connection: close" in answer.lower()
    assert closed


def test_nothing_smuggled_ever_reached_the_app(mesh: HardenedMesh) -> None:
    """After every case on both listeners, the app saw no smuggled request, not even the
    outer request of a refused one, and a normal request still succeeds."""
    for data, _ in CASES.values():
        for listener in ("outbound", "inbound"):
            exchange(mesh.port(listener), data)
    assert request(mesh.client.outbound, "GET", "/normal", "catalog")[0] == 200
    paths = mesh.app_paths()
    assert "/normal" in paths
    assert not [p for p in paths if "smuggled" in p or p.startswith("/in")], paths
    log = mesh.client.proc.output() + mesh.server.proc.output()
    assert "Traceback" not in log


@pytest.mark.parametrize("listener", ["outbound", "inbound"])
def test_slow_loris_is_cut_off_at_the_header_timeout(mesh: HardenedMesh, listener: str) -> None:
    """A client sending one header byte per second gets 408 and a close at the 2 s
    header-read timeout, not when it finally finishes."""
    head = b"GET /slow HTTP/1.1\r\nHost: catalog\r\nX-Slow: " + b"a" * 30
    with socket.create_connection(("127.0.0.1", mesh.port(listener)), timeout=10) as sock:
        start = time.monotonic()
        sock.setblocking(False)
        answer = b""
        for byte in head:
            try:
                sock.send(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline and b"\r\n\r\n" not in answer:
                try:
                    chunk = sock.recv(4096)
                except BlockingIOError:
                    time.sleep(0.05)
                    continue
                answer += chunk
                if not chunk:
                    break
            if b"\r\n\r\n" in answer:
                break
        elapsed = time.monotonic() - start
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert 1.5 <= elapsed <= 5.0
    assert "/slow" not in mesh.app_paths()


def test_connections_over_the_cap_are_closed_at_once(mesh: HardenedMesh) -> None:
    """With --max-connections 32, a 33rd concurrent client is closed at once; after one
    of the others leaves, a new client is served."""
    port = mesh.client.outbound
    held = []
    try:
        for _ in range(32):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"GET /held HTTP/1.1\r\nHost: catalog\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
            held.append(sock)
        answer, closed = exchange(port, b"GET /over HTTP/1.1\r\nHost: catalog\r\n\r\n", 3)
        assert (answer, closed) == (b"", True)
        held.pop().close()
        wait_until(
            lambda: request(port, "GET", "/after", "catalog", timeout=2)[0] == 200,
            10,
            "a free slot",
        )
    finally:
        for sock in held:
            sock.close()
