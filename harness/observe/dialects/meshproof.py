"""The reference mesh's metrics: Istio's standard names plus the mesh's own counters.

The reference sidecar (`mesh_runtime/sidecar/telemetry/metrics.py`, DEVELOPING.md
"Metrics (Istio's names)") exports `istio_requests_total` and
`istio_request_duration_milliseconds` with Istio's labels, so every Istio signal is read
the same way, and counts what Istio's standard metrics do not:
`meshproof_retries_total{destination_service}`,
`meshproof_outlier_ejections_total{destination_service,instance}`,
`meshproof_overflow_total{destination_service}`.

`extra_queries` are the queries the harness made before dialects existed (the report's
edge table, the dashboard and older runs' comparisons read them by their text), so a
run against the reference mesh stores what it stored before, plus the signals.
"""

from __future__ import annotations

from harness.observe.dialects.base import Dialect, NoData, Query, Signal, counter, sel
from harness.observe.dialects.istio import istio_signals

REFERENCE = "DEVELOPING.md, 'Metrics (Istio's names)' (the reference sidecar's /metrics)"

EDGE_LABELS = (
    "reporter, source_workload, destination_workload, destination_service, "
    "destination_version, response_code, response_flags"
)
LATENCY_LABELS = "le, reporter, source_workload, destination_service"


def latency_quantile(q: float) -> str:
    return (
        f"histogram_quantile({q}, sum by ({LATENCY_LABELS}) "
        "(rate(istio_request_duration_milliseconds_bucket[5s])))"
    )


TCP_METRICS: tuple[str, ...] = (
    "istio_tcp_connections_opened_total",
    "istio_tcp_connections_closed_total",
    "istio_tcp_received_bytes_total",
    "istio_tcp_sent_bytes_total",
)

LEGACY_QUERIES: tuple[str, ...] = (
    "istio_requests_total",
    f"sum by ({EDGE_LABELS}) (rate(istio_requests_total[5s]))",
    latency_quantile(0.5),
    latency_quantile(0.9),
    latency_quantile(0.99),
    "meshproof_retries_total",
    "rate(meshproof_retries_total[5s])",
    "meshproof_outlier_ejections_total",
    "increase(meshproof_outlier_ejections_total[5s])",
    "meshproof_overflow_total",
    "rate(meshproof_overflow_total[5s])",
    "meshproof_config_version",
    *TCP_METRICS,
)
"""The queries of the harness before dialects (each row named by its text), and the raw
istio_tcp_* counters of `protocol: tcp` services (no rows when there is none)."""

NOT_CONTAINERS = NoData(
    "the reference mesh's sidecars are measured by the resource sampler (psutil per "
    "process, Docker stats per container), not by cAdvisor"
)


def _signals() -> dict[Signal, Query | NoData]:
    signals = dict(istio_signals())
    signals["retries"] = counter(sel("meshproof_retries_total"))
    signals["ejections"] = counter(sel("meshproof_outlier_ejections_total"))
    signals["overflows"] = counter(sel("meshproof_overflow_total"))
    signals["sidecar_cpu_cores"] = NOT_CONTAINERS
    signals["sidecar_memory_bytes"] = NOT_CONTAINERS
    return signals


MESHPROOF = Dialect(
    name="meshproof", signals=_signals(), reference=REFERENCE, extra_queries=LEGACY_QUERIES
)
