"""L7 fault injection and weighted version splits agree with their configured shares."""

from __future__ import annotations

import time

import pytest
from sidecar_mesh import Replica, build_mesh, metric_sum, send_many, within_binomial
from sidecar_procs import Processes

pytestmark = pytest.mark.integration


def test_abort_and_delay_percentages_agree_with_config(procs: Processes) -> None:
    """25 % aborts (418) and 20 % 50 ms delays, within 4 sigma over 400 requests."""
    fault = {
        "abort": {"httpStatus": 418, "percentage": 25},
        "delay": {"fixedDelay": "50ms", "percentage": 20},
    }
    mesh = build_mesh(procs, [Replica("catalog-0")], {"http": [{"fault": fault}]})
    n = 400
    outcomes = send_many(mesh.client.outbound, "catalog", "/", n, concurrency=8)
    aborted = sum(o.status == 418 for o in outcomes)
    assert sum(o.status == 200 for o in outcomes) + aborted == n
    assert within_binomial(aborted, n, 0.25)
    metrics = mesh.client.metrics()
    delayed = metric_sum(metrics, "istio_requests_total", response_flags="DI") + metric_sum(
        metrics, "istio_requests_total", response_flags="DI,FI"
    )
    assert within_binomial(int(delayed), n, 0.20)
    assert metric_sum(metrics, "istio_requests_total", response_code="418") == aborted
    assert mesh.count(0) == n - aborted


def test_fault_with_header_match_hits_only_matching_requests(procs: Processes) -> None:
    """An abort limited to x-chaos: yes never touches other requests."""
    fault = {
        "abort": {"httpStatus": 503, "percentage": 100},
        "headers": {"x-chaos": {"exact": "yes"}},
    }
    mesh = build_mesh(procs, [Replica("catalog-0")], {"http": [{"fault": fault}]})
    plain = send_many(mesh.client.outbound, "catalog", "/", 50, concurrency=2)
    marked = send_many(
        mesh.client.outbound, "catalog", "/", 50, concurrency=2, headers={"x-chaos": "yes"}
    )
    assert all(o.status == 200 for o in plain)
    assert all(o.status == 503 for o in marked)
    metrics = mesh.client.metrics()
    assert metric_sum(metrics, "istio_requests_total", response_flags="FI") == 50


def test_delay_is_applied_for_its_duration(procs: Processes) -> None:
    """A 100 % delay of 200 ms makes each request take at least 200 ms."""
    fault = {"delay": {"fixedDelay": "200ms", "percentage": 100}}
    mesh = build_mesh(procs, [Replica("catalog-0")], {"http": [{"fault": fault}]})
    started = time.monotonic()
    outcomes = send_many(mesh.client.outbound, "catalog", "/", 4, concurrency=1)
    assert all(o.status == 200 for o in outcomes)
    assert time.monotonic() - started >= 0.8


def test_weighted_split_between_versions(procs: Processes) -> None:
    """A 90/10 split of v1 and v2 is honoured within 4 sigma over 500 requests."""
    policy = {"http": [{"route": [{"subset": "v1", "weight": 90}, {"subset": "v2", "weight": 10}]}]}
    mesh = build_mesh(procs, [Replica("catalog-0", "v1"), Replica("catalog-1", "v2")], policy)
    n = 500
    outcomes = send_many(mesh.client.outbound, "catalog", "/", n, concurrency=8)
    assert all(o.status == 200 for o in outcomes)
    v2 = sum(o.headers["x-version"] == "v2" for o in outcomes)
    assert within_binomial(v2, n, 0.10)
    metrics = mesh.client.metrics()
    assert metric_sum(metrics, "istio_requests_total", destination_version="v2") == v2


def test_path_and_header_routes_pick_the_version(procs: Processes) -> None:
    """A header match sends to v2, a path prefix to v1, the rest by the default route."""
    policy = {
        "http": [
            {
                "name": "canary-users",
                "match": [{"headers": {"x-user": {"prefix": "beta-"}}}],
                "route": [{"subset": "v2"}],
            },
            {
                "name": "admin",
                "match": [{"uri": {"prefix": "/admin"}}],
                "route": [{"subset": "v1"}],
            },
        ]
    }
    mesh = build_mesh(procs, [Replica("catalog-0", "v1"), Replica("catalog-1", "v2")], policy)
    beta = send_many(mesh.client.outbound, "catalog", "/x", 10, headers={"x-user": "beta-7"})
    admin = send_many(mesh.client.outbound, "catalog", "/admin/x", 10)
    other = send_many(mesh.client.outbound, "catalog", "/other", 2)
    assert {o.headers["x-version"] for o in beta} == {"v2"}
    assert {o.headers["x-version"] for o in admin} == {"v1"}
    assert {o.status for o in other} == {404}
