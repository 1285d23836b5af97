"""`meshproof k8s render`: the reference mesh as Kubernetes objects (pure builder + writer)."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli.main import main
from mesh_runtime.control.credentials import mint_credential
from mesh_runtime.errors import InvalidInput
from mesh_runtime.runtimes.docker.compose import WORK_DIR, render_plan
from mesh_runtime.runtimes.docker.images import stable_tag
from mesh_runtime.runtimes.kubernetes.manifests import manifests
from mesh_runtime.runtimes.kubernetes.prometheus import IMAGE as PROMETHEUS_IN_CLUSTER
from mesh_runtime.runtimes.kubernetes.prometheus import sd_label
from mesh_runtime.runtimes.workdir import DeploymentSecrets
from mesh_runtime.topology import MeshMode, load_topology

REPO_ROOT = Path(__file__).resolve().parents[3]
SHOP = REPO_ROOT / "experiments" / "topologies" / "shop.yaml"
KEYS = DeploymentSecrets("control-tok", "admin-tok", "bootstrap-secret-value")
ID = "shop-1a2b3c4d"


def shop_objects(mode: MeshMode = "mesh", namespace: str = "shop") -> list[dict[str, Any]]:
    cplan = render_plan(load_topology(SHOP), str(SHOP), mode)
    return manifests(cplan, KEYS, deployment=ID, namespace=namespace)


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def pod_spec(deployment: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return spec


def test_every_object_is_labelled_and_in_the_namespace() -> None:
    objects = shop_objects()
    for obj in objects:
        assert obj["metadata"]["labels"]["meshproof.deployment"] == ID, obj["metadata"]
        assert obj["metadata"]["namespace"] == "shop"
    for deployment in by_kind(objects, "Deployment").values():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert labels["meshproof.deployment"] == ID
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    names = [(o["kind"], o["metadata"]["name"]) for o in objects]
    assert len(names) == len(set(names))


def test_every_container_runs_a_local_image_never_pulled() -> None:
    images = set()
    for deployment in by_kind(shop_objects(), "Deployment").values():
        for container in pod_spec(deployment)["containers"]:
            assert container["imagePullPolicy"] == "Never"
            images.add(container["image"])
    assert images == {stable_tag("mesh"), stable_tag("toxiproxy"), PROMETHEUS_IN_CLUSTER}


def test_each_instance_is_a_deployment_of_one_pod_with_app_and_sidecar() -> None:
    objects = shop_objects()
    deployments = by_kind(objects, "Deployment")
    instances = ["gateway-0", "frontend-0", "catalog-0", "catalog-1", "cart-0", "inventory-0"]
    assert set(instances) | {"control-plane", "toxiproxy", "trace-sink", "prometheus"} == set(
        deployments
    )
    for name in instances:
        deployment = deployments[name]
        assert deployment["spec"]["replicas"] == 1
        spec = pod_spec(deployment)
        assert [c["name"] for c in spec["containers"]] == ["app", "sidecar"]
        assert spec["automountServiceAccountToken"] is False
        assert spec["securityContext"]["runAsNonRoot"] is True
        app, sidecar = spec["containers"]
        assert "mesh_runtime.services" in app["command"]
        assert "mesh_runtime.sidecar" in sidecar["command"]
        assert app["volumeMounts"] == []
        template = deployment["spec"]["template"]["metadata"]
        assert template["annotations"]["prometheus.io/scrape"] == "true"
        admin = next(p for p in sidecar["ports"] if p["name"] == "admin")
        assert template["annotations"]["prometheus.io/port"] == str(admin["containerPort"])


def test_a_sidecar_mounts_its_services_credential_and_the_admin_token_read_only() -> None:
    objects = shop_objects()
    secrets = by_kind(objects, "Secret")
    spec = pod_spec(by_kind(objects, "Deployment")["catalog-1"])
    sidecar = spec["containers"][1]
    mounts = {m["mountPath"]: m for m in sidecar["volumeMounts"]}
    assert set(mounts) == {
        str(WORK_DIR / "credentials" / "catalog-1"),
        str(WORK_DIR / "admin-token"),
    }
    assert all(m["readOnly"] for m in mounts.values())
    volumes = {v["name"]: v for v in spec["volumes"]}
    sources = {volumes[m["name"]]["secret"]["secretName"]: m["subPath"] for m in mounts.values()}
    assert sources == {"credential-catalog": "credential", "admin-token": "admin-token"}
    credential = secrets["credential-catalog"]["stringData"]["credential"]
    assert credential == mint_credential(KEYS.bootstrap_secret, "catalog")
    assert secrets["admin-token"]["stringData"] == {"admin-token": "admin-tok"}
    # the sidecar's command names exactly the files mounted
    command = " ".join(sidecar["command"])
    assert str(WORK_DIR / "credentials" / "catalog-1") in command


def test_the_control_plane_gets_its_files_and_writable_folders() -> None:
    objects = shop_objects()
    spec = pod_spec(by_kind(objects, "Deployment")["control-plane"])
    (container,) = spec["containers"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    for path in ("ca", "control-plane"):
        assert "emptyDir" in volumes[mounts[str(WORK_DIR / path)]["name"]]
    bootstrap = mounts[str(WORK_DIR / "ca" / "bootstrap-secret")]
    assert bootstrap["readOnly"] and bootstrap["subPath"] == "bootstrap-secret"
    assert by_kind(objects, "Secret")["control-plane"]["stringData"] == {
        "control-token": "control-tok",
        "bootstrap-secret": "bootstrap-secret-value",
    }
    config = by_kind(objects, "ConfigMap")["mesh-config"]["data"]["mesh-config.json"]
    assert json.loads(config)["services"]


def test_the_control_plane_keeps_its_state_in_a_configmap_it_alone_may_replace() -> None:
    """The state ConfigMap is created empty (the control plane fills it), the control
    plane's command names it instead of a state file in its emptyDir, and its
    ServiceAccount's Role reads and replaces that one ConfigMap and nothing else."""
    objects = shop_objects()
    state = by_kind(objects, "ConfigMap")["control-plane-state"]
    assert "data" not in state
    spec = pod_spec(by_kind(objects, "Deployment")["control-plane"])
    assert spec["serviceAccountName"] == "control-plane"
    assert spec["automountServiceAccountToken"] is True
    command = spec["containers"][0]["command"]
    assert "--state-file" not in command
    assert command[command.index("--state-configmap") + 1] == "shop/control-plane-state"
    (rule,) = by_kind(objects, "Role")["control-plane"]["rules"]
    assert rule == {
        "apiGroups": [""],
        "resources": ["configmaps"],
        "resourceNames": ["control-plane-state"],
        "verbs": ["get", "update", "patch"],
    }
    binding = by_kind(objects, "RoleBinding")["control-plane"]
    assert binding["roleRef"]["name"] == "control-plane"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "control-plane", "namespace": "shop"}
    ]
    kinds = [(o["kind"], o["metadata"]["name"]) for o in objects]
    assert kinds.index(("RoleBinding", "control-plane")) < kinds.index(
        ("Deployment", "control-plane")
    )
    no_mesh = shop_objects("no-mesh")
    assert "control-plane-state" not in by_kind(no_mesh, "ConfigMap")
    assert "control-plane" not in by_kind(no_mesh, "ServiceAccount")


def test_every_mount_names_a_volume_and_every_volume_an_object() -> None:
    objects = shop_objects()
    present = {(o["kind"], o["metadata"]["name"]) for o in objects}
    for deployment in by_kind(objects, "Deployment").values():
        spec = pod_spec(deployment)
        volumes = {v["name"]: v for v in spec["volumes"]}
        used = {m["name"] for c in spec["containers"] for m in c.get("volumeMounts", [])}
        assert used == set(volumes), deployment["metadata"]["name"]
        for volume in volumes.values():
            if "secret" in volume:
                assert ("Secret", volume["secret"]["secretName"]) in present
            if "configMap" in volume:
                assert ("ConfigMap", volume["configMap"]["name"]) in present


@pytest.mark.parametrize(
    "topology", ["shop.yaml", "shop-tcp.yaml", "shop-canary.yaml", "shop-grpc.yaml"]
)
def test_every_address_in_the_mesh_resolves_to_a_service_port(topology: str) -> None:
    """Every `name:port` the mesh config, Toxiproxy's proxies and the commands name is a
    Service of the deployment with that port, so they work unchanged in the cluster."""
    path = SHOP.parent / topology
    cplan = render_plan(load_topology(path), str(path), "mesh")
    objects = manifests(cplan, KEYS, deployment=ID, namespace="shop")
    services = by_kind(objects, "Service")
    served = {(n, p["port"]) for n, s in services.items() for p in s["spec"]["ports"]}
    texts = [json.dumps(o.get("data", {})) for o in by_kind(objects, "ConfigMap").values()]
    for deployment in by_kind(objects, "Deployment").values():
        texts += [" ".join(c.get("command", [])) for c in pod_spec(deployment)["containers"]]
    named = set()
    for text in texts:
        for host, port in re.findall(r"(?<![\w.])([a-z][a-z0-9-]*):(\d{4,5})\b", text):
            named.add((host, int(port)))
    assert named, "no address found"
    assert named <= served, named - served
    assert any(host == "toxiproxy" for host, _ in named) or not cplan.proxies


def test_a_tcp_services_listeners_are_the_sidecars_and_the_instances_service() -> None:
    tcp = REPO_ROOT / "experiments" / "topologies" / "shop-tcp.yaml"
    cplan = render_plan(load_topology(tcp), str(tcp), "mesh")
    objects = manifests(cplan, KEYS, deployment=ID, namespace="shop")
    records = [r for r in cplan.plan.instances if r.tcp_ports]
    assert records
    services = by_kind(objects, "Service")
    for record in records:
        served = {p["port"] for p in services[record.instance]["spec"]["ports"]}
        spec = pod_spec(by_kind(objects, "Deployment")[record.instance])
        sidecar = {p["containerPort"] for p in spec["containers"][1]["ports"]}
        assert set(record.tcp_ports.values()) <= served & sidecar


def test_the_ingress_sidecars_gateway_listener_is_a_named_port() -> None:
    """With gRPC services the ingress sidecar's gateway listener (the load's gRPC routes'
    entry) is a port of its container and of its instance's Service."""
    grpc = REPO_ROOT / "experiments" / "topologies" / "shop-grpc.yaml"
    cplan = render_plan(load_topology(grpc), str(grpc), "mesh")
    objects = manifests(cplan, KEYS, deployment=ID, namespace="shop")
    (record,) = [r for r in cplan.plan.instances if r.gateway_port is not None]
    served = {p["name"]: p["port"] for p in by_kind(objects, "Service")[record.instance]["spec"]["ports"]}  # fmt: skip
    sidecar = pod_spec(by_kind(objects, "Deployment")[record.instance])["containers"][1]
    assert served["gateway"] == record.gateway_port
    assert {"name": "gateway", "containerPort": record.gateway_port, "protocol": "TCP"} in sidecar[
        "ports"
    ]


def test_each_topology_service_has_a_service_on_port_80() -> None:
    services = by_kind(shop_objects(), "Service")
    for name in ("gateway", "frontend", "catalog", "cart", "inventory"):
        (port,) = services[name]["spec"]["ports"]
        assert (port["port"], port["targetPort"]) == (80, "inbound")
        assert services[name]["spec"]["selector"] == {"meshproof.deployment": ID, "app": name}


def test_no_mesh_has_no_sidecar_and_no_credential() -> None:
    objects = shop_objects("no-mesh")
    assert "control-plane" not in by_kind(objects, "Deployment")
    assert not [n for n in by_kind(objects, "Secret") if n.startswith("credential-")]
    spec = pod_spec(by_kind(objects, "Deployment")["catalog-0"])
    assert [c["name"] for c in spec["containers"]] == ["app"]
    (port,) = by_kind(objects, "Service")["catalog"]["spec"]["ports"]
    assert port["targetPort"] == "app"


def test_prometheus_discovers_pods_instead_of_a_static_list() -> None:
    objects = shop_objects()
    config = yaml.safe_load(by_kind(objects, "ConfigMap")["prometheus"]["data"]["prometheus.yml"])
    (job,) = config["scrape_configs"]
    assert "static_configs" not in job
    assert job["kubernetes_sd_configs"] == [{"role": "pod", "namespaces": {"names": ["shop"]}}]
    keep = [r for r in job["relabel_configs"] if r.get("action") == "keep"]
    assert {
        "source_labels": [sd_label("meshproof.deployment")],
        "regex": ID,
        "action": "keep",
    } in keep
    assert sd_label("meshproof.deployment") == "__meta_kubernetes_pod_label_meshproof_deployment"
    role = by_kind(objects, "Role")["prometheus"]
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}
    ]
    binding = by_kind(objects, "RoleBinding")["prometheus"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "prometheus", "namespace": "shop"}
    ]
    assert (
        pod_spec(by_kind(objects, "Deployment")["prometheus"])["serviceAccountName"] == "prometheus"
    )


def test_names_kubernetes_would_refuse_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not a Kubernetes namespace name"):
        shop_objects(namespace="Shop_1")
    topology = tmp_path / "t.yaml"
    topology.write_text("name: t\nservices:\n  toxiproxy: {ingress: true}\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="rename the service"):
        manifests(
            render_plan(load_topology(topology), str(topology), "mesh"),
            KEYS,
            deployment="t",
            namespace="default",
        )


def test_render_writes_one_file_per_object_secrets_owner_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["k8s", "render", str(SHOP), "-o", str(out), "--namespace", "shop"]) == 0
    files = sorted(out.iterdir())
    assert len(files) == len(shop_objects())
    assert files[0].name == "00-configmap-mesh-config.yaml"
    for path in files:
        obj = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert obj["metadata"]["labels"]["meshproof.deployment"] == "shop"
        mode = stat.S_IMODE(path.stat().st_mode)
        assert (mode == 0o600) == (obj["kind"] == "Secret"), path.name
    assert main(["k8s", "render", str(SHOP), "--namespace", "NO"]) == 2
    assert "not a Kubernetes namespace name" in capsys.readouterr().err


def test_render_into_a_folder_that_cannot_be_made_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`k8s render` and `compose render` (one writer) say which file they cannot write, exit 2."""
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    assert main(["k8s", "render", str(SHOP), "-o", str(blocker / "out")]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == f"meshproof: {blocker / 'out' / '00-configmap-mesh-config.yaml'}: cannot write: Not a directory\n"
    )
    assert main(["compose", "render", str(SHOP), "--out", str(blocker / "x.compose.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"meshproof: {blocker}/") and err.endswith(
        ": cannot write: Not a directory\n"
    )


def test_the_ca_root_is_in_the_control_plane_secret_mounted_read_only() -> None:
    """With a CA root, the control plane's pod reads it from its Secret (read-only, in the
    folder `--ca-dir` names), so a new pod signs with the same root; no other pod mounts it."""
    from mesh_runtime.control.ca import ROOT_CERT, ROOT_KEY, CertificateAuthority

    cplan = render_plan(load_topology(SHOP), str(SHOP), "mesh")
    root = CertificateAuthority.create().root_files()
    objects = manifests(cplan, KEYS, deployment=ID, namespace="shop", ca=root)
    secret = by_kind(objects, "Secret")["control-plane"]["stringData"]
    assert secret[f"ca-{ROOT_CERT}"] == root[ROOT_CERT]
    assert secret[f"ca-{ROOT_KEY}"] == root[ROOT_KEY]
    deployments = by_kind(objects, "Deployment")
    (container,) = pod_spec(deployments["control-plane"])["containers"]
    ca_dir = container["command"][container["command"].index("--ca-dir") + 1]
    mounted = {m["mountPath"]: m for m in container["volumeMounts"]}
    for name in (ROOT_CERT, ROOT_KEY):
        mount = mounted[f"{ca_dir}/{name}"]
        assert (mount["subPath"], mount["readOnly"]) == (f"ca-{name}", True)
    others = [d for n, d in deployments.items() if n != "control-plane"]
    for deployment in others:
        for each in pod_spec(deployment)["containers"]:
            assert not any("ca-" in m.get("subPath", "") for m in each.get("volumeMounts", []))
    without = manifests(cplan, KEYS, deployment=ID, namespace="shop")
    assert "ca-" + ROOT_KEY not in by_kind(without, "Secret")["control-plane"]["stringData"]


def test_pods_share_one_process_namespace_and_the_sidecar_has_its_own_uid() -> None:
    """Every part's pod shares its process namespace (the pause container is PID 1, so the
    process and container faults can signal app and sidecar from inside); the sidecar runs
    as a uid the app does not have, so the app cannot read the sidecar's files through
    /proc/<pid>/root; it keeps the pod's group, which reads the Secret files."""
    deployments = by_kind(shop_objects(), "Deployment")
    for name, deployment in deployments.items():
        if name != "prometheus":
            assert pod_spec(deployment)["shareProcessNamespace"] is True, name
    spec = pod_spec(deployments["catalog-1"])
    app, sidecar = spec["containers"]
    assert "securityContext" not in app
    assert sidecar["securityContext"]["runAsUser"] != spec["securityContext"]["runAsUser"]
    assert "runAsGroup" not in sidecar["securityContext"]
