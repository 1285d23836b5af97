"""The plan of a topology with a `protocol: tcp` service: its process, the L4 listeners."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesh_runtime.runtimes.docker.naming import pod_name
from mesh_runtime.runtimes.docker.specs import container_plan
from mesh_runtime.runtimes.plan import Plan, ProcessSpec
from mesh_runtime.topology import Topology, load_topology
from tests.unit.runtimes.test_runtime_plan import args as values
from tests.unit.runtimes.test_runtime_plan import plan_of

SHOP_TCP = Path(__file__).resolve().parents[3] / "experiments" / "topologies" / "shop-tcp.yaml"


@pytest.fixture
def shop_tcp() -> Topology:
    return load_topology(SHOP_TCP)


def process(plan: Plan, name: str) -> ProcessSpec:
    return next(p for p in plan.processes if p.name == name)


def test_tcp_service_runs_the_key_value_store(shop_tcp: Topology) -> None:
    """A tcp service's instances run mesh_runtime.services.kv on their app port."""
    plan = plan_of(shop_tcp)
    kv = process(plan, "kv-1")
    record = next(r for r in plan.instances if r.instance == "kv-1")
    assert kv.command[:3] == ("/py", "-m", "mesh_runtime.services.kv")
    assert values(kv, "--port") == [str(record.app_port)]
    assert "--calls" not in kv.command


def test_callers_and_the_ingress_get_an_l4_listener_per_tcp_service(shop_tcp: Topology) -> None:
    """cart's sidecar listens for kv and cart is told so; so does the gateway's, whose
    listener is also the plan's tcp_ingress (the load's TCP routes)."""
    plan = plan_of(shop_tcp)
    records = {r.instance: r for r in plan.instances}
    cart, gateway = records["cart-0"], records["gateway-0"]
    assert set(cart.tcp_ports) == {"kv"} and set(gateway.tcp_ports) == {"kv"}
    assert values(process(plan, "cart-0-sidecar"), "--tcp-outbound") == [
        f"kv={cart.tcp_ports['kv']}"
    ]
    assert values(process(plan, "cart-0"), "--tcp") == [f"kv=127.0.0.1:{cart.tcp_ports['kv']}"]
    assert values(process(plan, "gateway-0"), "--tcp") == [
        f"kv=127.0.0.1:{gateway.tcp_ports['kv']}"
    ]
    assert plan.tcp_ingress == {"kv": f"127.0.0.1:{gateway.tcp_ports['kv']}"}
    assert records["kv-0"].tcp_ports == {}
    ports = [p for r in plan.instances for p in r.tcp_ports.values()]
    ports += [p for spec in plan.processes for p in spec.ports.values()]
    assert len(ports) == len(set(ports))


def test_no_mesh_callers_reach_tcp_instances_through_their_proxies(shop_tcp: Topology) -> None:
    """Without sidecars cart connects to each kv instance (through Toxiproxy on its edge)
    and the load's TCP routes go to kv's first instance."""
    plan = plan_of(shop_tcp, "no-mesh")
    listens = [p.listen for p in plan.proxies if p.edge == "cart->kv"]
    assert values(process(plan, "cart-0"), "--tcp") == [f"kv={','.join(listens)}"]
    assert values(process(plan, "cart-0"), "--direct") == []
    first = next(r for r in plan.instances if r.service == "kv")
    assert plan.tcp_ingress == {"kv": f"127.0.0.1:{first.app_port}"}


def test_traced_call_graph_leaves_tcp_callees_out(shop_tcp: Topology) -> None:
    """Trace completeness expects no span of a raw TCP call."""
    assert shop_tcp.traced_call_graph() == {"gateway": ["cart"], "cart": []}
    assert shop_tcp.call_graph()["gateway"] == ["cart", "kv"]
    assert shop_tcp.call_graph()["cart"] == ["kv"]


def test_docker_publishes_the_tcp_ingress_on_the_gateway_pod_only(shop_tcp: Topology) -> None:
    """In containers the load's TCP way in is published on the gateway's pod; cart's
    listener for kv stays inside its pod (its app reaches it on loopback)."""
    cplan = container_plan(plan_of(shop_tcp))
    records = {r.instance: r for r in cplan.plan.instances}
    pods = {spec.name: spec for spec in cplan.containers if spec.role == "pod"}
    assert records["gateway-0"].tcp_ports["kv"] in pods[pod_name("gateway-0")].publish
    assert records["cart-0"].tcp_ports["kv"] not in pods[pod_name("cart-0")].publish
    cart = cplan.container("cart-0")
    assert f"kv=127.0.0.1:{records['cart-0'].tcp_ports['kv']}" in cart.command
