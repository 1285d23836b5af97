"""The deployment plan: ports, command lines, start order, proxies, initial mesh config."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from mesh_runtime.runtimes.deployment import KubernetesSource
from mesh_runtime.runtimes.plan import (
    Plan,
    ProcessSpec,
    Tools,
    make_plan,
    ready_url,
    service_levels,
)
from mesh_runtime.topology import MetricsSpec, Topology, load_topology
from mesh_runtime.units import parse_duration

SHOP = Path(__file__).resolve().parents[3] / "experiments" / "topologies" / "shop.yaml"
TOOLS = Tools(python="/py", toxiproxy="/bin/toxiproxy-server", prometheus="/bin/prometheus")


@pytest.fixture
def shop() -> Topology:
    return load_topology(SHOP)


def plan_of(
    topology: Topology, mode: str = "mesh", otlp: str | None = None, **options: Any
) -> Plan:
    """The plan on ports 20000 and up; `options`: make_plan's other keywords."""
    counter = itertools.count(20000)
    return make_plan(
        topology,
        topology_file=str(SHOP),
        mode=mode,  # type: ignore[arg-type]
        allocate_port=lambda: next(counter),
        work_dir=Path("/w/shop"),
        tools=TOOLS,
        otlp_endpoint=otlp,
        **options,
    )


def arg(spec: ProcessSpec, flag: str) -> str:
    return spec.command[spec.command.index(flag) + 1]


def args(spec: ProcessSpec, flag: str) -> list[str]:
    return [spec.command[i + 1] for i, part in enumerate(spec.command) if part == flag]


def test_service_levels_go_from_leaves_to_ingress(shop: Topology) -> None:
    """Services are grouped by height: catalog and inventory first, gateway last."""
    assert service_levels(shop) == [["catalog", "inventory"], ["cart"], ["frontend"], ["gateway"]]


def test_start_order_is_what_needs_nothing_then_the_sidecars(shop: Topology) -> None:
    """Two stages: trace sink, Toxiproxy, Prometheus (its first scrape >= 5 s after it
    starts overlaps the rest), the control plane and every service instance, leaves first;
    then every sidecar (they take their config from the control plane as they start)."""
    first, sidecars = [[spec.name for spec in stage] for stage in plan_of(shop).stages]
    apps = ["catalog-0", "catalog-1", "inventory-0", "cart-0", "frontend-0", "gateway-0"]
    assert first == ["trace-sink", "toxiproxy", "prometheus", "control-plane", *apps]
    assert sidecars == [f"{app}-sidecar" for app in apps]


def test_without_a_mesh_one_stage(shop: Topology) -> None:
    """No control plane and no sidecars: everything starts at once."""
    (stage,) = plan_of(shop, mode="no-mesh").stages
    assert [spec.role for spec in stage][:3] == ["trace-sink", "toxiproxy", "prometheus"]
    assert {spec.role for spec in stage[3:]} == {"service"}


def test_every_port_is_distinct(shop: Topology) -> None:
    """No two listeners (processes or proxies) share a port."""
    plan = plan_of(shop)
    ports = [p for spec in plan.processes for p in spec.ports.values()]
    ports += [int(proxy.listen.rsplit(":", 1)[1]) for proxy in plan.proxies]
    assert len(ports) == len(set(ports))


def test_sidecar_command_line_follows_the_contract(shop: Topology) -> None:
    """A sidecar gets its service, instance, version, four ports, control plane and OTLP URL."""
    plan = plan_of(shop)
    sidecar = next(s for s in plan.processes if s.name == "catalog-1-sidecar")
    record = next(r for r in plan.instances if r.instance == "catalog-1")
    assert sidecar.command[:3] == ("/py", "-m", "mesh_runtime.sidecar")
    assert arg(sidecar, "--service") == "catalog"
    assert arg(sidecar, "--instance") == "catalog-1"
    assert arg(sidecar, "--version") == "v1"
    assert int(arg(sidecar, "--inbound-port")) == record.inbound_port
    assert int(arg(sidecar, "--outbound-port")) == record.outbound_port
    assert int(arg(sidecar, "--admin-port")) == record.admin_port
    assert int(arg(sidecar, "--app-port")) == record.app_port
    assert arg(sidecar, "--control-plane") == plan.control_url
    assert arg(sidecar, "--otlp-endpoint") == plan.otlp_endpoint
    assert sidecar.ready_url == f"http://127.0.0.1:{record.admin_port}/ready"


def test_metrics_dialect_reaches_every_sidecar_and_istio_changes_nothing(shop: Topology) -> None:
    """Topology `metrics.dialect`: every sidecar gets `--metrics-dialect`; the default
    (istio) leaves the command lines as they were, without the flag."""
    assert all("--metrics-dialect" not in s.command for s in plan_of(shop).processes)
    linkerd = shop.model_copy(update={"metrics": MetricsSpec(dialect="linkerd")})
    sidecars = [s for s in plan_of(linkerd).processes if s.role == "sidecar"]
    assert sidecars and all(arg(s, "--metrics-dialect") == "linkerd" for s in sidecars)


def test_mesh_mode_services_call_through_their_sidecar(shop: Topology) -> None:
    """In mesh mode a service's calls go to its own sidecar's outbound listener."""
    plan = plan_of(shop)
    frontend = next(s for s in plan.processes if s.name == "frontend-0")
    record = next(r for r in plan.instances if r.instance == "frontend-0")
    assert arg(frontend, "--calls") == "catalog,cart"
    assert arg(frontend, "--via") == f"127.0.0.1:{record.outbound_port}"
    assert "--direct" not in frontend.command


def test_proxies_one_per_source_and_destination_instance(shop: Topology) -> None:
    """Each proxied edge gets a proxy per destination instance, upstream its sidecar inbound."""
    plan = plan_of(shop)
    inbound = {r.instance: f"127.0.0.1:{r.inbound_port}" for r in plan.instances}
    assert {(p.name, p.edge, p.upstream) for p in plan.proxies} == {
        ("frontend--catalog-0", "frontend->catalog", inbound["catalog-0"]),
        ("frontend--catalog-1", "frontend->catalog", inbound["catalog-1"]),
        ("cart--inventory-0", "cart->inventory", inbound["inventory-0"]),
    }


def test_mesh_config_routes_proxied_edges_via_toxiproxy(shop: Topology) -> None:
    """The initial MeshConfig sends frontend's catalog traffic through the proxies only."""
    plan = plan_of(shop)
    listen = {p.name: p.listen for p in plan.proxies}
    catalog = plan.mesh_config.services["catalog"]
    endpoint = next(e for e in catalog.endpoints if e.instance == "catalog-1")
    assert endpoint.address_for("frontend") == listen["frontend--catalog-1"]
    assert endpoint.address_for("gateway") == endpoint.address
    frontend = plan.mesh_config.services["frontend"].endpoints[0]
    assert frontend.via == {}


def test_no_mesh_mode_has_no_sidecars_and_calls_proxies_directly(shop: Topology) -> None:
    """Without the mesh, services call instance ports themselves, via Toxiproxy on its edges."""
    plan = plan_of(shop, "no-mesh")
    roles = {spec.role for spec in plan.processes}
    assert "sidecar" not in roles and "control-plane" not in roles
    assert plan.control_url is None
    frontend = next(s for s in plan.processes if s.name == "frontend-0")
    listen = {p.name: p.listen for p in plan.proxies}
    app = {r.instance: r.app_port for r in plan.instances}
    assert args(frontend, "--direct") == [
        f"catalog={listen['frontend--catalog-0']},{listen['frontend--catalog-1']}",
        f"cart=127.0.0.1:{app['cart-0']}",
    ]
    assert {p.upstream for p in plan.proxies if p.edge == "frontend->catalog"} == {
        f"127.0.0.1:{app['catalog-0']}",
        f"127.0.0.1:{app['catalog-1']}",
    }


def test_ingress_is_the_gateway_sidecar_or_gateway_app(shop: Topology) -> None:
    """The ingress URL is the gateway sidecar's inbound in mesh mode, its app port without."""
    mesh = plan_of(shop)
    gateway = next(r for r in mesh.instances if r.service == "gateway")
    assert mesh.ingress_url == f"http://127.0.0.1:{gateway.inbound_port}"
    bare = plan_of(shop, "no-mesh")
    gateway = next(r for r in bare.instances if r.service == "gateway")
    assert bare.ingress_url == f"http://127.0.0.1:{gateway.app_port}"


def test_external_otlp_endpoint_replaces_the_trace_sink(shop: Topology) -> None:
    """Given an OTLP endpoint, no trace sink runs and every part exports there."""
    plan = plan_of(shop, otlp="http://127.0.0.1:4318/v1/traces")
    assert all(spec.role != "trace-sink" for spec in plan.processes)
    assert plan.trace_file is None
    sidecar = next(s for s in plan.processes if s.role == "sidecar")
    assert arg(sidecar, "--otlp-endpoint") == "http://127.0.0.1:4318/v1/traces"


def test_tool_command_lines(shop: Topology) -> None:
    """Toxiproxy and Prometheus get loopback listen addresses and the work dir's files."""
    plan = plan_of(shop)
    toxiproxy = next(s for s in plan.processes if s.role == "toxiproxy")
    assert toxiproxy.command == (
        "/bin/toxiproxy-server",
        "-host",
        "127.0.0.1",
        "-port",
        str(toxiproxy.ports["port"]),
    )
    prometheus = next(s for s in plan.processes if s.role == "prometheus")
    port = prometheus.ports["port"]
    assert f"--web.listen-address=127.0.0.1:{port}" in prometheus.command
    assert "--config.file=/w/shop/prometheus.yml" in prometheus.command
    assert "--web.enable-lifecycle" in prometheus.command
    assert plan.prometheus_url == f"http://127.0.0.1:{port}"


def test_ready_urls_per_role() -> None:
    """Each role is polled on its own readiness path."""
    assert ready_url("service", {"port": 1}) == "http://127.0.0.1:1/_health"
    assert ready_url("toxiproxy", {"port": 2}) == "http://127.0.0.1:2/version"
    assert ready_url("prometheus", {"port": 3}) == "http://127.0.0.1:3/-/ready"
    assert ready_url("sidecar", {"admin": 4, "inbound": 5}) == "http://127.0.0.1:4/ready"


def test_a_kubernetes_source_goes_to_the_control_plane_only(shop: Topology) -> None:
    """--config-source kubernetes: the control plane gets --kubeconfig / --namespace /
    --kube-context, and the plan (so the deployment) records the source."""
    source = KubernetesSource(kubeconfig="/k/config", context="admin", namespace="ns1")
    plan = plan_of(shop, config_source=source)
    control = next(p for p in plan.processes if p.role == "control-plane")
    assert (arg(control, "--kubeconfig"), arg(control, "--namespace")) == ("/k/config", "ns1")
    assert arg(control, "--kube-context") == "admin"
    assert plan.config_source == source
    assert not any("--kubeconfig" in p.command for p in plan.processes if p.role != "control-plane")
    plain = next(p for p in plan_of(shop).processes if p.role == "control-plane")
    assert "--kubeconfig" not in plain.command


def test_a_certificate_lifetime_goes_to_the_control_plane_only(shop: Topology) -> None:
    """cert_lifetime_s: the control plane gets --cert-lifetime (as a duration its parser
    takes); without it the command line has none (the control plane's 1 h default)."""
    plan = plan_of(shop, cert_lifetime_s=240.0)
    control = next(p for p in plan.processes if p.role == "control-plane")
    assert parse_duration(arg(control, "--cert-lifetime")) == 240.0
    assert not any("--cert-lifetime" in p.command for p in plan.processes if p is not control)
    plain = next(p for p in plan_of(shop).processes if p.role == "control-plane")
    assert "--cert-lifetime" not in plain.command
