"""Istio's standard metrics (the istio-proxy's Envoy, telemetry v2).

Reference: https://istio.io/latest/docs/reference/config/metrics/ ("Istio Standard
Metrics"): `istio_requests_total` (COUNTER, every request an Istio proxy handles) and
`istio_request_duration_milliseconds` (DISTRIBUTION), with the labels `reporter`
(`source` on the client proxy, `destination` on the server proxy), `source_workload`,
`destination_workload`, `destination_service`, `response_code`, `response_flags`
(Envoy's: UO, URX, UT, DI, FI, ...; `-` when none) and `connection_security_policy`
(`mutual_tls` or `none` on the server side). Sidecar CPU / memory: cAdvisor's
`container_*` series of the `istio-proxy` container.

Services are counted where they receive (`reporter="destination"`), edges where they
are called from (`reporter="source"`: requests that never reached the destination,
refused by a circuit breaker or a fault, count too), as Istio's own dashboards do.
"""

from __future__ import annotations

from harness.observe.dialects.base import (
    DESTINATION,
    FLAGS,
    SERVICE,
    SOURCE,
    Dialect,
    NoData,
    SignalMap,
    cadvisor_cpu,
    cadvisor_memory,
    counter,
    sel,
    traffic,
)

REFERENCE = "https://istio.io/latest/docs/reference/config/metrics/"
REQUESTS = "istio_requests_total"
DURATION_BUCKET = "istio_request_duration_milliseconds_bucket"
FAILED = ("response_code", "=~", "5..|0")
"""A failed request as the harness counts one: a 5xx, or no response at all (code 0)."""
OVERFLOW = ("response_flags", "=~", "(.*,)?UO(,.*)?")
SERVICE_LABELS = (("destination_workload", SERVICE),)
EDGE_LABELS = (("source_workload", SOURCE), ("destination_workload", DESTINATION))


def istio_signals() -> SignalMap:
    """Every signal from Istio's standard metrics (also the base of `meshproof`)."""
    inbound, outbound = {"reporter": "destination"}, {"reporter": "source"}
    return {
        **traffic(
            (sel(REQUESTS, **inbound), sel(REQUESTS, FAILED, **inbound)),
            (sel(REQUESTS, **outbound), sel(REQUESTS, FAILED, **outbound)),
            (SERVICE_LABELS, EDGE_LABELS),
            sel(DURATION_BUCKET, **inbound),
            "destination_workload",
        ),
        "retries": NoData(
            "Istio's standard metrics count no retries (Envoy's upstream_rq_retry is exported "
            "only when proxyStatsMatcher includes it); response flag URX marks requests whose "
            "retries ran out"
        ),
        "overflows": counter(sel(REQUESTS, OVERFLOW, **outbound), *EDGE_LABELS),
        "ejections": NoData(
            "Istio's standard metrics count no outlier ejections (Envoy's "
            "outlier_detection.ejections_* are exported only when proxyStatsMatcher includes them)"
        ),
        "mtls_requests": counter(
            sel(REQUESTS, connection_security_policy="mutual_tls", **inbound), *SERVICE_LABELS
        ),
        "response_flags": counter(
            sel(REQUESTS, ("response_flags", "!=", "-"), **outbound),
            *EDGE_LABELS,
            ("response_flags", FLAGS),
        ),
        "proxied_requests": counter(sel(REQUESTS)),
        "sidecar_cpu_cores": cadvisor_cpu(("=", "istio-proxy")),
        "sidecar_memory_bytes": cadvisor_memory(("=", "istio-proxy")),
    }


ISTIO = Dialect(name="istio", signals=istio_signals(), reference=REFERENCE)
