"""The deployment's Deployments: an instance's pod (app and sidecar containers sharing one
process namespace) and each part's (control plane, Toxiproxy, trace sink), with their
volumes from the ConfigMaps and Secrets. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from mesh_runtime.runtimes.docker.compose import TOXIPROXY_CONFIG, WORK_DIR
from mesh_runtime.runtimes.docker.images import stable_tag
from mesh_runtime.runtimes.docker.mounts import Mount
from mesh_runtime.runtimes.docker.naming import DEPLOYMENT_LABEL, PART_LABEL, ROLE_LABEL
from mesh_runtime.runtimes.docker.specs import ContainerPlan, ContainerSpec
from mesh_runtime.runtimes.kubernetes.configs import CONTROL_PLANE, FileSource, state_in_configmap
from mesh_runtime.runtimes.kubernetes.meta import Manifest, Meta
from mesh_runtime.runtimes.kubernetes.services import pod_ports, port_name
from mesh_runtime.runtimes.plan import PlanFiles

SIDECAR_CONTAINER = "sidecar"
APP_CONTAINER = "app"


RUN_AS = 65532
"""The uid and gid the mesh's containers run as (not root); the Secret files are group-readable."""
SIDECAR_RUN_AS = RUN_AS + 1
"""The sidecar's own uid (its gid stays RUN_AS, to read its Secret files). The pod shares one
process namespace, and a process may read `/proc/<pid>/root` of another only with the same
uid: so the app cannot read the sidecar's credential and admin token through it."""


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


def instance_deployment(
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
    ports = pod_ports(cplan, pod)
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


def part_deployment(
    spec: ContainerSpec, meta: Meta, sources: Mapping[Path, FileSource]
) -> Manifest:
    labels = meta.labels(spec.name, spec.role)
    command = spec.command
    if spec.role == "toxiproxy":
        command = (*command, "-config", str(WORK_DIR / TOXIPROXY_CONFIG))
    if spec.role == CONTROL_PLANE:
        command = state_in_configmap(command, meta.namespace)
    ports = {port_name(spec, key): port for key, port in spec.ports.items()}
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
