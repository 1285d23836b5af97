"""Consul service mesh: its Envoy sidecars' cluster statistics.

References:
- Envoy's cluster statistics,
  https://www.envoyproxy.io/docs/envoy/latest/configuration/upstream/cluster_manager/cluster_stats:
  `upstream_rq_total`, `upstream_rq_<class>xx`, `upstream_rq_time` (histogram, ms),
  `upstream_rq_retry`, `upstream_rq_pending_overflow` (refused by a circuit breaker),
  `outlier_detection.ejections_enforced_total`; in Prometheus format
  `envoy_cluster_upstream_rq_total{envoy_cluster_name}`,
  `envoy_cluster_upstream_rq_xx{envoy_response_code_class="5"}`, ...
- Consul's service dashboards,
  https://developer.hashicorp.com/consul/docs/observe/grafana/service: queries such as
  `envoy_cluster_upstream_rq_xx{envoy_response_code_class!="5", consul_destination_service=~"$service"}`.
  Consul tags every statistic of a sidecar with its own service as `local_cluster` and
  the upstream clusters with `consul_destination_service` (and `_namespace`,
  `_datacenter`, ...); the cluster to the local application is `local_app`.

Sidecar containers: `consul-dataplane` (consul-k8s 1.0 and later) or `envoy-sidecar`.
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

REFERENCE = (
    "https://www.envoyproxy.io/docs/envoy/latest/configuration/upstream/cluster_manager/"
    "cluster_stats and https://developer.hashicorp.com/consul/docs/observe/grafana/service"
)
REQUESTS = "envoy_cluster_upstream_rq_total"
BY_CLASS = "envoy_cluster_upstream_rq_xx"
TIME_BUCKET = "envoy_cluster_upstream_rq_time_bucket"
LOCAL_APP = ("envoy_cluster_name", "=", "local_app")
UPSTREAM = ("consul_destination_service", "!=", "")
SERVER_ERROR = ("envoy_response_code_class", "=", "5")
SERVICE_LABELS = (("local_cluster", SERVICE),)
EDGE_LABELS = (("local_cluster", SOURCE), ("consul_destination_service", DESTINATION))
CONTAINER = ("=~", "consul-dataplane|envoy-sidecar")


def consul_signals() -> SignalMap:
    return {
        **traffic(
            (sel(REQUESTS, LOCAL_APP), sel(BY_CLASS, LOCAL_APP, SERVER_ERROR)),
            (sel(REQUESTS, UPSTREAM), sel(BY_CLASS, UPSTREAM, SERVER_ERROR)),
            (SERVICE_LABELS, EDGE_LABELS),
            sel(TIME_BUCKET, LOCAL_APP),
            "local_cluster",
        ),
        "retries": counter(sel("envoy_cluster_upstream_rq_retry", UPSTREAM), *EDGE_LABELS),
        "overflows": counter(
            sel("envoy_cluster_upstream_rq_pending_overflow", UPSTREAM), *EDGE_LABELS
        ),
        "ejections": counter(
            sel("envoy_cluster_outlier_detection_ejections_enforced_total", UPSTREAM),
            *EDGE_LABELS,
        ),
        "mtls_requests": NoData(
            "Envoy's cluster statistics do not say whether a request went over mTLS (Consul's "
            "mesh upstreams are mTLS by configuration, which is not a measurement)"
        ),
        "response_flags": NoData(
            "Envoy's response flags are written to its access log, not to its statistics"
        ),
        "proxied_requests": counter(sel(REQUESTS)),
        "sidecar_cpu_cores": cadvisor_cpu(CONTAINER),
        "sidecar_memory_bytes": cadvisor_memory(CONTAINER),
    }


CONSUL = Dialect(name="consul", signals=consul_signals(), reference=REFERENCE)
