"""The real Prometheus server started with our scrape config scrapes our targets."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from prometheus_api_client import PrometheusConnect

from mesh_runtime.errors import ReadinessTimeout
from mesh_runtime.runtimes.ports import port_allocator
from mesh_runtime.runtimes.prometheus import expected_targets, scrape_config
from tests.fixtures.prometheus import instance, start_prometheus

pytestmark = pytest.mark.integration

METRICS = b'# TYPE toy_requests_total counter\ntoy_requests_total{code="200"} 7\n'


class Metrics(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(METRICS)))
        self.end_headers()
        self.wfile.write(METRICS)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def sidecar_admin() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Metrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def test_targets_come_up_and_carry_our_labels(tmp_path: Path, sidecar_admin: int) -> None:
    """Every sidecar target is scraped, and its series carry instance/service/version."""
    config = scrape_config([instance(sidecar_admin)])
    for server in start_prometheus(tmp_path, config):
        targets = server.wait_for_targets_up(expected_targets(config), timeout=20)
        assert [(t.job, t.instance, t.health) for t in targets] == [
            ("meshproof-sidecars", "catalog-0", "up")
        ]
        result = PrometheusConnect(url=server.base_url).custom_query("toy_requests_total")
        assert result[0]["metric"]["service"] == "catalog"
        assert result[0]["metric"]["version"] == "v1"
        assert result[0]["value"][1] == "7"


def test_a_dead_target_is_a_readiness_timeout(tmp_path: Path) -> None:
    """A target nobody serves makes wait_for_targets_up fail naming it."""
    with port_allocator() as allocate:
        closed = allocate()
    config = scrape_config([instance(closed)])
    for server in start_prometheus(tmp_path, config):
        with pytest.raises(ReadinessTimeout, match="catalog-0"):
            server.wait_for_targets_up(1, timeout=10)
