"""L4 proxying's decisions: endpoint per connection, maxConnections, no healthy upstream."""

from __future__ import annotations

import random

from mesh_runtime.config import MeshConfig
from mesh_runtime.sidecar.policy.retry import AttemptResult
from mesh_runtime.sidecar.state import ServiceRuntime, StateHolder
from mesh_runtime.sidecar.tcp_policy import TcpUpstream, choose_upstream


def kv(
    policy: dict[str, object] | None = None, via: dict[str, str] | None = None
) -> ServiceRuntime:
    config = MeshConfig.model_validate(
        {
            "version": 1,
            "services": {
                "kv": {
                    "name": "kv",
                    "protocol": "tcp",
                    "endpoints": [
                        {"instance": "kv-0", "version": "v1", "address": "127.0.0.1:1001"},
                        {
                            "instance": "kv-1",
                            "version": "v2",
                            "address": "127.0.0.1:1002",
                            "via": via or {},
                        },
                    ],
                    "policy": policy or {},
                }
            },
        }
    )
    return StateHolder("cart", random.Random(3)).apply(config).services["kv"]


def test_connections_rotate_round_robin_with_each_endpoint_version() -> None:
    """Each new connection goes to the next endpoint; the choice carries its version."""
    svc = kv()
    picks = [choose_upstream(svc, "cart", 0, 0.0) for _ in range(3)]
    assert picks == [
        TcpUpstream("kv-0", "v1", "127.0.0.1:1001"),
        TcpUpstream("kv-1", "v2", "127.0.0.1:1002"),
        TcpUpstream("kv-0", "v1", "127.0.0.1:1001"),
    ]


def test_a_proxied_edge_connects_through_its_toxiproxy_listener() -> None:
    """The endpoint's `via` entry for this source replaces its address; others keep it."""
    svc = kv(via={"cart": "127.0.0.1:2002"})
    addresses = {choose_upstream(svc, "cart", 0, 0.0).address for _ in range(2)}  # type: ignore[union-attr]
    assert addresses == {"127.0.0.1:1001", "127.0.0.1:2002"}
    assert choose_upstream(svc, "web", 0, 0.0) != TcpUpstream("kv-1", "v2", "127.0.0.1:2002")


def test_max_connections_refuses_with_flag_uo() -> None:
    """At connectionPool.tcp.maxConnections open connections a new one is refused (UO)."""
    svc = kv({"trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 2}}}})
    assert isinstance(choose_upstream(svc, "cart", 1, 0.0), TcpUpstream)
    assert choose_upstream(svc, "cart", 2, 0.0) == "UO"


def test_no_endpoint_is_no_healthy_upstream() -> None:
    """A service without endpoints refuses the connection with flag UH."""
    svc = kv()
    svc.by_subset[None] = []
    assert choose_upstream(svc, "cart", 0, 0.0) == "UH"


def test_least_request_balances_open_connections() -> None:
    """LEAST_REQUEST picks the endpoint with fewer open connections."""
    svc = kv({"trafficPolicy": {"loadBalancer": {"simple": "LEAST_REQUEST"}}})
    svc.active.update({"kv-0": 5, "kv-1": 0})
    picks = {choose_upstream(svc, "cart", 0, 0.0).instance for _ in range(10)}  # type: ignore[union-attr]
    assert picks == {"kv-1"}


def test_an_endpoint_ejected_for_connect_failures_gets_no_connection() -> None:
    """consecutiveGatewayErrors counts connect failures; the ejected endpoint is skipped."""
    svc = kv(
        {
            "trafficPolicy": {
                "outlierDetection": {
                    "consecutive5xxErrors": 0,
                    "consecutiveGatewayErrors": 2,
                    "maxEjectionPercent": 50,
                }
            }
        }
    )
    assert svc.outlier is not None
    failed = AttemptResult(None, "connect-failure")
    svc.outlier.record("kv-1", failed, 1.0)
    assert svc.outlier.record("kv-1", failed, 1.0)
    picks = {choose_upstream(svc, "cart", 0, 2.0).instance for _ in range(4)}  # type: ignore[union-attr]
    assert picks == {"kv-0"}
