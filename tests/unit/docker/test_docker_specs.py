"""The plan as containers: namespaces, address translation, binds, published ports."""

from __future__ import annotations

from mesh_runtime.runtimes.docker.naming import (
    container_name,
    deployment_id,
    labels,
    network_name,
    run_tag,
)
from mesh_runtime.runtimes.docker.specs import (
    bind_all,
    container_plan,
    port_of,
    translate,
)
from tests.unit.docker.dockerkit import REPO_ROOT, shop_containers, shop_plan

SHOP_GRPC = REPO_ROOT / "experiments" / "topologies" / "shop-grpc.yaml"


def _arg(command: tuple[str, ...], flag: str) -> str:
    return command[command.index(flag) + 1]


def test_every_process_but_prometheus_is_a_container_and_each_instance_has_a_pod() -> None:
    """Containers: trace sink, Toxiproxy, control plane, and a pod + app + sidecar per instance."""
    cplan = shop_containers()
    names = [spec.name for spec in cplan.containers]
    assert "prometheus" not in names
    assert cplan.prometheus.role == "prometheus"
    for record in cplan.plan.instances:
        assert {record.instance, f"{record.instance}-sidecar", f"{record.instance}-pod"} <= set(
            names
        )
        assert names.index(f"{record.instance}-pod") < names.index(record.instance)


def test_app_and_sidecar_join_their_pod_and_only_the_pod_is_on_the_network() -> None:
    """An app and its sidecar share the pod's namespace; the pod has the instance's alias."""
    cplan = shop_containers()
    app, sidecar, pod = (
        cplan.container(n) for n in ("catalog-1", "catalog-1-sidecar", "catalog-1-pod")
    )
    assert app.pod == sidecar.pod == "catalog-1-pod"
    assert app.alias is None and sidecar.alias is None
    assert pod.alias == "catalog-1" and pod.pod is None


def test_addresses_in_another_namespace_name_its_owner_and_own_namespace_stays_loopback() -> None:
    """Control plane and trace sink by name; the app's sidecar outbound stays on 127.0.0.1."""
    cplan = shop_containers()
    frontend = cplan.container("frontend-0")
    sidecar = cplan.container("frontend-0-sidecar")
    control_port = port_of(cplan.plan.control_url or "")
    assert _arg(sidecar.command, "--control-plane") == f"http://control-plane:{control_port}"
    assert _arg(sidecar.command, "--otlp-endpoint").startswith("http://trace-sink:")
    assert _arg(frontend.command, "--via").startswith("127.0.0.1:")


def test_mesh_config_and_proxies_use_names_on_the_mesh_network() -> None:
    """Endpoints are '<instance>:<inbound>', proxied ones go via 'toxiproxy:<port>'."""
    cplan = shop_containers()
    inbound = {r.instance: r.inbound_port for r in cplan.plan.instances}
    catalog = cplan.mesh_config.services["catalog"]
    for endpoint in catalog.endpoints:
        assert endpoint.address == f"{endpoint.instance}:{inbound[endpoint.instance]}"
        assert endpoint.via["frontend"].startswith("toxiproxy:")
    for proxy in cplan.proxies:
        assert proxy.listen.startswith("0.0.0.0:")
        assert proxy.upstream == f"{proxy.instance}:{inbound[proxy.instance]}"


def test_no_mesh_apps_call_each_other_by_name_through_toxiproxy_where_proxied() -> None:
    """Without sidecars, --direct targets name the instance or Toxiproxy."""
    cplan = shop_containers("no-mesh")
    direct = _arg(cplan.container("frontend-0").command, "--direct")
    assert direct.startswith("catalog=toxiproxy:")
    assert not any(spec.role == "sidecar" for spec in cplan.containers)


def test_published_ports_are_only_what_the_harness_needs() -> None:
    """Ingress inbound, apps, admin APIs, control plane, Toxiproxy API and sink; no outbound."""
    cplan = shop_containers()
    published = {p for spec in cplan.containers for p in spec.publish}
    records = {r.instance: r for r in cplan.plan.instances}
    assert port_of(cplan.plan.ingress_url) in published
    assert records["catalog-0"].inbound_port not in published
    for record in records.values():
        assert record.app_port in published and record.admin_port in published
        assert record.outbound_port not in published
    assert all(port_of(p.listen) not in published for p in cplan.proxies)
    assert port_of(cplan.plan.toxiproxy_url) in published


def test_grpc_routes_enter_at_the_ingress_sidecars_published_gateway_listener() -> None:
    """With gRPC services the ingress's sidecar gets a gateway listener (bound on 0.0.0.0
    in its pod, published) where the load's gRPC routes call; outbound listeners stay
    pod-local; in no-mesh mode the routes call the service's first app."""
    cplan = container_plan(shop_plan("mesh", topology=SHOP_GRPC))
    plan = cplan.plan
    published = {p for spec in cplan.containers for p in spec.publish}
    gateways = {r.instance: r.gateway_port for r in plan.instances if r.gateway_port}
    assert list(gateways) == ["gateway-0"]
    assert set(plan.grpc_ingress.values()) == {f"127.0.0.1:{gateways['gateway-0']}"}
    assert gateways["gateway-0"] in published
    assert not {r.outbound_port for r in plan.instances} & published
    sidecar = next(s for s in cplan.containers if s.name.endswith("gateway-0-sidecar"))
    assert _arg(sidecar.command, "--gateway-port") == str(gateways["gateway-0"])
    assert _arg(sidecar.command, "--host") == "0.0.0.0"
    bare = shop_plan("no-mesh", topology=SHOP_GRPC)
    assert all(r.gateway_port is None for r in bare.instances)
    assert {port_of(a) for a in bare.grpc_ingress.values()} <= {r.app_port for r in bare.instances}
    assert all(r.gateway_port is None for r in shop_plan("mesh").instances)  # no gRPC


def test_listeners_bind_every_address_inside_their_namespace() -> None:
    """Each mesh command listens on 0.0.0.0, set once (Toxiproxy's -host replaced)."""
    cplan = shop_containers()
    for spec in cplan.containers:
        if spec.role == "pod":
            continue
        flag = "-host" if spec.role == "toxiproxy" else "--host"
        assert spec.command.count(flag) == 1
        assert _arg(spec.command, flag) == "0.0.0.0"


def test_translate_leaves_unknown_ports_and_other_hosts_alone() -> None:
    """Only 127.0.0.1 addresses of known ports are rewritten."""
    owners = {1000: "catalog-0"}
    text = "127.0.0.1:1000 127.0.0.1:2000 10.0.0.1:1000"
    assert translate(text, owners, None) == "catalog-0:1000 127.0.0.1:2000 10.0.0.1:1000"
    assert translate(text, owners, "catalog-0") == text


def test_bind_all_sets_or_replaces_the_flag() -> None:
    """--host is appended when missing and replaced when present; other roles untouched."""
    assert bind_all(("a",), "service") == ("a", "--host", "0.0.0.0")
    assert bind_all(("t", "-host", "127.0.0.1", "-port", "1"), "toxiproxy") == (
        "t",
        "-host",
        "0.0.0.0",
        "-port",
        "1",
    )
    assert bind_all(("p",), "prometheus") == ("p",)


def test_names_carry_the_deployment_id_which_depends_on_the_work_dir() -> None:
    """Two work dirs of one topology get two ids; names and labels carry the id."""
    first, second = deployment_id("shop", "/a/work/shop"), deployment_id("shop", "/b/work/shop")
    assert first != second and first.startswith("shop-")
    assert deployment_id("shop", "/a/work/shop") == first
    assert container_name(first, "catalog-0") == f"meshproof-{first}-catalog-0"
    assert network_name(first) == f"meshproof-{first}"
    assert run_tag(first, "mesh") == f"meshproof/run:{first}-mesh"
    assert labels(first, "catalog-0", "service")["meshproof.deployment"] == first


def test_plan_work_dir_paths_reach_the_commands_unchanged() -> None:
    """The work dir is mounted at the same path, so file arguments are the plan's own."""
    plan = shop_plan()
    cplan = shop_containers()
    sink = cplan.container("trace-sink")
    assert _arg(sink.command, "--out") == str(plan.files.spans)
