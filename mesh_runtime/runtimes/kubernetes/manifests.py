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

from collections.abc import Mapping

from mesh_runtime.errors import InvalidInput
from mesh_runtime.runtimes.docker.compose import WORK_DIR
from mesh_runtime.runtimes.docker.specs import ContainerPlan
from mesh_runtime.runtimes.kubernetes.configs import (
    CONTROL_PLANE,
    STATE_CONFIGMAP,
    ca_root_files,
    config_maps,
    control_plane_state,
    file_sources,
    secrets,
)
from mesh_runtime.runtimes.kubernetes.meta import Manifest, Meta, check_names
from mesh_runtime.runtimes.kubernetes.prometheus import prometheus_objects
from mesh_runtime.runtimes.kubernetes.services import services
from mesh_runtime.runtimes.kubernetes.workloads import instance_deployment, part_deployment
from mesh_runtime.runtimes.workdir import DeploymentSecrets

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
    ca_files = ca_root_files(cplan, ca)
    sources = {**file_sources(cplan), **{path: source for path, (source, _) in ca_files.items()}}
    objects: list[Manifest] = []
    objects += config_maps(cplan, meta)
    if any(spec.role == CONTROL_PLANE for spec in cplan.containers):
        objects += control_plane_state(meta)
    objects += secrets(cplan, keys, meta, sources, {p: text for p, (_, text) in ca_files.items()})
    objects += services(cplan, meta)
    for spec in cplan.containers:
        if spec.role == "pod":
            objects.append(instance_deployment(cplan, spec, meta, sources))
        elif spec.pod is None:
            objects.append(part_deployment(spec, meta, sources))
    objects += prometheus_objects(meta.labels, namespace, deployment)
    return objects


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
