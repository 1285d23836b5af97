"""Retries, outlier ejection, circuit breaking, timeouts and connect failures, end to end."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sidecar_mesh import Replica, build_mesh, endpoint, metric_sum, request, send_many
from sidecar_procs import Processes, wait_until

from mesh_runtime.runtimes.ports import fresh_port

pytestmark = pytest.mark.integration


def test_retries_hide_a_flaky_replica(procs: Processes) -> None:
    """With one of two replicas failing 30 % of requests, retries leave no user-facing error."""
    policy = {
        "http": [{"retries": {"attempts": 3, "retryOn": "5xx", "backoffBaseInterval": "1ms"}}]
    }
    mesh = build_mesh(procs, [Replica("catalog-0", error_rate=0.3), Replica("catalog-1")], policy)
    outcomes = send_many(mesh.client.outbound, "catalog", "/", 400, concurrency=4)
    failed = [o for o in outcomes if o.status != 200]
    assert len(failed) <= 1, failed[:3]
    metrics = mesh.client.metrics()
    retries = metric_sum(metrics, "meshproof_retries_total", destination_service="catalog")
    assert 20 <= retries <= 120  # about 0.3 x 200 requests that hit the flaky replica


def test_outlier_detection_ejects_and_readmits(procs: Processes) -> None:
    """A replica failing every request is ejected after 3 errors, and readmitted after
    baseEjectionTime once it is healthy again."""
    policy = {
        "trafficPolicy": {
            "outlierDetection": {
                "consecutive5xxErrors": 3,
                "interval": "1s",
                "baseEjectionTime": "2s",
                "maxEjectionPercent": 50,
            }
        },
        "http": [{"name": "default"}],
    }
    mesh = build_mesh(procs, [Replica("catalog-0"), Replica("catalog-1", error_rate=1.0)], policy)
    # The ejection comes at catalog-1's third error, early in the 60 requests: it began
    # after `sent_at` and before `ejected_by`.
    sent_at = time.monotonic()
    outcomes = send_many(mesh.client.outbound, "catalog", "/", 60, concurrency=1)
    ejected_by = time.monotonic()
    assert sum(o.status == 503 for o in outcomes) == 3
    assert mesh.count(1) == 3
    metrics = mesh.client.metrics()
    assert metric_sum(metrics, "meshproof_outlier_ejections_total", instance="catalog-1") == 1
    mesh.behave(1, error_rate=0.0)
    send_many(mesh.client.outbound, "catalog", "/", 20, concurrency=1)
    if time.monotonic() - sent_at < 1.5:
        assert mesh.count(1) == 3  # still ejected
    wait_until(lambda: time.monotonic() - ejected_by > 2.2, 5, "ejection end")
    outcomes = send_many(mesh.client.outbound, "catalog", "/", 20, concurrency=1)
    assert all(o.status == 200 for o in outcomes)
    assert mesh.count(1) >= 3 + 8  # round robin gives it about half again


def test_overflow_answers_503_uo_and_is_counted(procs: Processes) -> None:
    """With one request allowed in flight and none pending, concurrent requests overflow."""
    policy = {
        "trafficPolicy": {
            "connectionPool": {"http": {"http2MaxRequests": 1, "http1MaxPendingRequests": 0}}
        },
        "http": [{"name": "default"}],
    }
    mesh = build_mesh(procs, [Replica("catalog-0")], policy)
    port = mesh.client.outbound
    with ThreadPoolExecutor(6) as pool:
        statuses = list(
            pool.map(lambda _: request(port, "GET", "/delay/300", "catalog")[0], range(6))
        )
    assert statuses.count(200) >= 1
    assert statuses.count(503) >= 3
    assert set(statuses) <= {200, 503}
    metrics = mesh.client.metrics()
    overflows = metric_sum(metrics, "meshproof_overflow_total", destination_service="catalog")
    assert overflows == statuses.count(503)
    assert metric_sum(
        metrics, "istio_requests_total", response_code="503", response_flags="UO"
    ) == statuses.count(503)


def test_per_try_timeout_then_retry_elsewhere_succeeds(procs: Processes) -> None:
    """A try that outlives perTryTimeout is abandoned and retried on the other replica."""
    policy = {
        "http": [
            {
                "retries": {"attempts": 1, "perTryTimeout": "200ms", "retryOn": "reset,5xx"},
                "timeout": "2s",
            }
        ]
    }
    mesh = build_mesh(procs, [Replica("catalog-0"), Replica("catalog-1")], policy)
    mesh.behave(0, delay_ms=1000)
    outcomes = send_many(mesh.client.outbound, "catalog", "/", 10, concurrency=2)
    assert all(o.status == 200 for o in outcomes)
    assert all(o.headers["x-instance"] == "catalog-1" for o in outcomes)


def test_per_try_timeout_everywhere_gives_504_ut(procs: Processes) -> None:
    """When every try times out, the answer is 504 with flag UT, after the retries."""
    policy = {
        "http": [
            {
                "retries": {"attempts": 2, "perTryTimeout": "100ms", "retryOn": "reset"},
                "timeout": "3s",
            }
        ]
    }
    mesh = build_mesh(procs, [Replica("catalog-0")], policy)
    mesh.behave(0, delay_ms=1000)
    started = time.monotonic()
    status, _, _ = request(mesh.client.outbound, "GET", "/", "catalog")
    elapsed = time.monotonic() - started
    assert status == 504
    assert 0.3 <= elapsed < 1.0
    metrics = mesh.client.metrics()
    assert (
        metric_sum(metrics, "istio_requests_total", response_code="504", response_flags="UT") == 1
    )
    assert metric_sum(metrics, "meshproof_retries_total") == 2


def test_route_timeout_gives_504_ut(procs: Processes) -> None:
    """A route timeout shorter than the app's answer gives 504 UT at the timeout."""
    policy = {"http": [{"timeout": "300ms"}]}
    mesh = build_mesh(procs, [Replica("catalog-0")], policy)
    started = time.monotonic()
    status, _, _ = request(mesh.client.outbound, "GET", "/delay/2000", "catalog")
    assert status == 504
    assert time.monotonic() - started < 1.0


def test_connect_failure_is_retried_then_uf(procs: Processes) -> None:
    """A dead endpoint's connect failure is retried on a live one; with only dead ones
    the answer is 503 UF."""
    dead = endpoint("catalog-9", fresh_port())
    policy = {
        "http": [
            {"retries": {"attempts": 2, "retryOn": "connect-failure", "backoffBaseInterval": "1ms"}}
        ]
    }
    mesh = build_mesh(procs, [Replica("catalog-0")], policy, extra_endpoints=[dead])
    outcomes = send_many(mesh.client.outbound, "catalog", "/", 20, concurrency=1)
    assert all(o.status == 200 for o in outcomes)
    assert metric_sum(mesh.client.metrics(), "meshproof_retries_total") >= 5
    mesh.servers[0].proc.stop()
    status, _, _ = request(mesh.client.outbound, "GET", "/", "catalog")
    assert status == 503
    assert (
        metric_sum(
            mesh.client.metrics(), "istio_requests_total", response_code="503", response_flags="UF"
        )
        == 1
    )


def test_connection_limit_queues_requests_as_pending(procs: Processes) -> None:
    """With one connection allowed, concurrent requests wait for it (pending) and all
    succeed over that single connection."""
    policy = {
        "trafficPolicy": {
            "connectionPool": {
                "tcp": {"maxConnections": 1},
                "http": {"http1MaxPendingRequests": 10},
            }
        },
        "http": [{"name": "default"}],
    }
    mesh = build_mesh(procs, [Replica("catalog-0")], policy)
    port = mesh.client.outbound
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        statuses = list(
            pool.map(lambda _: request(port, "GET", "/delay/150", "catalog")[0], range(4))
        )
    assert statuses == [200] * 4
    assert time.monotonic() - started >= 0.55  # served one after another
    endpoint_stats = mesh.client.stats()["upstreams"]["catalog"]["endpoints"]["catalog-0"]
    assert endpoint_stats["open_connections"] == 1


def test_max_requests_per_connection_rotates_connections(procs: Processes) -> None:
    """With maxRequestsPerConnection 2 each upstream connection is closed after its second
    request, so after ten requests in a row none is left open."""
    policy = {
        "trafficPolicy": {"connectionPool": {"http": {"maxRequestsPerConnection": 2}}},
        "http": [{"name": "default"}],
    }
    mesh = build_mesh(procs, [Replica("catalog-0")], policy)
    outcomes = send_many(mesh.client.outbound, "catalog", "/", 10, concurrency=1)
    assert all(o.status == 200 for o in outcomes)
    endpoint_stats = mesh.client.stats()["upstreams"]["catalog"]["endpoints"]["catalog-0"]
    assert endpoint_stats["open_connections"] == 0
