"""A target's Prometheus behind TLS (a real Prometheus with `--web.config.file`): the
check and the run's observer trust it through the target's CA file, skip-verify reaches
it too, and without either the check's line names the certificate failure."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from harness.observe.prometheus import PrometheusObserver
from harness.target.check import PartCheck, check_prometheus, guarded
from mesh_runtime.errors import ToolNotFound
from mesh_runtime.runtimes.ports import fresh_port
from mesh_runtime.target import PrometheusAccess
from mesh_runtime.tools import find_binary
from tests.fixtures.kube import missing
from tests.integration.target.pki import make_pki


@pytest.fixture
def tls_prometheus(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A Prometheus serving HTTPS on 127.0.0.1 with a certificate from a test CA."""
    try:
        binary = find_binary("prometheus")
    except ToolNotFound as exc:
        missing(str(exc))
    pki = make_pki(tmp_path, "prometheus.test")
    web = tmp_path / "web.yml"
    web.write_text(
        yaml.safe_dump(
            {
                "tls_server_config": {
                    "cert_file": str(pki["server"]),
                    "key_file": str(pki["server_key"]),
                }
            }
        )
    )
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({"global": {"scrape_interval": "1s"}, "scrape_configs": []}))
    port = fresh_port()
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            str(binary),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--web.config.file={web}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{url}/-/ready", verify=str(pki["ca"]), timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()
            assert time.monotonic() < deadline, "prometheus not ready"
            time.sleep(0.1)
        yield url, pki["ca"]
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def test_prometheus_over_tls(tls_prometheus: tuple[str, Path]) -> None:
    """Trusted through the CA file: the check gets an answer (no shop here, so no series)
    and the observer's range query returns rows; untrusted: one line naming the failure."""
    url, ca = tls_prometheus
    trusted = PrometheusAccess(url=url, ca_file=ca)
    line = check(trusted, ["catalog"])
    assert not line.ok and "has no series for catalog" in line.detail
    end = time.time()
    rows = PrometheusObserver.of(trusted).query_range("vector(1)", end - 5, end, end - 5)
    assert rows and all(r["value"] == 1.0 for r in rows)
    loose = check(PrometheusAccess(url=url, insecure_skip_verify=True), [])
    assert "has no series" in loose.detail
    untrusted = check(PrometheusAccess(url=url), [])
    assert not untrusted.ok
    assert untrusted.detail.startswith(f"{url}: no answer: [SSL: CERTIFICATE_VERIFY_FAILED]")
    assert "\n" not in untrusted.detail


def check(access: PrometheusAccess, services: list[str]) -> PartCheck:
    """The prometheus line of `target check` (an error is its FAIL line)."""
    return guarded("prometheus", lambda: check_prometheus(access, "istio", services, 5.0))
