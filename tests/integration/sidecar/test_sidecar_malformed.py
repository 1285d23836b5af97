"""Malformed HTTP on either listener gets 400 and close; the sidecar keeps serving."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from sidecar_mesh import Mesh, Replica, build_mesh, raw_exchange, request
from sidecar_procs import Processes

pytestmark = pytest.mark.integration

BAD_INPUTS = {
    "garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
    "bad request line": b"GET\r\n\r\n",
    "bad version": b"GET / HTTP/9.x\r\nHost: catalog\r\n\r\n",
    "bad header": b"GET / HTTP/1.1\r\nHost catalog\r\n\r\n",
    "bad chunk size": b"POST /echo HTTP/1.1\r\nHost: catalog\r\nTransfer-Encoding: chunked"
    b"\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    "bad content length": b"POST /echo HTTP/1.1\r\nHost: catalog\r\nContent-Length: -4\r\n\r\n",
}


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    procs = Processes(tmp_path_factory.mktemp("malformed"))
    try:
        yield build_mesh(procs, [Replica("catalog-0")])
    finally:
        procs.stop_all()


@pytest.mark.parametrize("listener", ["outbound", "inbound"])
@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_gets_400_and_close(mesh: Mesh, listener: str, name: str) -> None:
    """Each kind of malformed request is answered 400 with Connection: close."""
    port = mesh.client.outbound if listener == "outbound" else mesh.servers[0].inbound
    answer = raw_exchange(port, BAD_INPUTS[name])
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"connection: close" in answer.lower()
    assert request(port, "GET", "/", "catalog")[0] == 200


def test_bad_request_after_a_good_one_on_the_same_connection(mesh: Mesh) -> None:
    """A good request followed by garbage is still answered in full, marked close (the
    garbage ends the connection), and the listener serves the next client."""
    answer = raw_exchange(
        mesh.client.outbound, b"GET /a HTTP/1.1\r\nHost: catalog\r\n\r\nNOT HTTP AT ALL\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 200")
    assert answer.endswith(b'"path": "/a"}')
    assert b"connection: close" in answer
    assert request(mesh.client.outbound, "GET", "/", "catalog")[0] == 200


def test_half_sent_request_then_close_leaves_no_trouble(mesh: Mesh) -> None:
    """A client that sends half a request and disconnects does not disturb others."""
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", mesh.client.outbound), timeout=2) as sock:
            sock.sendall(b"POST /echo HTTP/1.1\r\nHost: catalog\r\nContent-Length: 100\r\n\r\nab")
    assert request(mesh.client.outbound, "GET", "/", "catalog")[0] == 200
    log = mesh.client.proc.output() + mesh.servers[0].proc.output()
    assert "Traceback" not in log


def test_oversized_body_gets_413(procs: Processes) -> None:
    """A body over the limit is refused with 413, not buffered."""
    mesh = build_mesh(procs, [Replica("catalog-0")], client_extra=["--max-body", "1048576"])
    status, _, _ = request(mesh.client.outbound, "POST", "/echo", "catalog", body=b"x" * 1048577)
    assert status == 413
    assert request(mesh.client.outbound, "GET", "/", "catalog")[0] == 200


def test_no_traceback_in_logs_after_bad_input(mesh: Mesh) -> None:
    """Bad input is handled at the edge: nothing in either sidecar's log is a traceback."""
    for data in BAD_INPUTS.values():
        raw_exchange(mesh.client.outbound, data)
    log = mesh.client.proc.output() + mesh.servers[0].proc.output()
    assert "Traceback" not in log
