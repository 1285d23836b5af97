"""The sidecar's /metrics in Linkerd's and Envoy's names: the harness's dialect queries
read back exactly what was recorded, and Istio's stays the default."""

from __future__ import annotations

from typing import Any

import pytest

from harness.observe.dialects import CONSUL, ISTIO, LINKERD, MESHPROOF
from harness.observe.dialects.base import Dialect
from mesh_runtime.sidecar.__main__ import build_parser, options_from
from mesh_runtime.sidecar.telemetry.dialects import LINKERD_LATENCY_BUCKETS_MS, MetricsDialect
from mesh_runtime.sidecar.telemetry.metrics import ISTIO_DURATION_BUCKETS_MS, MeshMetrics
from tests.fixtures.exposition import counter_by, samples, selected
from tests.unit.sidecar.test_telemetry_metrics import record

EDGE = ("mp_source", "mp_destination")


def frontend_traffic(dialect: MetricsDialect) -> MeshMetrics:
    """A frontend sidecar: 10 inbound from gateway (2 of them 503), 10 outbound to catalog
    over mTLS (1 a 503 overflow, 1 with no response), 3 retries, 2 ejections."""
    metrics = MeshMetrics(dialect=dialect, workload="frontend")
    for i in range(10):
        record(metrics, reporter="destination", source_workload="gateway",
               destination_workload="frontend", destination_service="frontend",
               response_code=503 if i < 2 else 200)  # fmt: skip
        code, flags = {0: (503, "UO"), 1: (0, "UC")}.get(i, (200, "-"))
        record(metrics, reporter="source", response_code=code, response_flags=flags,
               connection_security_policy="mutual_tls")  # fmt: skip
    for _ in range(3):
        metrics.inc_retry("catalog")
    metrics.inc_ejection("catalog", "catalog-0")
    metrics.inc_ejection("catalog", "catalog-1")
    metrics.inc_overflow("catalog")
    return metrics


def read(dialect: Dialect, metrics: MeshMetrics) -> dict[str, Any]:
    text = metrics.render().decode()
    return {
        "service_requests": counter_by(dialect, "service_requests", text, "mp_service"),
        "service_errors": counter_by(dialect, "service_errors", text, "mp_service"),
        "edge_requests": counter_by(dialect, "edge_requests", text, *EDGE),
        "edge_errors": counter_by(dialect, "edge_errors", text, *EDGE),
        "proxied": counter_by(dialect, "proxied_requests", text),
        "latency_buckets": selected(dialect, "latency_p99_ms", text),
    }


@pytest.mark.parametrize(
    ("sidecar", "dialect", "edge_errors"),
    [("istio", ISTIO, 2.0), ("istio", MESHPROOF, 2.0), ("linkerd", LINKERD, 2.0),
     ("envoy", CONSUL, 1.0)],
)  # fmt: skip
def test_dialect_queries_read_back_what_was_recorded(
    sidecar: MetricsDialect, dialect: Dialect, edge_errors: float
) -> None:
    """Per service and per edge, requests and failures (a 5xx or no response; Envoy
    classes only answered requests) come back exactly, in every dialect."""
    found = read(dialect, frontend_traffic(sidecar))
    assert found["service_requests"] == {("frontend",): 10.0}
    assert found["service_errors"] == {("frontend",): 2.0}
    assert found["edge_requests"] == {("frontend", "catalog"): 10.0}
    assert found["edge_errors"] == {("frontend", "catalog"): edge_errors}
    assert found["proxied"] == {(): 20.0}
    assert found["latency_buckets"] > 0


def test_retries_overflows_ejections_in_each_dialect() -> None:
    """Linkerd's route retries, Envoy's retry / overflow / ejection counters, and the
    mesh's own meshproof_* counters behind the istio output."""
    linkerd = frontend_traffic("linkerd").render().decode()
    assert counter_by(LINKERD, "retries", linkerd, *EDGE) == {("frontend", "catalog"): 3.0}
    envoy = frontend_traffic("envoy").render().decode()
    assert counter_by(CONSUL, "retries", envoy, *EDGE) == {("frontend", "catalog"): 3.0}
    assert counter_by(CONSUL, "overflows", envoy, *EDGE) == {("frontend", "catalog"): 1.0}
    assert counter_by(CONSUL, "ejections", envoy, *EDGE) == {("frontend", "catalog"): 2.0}
    istio = frontend_traffic("istio").render().decode()
    assert counter_by(MESHPROOF, "retries", istio) == {(): 3.0}
    assert counter_by(MESHPROOF, "ejections", istio) == {(): 2.0}
    assert counter_by(ISTIO, "overflows", istio, *EDGE) == {("frontend", "catalog"): 1.0}
    assert counter_by(LINKERD, "mtls_requests", linkerd, "mp_service") == {}
    for text in (linkerd, envoy):  # the mesh's own counters are in every dialect
        assert any(name == "meshproof_retries_total" for name, _, _ in samples(text))


def test_istio_is_the_default_and_its_output_is_unchanged() -> None:
    """No flag: Istio's names with Istio's buckets; linkerd uses Linkerd's buckets."""
    default = MeshMetrics()
    assert default.dialect == "istio" and default.buckets == ISTIO_DURATION_BUCKETS_MS
    record(default)
    text = default.render().decode()
    assert "istio_requests_total{" in text and "request_total{" not in text.replace("istio_", "")
    assert MeshMetrics(dialect="linkerd").buckets == LINKERD_LATENCY_BUCKETS_MS
    base = ["--service", "s", "--instance", "s-0", "--config", "c.json"]
    ports = [f"--{n}-port" for n in ("inbound", "outbound", "app", "admin")]
    argv = base + [x for i, p in enumerate(ports) for x in (p, str(1000 + i))]
    assert options_from(build_parser().parse_args(argv)).metrics_dialect == "istio"
    chosen = build_parser().parse_args([*argv, "--metrics-dialect", "envoy"])
    assert options_from(chosen).metrics_dialect == "envoy"


def test_a_bad_metrics_dialect_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown dialect on the command line: one line on stderr, exit code 2."""
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["--metrics-dialect", "kuma"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--metrics-dialect" in err[0]
