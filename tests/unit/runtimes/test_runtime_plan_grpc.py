"""The plan of a topology with `protocol: grpc` services: how they and their callers run."""

from __future__ import annotations

from pathlib import Path

from mesh_runtime.topology import load_topology
from tests.unit.runtimes.test_runtime_plan import args as values
from tests.unit.runtimes.test_runtime_plan import plan_of
from tests.unit.runtimes.test_runtime_plan_tcp import process

SHOP_GRPC = Path(__file__).resolve().parents[3] / "experiments" / "topologies" / "shop-grpc.yaml"


def test_grpc_services_serve_grpc_and_callers_know_their_grpc_callees() -> None:
    """catalog runs the sample service with --protocol grpc; frontend calls catalog over
    gRPC and cart over HTTP, cart calls inventory over gRPC; kv stays the TCP store."""
    plan = plan_of(load_topology(SHOP_GRPC))
    catalog, frontend = process(plan, "catalog-1"), process(plan, "frontend-0")
    inventory, cart = process(plan, "inventory-0"), process(plan, "cart-0")
    assert catalog.command[:3] == ("/py", "-m", "mesh_runtime.services")
    assert values(catalog, "--protocol") == ["grpc"]
    assert "--grpc" not in catalog.command and values(inventory, "--protocol") == ["grpc"]
    assert values(cart, "--grpc") == ["inventory"] and values(inventory, "--calls") == ["kv"]
    assert values(frontend, "--grpc") == ["catalog"]
    assert "--protocol" not in frontend.command
    assert process(plan, "kv-0").command[:3] == ("/py", "-m", "mesh_runtime.services.kv")
