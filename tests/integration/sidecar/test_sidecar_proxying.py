"""A request through client sidecar (outbound) -> server sidecar (inbound) -> app."""

from __future__ import annotations

import http.client
import socket

import pytest
from sidecar_mesh import Mesh, Replica, build_mesh, metric_sum, raw_exchange, request
from sidecar_procs import Processes, wait_until

pytestmark = pytest.mark.integration

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def mesh(procs: Processes) -> Mesh:
    return build_mesh(procs, [Replica("catalog-0")])


def test_request_reaches_app_and_answer_comes_back(mesh: Mesh) -> None:
    """A GET with Host: catalog is answered by the catalog app, through both sidecars."""
    status, headers, body = request(mesh.client.outbound, "GET", "/items?id=1", "catalog")
    assert status == 200
    assert headers["x-instance"] == "catalog-0"
    assert b'"path": "/items"' in body
    assert headers["x-meshproof-upstream-ms"].isdigit()  # whole milliseconds


def test_request_id_added_and_trace_context_propagated(mesh: Mesh) -> None:
    """The app sees an x-request-id the sidecar added and the caller's trace id."""
    status, headers, _ = request(
        mesh.client.outbound, "GET", "/echo", "catalog", headers={"traceparent": TRACEPARENT}
    )
    assert status == 200
    assert len(headers["x-seen-x-request-id"]) == 32
    assert headers["x-seen-traceparent"].split("-")[1] == TRACEPARENT.split("-")[1]


def test_keep_alive_connections_are_reused(mesh: Mesh) -> None:
    """Twenty requests on one client connection use one connection per hop."""
    conn = http.client.HTTPConnection("127.0.0.1", mesh.client.outbound, timeout=5)
    try:
        for _ in range(20):
            conn.request("GET", "/x", headers={"Host": "catalog"})
            response = conn.getresponse()
            response.read()
            assert response.status == 200
            assert not response.will_close
    finally:
        conn.close()
    endpoint = mesh.client.stats()["upstreams"]["catalog"]["endpoints"]["catalog-0"]
    assert endpoint["open_connections"] == 1


def test_chunked_request_and_response_bodies_pass_intact(mesh: Mesh) -> None:
    """A chunked request body is echoed whole; a chunked response arrives whole."""
    chunks = [b"alpha-" * 100, b"beta-" * 333, b"gamma"]
    conn = http.client.HTTPConnection("127.0.0.1", mesh.client.outbound, timeout=5)
    try:
        conn.request(
            "POST", "/echo", body=iter(chunks), headers={"Host": "catalog"}, encode_chunked=True
        )
        response = conn.getresponse()
        assert response.status == 200
        assert response.read() == b"".join(chunks)
        conn.request("GET", "/chunked?n=7&size=5000", headers={"Host": "catalog"})
        response = conn.getresponse()
        assert response.getheader("transfer-encoding") == "chunked"
        body = response.read()
    finally:
        conn.close()
    assert body == b"".join(bytes([97 + i]) * 5000 for i in range(7))


def test_one_mebibyte_body_passes_intact_both_ways(mesh: Mesh) -> None:
    """A 1 MiB request body comes back byte for byte; a 3 MiB response arrives whole."""
    payload = bytes(range(256)) * 4096
    status, _, body = request(mesh.client.outbound, "POST", "/echo", "catalog", body=payload)
    assert status == 200
    assert body == payload
    status, headers, body = request(mesh.client.outbound, "GET", "/bytes/3145728", "catalog")
    assert status == 200
    assert int(headers["content-length"]) == len(body) == 3145728


def test_head_and_no_content_answers_carry_no_body(mesh: Mesh) -> None:
    """HEAD keeps the length header without a body; 204 and 304 have none; the
    connection stays usable after each."""
    conn = http.client.HTTPConnection("127.0.0.1", mesh.client.outbound, timeout=5)
    try:
        conn.request("HEAD", "/bytes/500", headers={"Host": "catalog"})
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("content-length") == "500"
        assert response.read() == b""
        for code in (204, 304):
            conn.request("GET", f"/status/{code}", headers={"Host": "catalog"})
            response = conn.getresponse()
            assert response.status == code
            assert response.read() == b""
        conn.request("GET", "/bytes/10", headers={"Host": "catalog"})
        assert conn.getresponse().read() == b"x" * 10
    finally:
        conn.close()


def test_hop_by_hop_headers_are_dropped(mesh: Mesh) -> None:
    """Connection-scoped headers (and those Connection names) never reach the app."""
    status, headers, _ = request(
        mesh.client.outbound,
        "GET",
        "/echo",
        "catalog",
        headers={
            "Connection": "keep-alive, x-secret-hop",
            "x-secret-hop": "1",
            "Keep-Alive": "timeout=5",
            "x-end-to-end": "yes",
        },
    )
    assert status == 200
    assert headers["x-seen-x-end-to-end"] == "yes"
    assert "x-seen-x-secret-hop" not in headers
    assert "x-seen-keep-alive" not in headers


def test_expect_100_continue_is_answered(mesh: Mesh) -> None:
    """A client that waits for 100 Continue gets it, then the full answer."""
    with socket.create_connection(("127.0.0.1", mesh.client.outbound), timeout=5) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: catalog\r\nContent-Length: 5\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        interim = sock.recv(1024)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(b"hello")
        answer = b""
        while not answer.endswith(b"hello"):
            chunk = sock.recv(65536)
            assert chunk
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200")


def test_unknown_host_is_404_no_route(mesh: Mesh) -> None:
    """A Host naming no service of the mesh is answered 404 with flag NR."""
    status, _, _ = request(mesh.client.outbound, "GET", "/", "nowhere")
    assert status == 404
    metrics = mesh.client.metrics()
    assert (
        metric_sum(metrics, "istio_requests_total", response_code="404", response_flags="NR") == 1
    )


def test_connection_close_is_honoured(mesh: Mesh) -> None:
    """A request with Connection: close is answered, then the sidecar closes."""
    answer = raw_exchange(
        mesh.client.outbound, b"GET /x HTTP/1.1\r\nHost: catalog\r\nConnection: close\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 200")
    assert b"connection: close" in answer.lower()


def test_metrics_report_both_sides(mesh: Mesh) -> None:
    """The client counts reporter=source, the server reporter=destination with its peer."""
    for _ in range(3):
        assert request(mesh.client.outbound, "GET", "/", "catalog")[0] == 200
    source = mesh.client.metrics()
    destination = mesh.servers[0].metrics()
    assert (
        metric_sum(
            source,
            "istio_requests_total",
            reporter="source",
            destination_service="catalog",
            response_code="200",
        )
        == 3
    )
    assert (
        metric_sum(
            destination,
            "istio_requests_total",
            reporter="destination",
            source_workload="frontend",
            destination_workload="catalog",
        )
        == 3
    )


def test_pipelined_requests_are_answered_in_order(mesh: Mesh) -> None:
    """Three requests sent in one write get three whole answers, in order."""
    data = (
        b"GET /first HTTP/1.1\r\nHost: catalog\r\n\r\n"
        b"POST /echo HTTP/1.1\r\nHost: catalog\r\nContent-Length: 6\r\n\r\nsecond"
        b"GET /third HTTP/1.1\r\nHost: catalog\r\nConnection: close\r\n\r\n"
    )
    answer = raw_exchange(mesh.client.outbound, data)
    assert answer.count(b"HTTP/1.1 200 OK") == 3
    first, second, third = (answer.index(m) for m in (b"/first", b"second", b"/third"))
    assert first < second < third


def test_client_disconnect_cancels_the_upstream_request(mesh: Mesh) -> None:
    """When the caller hangs up mid-request, the sidecar stops waiting on the upstream."""
    with socket.create_connection(("127.0.0.1", mesh.client.outbound), timeout=5) as sock:
        sock.sendall(b"GET /delay/5000 HTTP/1.1\r\nHost: catalog\r\n\r\n")
        wait_until(lambda: _in_flight(mesh) == 1, 3, "request in flight")
    wait_until(lambda: _in_flight(mesh) == 0, 3, "request cancelled")


def _in_flight(mesh: Mesh) -> int:
    return int(mesh.client.stats()["upstreams"]["catalog"]["in_flight"])
