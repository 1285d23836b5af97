"""Metrics registry: Istio names and labels, histogram buckets, text format that parses."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from mesh_runtime.sidecar.telemetry.flags import join_flags
from mesh_runtime.sidecar.telemetry.metrics import (
    CONTENT_TYPE,
    ISTIO_DURATION_BUCKETS_MS,
    MeshMetrics,
)


def record(metrics: MeshMetrics, **overrides: Any) -> None:
    fields: dict[str, Any] = {
        "reporter": "source",
        "source_workload": "frontend",
        "destination_workload": "catalog",
        "destination_service": "catalog",
        "destination_version": "v1",
        "response_code": 200,
        "response_flags": "-",
        "connection_security_policy": "none",
        "duration_ms": 3.0,
    }
    fields.update(overrides)
    metrics.record_request(**fields)


def samples(metrics: MeshMetrics) -> dict[str, list[Sample]]:
    families = text_string_to_metric_families(metrics.render().decode("utf-8"))
    return {family.name: list(family.samples) for family in families}


def value(found: list[Sample], name: str, **labels: str) -> float:
    matching = [
        s for s in found if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(matching) == 1, (name, labels, matching)
    return matching[0].value


def test_requests_total_counts_per_label_set() -> None:
    """istio_requests_total counts each label combination apart."""
    metrics = MeshMetrics()
    for _ in range(3):
        record(metrics)
    record(metrics, response_code=503, response_flags="UF")
    found = samples(metrics)["istio_requests"]
    assert value(found, "istio_requests_total", response_code="200") == 3
    assert value(found, "istio_requests_total", response_code="503", response_flags="UF") == 1


def test_requests_carry_every_istio_label() -> None:
    """Each series has Istio's standard labels, canonical services defaulting to workloads."""
    metrics = MeshMetrics()
    record(metrics, reporter="destination", destination_version="v2")
    (sample,) = samples(metrics)["istio_requests"]
    assert sample.labels == {
        "reporter": "destination",
        "source_workload": "frontend",
        "source_canonical_service": "frontend",
        "destination_workload": "catalog",
        "destination_canonical_service": "catalog",
        "destination_service": "catalog",
        "destination_version": "v2",
        "response_code": "200",
        "response_flags": "-",
        "connection_security_policy": "none",
        "request_protocol": "http",
        "grpc_response_status": "",
    }


def test_canonical_services_can_be_given() -> None:
    """Explicit canonical service names override the workload names."""
    metrics = MeshMetrics()
    record(metrics, source_workload="frontend-v1", source_canonical_service="frontend")
    (sample,) = samples(metrics)["istio_requests"]
    assert sample.labels["source_workload"] == "frontend-v1"
    assert sample.labels["source_canonical_service"] == "frontend"


def test_duration_histogram_has_istio_buckets_sum_and_count() -> None:
    """Durations land in Istio's cumulative buckets; sum and count are exact."""
    metrics = MeshMetrics()
    for duration in (0.2, 0.5, 3.0, 7.5, 120.0, 5_000_000.0):
        record(metrics, duration_ms=duration)
    found = samples(metrics)["istio_request_duration_milliseconds"]
    buckets = {s.labels["le"]: s.value for s in found if s.name.endswith("_bucket")}
    assert len(buckets) == len(ISTIO_DURATION_BUCKETS_MS) + 1
    assert buckets["0.5"] == 2  # le is inclusive
    assert buckets["1"] == 2
    assert buckets["5"] == 3
    assert buckets["10"] == 4
    assert buckets["250"] == 5
    assert buckets["3600000"] == 5
    assert buckets["+Inf"] == 6
    name = "istio_request_duration_milliseconds"
    assert value(found, f"{name}_count") == 6
    assert value(found, f"{name}_sum") == 0.2 + 0.5 + 3.0 + 7.5 + 120.0 + 5_000_000.0


def test_mesh_counters_and_gauges() -> None:
    """Retries, ejections, overflows, config version and active requests render with their labels."""
    metrics = MeshMetrics()
    metrics.inc_retry("catalog")
    metrics.inc_retry("catalog")
    metrics.inc_ejection("catalog", "catalog-1")
    metrics.inc_overflow("cart")
    metrics.set_config_version(7)
    metrics.set_active_requests("catalog", 4)
    found = samples(metrics)
    assert (
        value(found["meshproof_retries"], "meshproof_retries_total", destination_service="catalog")
        == 2
    )
    ejections = found["meshproof_outlier_ejections"]
    assert value(ejections, "meshproof_outlier_ejections_total", instance="catalog-1") == 1
    assert (
        value(found["meshproof_overflow"], "meshproof_overflow_total", destination_service="cart")
        == 1
    )
    assert value(found["meshproof_config_version"], "meshproof_config_version") == 7
    active = found["meshproof_upstream_active_requests"]
    assert value(active, "meshproof_upstream_active_requests", destination_service="catalog") == 4


def test_render_has_help_and_type_for_every_family() -> None:
    """Every family has # HELP and # TYPE lines, even before any sample."""
    text = MeshMetrics().render().decode("utf-8")
    for name, kind in [
        ("istio_requests_total", "counter"),
        ("istio_request_duration_milliseconds", "histogram"),
        ("meshproof_retries_total", "counter"),
        ("meshproof_outlier_ejections_total", "counter"),
        ("meshproof_overflow_total", "counter"),
        ("meshproof_config_version", "gauge"),
        ("meshproof_upstream_active_requests", "gauge"),
    ]:
        assert f"# HELP {name} " in text
        assert f"# TYPE {name} {kind}\n" in text
    assert text.endswith("\n")
    assert "version=0.0.4" in CONTENT_TYPE


def test_label_values_are_escaped() -> None:
    """Quotes, backslashes and newlines in label values survive a parse round trip."""
    metrics = MeshMetrics()
    odd = 'we"ird\\name\nx'
    record(metrics, destination_service=odd)
    (sample,) = samples(metrics)["istio_requests"]
    assert sample.labels["destination_service"] == odd


def test_snapshot_summarises_counters() -> None:
    """snapshot() gives JSON-ready totals by code, flags and service, plus mesh counters."""
    metrics = MeshMetrics()
    record(metrics)
    record(metrics, response_code=503, response_flags=join_flags(["FI", "DI"]))
    metrics.inc_ejection("catalog", "catalog-0")
    snap = metrics.snapshot()
    assert snap["requests"]["total"] == 2
    assert snap["requests"]["by_response_code"] == {"200": 1, "503": 1}
    assert snap["requests"]["by_response_flags"] == {"-": 1, "DI,FI": 1}
    assert snap["outlier_ejections"] == {"catalog": {"catalog-0": 1}}
    assert snap["config_version"] == 0


def test_message_counters_are_rendered_for_grpc_calls_only() -> None:
    """istio_request/response_messages_total appear once a gRPC call was recorded."""
    metrics = MeshMetrics()
    record(metrics)
    assert b"istio_request_messages_total" not in metrics.render()
    record(metrics, request_protocol="grpc", grpc_response_status="0", messages=(2, 5))
    found = samples(metrics)
    assert value(found["istio_request_messages"], "istio_request_messages_total") == 2
    assert value(found["istio_response_messages"], "istio_response_messages_total") == 5
