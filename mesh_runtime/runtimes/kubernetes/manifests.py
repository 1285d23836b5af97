"""The reference mesh as Kubernetes objects. Pure: a ContainerPlan in, plain dicts out.

The processes, images, commands and ports are the docker runtime's (`docker.specs`,
made with the plan's work dir at `WORK_DIR`); each network namespace of that plan
becomes a pod, and each name an address is translated to (`catalog-0`, `control-plane`,
`toxiproxy`, `trace-sink`) becomes a Service, so the mesh config and every command line
work unchanged inside the cluster:

- each service instance: a Deployment `<instance>` (replicas 1) whose pod holds two
  containers, `app` and `sidecar` (the shape of Istio's injection), plus a Service
  `<instance>` with the pod's ports. A Deployment per instance, not one per service and
  not a bare Pod: each instance has an identity of its own in the mesh config (its
  endpoint, its version, its Toxiproxy proxy), so the topology's replicas are not
  interchangeable copies; and a controller brings a deleted pod back, which `pod_delete`
  and `deployment_scale` need (a bare Pod would stay gone);
- each topology service: a Service `<service>` (port 80 to the pods' `inbound` port; in
  no-mesh mode to `app`), what a team would call;
- control plane, Toxiproxy, trace sink: a Deployment and a Service each;
- the control plane keeps its current config (every policy change, its version) in the
  ConfigMap `control-plane-state`, created empty here, read and replaced by the control
  plane as its ServiceAccount `control-plane` (a Role with get/update/patch on that one
  ConfigMap): a new control-plane pod resumes from it (`control_plane_state`);
- Prometheus (`prometheus.py`): a Deployment finding the sidecars itself (Kubernetes
  service discovery, role pod), with its ServiceAccount, Role and RoleBinding;
- ConfigMaps: `mesh-config`, `toxiproxy` (its proxies, read with `-config`), `prometheus`;
- Secrets: `control-plane` (token, bootstrap secret), `admin-token`, and
  `credential-<service>` per service. A container mounts only its own files, read-only,
  at the paths its command names (`docker.mounts.mounts_of`): a sidecar its service's
  credential and the admin token; only the control plane and Prometheus get a
  service-account token. The pod's containers share one process namespace
  (`shareProcessNamespace`: the process and container faults signal them from inside), so
  the sidecar runs as a uid of its own: the app cannot reach the sidecar's files through
  `/proc/<pid>/root`.

Every object carries `meshproof.deployment=<id>` (`down` deletes by it) and every
container `imagePullPolicy: Never` (the images are loaded into the node, never pulled).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mesh_runtime.errors import InvalidInput
from mesh_runtime.runtimes.docker.compose import TOXIPROXY_CONFIG, WORK_DIR, toxiproxy_proxies
from mesh_runtime.runtimes.docker.images import stable_tag
from mesh_runtime.runtimes.docker.mounts import Mount
from mesh_runtime.runtimes.docker.naming import DEPLOYMENT_LABEL, PART_LABEL, ROLE_LABEL
from mesh_runtime.runtimes.docker.specs import ContainerPlan, ContainerSpec
from mesh_runtime.runtimes.kubernetes.prometheus import prometheus_objects
from mesh_runtime.runtimes.plan import PlanFiles
from mesh_runtime.runtimes.workdir import DeploymentSecrets, secret_files

MANAGED_BY = {"app.kubernetes.io/managed-by": "meshproof"}
INGRESS_PORT = 80
SIDECAR_CONTAINER = "sidecar"
APP_CONTAINER = "app"
RUN_AS = 65532
"""The uid and gid the mesh's containers run as (not root); the Secret files are group-readable."""
SIDECAR_RUN_AS = RUN_AS + 1
"""The sidecar's own uid (its gid stays RUN_AS, to read its Secret files). The pod shares one
process namespace, and a process may read `/proc/<pid>/root` of another only with the same
uid: so the app cannot read the sidecar's credential and admin token through it."""
STATE_CONFIGMAP = "control-plane-state"
CONTROL_PLANE = "control-plane"
RBAC = "rbac.authorization.k8s.io"
RESERVED = (
    "control-plane",
    "toxiproxy",
    "trace-sink",
    "prometheus",
    "mesh-config",
    "admin-token",
    STATE_CONFIGMAP,
)
"""Names the deployment's own objects take; a topology service may not be called so."""

Manifest = dict[str, Any]


@dataclass(frozen=True)
class FileSource:
    """Where a read-only file of the work dir comes from: a key of a Secret or ConfigMap."""

    kind: Literal["Secret", "ConfigMap"]
    name: str
    key: str


def manifests(
    cplan: ContainerPlan,
    keys: DeploymentSecrets,
    *,
    deployment: str,
    namespace: str,
    ca: Mapping[str, str] | None = None,
) -> list[Manifest]:
    """Every object of the deployment, in an order that applies cleanly (ConfigMaps and
    Secrets before the pods that mount them). `ca`: the mesh CA's root files
    (`CertificateAuthority.root_files()`), kept in the control-plane Secret and mounted
    read-only into its CA folder, so a new control-plane pod signs with the same root
    (without it the control plane makes a root in its pod's emptyDir, lost with the pod)."""
    if cplan.plan.work_dir != WORK_DIR:
        raise ValueError(f"a plan for Kubernetes has its work dir at {WORK_DIR}")
    check_names(namespace, deployment)
    _check_services(cplan)
    meta = Meta(deployment, namespace)
    ca_files = _ca_files(cplan, ca)
    sources = {**file_sources(cplan), **{path: source for path, (source, _) in ca_files.items()}}
    objects: list[Manifest] = []
    objects += config_maps(cplan, meta)
    if any(spec.role == CONTROL_PLANE for spec in cplan.containers):
        objects += control_plane_state(meta)
    objects += secrets(cplan, keys, meta, sources, {p: text for p, (_, text) in ca_files.items()})
    objects += services(cplan, meta)
    for spec in cplan.containers:
        if spec.role == "pod":
            objects.append(_instance_deployment(cplan, spec, meta, sources))
        elif spec.pod is None:
            objects.append(_part_deployment(spec, meta, sources))
    objects += prometheus_objects(meta.labels, namespace, deployment)
    return objects


@dataclass(frozen=True)
class Meta:
    """The deployment id and namespace every object's metadata names."""

    deployment: str
    namespace: str

    def labels(self, part: str | None = None, role: str | None = None) -> dict[str, str]:
        out = {DEPLOYMENT_LABEL: self.deployment, **MANAGED_BY}
        if part is not None:
            out[PART_LABEL] = part
        if role is not None:
            out[ROLE_LABEL] = role
        return out

    def of(self, kind: str, name: str, api_version: str = "v1", **labels: str) -> Manifest:
        return {
            "apiVersion": api_version,
            "kind": kind,
            "metadata": {"name": name, "namespace": self.namespace, "labels": labels},
        }


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


def check_names(namespace: str, deployment: str) -> None:
    """InvalidInput unless `namespace` is a DNS label and `deployment` a label value."""
    if not _DNS_LABEL.match(namespace):
        raise InvalidInput("--namespace", "", f"{namespace!r} is not a Kubernetes namespace name")
    if not _LABEL_VALUE.match(deployment):
        raise InvalidInput("--deployment-id", "", f"{deployment!r} is not a label value")


def file_name(index: int, obj: Manifest) -> str:
    """`03-secret-control-plane.yaml`: the apply order, the kind and the name."""
    return f"{index:02d}-{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"


def _check_services(cplan: ContainerPlan) -> None:
    for service in cplan.plan.topology.services:
        if service in RESERVED or service.startswith("credential-"):
            raise InvalidInput(
                cplan.plan.topology_file,
                f"services.{service}",
                f"the kubernetes runtime names its own objects {', '.join(RESERVED)} and "
                "credential-*: rename the service",
            )


def file_sources(cplan: ContainerPlan) -> dict[Path, FileSource]:
    """Each read-only file a container mounts -> the Secret or ConfigMap key holding it."""
    files = cplan.plan.files
    out = {
        files.mesh_config: FileSource("ConfigMap", "mesh-config", files.mesh_config.name),
        files.control_token: FileSource("Secret", "control-plane", "control-token"),
        files.bootstrap_secret: FileSource("Secret", "control-plane", "bootstrap-secret"),
        files.admin_token: FileSource("Secret", "admin-token", "admin-token"),
        WORK_DIR / TOXIPROXY_CONFIG: FileSource("ConfigMap", "toxiproxy", TOXIPROXY_CONFIG),
    }
    for record in cplan.plan.instances:
        name = credential_secret(record.service)
        out[files.credential(record.instance)] = FileSource("Secret", name, "credential")
    return out


def credential_secret(service: str) -> str:
    return f"credential-{service}"


def config_maps(cplan: ContainerPlan, meta: Meta) -> list[Manifest]:
    mesh = meta.of("ConfigMap", "mesh-config", **meta.labels("mesh-config"))
    mesh["data"] = {cplan.plan.files.mesh_config.name: cplan.mesh_config.model_dump_json()}
    proxies = meta.of("ConfigMap", "toxiproxy", **meta.labels("toxiproxy"))
    proxies["data"] = {TOXIPROXY_CONFIG: json.dumps(toxiproxy_proxies(cplan), indent=2)}
    return [mesh, proxies]


def control_plane_state(meta: Meta) -> list[Manifest]:
    """The control plane's state ConfigMap (empty: the control plane fills it) and its
    ServiceAccount, with a Role to read and replace that one ConfigMap and nothing else."""
    state = meta.of("ConfigMap", STATE_CONFIGMAP, **meta.labels(CONTROL_PLANE))
    labels = meta.labels(CONTROL_PLANE)
    account = meta.of("ServiceAccount", CONTROL_PLANE, **labels)
    role = meta.of("Role", CONTROL_PLANE, f"{RBAC}/v1", **labels)
    role["rules"] = [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": [STATE_CONFIGMAP],
            "verbs": ["get", "update", "patch"],
        }
    ]
    binding = meta.of("RoleBinding", CONTROL_PLANE, f"{RBAC}/v1", **labels)
    binding["roleRef"] = {"apiGroup": RBAC, "kind": "Role", "name": CONTROL_PLANE}
    binding["subjects"] = [
        {"kind": "ServiceAccount", "name": CONTROL_PLANE, "namespace": meta.namespace}
    ]
    return [state, account, role, binding]


def state_in_configmap(command: tuple[str, ...], namespace: str) -> tuple[str, ...]:
    """The control plane's command with `--state-file F` (a pod's emptyDir, lost with
    the pod) replaced by `--state-configmap NAMESPACE/control-plane-state`."""
    out = list(command)
    if "--state-file" in out:
        at = out.index("--state-file")
        del out[at : at + 2]
    return (*out, "--state-configmap", f"{namespace}/{STATE_CONFIGMAP}")


def _ca_files(
    cplan: ContainerPlan, ca: Mapping[str, str] | None
) -> dict[Path, tuple[FileSource, str]]:
    """The CA root's files in the control plane's CA folder -> their Secret key and text."""
    if ca is None or not any(p.role == "control-plane" for p in cplan.plan.processes):
        return {}
    folder = cplan.plan.files.ca_dir
    return {
        folder / name: (FileSource("Secret", "control-plane", f"ca-{name}"), text)
        for name, text in sorted(ca.items())
    }


def secrets(
    cplan: ContainerPlan,
    keys: DeploymentSecrets,
    meta: Meta,
    sources: Mapping[Path, FileSource],
    extra: Mapping[Path, str] | None = None,
) -> list[Manifest]:
    """The deployment's secret files (`workdir.secret_files`, and `extra`, e.g. the CA
    root) grouped into their Secrets."""
    grouped: dict[str, dict[str, str]] = {}
    files = secret_files(cplan.plan.files, cplan.plan.instances, keys)
    for path, text in {**files, **(extra or {})}.items():
        source = sources[path]
        grouped.setdefault(source.name, {})[source.key] = text
    out = []
    for name, data in grouped.items():
        secret = meta.of("Secret", name, **meta.labels(name))
        secret["type"] = "Opaque"
        secret["stringData"] = data
        out.append(secret)
    return out


def services(cplan: ContainerPlan, meta: Meta) -> list[Manifest]:
    """A Service per address owner (instance pods, control plane, Toxiproxy, trace sink)
    with its ports, and one per topology service on port 80."""
    out = []
    for spec in cplan.containers:
        if spec.role == "pod":
            ports = _pod_ports(cplan, spec)
        elif spec.pod is None:
            ports = {_port_name(spec, key): port for key, port in spec.ports.items()}
            if spec.role == "toxiproxy":
                ports.update({f"proxy-{i}": _listen_port(p) for i, p in _numbered(cplan)})
        else:
            continue
        out.append(_service(meta, spec.alias or spec.name, ports, {PART_LABEL: _part(spec)}))
    mesh = cplan.plan.mode == "mesh"
    for service in cplan.plan.topology.services:
        target = "inbound" if mesh else "app"
        service_object = _service(meta, service, {}, {"app": service})
        service_object["spec"]["ports"] = [
            {"name": "http", "port": INGRESS_PORT, "targetPort": target, "protocol": "TCP"}
        ]
        out.append(service_object)
    return out


def _numbered(cplan: ContainerPlan) -> Iterable[tuple[int, str]]:
    return enumerate(p.listen for p in cplan.proxies)


def _listen_port(listen: str) -> int:
    return int(listen.rpartition(":")[2])


def _service(
    meta: Meta, name: str, ports: Mapping[str, int], selector: Mapping[str, str]
) -> Manifest:
    service = meta.of("Service", name, **meta.labels(name))
    service["spec"] = {
        "selector": {DEPLOYMENT_LABEL: meta.deployment, **selector},
        "ports": [
            {"name": key, "port": port, "targetPort": port, "protocol": "TCP"}
            for key, port in ports.items()
        ],
    }
    return service


def _port_name(spec: ContainerSpec, key: str) -> str:
    return "http" if key == "port" else key


def _part(spec: ContainerSpec) -> str:
    """The part label of a pod: its instance for an instance pod, else the part's name."""
    return spec.alias if spec.role == "pod" and spec.alias else spec.name


def _pod_ports(cplan: ContainerPlan, pod: ContainerSpec) -> dict[str, int]:
    record = next(r for r in cplan.plan.instances if r.instance == pod.alias)
    named = {
        "app": record.app_port,
        "inbound": record.inbound_port,
        "outbound": record.outbound_port,
        "admin": record.admin_port,
        "gateway": record.gateway_port,
    }
    tcp = {f"tcp-{i}": port for i, (_, port) in enumerate(sorted(record.tcp_ports.items()))}
    return {name: port for name, port in {**named, **tcp}.items() if port is not None}


def _members(cplan: ContainerPlan, pod: ContainerSpec) -> list[ContainerSpec]:
    return [spec for spec in cplan.containers if spec.pod == pod.name]


PRE_STOP_S = 3
"""An instance pod being stopped (a rollout, a pod_delete) keeps serving this long before
its sidecar gets SIGTERM: meanwhile the endpoint controller takes it out of the Services
and kube-proxy sends it no new connection, so its sidecar's drain (which stops accepting)
refuses none. (The kubelet's own sleep: no binary needed in the image.)"""
APP_OUTLIVES_S = 3
"""The app gets SIGTERM this much later than its sidecar, so requests the draining
sidecar still passes in (on connections opened before) find the app there, as Istio
holds the app until its proxy has drained."""


def _pre_stop(role: str) -> Manifest:
    seconds = PRE_STOP_S + (APP_OUTLIVES_S if role == "service" else 0)
    return {"lifecycle": {"preStop": {"sleep": {"seconds": seconds}}}}


def _instance_deployment(
    cplan: ContainerPlan, pod: ContainerSpec, meta: Meta, sources: Mapping[Path, FileSource]
) -> Manifest:
    record = next(r for r in cplan.plan.instances if r.instance == pod.alias)
    labels = meta.labels(record.instance, "instance")
    labels.update({"app": record.service, "version": record.version})
    annotations: dict[str, str] = {}
    if record.admin_port is not None:
        annotations = {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(record.admin_port),
            "prometheus.io/path": "/metrics",
        }
    ports = _pod_ports(cplan, pod)
    containers = [
        _container(
            APP_CONTAINER if spec.role == "service" else SIDECAR_CONTAINER,
            spec,
            {k: port for k, port in ports.items() if _in_container(spec.role, k)},
        )
        | _pre_stop(spec.role)
        for spec in _members(cplan, pod)
    ]
    for container in containers:
        if container["name"] == SIDECAR_CONTAINER:
            container["securityContext"] = {"runAsUser": SIDECAR_RUN_AS}
    mounts = {spec.name: _mounts(spec, cplan.plan.files) for spec in _members(cplan, pod)}
    return _deployment(meta, record.instance, labels, annotations, containers, mounts, sources)


def _in_container(role: str, port: str) -> bool:
    """Whether the pod's port `port` is the app's (role service) or the sidecar's."""
    return (port == "app") == (role == "service")


def _part_deployment(
    spec: ContainerSpec, meta: Meta, sources: Mapping[Path, FileSource]
) -> Manifest:
    labels = meta.labels(spec.name, spec.role)
    command = spec.command
    if spec.role == "toxiproxy":
        command = (*command, "-config", str(WORK_DIR / TOXIPROXY_CONFIG))
    if spec.role == CONTROL_PLANE:
        command = state_in_configmap(command, meta.namespace)
    ports = {_port_name(spec, key): port for key, port in spec.ports.items()}
    container = _container(spec.name, spec, ports, command)
    mounts = {spec.name: _mounts(spec, PlanFiles(WORK_DIR), sources)}
    deployment = _deployment(meta, spec.name, labels, {}, [container], mounts, sources)
    if spec.role == CONTROL_PLANE:
        pod = deployment["spec"]["template"]["spec"]
        pod["serviceAccountName"] = CONTROL_PLANE
        pod["automountServiceAccountToken"] = True
    return deployment


def _mounts(
    spec: ContainerSpec, files: PlanFiles, sources: Mapping[Path, FileSource] | None = None
) -> tuple[Mount, ...]:
    """The container's mounts (as the docker runtime's), plus what the host runtime writes
    into a folder it mounts: the control plane's bootstrap secret (and the CA root, when
    `sources` has it), Toxiproxy's proxies."""
    if spec.role == "control-plane":
        root = [Mount(path) for path in sorted(sources or {}) if path.parent == files.ca_dir]
        root = [m for m in root if m.path != files.bootstrap_secret]
        return (*spec.mounts, Mount(files.bootstrap_secret), *root)
    if spec.role == "toxiproxy":
        return (*spec.mounts, Mount(WORK_DIR / TOXIPROXY_CONFIG))
    return spec.mounts


def _container(
    name: str,
    spec: ContainerSpec,
    ports: Mapping[str, int],
    command: tuple[str, ...] | None = None,
) -> Manifest:
    container: Manifest = {
        "name": name,
        "image": stable_tag(spec.image),
        "imagePullPolicy": "Never",
        "command": list(command or spec.command),
        "env": [{"name": k, "value": v} for k, v in spec.env.items()],
        "ports": [
            {"name": key, "containerPort": port, "protocol": "TCP"} for key, port in ports.items()
        ],
    }
    if spec.ready_url:
        port, _, path = spec.ready_url.removeprefix("http://").partition("/")
        container["readinessProbe"] = {
            "httpGet": {"path": "/" + path, "port": int(port.rpartition(":")[2])},
            "periodSeconds": 2,
        }
    return container


def _deployment(
    meta: Meta,
    name: str,
    labels: dict[str, str],
    annotations: Mapping[str, str],
    containers: list[Manifest],
    mounts: Mapping[str, tuple[Mount, ...]],
    sources: Mapping[Path, FileSource],
) -> Manifest:
    """A Deployment of one pod; each container given its mounts (`mounts` by the part
    name, in `containers`' order)."""
    volumes: dict[str, Manifest] = {}
    for container, own in zip(containers, mounts.values(), strict=True):
        container["volumeMounts"] = [_volume_mount(m, sources, volumes) for m in own]
    template: Manifest = {
        "metadata": {"labels": labels},
        "spec": {
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            # The pause container is PID 1: app and sidecar are processes the process
            # and container faults can signal from inside (harness.faults.kube_process).
            "shareProcessNamespace": True,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": RUN_AS,
                "runAsGroup": RUN_AS,
                "fsGroup": RUN_AS,
            },
            "containers": containers,
            "volumes": list(volumes.values()),
        },
    }
    if annotations:
        template["metadata"]["annotations"] = dict(annotations)
    deployment = meta.of("Deployment", name, "apps/v1", **meta.labels(name, labels.get(ROLE_LABEL)))
    deployment["spec"] = {
        "replicas": 1,
        "selector": {"matchLabels": {DEPLOYMENT_LABEL: meta.deployment, PART_LABEL: name}},
        "template": template,
    }
    return deployment


def _volume_mount(
    mount: Mount, sources: Mapping[Path, FileSource], volumes: dict[str, Manifest]
) -> Manifest:
    """The container's mount of `mount`, adding the pod volume it needs to `volumes`:
    a read-only file from its Secret / ConfigMap key, a writable folder (or the folder of
    a writable file) an emptyDir."""
    if mount.writable:
        folder = mount.path if mount.directory else mount.path.parent
        name = f"scratch-{folder.name}".replace(".", "-").replace("_", "-")
        volumes.setdefault(name, {"name": name, "emptyDir": {}})
        return {"name": name, "mountPath": str(folder)}
    source = sources[mount.path]
    name = f"{source.kind.lower()}-{source.name}"
    if source.kind == "Secret":
        volume = {"secretName": source.name, "defaultMode": 0o440}
        volumes.setdefault(name, {"name": name, "secret": volume})
    else:
        volumes.setdefault(name, {"name": name, "configMap": {"name": source.name}})
    return {"name": name, "mountPath": str(mount.path), "subPath": source.key, "readOnly": True}
