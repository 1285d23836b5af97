"""The wake-ups a request meets follow its route: a gRPC or TCP route enters at the
service it calls through the ingress's sidecar, not at the ingress's app."""

from __future__ import annotations

from pathlib import Path

from harness.engine.analyse import wakeups_of
from harness.judge.disturbance import wakeups_per_request
from harness.spec.load import RouteSpec
from mesh_runtime.topology import load_topology

TOPOLOGIES = Path(__file__).resolve().parents[3] / "experiments" / "topologies"
SHOP = {
    "gateway": ["frontend"],
    "frontend": ["catalog", "cart"],
    "catalog": [],
    "cart": ["inventory"],
    "inventory": [],
}
GRPC = RouteSpec.model_validate({"name": "c", "grpc": {"service": "catalog"}})
HTTP = RouteSpec.model_validate({"name": "shop", "path": "/shop"})
TCP = RouteSpec.model_validate({"name": "k", "tcp": {"service": "kv", "send": "PING\n"}})


def test_a_route_entering_at_a_service_meets_its_wakeups() -> None:
    """gateway's outbound pass (and its edge's proxy), catalog's sidecar and app, each
    woken twice, plus the driver's 2; without a mesh catalog's app alone."""
    assert wakeups_per_request(SHOP, "gateway", set(), "mesh", "catalog") == 2 * 3 + 2
    assert wakeups_per_request(SHOP, "gateway", {("gateway", "kv")}, "mesh", "kv") == 2 * 4 + 2
    assert wakeups_per_request(SHOP, "gateway", set(), "no-mesh", "catalog") == 2 * 1 + 2


def test_a_grpc_only_load_is_weighed_on_its_own_path() -> None:
    """shop-grpc called over gRPC only (catalog through the gateway's sidecar): 8 wake-ups,
    where the ingress's whole call graph (40) had been charged; an HTTP route beside it
    brings the most back."""
    topology = load_topology(TOPOLOGIES / "shop-grpc.yaml")
    assert wakeups_of(topology, "mesh", [GRPC]) == 8
    assert wakeups_of(topology, "mesh", [GRPC, HTTP]) == wakeups_of(topology, "mesh") == 40


def test_a_tcp_only_load_crosses_the_proxied_edge() -> None:
    """shop-tcp's raw TCP route to kv: the gateway's sidecar, the gateway->kv proxy, kv's
    sidecar and app (10 wake-ups), not the HTTP path through cart."""
    topology = load_topology(TOPOLOGIES / "shop-tcp.yaml")
    assert wakeups_of(topology, "mesh", [TCP]) == 2 * 4 + 2
