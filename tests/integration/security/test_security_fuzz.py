"""Property-based fuzzing of the sidecar's request handling over real sockets (hypothesis).

Valid requests are mutated (bytes replaced, CR/LF/NUL/space/colon inserted, header lines
duplicated, ranges deleted, truncation) and sent to either listener, followed by a
half-close. Whatever comes in, the sidecar answers or closes within the timeout, never
logs a traceback, and keeps serving normal requests.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from security_procs import read_all
from sidecar_mesh import Mesh, Replica, build_mesh, request
from sidecar_procs import Processes

pytestmark = pytest.mark.integration

FLAGS = ["--header-timeout", "2s", "--max-header-bytes", "8192", "--max-body", "65536"]
ANSWER_TIMEOUT = 6.0
SEEDS = [
    b"GET /a?b=c HTTP/1.1\r\nHost: catalog\r\nX-Id: 1\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: catalog\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /echo HTTP/1.1\r\nHost: catalog\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n0\r\n\r\n",
    b"GET / HTTP/1.0\r\nHost: catalog\r\nConnection: keep-alive\r\n\r\n"
    b"GET /second HTTP/1.1\r\nHost: catalog\r\n\r\n",
    b"PUT /x HTTP/1.1\r\nHost: catalog\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
]
SPECIAL = [b"\r", b"\n", b"\x00", b" ", b":", b"\t", b"\r\n", b"0", b"-", b"\xff", b"\x16"]


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    procs = Processes(tmp_path_factory.mktemp("fuzz"))
    try:
        yield build_mesh(procs, [Replica("catalog-0")], client_extra=FLAGS)
    finally:
        procs.stop_all()


@st.composite
def mutated_requests(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["replace", "insert", "delete", "duplicate", "random"]))
        at = draw(st.integers(0, len(data)))
        if kind == "replace" and data:
            data[min(at, len(data) - 1)] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.sampled_from(SPECIAL))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        elif kind == "duplicate":
            lines = bytes(data).split(b"\r\n")
            index = draw(st.integers(0, len(lines) - 1))
            lines.insert(index, lines[index])
            data = bytearray(b"\r\n".join(lines))
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


def send(port: int, data: bytes) -> float:
    """Send, half-close, read until the sidecar closes; the seconds that took."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=ANSWER_TIMEOUT) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            read_all(sock, ANSWER_TIMEOUT)
        except ConnectionResetError:
            pass
    return time.monotonic() - start


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=mutated_requests(), inbound=st.booleans())
def test_mutated_http_is_answered_or_closed_in_time(mesh: Mesh, data: bytes, inbound: bool) -> None:
    """Any mutation of a valid request is answered or closed within the timeout."""
    port = mesh.servers[0].inbound if inbound else mesh.client.outbound
    assert send(port, data) < ANSWER_TIMEOUT


def test_after_the_fuzzing_the_sidecars_serve_and_logged_no_traceback(mesh: Mesh) -> None:
    """Both sidecars still serve, and neither logged a traceback or an unhandled error."""
    assert request(mesh.client.outbound, "GET", "/after-fuzz", "catalog")[0] == 200
    assert request(mesh.servers[0].inbound, "GET", "/after-fuzz", "catalog")[0] == 200
    log = mesh.client.proc.output() + mesh.servers[0].proc.output()
    assert "Traceback" not in log
    assert "handler failed" not in log
    assert "Exception in callback" not in log
