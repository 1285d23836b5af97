"""The deployment handle: what a runtime started, where it listens; also the state file.

The state file `<state root>/deployments/<topology>.json` is this model as JSON. It is
written atomically (temporary file + rename) every time a process starts, so that
`meshproof down` can stop what a half-finished `up` left behind.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from mesh_runtime.errors import DeployError, InvalidInput
from mesh_runtime.target import IngressAccess, PrometheusAccess, TargetFile
from mesh_runtime.topology import MeshMode

STATE_DIR_ENV = "MESHPROOF_STATE_DIR"
DEFAULT_STATE_ROOT = ".meshproof"

Role = Literal["control-plane", "sidecar", "service", "trace-sink", "toxiproxy", "prometheus"]


class DeploymentModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InstanceRecord(DeploymentModel):
    service: str
    instance: str
    version: str
    app_port: int
    inbound_port: int | None = None
    """The sidecar's ports; None in no-mesh mode, where there is no sidecar."""
    outbound_port: int | None = None
    admin_port: int | None = None
    tcp_ports: dict[str, int] = {}
    """`protocol: tcp` service -> this instance's sidecar L4 listener for it (its app's tcp
    callees; on an ingress instance every tcp service, where the load's TCP routes enter)."""
    gateway_port: int | None = None
    """An ingress instance's sidecar gateway listener (`--gateway-port`), where the load's
    gRPC routes enter; only with `protocol: grpc` services in the mesh."""
    host: str | None = None
    """Where the harness reaches this instance's ports: None on this machine (127.0.0.1);
    the kubernetes runtime: its Service's ClusterIP."""

    @property
    def address(self) -> str:
        return self.host or "127.0.0.1"


class ProxyRecord(DeploymentModel):
    name: str
    """'<source>--<destination instance>', e.g. 'frontend--catalog-1'."""
    edge: str
    """'source->destination', as in the topology's toxiproxy.edges."""
    instance: str
    listen: str
    upstream: str


class ProcessRecord(DeploymentModel):
    role: Role
    name: str
    pid: int
    ports: dict[str, int]
    create_time: float
    """psutil's create_time of `pid`; a pid whose create_time differs was reused."""
    command: list[str]
    container_id: str | None = None
    """The docker runtime's container (its pid and create_time are the container's main
    process on this host); None for a local process."""


class KubernetesSource(DeploymentModel):
    """`meshproof up --config-source kubernetes`: the control plane takes every policy from
    the Istio objects of `namespace` in the cluster `kubeconfig` (`context`) names."""

    kubeconfig: str
    """An absolute path (the control plane may run from another directory)."""
    context: str | None = None
    namespace: str


class KubernetesPlacement(DeploymentModel):
    """`--runtime kubernetes`: the cluster, namespace and label of the deployment's objects."""

    kubeconfig: str
    """An absolute path."""
    context: str | None = None
    namespace: str = "default"
    deployment_id: str = ""
    """The value of the `meshproof.deployment` label every object carries (set by `up`)."""


class Deployment(DeploymentModel):
    topology_file: str
    runtime: str = "local"
    mode: MeshMode = "mesh"
    ingress_url: str
    tcp_ingress: dict[str, str] = {}
    """`protocol: tcp` service -> host:port the load's TCP routes connect to (the ingress
    instance's sidecar listener for it; no-mesh: the service's first instance)."""
    grpc_ingress: dict[str, str] = {}
    """`protocol: grpc` service -> host:port the load's gRPC routes call, with `:authority`
    naming the service (the ingress instance's sidecar outbound listener; no-mesh: the
    service's first instance)."""
    control_url: str | None = None
    control_token: str | None = None
    admin_token_file: str | None = None
    """The file holding the sidecars' admin token (never the token itself); None: no
    sidecars (no-mesh mode)."""
    prometheus_url: str | None = None
    toxiproxy_url: str | None = None
    trace_file: str | None = None
    """The trace sink's JSON-lines spans file; None when spans go to an external OTLP endpoint."""
    trace_url: str | None = None
    """The trace sink's HTTP base URL where its spans file is not on this machine (the
    kubernetes runtime): `GET /spans` is the file, `GET /stats` its span count."""
    work_dir: str
    instances: list[InstanceRecord] = []
    proxies: list[ProxyRecord] = []
    processes: list[ProcessRecord] = []
    config_source: KubernetesSource | None = None
    """None: the policies come from the topology file (and the control plane's write API)."""
    kubernetes: KubernetesPlacement | None = None
    """Where the kubernetes runtime put it (`runtime == "kubernetes"`); None elsewhere."""
    target: TargetFile | None = None
    """The target file of an external mesh (`runtime == "external"`, paths absolute);
    None for a mesh meshproof deployed."""

    def ingress_access(self) -> IngressAccess:
        """How the load reaches the ingress: the target file's (Host header, extra headers,
        TLS) for an external mesh, else plain `ingress_url`."""
        if self.target is not None:
            return self.target.ingress
        return IngressAccess(url=self.ingress_url)

    def prometheus_access(self) -> PrometheusAccess | None:
        """How to query the mesh's Prometheus (auth, TLS, extra matchers); None: none."""
        if self.target is not None:
            return self.target.prometheus
        return PrometheusAccess(url=self.prometheus_url) if self.prometheus_url else None

    @property
    def name(self) -> str:
        """The topology's name (the work dir is `<state root>/work/<topology>`)."""
        return Path(self.work_dir).name

    def process(self, name: str) -> ProcessRecord:
        for record in self.processes:
            if record.name == name:
                return record
        known = ", ".join(r.name for r in self.processes)
        raise InvalidInput(self.name, "processes", f"no process {name!r} (known: {known})")

    def processes_of(self, role: Role) -> list[ProcessRecord]:
        return [r for r in self.processes if r.role == role]


def state_root(environ: dict[str, str] | None = None, cwd: Path | None = None) -> Path:
    """`$MESHPROOF_STATE_DIR`, else `.meshproof` under the current directory."""
    env = os.environ if environ is None else environ
    if env.get(STATE_DIR_ENV):
        return Path(env[STATE_DIR_ENV])
    return (cwd or Path.cwd()) / DEFAULT_STATE_ROOT


def state_file(root: Path, topology_name: str) -> Path:
    return root / "deployments" / f"{topology_name}.json"


def work_dir(root: Path, topology_name: str) -> Path:
    return root / "work" / topology_name


def save(deployment: Deployment, path: Path) -> None:
    """Write the state file atomically: readers see the old or the new file, never half."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(deployment.model_dump_json(indent=2), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise DeployError(f"{path}: cannot write the state file: {exc.strerror}") from exc


def load(path: Path) -> Deployment:
    """Read a state file; a missing or damaged one is one clear DeployError line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DeployError(f"{path}: no deployment (nothing is up)") from None
    except OSError as exc:
        raise DeployError(f"{path}: cannot read the state file: {exc.strerror}") from exc
    except UnicodeDecodeError:
        raise DeployError(f"{path}: not a meshproof state file (not UTF-8 text)") from None
    try:
        return Deployment.model_validate_json(text)
    except ValidationError as exc:
        raise DeployError(
            f"{path}: not a meshproof state file ({exc.error_count()} errors)"
        ) from None


def remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise DeployError(f"{path}: cannot remove the state file: {exc.strerror}") from exc


def saved_deployments(root: Path) -> list[Path]:
    """Every state file under `root`, sorted by name."""
    folder = root / "deployments"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []
