"""The sidecar's request metrics in Linkerd's or Envoy's (Consul's) names and labels.

`--metrics-dialect linkerd|envoy` renders the same registry (`metrics.MeshMetrics`) the
way those meshes' proxies export it, so the harness's dialect queries
(`harness.observe.dialects`) run against live data from the reference mesh. Only the
scrape pays for it: recording a request is the same in every dialect.

- linkerd (https://linkerd.io/2/reference/proxy-metrics/): `request_total`,
  `response_total` (`status_code`, `classification` success | failure: a 5xx or no
  response is a failure), `response_latency_ms` (Linkerd's buckets), labelled
  `direction`, `tls` ("true" over mTLS, else "no_identity"), the source's `deployment`
  and `namespace` (which Linkerd's Prometheus configuration adds from the pod; here the
  sidecar writes them, there being no pod), and outbound `authority`, `dst_deployment`,
  `dst_namespace`, `dst_service`; retries as Linkerd 2.16's
  `outbound_http_route_retry_requests_total{parent_name, route_kind="default"}`
  (https://linkerd.io/2/tasks/books/).
- envoy, as Consul's sidecars (Envoy's cluster statistics,
  https://www.envoyproxy.io/docs/envoy/latest/configuration/upstream/cluster_manager/cluster_stats,
  with Consul's stats tags): inbound requests on the cluster `local_app`, outbound on
  `<service>.default.dc1.internal.<trust domain>.consul` tagged
  `consul_destination_service`, ...; every series has `local_cluster` (the sidecar's
  own service). `envoy_cluster_upstream_rq_total`, `envoy_cluster_upstream_rq_xx`
  (`envoy_response_code_class`), `envoy_cluster_upstream_rq_time` (ms), `_rq_retry`,
  `_rq_pending_overflow`, `envoy_cluster_outlier_detection_ejections_enforced_total`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Literal

from mesh_runtime.sidecar.telemetry.exposition import (
    Histogram,
    RequestKey,
    family,
    histogram_lines,
    labels_text,
    number,
)

if TYPE_CHECKING:
    from mesh_runtime.sidecar.telemetry.metrics import MeshMetrics

MetricsDialect = Literal["istio", "linkerd", "envoy"]
METRICS_DIALECTS: tuple[MetricsDialect, ...] = ("istio", "linkerd", "envoy")

LINKERD_LATENCY_BUCKETS_MS: tuple[float, ...] = (
    1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500,
    1000, 2000, 3000, 4000, 5000, 10000, 20000, 30000, 40000, 50000,
)  # fmt: skip
"""Linkerd's proxy buckets for response_latency_ms."""

NAMESPACE = "default"
CONSUL_DATACENTER = "dc1"
CONSUL_TRUST_DOMAIN = "meshproof"
Labels = tuple[tuple[str, str], ...]


def _fields(key: RequestKey) -> tuple[bool, str, str, str, int, bool]:
    """outbound?, source workload, destination workload, destination service, code, mTLS?"""
    reporter, source, _, workload, _, service, _, code, _, security, *_ = key
    return reporter == "source", source, workload, service, code, security == "mutual_tls"


def render_dialect(metrics: MeshMetrics, lines: list[str]) -> None:
    """The request families of `metrics.dialect` (linkerd or envoy) into `lines`."""
    if metrics.dialect == "linkerd":
        _render_linkerd(metrics, lines)
    else:
        _render_envoy(metrics, lines)


# --- Linkerd --------------------------------------------------------------------------


def _linkerd_base(key: RequestKey) -> Labels:
    outbound, source, workload, service, _, mtls = _fields(key)
    tls = "true" if mtls else "no_identity"
    if not outbound:
        return (
            ("direction", "inbound"),
            ("deployment", workload),
            ("namespace", NAMESPACE),
            ("tls", tls),
        )
    return (
        ("direction", "outbound"),
        ("deployment", source),
        ("namespace", NAMESPACE),
        ("authority", f"{service}.{NAMESPACE}.svc.cluster.local"),
        ("dst_deployment", workload),
        ("dst_namespace", NAMESPACE),
        ("dst_service", service),
        ("tls", tls),
    )


def _linkerd_response(key: RequestKey) -> Labels:
    code = _fields(key)[4]
    failed = code == 0 or code >= 500
    status = (("status_code", str(code)),) if code else ()
    classification = (("classification", "failure" if failed else "success"),)
    return _linkerd_base(key) + status + classification


def _linkerd_latency(key: RequestKey) -> Labels:
    code = _fields(key)[4]
    return _linkerd_base(key) + ((("status_code", str(code)),) if code else ())


def _render_linkerd(metrics: MeshMetrics, lines: list[str]) -> None:
    requests = metrics.requests.items()
    family(lines, "request_total", "counter", "Total count of HTTP requests.")
    _counters(lines, "request_total", _sum(requests, _linkerd_base))
    family(lines, "response_total", "counter", "Total count of HTTP responses.")
    _counters(lines, "response_total", _sum(requests, _linkerd_response))
    family(lines, "response_latency_ms", "histogram", "Elapsed times between a request's")
    latency = _merge(metrics.durations.items(), _linkerd_latency, len(metrics.buckets))
    _histograms(lines, "response_latency_ms", latency, metrics.buckets)
    name = "outbound_http_route_retry_requests_total"
    family(lines, name, "counter", "The total number of retry requests.")
    retries: dict[Labels, int] = {
        (
            ("deployment", metrics.workload),
            ("namespace", NAMESPACE),
            ("parent_group", "core"),
            ("parent_kind", "Service"),
            ("parent_namespace", NAMESPACE),
            ("parent_name", service),
            ("route_kind", "default"),
            ("route_name", "http"),
        ): count
        for service, count in metrics.retries.items()
    }
    _counters(lines, name, retries)


# --- Envoy, as Consul's sidecars --------------------------------------------------------


def _envoy_cluster(workload: str, key_or_service: RequestKey | str) -> Labels:
    """The cluster a request went through: `local_app` inbound, the upstream's outbound."""
    if isinstance(key_or_service, tuple):
        outbound, _, _, service, _, _ = _fields(key_or_service)
        if not outbound:
            return (("envoy_cluster_name", "local_app"), ("local_cluster", workload))
    else:
        service = key_or_service
    name = f"{service}.{NAMESPACE}.{CONSUL_DATACENTER}.internal.{CONSUL_TRUST_DOMAIN}.consul"
    return (
        ("consul_destination_datacenter", CONSUL_DATACENTER),
        ("consul_destination_namespace", NAMESPACE),
        ("consul_destination_routing_type", "internal"),
        ("consul_destination_service", service),
        ("envoy_cluster_name", name),
        ("local_cluster", workload),
    )


def _render_envoy(metrics: MeshMetrics, lines: list[str]) -> None:
    workload = metrics.workload
    requests = metrics.requests.items()

    def cluster(key: RequestKey) -> Labels:
        return _envoy_cluster(workload, key)

    def by_class(key: RequestKey) -> Labels | None:
        code = _fields(key)[4]  # no response: no class, as Envoy counts it
        return (*cluster(key), ("envoy_response_code_class", str(code // 100))) if code else None

    prefix = "envoy_cluster_upstream_rq"
    family(lines, f"{prefix}_total", "counter", "Total requests.")
    _counters(lines, f"{prefix}_total", _sum(requests, cluster))
    family(lines, f"{prefix}_xx", "counter", "Requests by response code class.")
    _counters(lines, f"{prefix}_xx", _sum(requests, by_class))
    family(lines, f"{prefix}_time", "histogram", "Request time, milliseconds.")
    times = _merge(metrics.durations.items(), cluster, len(metrics.buckets))
    _histograms(lines, f"{prefix}_time", times, metrics.buckets)
    ejections: dict[str, int] = {}
    for (service, _), count in metrics.ejections.items():
        ejections[service] = ejections.get(service, 0) + count
    for name, counts, help_text in (
        (f"{prefix}_retry", metrics.retries, "Total request retries."),
        (f"{prefix}_pending_overflow", metrics.overflows, "Requests refused: circuit breaking."),
        (
            "envoy_cluster_outlier_detection_ejections_enforced_total",
            ejections,
            "Enforced ejections of any outlier type.",
        ),
    ):
        family(lines, name, "counter", help_text)
        _counters(lines, name, {_envoy_cluster(workload, s): c for s, c in counts.items()})


# --- shared -----------------------------------------------------------------------------


def _sum(
    items: Iterable[tuple[RequestKey, int]], labels_of: Callable[[RequestKey], Labels | None]
) -> dict[Labels, int]:
    out: dict[Labels, int] = {}
    for key, value in items:
        labels = labels_of(key)
        if labels is not None:
            out[labels] = out.get(labels, 0) + value
    return out


def _merge(
    items: Iterable[tuple[RequestKey, Histogram]],
    labels_of: Callable[[RequestKey], Labels],
    size: int,
) -> dict[Labels, Histogram]:
    out: dict[Labels, Histogram] = {}
    for key, histogram in items:
        labels = labels_of(key)
        merged = out.get(labels)
        if merged is None:
            merged = out[labels] = Histogram(size)
        merged.counts = [a + b for a, b in zip(merged.counts, histogram.counts, strict=True)]
        merged.total += histogram.total
    return out


def _counters(lines: list[str], name: str, values: dict[Labels, int]) -> None:
    for labels, value in sorted(values.items()):
        lines.append(f"{name}{labels_text(*labels)} {value}")


def _histograms(
    lines: list[str], name: str, values: dict[Labels, Histogram], buckets: tuple[float, ...]
) -> None:
    bounds = [number(b) for b in buckets] + ["+Inf"]
    for labels, histogram in sorted(values.items(), key=lambda item: item[0]):
        histogram_lines(lines, name, labels_text(*labels)[1:-1], histogram, bounds)
