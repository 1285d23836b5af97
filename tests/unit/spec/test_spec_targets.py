"""Each fault kind's target rule against the shop topology. Pure."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter

from harness.spec.faults import FaultSpec
from mesh_runtime.topology import load_topology
from tests.fixtures.make_run import SHOP

FAULT: TypeAdapter[FaultSpec] = TypeAdapter(FaultSpec)
TOPOLOGY = load_topology(SHOP)
PARAMS: dict[str, Any] = {
    "toxic": {"type": "timeout"},
    "mesh_fault": {"abort": {"httpStatus": 503}},
    "policy": {"http": [{"name": "default", "retries": {"attempts": 0}}]},
    "traffic_split": {"v1": 100},
    "service_behaviour": {"error_rate": 1.0},
}

# (kind, target, None when the target fits, else the start of the problem)
CASES = [
    ("toxic", "frontend->catalog", None),
    ("toxic", "frontend->catalog-0", None),
    ("toxic", "gateway->frontend", "edge gateway->frontend does not go through Toxiproxy"),
    ("toxic", "frontend->catalog-9", "no instance 'catalog-9'"),
    ("proxy_down", "cart->inventory", None),
    ("mesh_fault", "catalog", None),
    ("mesh_fault", "control-plane", None),
    ("policy", "catalog-0", None),
    ("policy", "nowhere", "no service or instance 'nowhere'"),
    ("traffic_split", "catalog", None),
    ("traffic_split", "catalog-0", "no service 'catalog-0'"),
    ("traffic_split", "control-plane", "no service 'control-plane'"),
    ("service_behaviour", "catalog-0", None),
    ("process_kill", "sidecar:catalog-0", None),
    ("process_pause", "service:catalog-9", "no service or instance 'catalog-9'"),
    ("process_restart", "control-plane", None),
    ("rolling_restart", "sidecars", None),
    ("rolling_restart", "catalog", None),
    ("rolling_restart", "nowhere", "no service or instance 'nowhere'"),
    ("control_plane_outage", "control-plane", None),
    ("container_kill", "container:prometheus", None),
    ("container_pause", "toxiproxy", None),
    ("network_disconnect", "sidecar:catalog-0", None),
    ("container_restart", "sidecar:catalog-7", "no service or instance 'catalog-7'"),
]


@pytest.mark.parametrize(("kind", "target", "problem"), CASES)
def test_each_kind_checks_its_target(kind: str, target: str, problem: str | None) -> None:
    """The model's target rule accepts the parts its kind can fault and names what is not."""
    fault = FAULT.validate_python(
        {
            "name": "f",
            "kind": kind,
            "target": target,
            **({"params": PARAMS[kind]} if kind in PARAMS else {}),
        }
    )
    found = fault.topology_problem(TOPOLOGY, [fault])
    if problem is None:
        assert found is None
    else:
        assert found is not None and found[0] == "target" and found[1].startswith(problem)


def test_a_route_added_by_a_policy_fault_is_known() -> None:
    """A mesh fault may name a route that a policy fault of the experiment gives the service."""
    policy = FAULT.validate_python(
        {"name": "p", "kind": "policy", "target": "catalog", "params": {"http": [{"name": "slow"}]}}
    )
    mesh = FAULT.validate_python(
        {
            "name": "m",
            "kind": "mesh_fault",
            "target": "catalog",
            "route": "slow",
            "params": PARAMS["mesh_fault"],
        }
    )
    assert mesh.topology_problem(TOPOLOGY, [mesh]) == (
        "route",
        "catalog has no route 'slow' (routes: default)",
    )
    assert mesh.topology_problem(TOPOLOGY, [policy, mesh]) is None
