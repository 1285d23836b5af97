"""What a deployment plan is made of: the processes to run (their command lines, ports and
readiness URLs), the tools that run them, and the plan itself; the names the plan gives
processes and proxies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mesh_runtime.config.mesh import MeshConfig
from mesh_runtime.runtimes.deployment import (
    InstanceRecord,
    KubernetesSource,
    ProcessRecord,
    ProxyRecord,
    Role,
)
from mesh_runtime.runtimes.plan.files import PlanFiles
from mesh_runtime.topology import MeshMode, Topology

HOST = "127.0.0.1"
PROCESS_ENV = {"PYTHONUNBUFFERED": "1"}
"""Added to the environment of every process (the same on a restart from a state file)."""

# The port each role's readiness check uses, and the path it polls there.
_READY: dict[str, tuple[str, str]] = {
    "control-plane": ("port", "/ready"),
    "sidecar": ("admin", "/ready"),
    "service": ("port", "/_health"),
    "trace-sink": ("port", "/ready"),
    "toxiproxy": ("port", "/version"),
    "prometheus": ("port", "/-/ready"),
}


@dataclass(frozen=True)
class ProcessSpec:
    """One process to run: what to execute, where it listens, how to know it is ready."""

    name: str
    role: Role
    command: tuple[str, ...]
    ports: Mapping[str, int]
    env: Mapping[str, str] = field(default_factory=lambda: dict(PROCESS_ENV))

    @property
    def ready_url(self) -> str:
        return ready_url(self.role, self.ports)

    @classmethod
    def from_record(cls, record: ProcessRecord) -> ProcessSpec:
        """The spec a recorded process was started from (to restart it the same way)."""
        return cls(record.name, record.role, tuple(record.command), dict(record.ports))


@dataclass(frozen=True)
class Tools:
    """Where the executables are: the Python that runs the mesh, and the two Go/C tools."""

    python: str
    toxiproxy: str
    prometheus: str
    sidecar: tuple[str, ...] = ()
    """The sidecar program as a command prefix (the standard flags are appended); empty:
    this checkout's `python -m mesh_runtime.sidecar`. Upgrade validation sets it."""


@dataclass(frozen=True)
class Plan:
    topology: Topology
    topology_file: str
    mode: MeshMode
    work_dir: Path
    stages: tuple[tuple[ProcessSpec, ...], ...]
    """Start order: each stage is started, then waited on, before the next one."""
    instances: tuple[InstanceRecord, ...]
    proxies: tuple[ProxyRecord, ...]
    mesh_config: MeshConfig
    ingress_url: str
    control_url: str | None
    toxiproxy_url: str
    prometheus_url: str
    otlp_endpoint: str
    trace_file: Path | None
    config_source: KubernetesSource | None = None
    tcp_ingress: Mapping[str, str] = field(default_factory=dict)
    """`protocol: tcp` service -> where the load's TCP routes connect (`Deployment.tcp_ingress`)."""
    grpc_ingress: Mapping[str, str] = field(default_factory=dict)
    """`protocol: grpc` service -> where the load's gRPC routes call (`Deployment.grpc_ingress`)."""

    @property
    def processes(self) -> tuple[ProcessSpec, ...]:
        return tuple(spec for stage in self.stages for spec in stage)

    @property
    def files(self) -> PlanFiles:
        return PlanFiles(self.work_dir)


def ready_url(role: Role, ports: Mapping[str, int]) -> str:
    port_name, path = _READY[role]
    return f"http://{HOST}:{ports[port_name]}{path}"


def sidecar_name(instance: str) -> str:
    """The process name of an instance's sidecar: 'catalog-0' -> 'catalog-0-sidecar'."""
    return f"{instance}-sidecar"


def proxy_name(source: str, instance: str) -> str:
    return f"{source}--{instance}"
