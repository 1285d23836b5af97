"""Trace completeness against the call graph (harness.analysis.traces)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pandas as pd
import pytest

from harness.analysis.traces import (
    TraceReport,
    completeness_of,
    expected_spans,
    trace_completeness,
)

GRAPH = {"gateway": ["frontend"], "frontend": ["catalog", "cart"], "catalog": [], "cart": []}


def span(trace: str, sid: str, parent: str, name: str, kind: str, service: str, **attrs: str):
    return {
        "trace_id": trace,
        "span_id": sid,
        "parent_span_id": parent,
        "name": name,
        "kind": kind,
        "service": service,
        "instance": f"{service}-0",
        "start_ns": 0,
        "end_ns": 1,
        "status_code": "OK",
        "attributes": json.dumps(attrs),
    }


def mesh_trace(trace: str, cluster: str = "{}") -> list[dict[str, object]]:
    """Every span one request through GRAPH makes in mesh mode."""
    ids: Iterator[int] = iter(range(1, 100))
    rows: list[dict[str, object]] = []

    def visit(service: str, parent: str) -> None:
        inbound, handle = f"{next(ids):016x}", f"{next(ids):016x}"
        rows.append(span(trace, inbound, parent, "inbound", "SPAN_KIND_SERVER", service))
        rows.append(span(trace, handle, inbound, f"{service} handle", "SERVER", service))
        for callee in GRAPH[service]:
            out = f"{next(ids):016x}"
            upstream = cluster.format(callee) if cluster != "{}" else callee
            rows.append(
                span(trace, out, handle, "outbound", "CLIENT", service, upstream_cluster=upstream)
            )
            visit(callee, out)

    visit("gateway", "f" * 16)
    return rows


def requests(*pairs: tuple[str, int]) -> pd.DataFrame:
    return pd.DataFrame({"trace_id": [p[0] for p in pairs], "status": [p[1] for p in pairs]})


def judge_mesh(rows: list[dict[str, object]], judged: pd.DataFrame) -> TraceReport:
    """Trace completeness of `judged` requests over `rows` (GRAPH from the gateway, mesh mode)."""
    return trace_completeness(pd.DataFrame(rows), judged, GRAPH, "gateway", "mesh")


def test_expected_spans_follow_the_call_graph_in_mesh_mode() -> None:
    """Per visited service: sidecar inbound, handle, and one outbound per call edge."""
    expected = expected_spans(GRAPH, "gateway", "mesh")
    assert expected["frontend sidecar outbound -> cart"] == 1
    assert expected["catalog handle"] == 1
    assert sum(expected.values()) == 4 * 2 + 3


def test_a_service_reached_by_two_paths_is_expected_twice() -> None:
    """Diamond call graph: the shared callee's spans are expected once per path."""
    graph = {"a": ["b", "c"], "b": ["d"], "c": ["d"], "d": []}
    expected = expected_spans(graph, "a", "mesh")
    assert expected["d handle"] == 2
    assert expected["d sidecar inbound"] == 2


def test_no_mesh_mode_expects_only_the_services_spans() -> None:
    """Without sidecars only '<service> handle' spans are expected."""
    assert set(expected_spans(GRAPH, "gateway", "no-mesh")) == {
        "gateway handle",
        "frontend handle",
        "catalog handle",
        "cart handle",
    }


def test_complete_and_incomplete_traces_are_told_apart() -> None:
    """A trace missing one span is incomplete; the example names the missing span."""
    full = mesh_trace("a" * 32)
    broken = [s for s in mesh_trace("b" * 32) if s["name"] != "cart handle"]
    report = judge_mesh(full + broken, requests(("a" * 32, 200), ("b" * 32, 200)))
    assert (report.requests, report.complete) == (2, 1)
    assert report.completeness == pytest.approx(0.5)
    assert report.examples == [{"trace_id": "b" * 32, "missing": ["cart handle"], "spans": 10}]


def test_retries_add_spans_without_making_a_trace_incomplete() -> None:
    """Extra CLIENT spans (retried tries) are allowed."""
    rows = mesh_trace("a" * 32)
    retry = dict(rows[2], span_id="e" * 16)
    report = judge_mesh([*rows, retry], requests(("a" * 32, 200)))
    assert report.complete == 1


def test_envoy_style_cluster_names_name_the_upstream() -> None:
    """upstream_cluster 'outbound|80||catalog.default.svc' is read as 'catalog'."""
    rows = mesh_trace("a" * 32, cluster="outbound|80||{}.default.svc.cluster.local")
    report = judge_mesh(rows, requests(("a" * 32, 200)))
    assert report.complete == 1


def test_only_2xx_requests_are_judged() -> None:
    """A request answered 503 does not count for or against completeness."""
    report = judge_mesh(mesh_trace("a" * 32), requests(("a" * 32, 200), ("c" * 32, 503)))
    assert report.requests == 1 and report.completeness == 1.0


def test_a_request_without_any_span_is_incomplete() -> None:
    """A 2xx request whose trace never arrived is incomplete."""
    report = judge_mesh(mesh_trace("a" * 32), requests(("a" * 32, 200), ("d" * 32, 200)))
    assert report.complete == 1 and report.requests == 2


def test_orphans_and_broken_parents_are_counted() -> None:
    """Spans of unknown traces are orphans; a lost parent is broken, the ingress root is not."""
    rows = mesh_trace("a" * 32)
    rows[5] = dict(rows[5], parent_span_id="9" * 16)
    orphan = span("0" * 31 + "1", "1" * 16, "", "cart handle", "SERVER", "cart")
    report = judge_mesh([*rows, orphan], requests(("a" * 32, 200)))
    assert report.broken_parent_spans == 1
    assert (report.orphan_spans, report.orphan_traces) == (1, 1)


def test_completeness_of_a_subset_of_requests() -> None:
    """completeness_of judges only the given requests (e.g. one phase's)."""
    broken = [s for s in mesh_trace("b" * 32) if s["name"] != "cart handle"]
    all_requests = requests(("a" * 32, 200), ("b" * 32, 200))
    report = judge_mesh(mesh_trace("a" * 32) + broken, all_requests)
    assert completeness_of(report, all_requests.iloc[:1]) == 1.0
    assert completeness_of(report, all_requests.iloc[1:]) == 0.0
    assert completeness_of(None, all_requests) is None


def test_no_spans_at_all_make_every_judged_trace_incomplete() -> None:
    """An empty spans frame (even without columns) is read as no spans, not an error."""
    report = judge_mesh([], requests(("a" * 32, 200)))
    assert (report.requests, report.complete, report.orphan_spans) == (1, 0, 0)


def grpc_trace(trace: str, service: str = "catalog") -> list[dict[str, object]]:
    """The spans of a gRPC load route's call to `service` at the gateway's sidecar: the
    gateway sidecar's outbound span (its parent the load's unexported span), then the
    service's inbound and handle spans."""
    out, inbound, handle = "1" * 16, "2" * 16, "3" * 16
    return [
        span(trace, out, "f" * 16, "outbound", "CLIENT", "gateway", upstream_cluster=service),
        span(trace, inbound, out, "inbound", "SERVER", service),
        span(trace, handle, inbound, f"{service} handle", "SERVER", service),
    ]


def routed(*rows: tuple[str, int, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "trace_id": [r[0] for r in rows],
            "status": [r[1] for r in rows],
            "route": [r[2] for r in rows],
        }
    )


def test_a_grpc_route_is_judged_from_the_service_it_calls() -> None:
    """A gRPC route's complete trace (gateway outbound -> catalog, catalog's spans) is
    complete, beside an HTTP request judged on the whole graph; its entry span's parent
    (the load's own span) is no broken parent."""
    judged = routed(("a" * 32, 200, "grpc"), ("b" * 32, 200, "http"))
    rows = grpc_trace("a" * 32) + mesh_trace("b" * 32)
    report = trace_completeness(
        pd.DataFrame(rows), judged, GRAPH, "gateway", "mesh", entries={"grpc": "catalog"}
    )
    assert (report.requests, report.complete) == (2, 2)
    assert report.broken_parent_spans == 0
    assert report.expected_by_route == {
        "grpc": {
            "gateway sidecar outbound -> catalog": 1,
            "catalog sidecar inbound": 1,
            "catalog handle": 1,
        }
    }


def test_a_grpc_route_missing_its_service_span_is_incomplete() -> None:
    """Judged from its own entry, a gRPC trace without catalog's handle span is incomplete
    and the example names that span alone."""
    rows = [s for s in grpc_trace("a" * 32) if s["name"] != "catalog handle"]
    report = trace_completeness(
        pd.DataFrame(rows),
        routed(("a" * 32, 200, "grpc")),
        GRAPH,
        "gateway",
        "mesh",
        entries={"grpc": "catalog"},
    )
    assert report.complete == 0
    assert report.examples == [{"trace_id": "a" * 32, "missing": ["catalog handle"], "spans": 2}]


def test_a_grpc_route_in_no_mesh_mode_expects_the_service_alone() -> None:
    """Without sidecars a gRPC route calls the service itself: its handle span is expected."""
    assert expected_spans(GRAPH, "gateway", "no-mesh", "catalog") == {"catalog handle": 1}
