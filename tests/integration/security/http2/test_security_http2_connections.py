"""HTTP/2 through a real sidecar pair (the deployment: h2mesh.py): h2c to the outbound goes
over mTLS h2 to the app, a hundred concurrent streams ride one connection, ALPN picks h2
and falls back to HTTP/1.1, and http2MaxRequests holds."""

from __future__ import annotations

import json
import socket
import ssl
import time
from pathlib import Path

import pytest
from h2_client import H2Client

from tests.integration.security.http2.h2mesh import H2Mesh, metric

pytestmark = pytest.mark.integration


def test_h2c_to_the_outbound_goes_over_mtls_h2_to_the_app(mesh: H2Mesh) -> None:
    """A prior-knowledge h2c request to the outbound listener reaches the HTTP/2 app through
    the destination's sidecar over mTLS (ALPN h2), counted as request_protocol http."""
    with H2Client(mesh.frontend.outbound) as client:
        answer = client.request("/hello?x=1", headers=[("x-k", "v")])
    assert answer.status == 200, answer
    seen = json.loads(answer.body)
    assert (seen["path"], seen["headers"]["x-k"]) == ("/hello?x=1", "v")
    assert mesh.catalog.stats()["security"]["inbound_connections"]["tls"] >= 1
    labels = {"request_protocol": "http", "connection_security_policy": "mutual_tls"}
    assert metric(mesh.frontend, "istio_requests_total", reporter="source", **labels) >= 1
    assert metric(mesh.catalog, "istio_requests_total", reporter="destination", **labels) >= 1


def test_hundred_concurrent_streams_ride_one_connection(mesh: H2Mesh) -> None:
    """100 concurrent streams on one client connection all succeed, multiplexed on the one
    pooled upstream connection of each hop; a 500 ms stream does not hold the others back."""
    with H2Client(mesh.frontend.outbound) as client:
        assert client.request("/warm").status == 200
        tls_before = mesh.catalog.stats()["security"]["inbound_connections"]["tls"]
        app_before = mesh.app_count()["connections"]
        requests = [("/delay/500", "catalog")] + [(f"/s/{i}", "catalog") for i in range(99)]
        start = time.monotonic()
        answers = client.get_many(requests)
    assert [a.status for a in answers] == [200] * 100
    fast = max(a.ended_at for a in answers[1:]) - start
    slow = answers[0].ended_at - start
    assert fast < slow, (fast, slow)
    assert mesh.catalog.stats()["security"]["inbound_connections"]["tls"] == tls_before
    assert mesh.app_count()["connections"] == app_before + 1  # only app_count's own


def test_alpn_picks_h2_and_falls_back_to_http1(mesh: H2Mesh, tmp_path: Path) -> None:
    """Over the inbound's mTLS, a client offering h2 gets HTTP/2; one offering only
    http/1.1 gets HTTP/1.1 (and the app is called in the client's protocol)."""
    context = mesh.tls_context(tmp_path, ["h2", "http/1.1"])
    with H2Client(mesh.catalog.inbound, context) as client:
        assert isinstance(client.sock, ssl.SSLSocket)
        assert client.sock.selected_alpn_protocol() == "h2"
        answer = client.request("/alpn")
    assert answer.status == 200 and json.loads(answer.body)["path"] == "/alpn"
    context = mesh.tls_context(tmp_path, ["http/1.1"])
    with (
        socket.create_connection(("127.0.0.1", mesh.catalog.inbound), timeout=5) as raw,
        context.wrap_socket(raw) as sock,
    ):
        assert sock.selected_alpn_protocol() == "http/1.1"
        sock.sendall(b"GET /alpn1 HTTP/1.1\r\nHost: catalog\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"http/1.1 /alpn1"), data


def test_http2_max_requests_holds(mesh: H2Mesh) -> None:
    """http2MaxRequests 5: of 20 concurrent streams 5 are served, 15 overflow (503 UO)."""
    with H2Client(mesh.frontend.outbound) as client:
        answers = client.get_many([("/delay/400", "slowcat")] * 20)
    statuses = sorted(a.status for a in answers)
    assert statuses == [200] * 5 + [503] * 15
    assert metric(mesh.frontend, "meshproof_overflow_total", destination_service="slowcat") == 15
