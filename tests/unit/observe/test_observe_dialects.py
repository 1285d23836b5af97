"""Metric dialects: a query or NoData for every signal, matchers in every selector, and
each dialect's queries reading exposition text written after its mesh's published
metric reference (the live tests run them in a real Prometheus)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.observe.dialects import (
    CONSUL,
    DIALECTS,
    ISTIO,
    LINKERD,
    MESHPROOF,
    SIGNALS,
    NoData,
    Query,
    dialect_for,
    reference_mesh_dialect,
)
from harness.observe.dialects.meshproof import LEGACY_QUERIES
from harness.observe.dialects.table import markdown_table
from harness.observe.prometheus import DEFAULT_QUERIES
from harness.observe.promql import add_matchers
from mesh_runtime.errors import InvalidInput
from tests.fixtures.exposition import counter_by, selected

# After https://istio.io/latest/docs/reference/config/metrics/ ("Istio Standard Metrics":
# istio_requests_total / istio_request_duration_milliseconds with reporter,
# source_workload, destination_workload, destination_service, response_code,
# response_flags, connection_security_policy), as a bookinfo productpage -> reviews edge.
ISTIO_TEXT = """\
# TYPE istio_requests_total counter
istio_requests_total{reporter="source",source_workload="productpage-v1",source_workload_namespace="bookinfo",destination_workload="reviews-v1",destination_workload_namespace="bookinfo",destination_service="reviews.bookinfo.svc.cluster.local",response_code="200",response_flags="-",connection_security_policy="unknown"} 90
istio_requests_total{reporter="source",source_workload="productpage-v1",source_workload_namespace="bookinfo",destination_workload="reviews-v1",destination_workload_namespace="bookinfo",destination_service="reviews.bookinfo.svc.cluster.local",response_code="503",response_flags="UO",connection_security_policy="unknown"} 4
istio_requests_total{reporter="source",source_workload="productpage-v1",source_workload_namespace="bookinfo",destination_workload="reviews-v1",destination_workload_namespace="bookinfo",destination_service="reviews.bookinfo.svc.cluster.local",response_code="503",response_flags="URX,UF",connection_security_policy="unknown"} 6
istio_requests_total{reporter="source",source_workload="productpage-v1",source_workload_namespace="bookinfo",destination_workload="reviews-v1",destination_workload_namespace="bookinfo",destination_service="reviews.bookinfo.svc.cluster.local",response_code="404",response_flags="NR",connection_security_policy="unknown"} 1
istio_requests_total{reporter="destination",source_workload="productpage-v1",source_workload_namespace="bookinfo",destination_workload="reviews-v1",destination_workload_namespace="bookinfo",destination_service="reviews.bookinfo.svc.cluster.local",response_code="200",response_flags="-",connection_security_policy="mutual_tls"} 90
istio_requests_total{reporter="destination",source_workload="productpage-v1",source_workload_namespace="bookinfo",destination_workload="reviews-v1",destination_workload_namespace="bookinfo",destination_service="reviews.bookinfo.svc.cluster.local",response_code="503",response_flags="-",connection_security_policy="mutual_tls"} 5
istio_requests_total{reporter="destination",source_workload="unknown",source_workload_namespace="unknown",destination_workload="reviews-v1",destination_workload_namespace="bookinfo",destination_service="reviews.bookinfo.svc.cluster.local",response_code="200",response_flags="-",connection_security_policy="none"} 3
# TYPE istio_request_duration_milliseconds histogram
istio_request_duration_milliseconds_bucket{reporter="destination",source_workload="productpage-v1",destination_workload="reviews-v1",response_code="200",le="5"} 40
istio_request_duration_milliseconds_bucket{reporter="destination",source_workload="productpage-v1",destination_workload="reviews-v1",response_code="200",le="+Inf"} 90
istio_request_duration_milliseconds_sum{reporter="destination",source_workload="productpage-v1",destination_workload="reviews-v1",response_code="200"} 700
istio_request_duration_milliseconds_count{reporter="destination",source_workload="productpage-v1",destination_workload="reviews-v1",response_code="200"} 90
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container="istio-proxy",namespace="bookinfo",pod="reviews-v1-7d8f"} 12.5
container_cpu_usage_seconds_total{container="reviews",namespace="bookinfo",pod="reviews-v1-7d8f"} 80.0
"""

# After https://linkerd.io/2/reference/proxy-metrics/ (request_total, response_total with
# classification and status_code, response_latency_ms; direction, tls, authority,
# dst_deployment, ...) and https://linkerd.io/2/tasks/books/ (Linkerd 2.16's
# outbound_http_route_retry_requests_total with parent_name / route_name), as Prometheus
# stores them: `deployment` and `namespace` come from Linkerd's scrape configuration.
LINKERD_TEXT = """\
# TYPE request_total counter
request_total{direction="inbound",deployment="books",namespace="booksapp",pod="books-64c68d6d46-2xv8l",tls="true"} 120
request_total{direction="inbound",deployment="books",namespace="booksapp",pod="books-64c68d6d46-2xv8l",tls="no_identity",no_tls_reason="not_provided_by_remote"} 8
request_total{authority="books.booksapp.svc.cluster.local:7002",direction="outbound",deployment="webapp",namespace="booksapp",dst_deployment="books",dst_namespace="booksapp",dst_service="books",tls="true"} 120
# TYPE response_total counter
response_total{direction="inbound",deployment="books",namespace="booksapp",tls="true",status_code="201",classification="success"} 100
response_total{direction="inbound",deployment="books",namespace="booksapp",tls="true",status_code="500",classification="failure"} 20
response_total{direction="inbound",deployment="books",namespace="booksapp",tls="no_identity",status_code="200",classification="success"} 8
response_total{authority="books.booksapp.svc.cluster.local:7002",direction="outbound",deployment="webapp",namespace="booksapp",dst_deployment="books",dst_namespace="booksapp",dst_service="books",tls="true",status_code="201",classification="success"} 100
response_total{authority="books.booksapp.svc.cluster.local:7002",direction="outbound",deployment="webapp",namespace="booksapp",dst_deployment="books",dst_namespace="booksapp",dst_service="books",tls="true",status_code="500",classification="failure"} 20
# TYPE response_latency_ms histogram
response_latency_ms_bucket{direction="inbound",deployment="books",namespace="booksapp",tls="true",status_code="201",le="10"} 60
response_latency_ms_bucket{direction="inbound",deployment="books",namespace="booksapp",tls="true",status_code="201",le="+Inf"} 100
response_latency_ms_sum{direction="inbound",deployment="books",namespace="booksapp",tls="true",status_code="201"} 1500
response_latency_ms_count{direction="inbound",deployment="books",namespace="booksapp",tls="true",status_code="201"} 100
# TYPE outbound_http_route_retry_requests_total counter
outbound_http_route_retry_requests_total{deployment="webapp",namespace="booksapp",parent_group="core",parent_kind="Service",parent_namespace="booksapp",parent_name="books",parent_port="7002",parent_section_name="",route_group="gateway.networking.k8s.io",route_kind="HTTPRoute",route_namespace="booksapp",route_name="books-create"} 469
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{container="linkerd-proxy",namespace="booksapp",pod="books-64c68d6d46-2xv8l"} 2.1e+07
"""

# After Envoy's cluster statistics
# (https://www.envoyproxy.io/docs/envoy/latest/configuration/upstream/cluster_manager/cluster_stats)
# with Consul's stats tags, as queried by Consul's service dashboard
# (https://developer.hashicorp.com/consul/docs/observe/grafana/service:
# envoy_cluster_upstream_rq_xx{envoy_response_code_class, consul_destination_service}).
_API = (
    'consul_destination_datacenter="dc1",consul_destination_namespace="default",'
    'consul_destination_routing_type="internal",consul_destination_service="api",'
    'envoy_cluster_name="api.default.dc1.internal.5f3c2b.consul",local_cluster="web"'
)
CONSUL_TEXT = f"""\
# TYPE envoy_cluster_upstream_rq_total counter
envoy_cluster_upstream_rq_total{{{_API}}} 200
envoy_cluster_upstream_rq_total{{envoy_cluster_name="local_app",local_cluster="api"}} 200
envoy_cluster_upstream_rq_total{{envoy_cluster_name="local_agent",local_cluster="api"}} 12
# TYPE envoy_cluster_upstream_rq_xx counter
envoy_cluster_upstream_rq_xx{{{_API},envoy_response_code_class="2"}} 180
envoy_cluster_upstream_rq_xx{{{_API},envoy_response_code_class="5"}} 20
envoy_cluster_upstream_rq_xx{{envoy_cluster_name="local_app",local_cluster="api",envoy_response_code_class="2"}} 180
envoy_cluster_upstream_rq_xx{{envoy_cluster_name="local_app",local_cluster="api",envoy_response_code_class="5"}} 20
# TYPE envoy_cluster_upstream_rq_retry counter
envoy_cluster_upstream_rq_retry{{{_API}}} 7
# TYPE envoy_cluster_upstream_rq_pending_overflow counter
envoy_cluster_upstream_rq_pending_overflow{{{_API}}} 3
# TYPE envoy_cluster_outlier_detection_ejections_enforced_total counter
envoy_cluster_outlier_detection_ejections_enforced_total{{{_API}}} 2
# TYPE envoy_cluster_upstream_rq_time histogram
envoy_cluster_upstream_rq_time_bucket{{envoy_cluster_name="local_app",local_cluster="api",le="5"}} 150
envoy_cluster_upstream_rq_time_bucket{{envoy_cluster_name="local_app",local_cluster="api",le="+Inf"}} 200
envoy_cluster_upstream_rq_time_sum{{envoy_cluster_name="local_app",local_cluster="api"}} 900
envoy_cluster_upstream_rq_time_count{{envoy_cluster_name="local_app",local_cluster="api"}} 200
"""


def test_every_dialect_answers_every_signal() -> None:
    """Each dialect has a query or a NoData with a reason for every signal."""
    for dialect in DIALECTS.values():
        for signal in SIGNALS:
            entry = dialect.signals[signal]
            assert isinstance(entry, Query | NoData), (dialect.name, signal)
            if isinstance(entry, NoData):
                assert len(entry.reason) > 20, (dialect.name, signal)


def test_what_each_mesh_cannot_give_is_no_data() -> None:
    """Istio's standard metrics count no retries or ejections, Linkerd has no overflows,
    ejections or response flags, Envoy's stats carry no mTLS or response flags."""
    gaps = {
        name: {s for s in SIGNALS if isinstance(d.signals[s], NoData)}
        for name, d in DIALECTS.items()
    }
    assert gaps["istio"] == {"retries", "ejections"}
    assert gaps["linkerd"] == {"overflows", "ejections", "response_flags"}
    assert gaps["consul"] == {"mtls_requests", "response_flags"}
    assert gaps["meshproof"] == {"sidecar_cpu_cores", "sidecar_memory_bytes"}
    bound = LINKERD.bind()
    assert bound.query("ejections") is None
    assert (bound.no_data("ejections") or "").startswith("linkerd metrics: ")
    assert bound.no_data("edge_requests") is None


def test_a_targets_matchers_scope_every_dialect_query() -> None:
    """A target's extra matchers go into every selector of every dialect's queries as they
    are sent; label names in label_replace's strings are left alone."""
    for dialect in DIALECTS.values():
        for text in dialect.bind().queries():
            sent = add_matchers(text, 'namespace="shop"')
            selectors = re.findall(r"[a-z_]+\{[^}]*\}", sent)
            assert selectors and all('namespace="shop"' in s for s in selectors), sent
            assert sent.count('namespace="shop"') == 1, sent
            assert re.findall(r'"[^"]*"', re.sub(r'namespace="shop",?', "", sent)) == re.findall(
                r'"[^"]*"', text
            ), sent


def test_the_reference_mesh_keeps_its_queries() -> None:
    """The meshproof dialect still sends the queries the harness always sent, first and
    in order, and reads retries / ejections / overflows from the same bare counters."""
    queries = DEFAULT_QUERIES
    assert queries[: len(LEGACY_QUERIES)] == LEGACY_QUERIES
    bound = MESHPROOF.bind()
    assert bound.query("retries") == "meshproof_retries_total"
    assert bound.query("ejections") == "meshproof_outlier_ejections_total"
    assert bound.query("overflows") == "meshproof_overflow_total"
    assert bound.query("proxied_requests") == "istio_requests_total"
    assert len(queries) == len(set(queries))


def test_dialect_names_and_bad_mesh() -> None:
    """`mesh` values map to dialects; anything else is one clear InvalidInput."""
    assert dialect_for("consul") is CONSUL
    assert reference_mesh_dialect("envoy") is CONSUL
    assert reference_mesh_dialect("istio") is MESHPROOF
    with pytest.raises(InvalidInput, match=r"target: mesh: expected istio \| linkerd"):
        dialect_for("kuma")


def test_istio_queries_read_istios_published_metrics() -> None:
    """Requests and errors per service (destination reporter) and per edge (source
    reporter), overflows from flag UO, mTLS from connection_security_policy."""
    services = counter_by(ISTIO, "service_requests", ISTIO_TEXT, "mp_service")
    assert services == {("reviews-v1",): 98.0}
    assert counter_by(ISTIO, "service_errors", ISTIO_TEXT, "mp_service") == {("reviews-v1",): 5.0}
    edge = ("productpage-v1", "reviews-v1")
    by = ("mp_source", "mp_destination")
    assert counter_by(ISTIO, "edge_requests", ISTIO_TEXT, *by) == {edge: 101.0}
    assert counter_by(ISTIO, "edge_errors", ISTIO_TEXT, *by) == {edge: 10.0}
    assert counter_by(ISTIO, "overflows", ISTIO_TEXT, *by) == {edge: 4.0}
    assert counter_by(ISTIO, "mtls_requests", ISTIO_TEXT, "mp_service") == {("reviews-v1",): 95.0}
    flags = counter_by(ISTIO, "response_flags", ISTIO_TEXT, "mp_flags")
    assert flags == {("UO",): 4.0, ("URX,UF",): 6.0, ("NR",): 1.0}
    assert selected(ISTIO, "latency_p99_ms", ISTIO_TEXT) == 2
    assert selected(ISTIO, "sidecar_cpu_cores", ISTIO_TEXT) == 1


def test_linkerd_queries_read_linkerds_published_metrics() -> None:
    """Inbound requests per deployment, failures by classification, outbound edges by
    dst_deployment, retries from the 2.16 route series, mTLS from tls="true"."""
    assert counter_by(LINKERD, "service_requests", LINKERD_TEXT, "mp_service") == {
        ("books",): 128.0
    }
    assert counter_by(LINKERD, "service_errors", LINKERD_TEXT, "mp_service") == {("books",): 20.0}
    edge = ("webapp", "books")
    by = ("mp_source", "mp_destination")
    assert counter_by(LINKERD, "edge_requests", LINKERD_TEXT, *by) == {edge: 120.0}
    assert counter_by(LINKERD, "edge_errors", LINKERD_TEXT, *by) == {edge: 20.0}
    assert counter_by(LINKERD, "retries", LINKERD_TEXT, *by) == {edge: 469.0}
    mtls = counter_by(LINKERD, "mtls_requests", LINKERD_TEXT, "mp_service")
    assert mtls == {("books",): 120.0}
    assert selected(LINKERD, "latency_p50_ms", LINKERD_TEXT) == 2
    assert selected(LINKERD, "sidecar_memory_bytes", LINKERD_TEXT) == 1


def test_consul_queries_read_envoys_cluster_statistics() -> None:
    """local_app for the service itself, consul_destination_service for edges, 5xx by
    code class, and Envoy's retry, overflow and ejection counters."""
    assert counter_by(CONSUL, "service_requests", CONSUL_TEXT, "mp_service") == {("api",): 200.0}
    assert counter_by(CONSUL, "service_errors", CONSUL_TEXT, "mp_service") == {("api",): 20.0}
    edge = ("web", "api")
    by = ("mp_source", "mp_destination")
    assert counter_by(CONSUL, "edge_requests", CONSUL_TEXT, *by) == {edge: 200.0}
    assert counter_by(CONSUL, "edge_errors", CONSUL_TEXT, *by) == {edge: 20.0}
    assert counter_by(CONSUL, "retries", CONSUL_TEXT, *by) == {edge: 7.0}
    assert counter_by(CONSUL, "overflows", CONSUL_TEXT, *by) == {edge: 3.0}
    assert counter_by(CONSUL, "ejections", CONSUL_TEXT, *by) == {edge: 2.0}
    assert counter_by(CONSUL, "proxied_requests", CONSUL_TEXT) == {(): 412.0}
    assert selected(CONSUL, "latency_p90_ms", CONSUL_TEXT) == 2


def test_the_readme_table_is_the_dialects_own() -> None:
    """experiments/README.md shows the signal -> metric table the dialects make, unedited."""
    readme = (Path(__file__).resolve().parents[3] / "experiments" / "README.md").read_text()
    start = readme.index("<!-- dialect-table:")
    block = readme[readme.index("\n", start) + 1 : readme.index("<!-- /dialect-table -->")]
    assert block.strip() == markdown_table()
