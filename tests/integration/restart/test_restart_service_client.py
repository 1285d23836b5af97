"""The sample services' downstream client on a keep-alive connection its peer closes."""

from __future__ import annotations

import sys

import pytest
import requests
from restart_helpers import Processes, wait_for

from mesh_runtime.runtimes.ports import fresh_port

pytestmark = pytest.mark.integration


def _get(url: str) -> int:
    try:
        return requests.get(url, timeout=5).status_code
    except requests.RequestException:
        return 0


def test_service_call_on_a_closed_reused_connection_is_retried_and_succeeds(
    procs: Processes, closing_server: int
) -> None:
    """A service's GET to its callee, on a pooled connection the callee closed before any
    answer, is sent once more on a new connection (aiohttp's retry of idempotent requests,
    RFC 9112 9.3.1), so the caller sees 200 every time; a POST is not retried (502)."""
    port = fresh_port()
    argv = [sys.executable, "-m", "mesh_runtime.services", "--service", "gateway"]
    argv += ["--instance", "gateway-0", "--port", str(port), "--calls", "catalog"]
    procs.spawn("gateway", [*argv, "--direct", f"catalog=127.0.0.1:{closing_server}"])
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _get(url + "/_health") == 200, "the service")
    assert [_get(url + "/shop") for _ in range(5)] == [200] * 5
    assert requests.post(url + "/shop", timeout=5).status_code == 502
