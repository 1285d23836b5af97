"""mTLS between sidecars and authorization on the inbound, with a real control plane CA."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from security_procs import (
    SecureMesh,
    access_line,
    build_secure_mesh,
    client_context,
    issue_from,
    read_all,
    spiffe,
    tls_get,
)
from sidecar_mesh import metric_sum, request, send_many
from sidecar_procs import Processes

from mesh_runtime.control.ca import CertificateAuthority

pytestmark = pytest.mark.integration

PLAIN_GET = b"GET / HTTP/1.1\r\nHost: catalog\r\nConnection: close\r\n\r\n"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureMesh]:
    procs = Processes(tmp_path_factory.mktemp("mtls"))
    try:
        yield build_secure_mesh(procs, mtls="STRICT")
    finally:
        procs.stop_all()


def plain_exchange(port: int, data: bytes = PLAIN_GET, timeout: float = 5.0) -> bytes:
    """Raw plain-text bytes to a listener; what came back before it closed (b'' or raises)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        try:
            return read_all(sock, timeout)
        except ConnectionResetError:
            return b""


def test_sidecars_talk_mtls_and_report_it(mesh: SecureMesh) -> None:
    """frontend -> catalog goes over mTLS: 200, counted with connection_security_policy
    mutual_tls and the caller's workload from its certificate, principal in the access log."""
    status, _, body = request(mesh.frontend.outbound, "GET", "/products", "catalog")
    assert (status, body) == (200, b"ok")
    metrics = mesh.catalog.metrics()
    assert (
        metric_sum(
            metrics,
            "istio_requests_total",
            reporter="destination",
            source_workload="frontend",
            connection_security_policy="mutual_tls",
        )
        >= 1
    )
    line = access_line(mesh.procs, "catalog-0", "/products")
    assert line["downstream_peer_principal"] == spiffe("frontend")


def test_strict_refuses_a_plain_text_client(mesh: SecureMesh) -> None:
    """A plain-text HTTP client of a STRICT inbound listener is closed without an answer,
    and its request never reaches the app."""
    before = len(mesh.app_requests())
    assert plain_exchange(mesh.catalog.inbound) == b""
    assert len(mesh.app_requests()) == before
    stats = requests.get(f"http://127.0.0.1:{mesh.catalog.admin}/stats", timeout=5).json()
    assert stats["security"]["inbound_connections"]["plaintext_refused"] >= 1


def test_strict_refuses_a_certificate_from_another_ca(mesh: SecureMesh, tmp_path: Path) -> None:
    """A client whose certificate (same SPIFFE ID) comes from a foreign CA fails the handshake."""
    foreign = issue_from(CertificateAuthority.create("intruder"), "frontend")
    trusted_root = mesh.issue("frontend").root_pem  # it does trust the mesh's server
    ctx = client_context(foreign, trusted_root, tmp_path)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        answer = tls_get(mesh.catalog.inbound, ctx)
        assert answer == b""  # TLS 1.3: the refusal may only show on the first read
        raise ConnectionResetError("closed without an answer")


def test_expired_certificate_is_refused_and_a_fresh_one_accepted(
    mesh: SecureMesh, tmp_path: Path
) -> None:
    """A mesh-CA certificate that expired an hour ago is refused; a fresh one from the same
    CA gets through (so the refusal is the expiry)."""
    expired = mesh.issue("frontend", now=time.time() - 7200, lifetime=3600)
    ctx = client_context(expired, expired.root_pem, tmp_path)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        answer = tls_get(mesh.catalog.inbound, ctx)
        assert answer == b""
        raise ConnectionResetError("closed without an answer")
    fresh = mesh.issue("frontend")
    (tmp_path / "fresh").mkdir()
    answer = tls_get(
        mesh.catalog.inbound, client_context(fresh, fresh.root_pem, tmp_path / "fresh")
    )
    assert answer.startswith(b"HTTP/1.1 200")


def test_client_checks_the_server_identity(mesh: SecureMesh, tmp_path: Path) -> None:
    """The mesh's server certificate names catalog's SPIFFE ID (secure naming)."""
    cert = mesh.issue("frontend")
    ctx = client_context(cert, cert.root_pem, tmp_path)
    with (
        socket.create_connection(("127.0.0.1", mesh.catalog.inbound), timeout=5) as raw,
        ctx.wrap_socket(raw) as sock,
    ):
        peer = sock.getpeercert()
        assert sock.version() == "TLSv1.3"
    assert peer is not None
    assert ("URI", spiffe("catalog")) in peer["subjectAltName"]


def test_permissive_accepts_plain_text_and_mtls(procs: Processes, tmp_path: Path) -> None:
    """PERMISSIVE (per-service override) serves a plain-text client and an mTLS client on
    the same listener, and labels each request accordingly."""
    mesh = build_secure_mesh(procs, mtls="STRICT")
    assert plain_exchange(mesh.catalog.inbound) == b""
    mesh.patch_policy("catalog", {"mtls": "PERMISSIVE"})
    assert plain_exchange(mesh.catalog.inbound).startswith(b"HTTP/1.1 200")
    cert = mesh.issue("cart")
    assert tls_get(mesh.catalog.inbound, client_context(cert, cert.root_pem, tmp_path)).startswith(
        b"HTTP/1.1 200"
    )
    assert request(mesh.frontend.outbound, "GET", "/", "catalog")[0] == 200
    metrics = mesh.catalog.metrics()
    security = {"reporter": "destination", "response_code": "200"}
    assert (
        metric_sum(metrics, "istio_requests_total", connection_security_policy="none", **security)
        >= 1
    )
    assert (
        metric_sum(
            metrics, "istio_requests_total", connection_security_policy="mutual_tls", **security
        )
        >= 2
    )


def test_authorization_allows_frontend_and_denies_cart(procs: Processes) -> None:
    """An ALLOW for frontend and a DENY for cart, set at run time: frontend gets 200, cart
    403 'RBAC: access denied' with flag RBAC in metrics and access log; the app never sees it."""
    mesh = build_secure_mesh(procs, mtls="STRICT")
    policies = [
        {"name": "frontend-reads", "action": "ALLOW",
         "rules": [{"from": [{"source": {"principals": ["*/sa/frontend"]}}],
                    "to": [{"operation": {"methods": ["GET"]}}]}]},
        {"name": "no-cart", "action": "DENY",
         "rules": [{"from": [{"source": {"principals": [spiffe("cart")]}}]}]},
    ]  # fmt: skip
    mesh.patch_policy("catalog", {"authorization": policies})
    assert request(mesh.frontend.outbound, "GET", "/allowed", "catalog")[0] == 200
    status, _, body = request(mesh.cart.outbound, "GET", "/denied", "catalog")
    assert (status, body) == (403, b"RBAC: access denied")
    assert request(mesh.frontend.outbound, "POST", "/write", "catalog", body=b"x")[0] == 403
    paths = [r["path"] for r in mesh.app_requests()]
    assert "/allowed" in paths and "/denied" not in paths and "/write" not in paths
    denied = metric_sum(
        mesh.catalog.metrics(),
        "istio_requests_total",
        reporter="destination",
        source_workload="cart",
        response_code="403",
        response_flags="RBAC",
    )
    assert denied == 1
    line = access_line(mesh.procs, "catalog-0", "/denied")
    assert line["response_flags"] == "RBAC"
    assert line["downstream_peer_principal"] == spiffe("cart")


def test_certificate_renewal_under_load_loses_nothing(procs: Processes) -> None:
    """6 s certificates renewed every ~3 s during 20 s of load (new upstream connections
    every 20 requests): every request succeeds and both sidecars renewed several times."""
    policy = {"trafficPolicy": {"connectionPool": {"http": {"maxRequestsPerConnection": 20}}}}
    mesh = build_secure_mesh(procs, mtls="STRICT", cert_lifetime="6s", catalog_policy=policy)
    outcomes = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        outcomes += send_many(mesh.frontend.outbound, "catalog", "/load", 200, concurrency=4)
    failed = [o for o in outcomes if o.status != 200]
    assert not failed, failed[:3]
    assert len(outcomes) >= 1000
    for car in (mesh.frontend, mesh.catalog):
        stats = requests.get(f"http://127.0.0.1:{car.admin}/stats", timeout=5).json()
        assert stats["security"]["renewals"] >= 4, stats["security"]
    log = mesh.frontend.proc.output() + mesh.catalog.proc.output()
    assert "Traceback" not in log
