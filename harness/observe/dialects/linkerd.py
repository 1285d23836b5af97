"""Linkerd's proxy metrics (the `linkerd-proxy` container, port 4191 `/metrics`).

References:
- https://linkerd.io/2/reference/proxy-metrics/ ("Proxy Metrics"): `request_total`
  (incremented when the request stream begins), `response_total` (when the response
  stream ends; `classification` success | failure, `status_code`), `response_latency_ms`
  (histogram, ms); labels `direction` (inbound | outbound), `tls` ("true" when the
  connection was mTLS), `authority`, and on the outbound side the destination's
  `dst_deployment`, `dst_namespace`, `dst_service`, ... The source's `deployment` and
  `namespace` are the Kubernetes labels Linkerd's Prometheus configuration adds from
  the pod.
- https://linkerd.io/2/reference/retries/ and the per-route metrics walk-through
  (https://linkerd.io/2/tasks/books/): since Linkerd 2.16 retries and timeouts are
  counted on the client's route series `outbound_http_route_retry_requests_total`,
  `outbound_http_route_retry_limit_exceeded_total`, `outbound_http_route_retry_overflow_total`,
  `outbound_http_route_retry_successes_total` and
  `outbound_http_route_request_statuses_total{http_status, error="REQUEST_TIMEOUT"}`,
  labelled with the destination Service as `parent_name`.

Linkerd classifies a 5xx (and a gRPC error) as `failure`: the harness's failed request.
"""

from __future__ import annotations

from harness.observe.dialects.base import (
    DESTINATION,
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

REFERENCE = "https://linkerd.io/2/reference/proxy-metrics/"
REQUESTS = "request_total"
RESPONSES = "response_total"
LATENCY_BUCKET = "response_latency_ms_bucket"
RETRIES = "outbound_http_route_retry_requests_total"
FAILURE = ("classification", "=", "failure")
SERVICE_LABELS = (("deployment", SERVICE),)
EDGE_LABELS = (("deployment", SOURCE), ("dst_deployment", DESTINATION))


def linkerd_signals() -> SignalMap:
    inbound, outbound = {"direction": "inbound"}, {"direction": "outbound"}
    return {
        **traffic(
            (sel(REQUESTS, **inbound), sel(RESPONSES, FAILURE, **inbound)),
            (sel(REQUESTS, **outbound), sel(RESPONSES, FAILURE, **outbound)),
            (SERVICE_LABELS, EDGE_LABELS),
            sel(LATENCY_BUCKET, **inbound),
            "deployment",
        ),
        "retries": counter(sel(RETRIES), ("deployment", SOURCE), ("parent_name", DESTINATION)),
        "overflows": NoData(
            "Linkerd has no connection-pool or pending-request limits, so it counts no "
            "circuit-breaker overflows (requests wait in the balancer's queue instead)"
        ),
        "ejections": NoData(
            "Linkerd's failure accrual takes endpoints out of the balancer but exports no "
            "ejection counter"
        ),
        "mtls_requests": counter(sel(REQUESTS, tls="true", **inbound), *SERVICE_LABELS),
        "response_flags": NoData(
            "Linkerd has no Envoy response flags (its route series name proxy errors in the "
            "`error` label instead)"
        ),
        "proxied_requests": counter(sel(REQUESTS)),
        "sidecar_cpu_cores": cadvisor_cpu(("=", "linkerd-proxy")),
        "sidecar_memory_bytes": cadvisor_memory(("=", "linkerd-proxy")),
    }


LINKERD = Dialect(name="linkerd", signals=linkerd_signals(), reference=REFERENCE)
