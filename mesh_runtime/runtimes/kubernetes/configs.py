"""The deployment's ConfigMaps and Secrets: every read-only file a container mounts, by
the key holding it (`FileSource`), and the control plane's state ConfigMap with the
ServiceAccount and Role that may replace it. Pure."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mesh_runtime.runtimes.docker.compose import TOXIPROXY_CONFIG, WORK_DIR, toxiproxy_proxies
from mesh_runtime.runtimes.docker.specs import ContainerPlan
from mesh_runtime.runtimes.kubernetes.meta import Manifest, Meta
from mesh_runtime.runtimes.workdir import DeploymentSecrets, secret_files

STATE_CONFIGMAP = "control-plane-state"
CONTROL_PLANE = "control-plane"
RBAC = "rbac.authorization.k8s.io"


@dataclass(frozen=True)
class FileSource:
    """Where a read-only file of the work dir comes from: a key of a Secret or ConfigMap."""

    kind: Literal["Secret", "ConfigMap"]
    name: str
    key: str


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


def ca_root_files(
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
