"""What the HTTP/2 tests share (tests/integration/security/http2/): one deployment, started by
conftest.py once for all the modules here: a control plane with its CA, catalog's HTTP/2 app
(`h2_app.py`) behind catalog's sidecar, shop's grpcio sample service (its streaming
methods) behind shop's sidecar, service `flaky` (flaky-0: a sidecar before shop-0's app;
flaky-1: one before a second grpcio process, shopb-0, which the last test to use it
kills), and frontend's sidecar as the caller, the mesh in PERMISSIVE mode (sidecar to
sidecar is mTLS with ALPN; tests may also speak plain h2c to either listener). Clients
are the h2 library itself (`h2_client.py`)."""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from h2_client import H2Client
from security_procs import Cert, issue_from, start_control_plane, start_sidecar
from sidecar_mesh import endpoint, mesh_config, metric_sum
from sidecar_procs import HERE as SIDECAR_DIR
from sidecar_procs import PYTHON, Proc, Processes, Sidecar, ready_200, wait_until

from mesh_runtime.control.ca import CertificateAuthority
from mesh_runtime.runtimes.ports import fresh_port

TRUST_DOMAIN = "meshproof.local"
GRPC = [("content-type", "application/grpc"), ("te", "trailers")]
CATALOG_POLICY = {
    "http": [
        {
            "name": "grpc-retry",
            "match": [{"headers": {"x-case": {"exact": "retry"}}}],
            "retries": {"attempts": 2, "retryOn": "unavailable", "backoffBaseInterval": "5ms"},
        },
        {
            "name": "grpc-fault",
            "match": [{"headers": {"x-case": {"exact": "fault"}}}],
            "fault": {"abort": {"grpcStatus": 8, "percentage": 100}},
        },
        {"name": "default"},
    ]
}
SHOP_IDLE_S = 2
RETRY_ANYTHING = {"attempts": 2, "retryOn": "5xx,reset,connect-failure,unavailable,internal,cancelled", "backoffBaseInterval": "5ms"}  # fmt: skip
FLAKY_POLICY = {
    "trafficPolicy": {"outlierDetection": {"consecutive5xxErrors": 2, "maxEjectionPercent": 50}},
    "http": [
        {
            "name": "to-b",
            "match": [{"headers": {"x-case": {"exact": "b"}}}],
            "route": [{"subset": "v2"}],
            "retries": RETRY_ANYTHING,
        },
        {"name": "default", "retries": {"attempts": 0}},
    ],
}
SLOWCAT_POLICY = {"mtls": "DISABLE", "trafficPolicy": {"connectionPool": {"http": {"http2MaxRequests": 5}}}}  # fmt: skip


@dataclass
class H2Mesh:
    procs: Processes
    catalog: Sidecar
    frontend: Sidecar
    app_port: int
    ca_dir: Path
    shop: Sidecar
    flaky_b: Sidecar
    shopb_app: Proc

    def port(self, listener: str) -> int:
        return self.frontend.outbound if listener == "outbound" else self.catalog.inbound

    def app_count(self) -> dict[str, int]:
        with H2Client(self.app_port) as client:
            return json.loads(client.request("/_count").body)

    def tls_context(self, tmp: Path, alpn: list[str]) -> ssl.SSLContext:
        cert: Cert = issue_from(CertificateAuthority.load_or_create(self.ca_dir), "frontend")
        cert_file, key_file, _ = cert.files(tmp)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.load_verify_locations(cadata=cert.root_pem.decode())
        ctx.load_cert_chain(cert_file, key_file)
        ctx.set_alpn_protocols(alpn)
        return ctx


def tcp_open(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True


@contextmanager
def started_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[H2Mesh]:
    """The deployment (see the module docstring), every process stopped on the way out."""
    procs = Processes(tmp_path_factory.mktemp("http2"))
    try:
        app_port = fresh_port()
        app = [PYTHON, str(SIDECAR_DIR / "h2_app.py"), "--port", str(app_port)]
        procs.spawn("catalog-h2app", [*app, "--instance", "catalog-0"])
        wait_until(lambda: tcp_open(app_port), 15, "HTTP/2 app")
        shop_port = fresh_port()
        shop_app = [PYTHON, "-m", "mesh_runtime.services", "--protocol", "grpc"]
        procs.spawn("shop-0", [*shop_app, "--service", "shop", "--instance", "shop-0", "--port", str(shop_port)])  # fmt: skip
        shopb_port = fresh_port()
        shopb_app = procs.spawn("shopb-0", [*shop_app, "--service", "shopb", "--instance", "shopb-0", "--port", str(shopb_port)])  # fmt: skip
        names = ("catalog", "frontend", "shop", "flaky-0", "flaky-1")
        ports = {name: (fresh_port(), fresh_port(), fresh_port()) for name in names}
        catalog_in = ports["catalog"][0]
        services = {
            "catalog": {
                "protocol": "grpc",  # its app takes HTTP/2
                "endpoints": [endpoint("catalog-0", catalog_in)],
                "policy": CATALOG_POLICY,
            },
            "frontend": {"endpoints": [endpoint("frontend-0", ports["frontend"][0])]},
            "slowcat": {"endpoints": [endpoint("catalog-0", catalog_in)], "policy": SLOWCAT_POLICY},
            "shop": {
                "protocol": "grpc",
                "endpoints": [endpoint("shop-0", ports["shop"][0])],
                "policy": CATALOG_POLICY,
            },
            "flaky": {
                "protocol": "grpc",
                "endpoints": [
                    endpoint("flaky-0", ports["flaky-0"][0]),
                    endpoint("flaky-1", ports["flaky-1"][0], "v2"),
                ],
                "policy": FLAKY_POLICY,
            },
        }
        config = mesh_config(services)
        config["mesh"] = {"trustDomain": TRUST_DOMAIN, "mtls": "PERMISSIVE"}
        control_url, ca_dir = start_control_plane(procs, config)
        wait_until(ready_200(shop_port, "/_health"), 15, "shop's gRPC service")
        wait_until(ready_200(shopb_port, "/_health"), 15, "shopb's gRPC service")
        idle = ["--idle-timeout", f"{SHOP_IDLE_S}s"]
        starts = {  # (service, app port, ports, extra args, instance), started side by side
            "catalog": ("catalog", app_port, ports["catalog"], [], None),
            "frontend": ("frontend", fresh_port(), ports["frontend"], [], None),
            "shop": ("shop", shop_port, ports["shop"], idle, None),
            "flaky-0": ("flaky", shop_port, ports["flaky-0"], [], None),
            "flaky-1": ("flaky", shopb_port, ports["flaky-1"], [], "flaky-1"),
        }
        with ThreadPoolExecutor(len(starts)) as pool:
            futures = {
                name: pool.submit(
                    start_sidecar, procs, svc, app, control_url, ca_dir, p, extra, who
                )
                for name, (svc, app, p, extra, who) in starts.items()
            }
            cars = {name: future.result() for name, future in futures.items()}
        catalog, frontend, shop, flaky_b = (cars[n] for n in ("catalog", "frontend", "shop", "flaky-1"))  # fmt: skip
        yield H2Mesh(procs, catalog, frontend, app_port, ca_dir, shop, flaky_b, shopb_app)
    finally:
        procs.stop_all()


def metric(car: Sidecar, name: str, **labels: str) -> float:
    return metric_sum(car.metrics(), name, **labels)
