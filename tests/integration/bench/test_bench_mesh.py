"""A short real run of the mesh benchmark: every set-up carries traffic, spans all arrive."""

from __future__ import annotations

import pytest

from harness.bench.mesh import run_mesh_bench

pytestmark = pytest.mark.integration


def test_every_set_up_is_measured_and_every_span_arrives() -> None:
    """direct, HAProxy pair, sidecar pair and mTLS sidecar pair each answer fortio's
    requests without errors; CPU and memory are read for each proxy process; the trace
    sink holds at least a CLIENT and a SERVER span for each request through the sidecars."""
    result = run_mesh_bench(rps=200, connections=4, seconds=1.5, rounds=1)
    assert set(result["percentiles_ms"]) == {"direct", "haproxy", "mesh", "mesh-mtls"}
    assert all(errors == 0 for errors in result["errors"].values())
    assert all(qps > 150 for qps in result["qps"].values())
    assert set(result["cpu_per_krps"]["mesh-mtls"]) == {
        "mtls-sidecar-server",
        "mtls-sidecar-client",
    }
    assert all(cores > 0 for cores in result["cpu_per_krps"]["mesh"].values())
    assert 10 < result["rss_mb"]["mesh"] < 200
    spans = result["spans"]
    assert spans["expected"] > 0 and spans["at_sink"] >= spans["expected"]
