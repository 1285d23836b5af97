"""The deployment plan in containers: which container runs which process, in which
network namespace, with which ports published. Pure: a Plan in, values out.

The plan (`mesh_runtime.runtimes.plan`) is made as for the local runtime: every address is
`127.0.0.1:<port>` and every port is distinct. In containers each port belongs to one
network namespace: an instance's *pod* (its app and its sidecar share one, held by a pod
container, as Kubernetes' pause container holds a pod's), or the own namespace of the trace
sink, Toxiproxy or the control plane. So an address is translated by its port: to the name
of the namespace that owns the port on the mesh network, except inside that very namespace,
where 127.0.0.1 stays right (the app reaches its sidecar's outbound listener on loopback,
the sidecar its app). Every part listens on 0.0.0.0 inside its namespace; a port is
published (on the host's 127.0.0.1, same number) only where the harness needs it: the
ingress, each app (`/_behaviour`, health), each sidecar's admin API (ready, metrics), the
control plane, Toxiproxy's API and the trace sink; with gRPC services, the ingress
sidecar's gateway listener too (the load's gRPC routes enter there, `Plan.grpc_ingress`). Prometheus stays a host process
scraping the published admin ports, as in the local runtime.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from mesh_runtime.config.mesh import MeshConfig
from mesh_runtime.runtimes.deployment import InstanceRecord, ProxyRecord
from mesh_runtime.runtimes.docker.mounts import Mount, container_command, mounts_of
from mesh_runtime.runtimes.docker.naming import pod_name
from mesh_runtime.runtimes.plan import PROCESS_ENV, Plan, PlanFiles, ProcessSpec, Tools

CONTAINER_BIND = "0.0.0.0"
ImageKind = Literal["mesh", "toxiproxy"]
ContainerRole = Literal["control-plane", "sidecar", "service", "trace-sink", "toxiproxy", "pod"]
POD_COMMAND = ("sleep", "infinity")
"""The pod container only holds the namespace (coreutils' sleep is in every Debian image)."""
TOXIPROXY_IN_IMAGE = "/usr/local/bin/toxiproxy-server"
PYTHON_IN_IMAGE = "python"
"""The mesh image's venv python, first on its PATH."""

_ADDRESS = re.compile(r"127\.0\.0\.1:(\d+)")
_BIND_FLAG = {
    "service": "--host",
    "sidecar": "--host",
    "trace-sink": "--host",
    "control-plane": "--host",
    "toxiproxy": "-host",
}


@dataclass(frozen=True)
class ContainerSpec:
    """One container: its part name (the process table's), image, command and network."""

    name: str
    role: ContainerRole
    image: ImageKind
    command: tuple[str, ...]
    ports: Mapping[str, int]
    ready_url: str | None = None
    """Polled on the host through a published port; None: running is ready (a pod)."""
    pod: str | None = None
    """The pod container whose network namespace this one joins; None: its own."""
    alias: str | None = None
    """Its name on the mesh network (a pod: the instance's name); None when in a pod."""
    publish: tuple[int, ...] = ()
    """Ports published on the host's 127.0.0.1 under the same number."""
    env: Mapping[str, str] = field(default_factory=lambda: dict(PROCESS_ENV))
    mounts: tuple[Mount, ...] = ()
    """The work dir's files it sees (`mounts.mounts_of`): its own, never the whole dir."""


@dataclass(frozen=True)
class ContainerPlan:
    plan: Plan
    stages: tuple[tuple[ContainerSpec, ...], ...]
    """Start order, as the plan's: each stage is started, then waited on."""
    prometheus: ProcessSpec
    mesh_config: MeshConfig
    """The plan's mesh config with addresses on the mesh network."""
    proxies: tuple[ProxyRecord, ...]
    """Toxiproxy proxies listening in Toxiproxy's namespace, upstreams on the network."""

    @property
    def containers(self) -> tuple[ContainerSpec, ...]:
        return tuple(spec for stage in self.stages for spec in stage)

    def container(self, name: str) -> ContainerSpec:
        for spec in self.containers:
            if spec.name == name:
                return spec
        raise KeyError(name)


def container_tools(prometheus: str, sidecar: Sequence[str] | None = None) -> Tools:
    """The Tools a plan for containers is made with: executables as the images hold them."""
    return Tools(
        python=PYTHON_IN_IMAGE,
        toxiproxy=TOXIPROXY_IN_IMAGE,
        prometheus=prometheus,
        sidecar=tuple(sidecar or ()),
    )


def container_plan(plan: Plan) -> ContainerPlan:
    """Every process of `plan` but Prometheus as a container; pods before their apps."""
    owners = port_owners(plan)
    published = _published(plan)
    records = {record.instance: record for record in plan.instances}
    stages: list[tuple[ContainerSpec, ...]] = []
    for stage in plan.stages:
        specs: list[ContainerSpec] = []
        for process in stage:
            if process.role == "prometheus":
                continue
            if process.role == "service":
                specs.append(_pod(records[process.name], published))
            specs.append(_container(process, owners, published, plan.files))
        if specs:
            stages.append(tuple(specs))
    prometheus = next(p for p in plan.processes if p.role == "prometheus")
    config_text = translate(plan.mesh_config.model_dump_json(), owners, None)
    return ContainerPlan(
        plan=plan,
        stages=tuple(stages),
        prometheus=prometheus,
        mesh_config=MeshConfig.model_validate_json(config_text),
        proxies=tuple(_proxy(p, owners) for p in plan.proxies),
    )


def port_owners(plan: Plan) -> dict[int, str]:
    """Port -> the network name of the namespace listening on it (pods by instance name)."""
    owners: dict[int, str] = {}
    for record in plan.instances:
        ports = (
            record.app_port,
            record.inbound_port,
            record.outbound_port,
            record.admin_port,
            record.gateway_port,
        )
        owners.update({port: record.instance for port in ports if port is not None})
    for process in plan.processes:
        if process.role in ("trace-sink", "toxiproxy", "control-plane"):
            owners.update({port: process.name for port in process.ports.values()})
    for proxy in plan.proxies:
        owners[port_of(proxy.listen)] = "toxiproxy"
    return owners


def translate(text: str, owners: Mapping[int, str], own: str | None) -> str:
    """Every `127.0.0.1:P` in `text` as `<owner of P>:P`, unless P is in namespace `own`."""

    def replace(match: re.Match[str]) -> str:
        owner = owners.get(int(match.group(1)))
        if owner is None or owner == own:
            return match.group(0)
        return f"{owner}:{match.group(1)}"

    return _ADDRESS.sub(replace, text)


def port_of(address: str) -> int:
    return int(address.rpartition(":")[2])


def namespace_of(spec: ProcessSpec) -> str:
    """The network name of the namespace a process runs in (an instance's pod, or its own)."""
    if spec.role == "sidecar":
        return spec.name.removesuffix("-sidecar")
    return spec.name


def _published(plan: Plan) -> set[int]:
    ports = {record.app_port for record in plan.instances}
    ports |= {r.admin_port for r in plan.instances if r.admin_port is not None}
    ports.add(port_of(plan.ingress_url))
    ports |= {port_of(address) for address in plan.tcp_ingress.values()}
    ports |= {port_of(address) for address in plan.grpc_ingress.values()}
    for process in plan.processes:
        if process.role in ("trace-sink", "toxiproxy", "control-plane"):
            ports |= set(process.ports.values())
    return ports


def _pod(record: InstanceRecord, published: set[int]) -> ContainerSpec:
    ports = (
        record.app_port,
        record.inbound_port,
        record.admin_port,
        record.gateway_port,
        *record.tcp_ports.values(),
    )
    return ContainerSpec(
        name=pod_name(record.instance),
        role="pod",
        image="mesh",
        command=POD_COMMAND,
        ports={},
        alias=record.instance,
        publish=tuple(sorted(p for p in ports if p is not None and p in published)),
    )


def _container(
    process: ProcessSpec, owners: Mapping[int, str], published: set[int], files: PlanFiles
) -> ContainerSpec:
    own = namespace_of(process)
    command = tuple(translate(arg, owners, own) for arg in process.command)
    command = container_command(process.role, command, files)
    in_pod = process.role in ("service", "sidecar")
    return ContainerSpec(
        name=process.name,
        role=process.role,  # type: ignore[arg-type]  # prometheus never gets here
        image="toxiproxy" if process.role == "toxiproxy" else "mesh",
        command=bind_all(command, process.role),
        ports=dict(process.ports),
        ready_url=process.ready_url,
        pod=pod_name(own) if in_pod else None,
        alias=None if in_pod else process.name,
        publish=()
        if in_pod
        else tuple(sorted(p for p in process.ports.values() if p in published)),
        env=dict(process.env),
        mounts=mounts_of(process.role, own if process.role == "sidecar" else None, files),
    )


def bind_all(command: tuple[str, ...], role: str) -> tuple[str, ...]:
    """The command with its listen address set to 0.0.0.0 (set, or replaced if given)."""
    flag = _BIND_FLAG.get(role)
    if flag is None:
        return command
    if flag in command:
        at = command.index(flag)
        return (*command[: at + 1], CONTAINER_BIND, *command[at + 2 :])
    return (*command, flag, CONTAINER_BIND)


def _proxy(proxy: ProxyRecord, owners: Mapping[int, str]) -> ProxyRecord:
    return proxy.model_copy(
        update={
            "listen": f"{CONTAINER_BIND}:{port_of(proxy.listen)}",
            "upstream": translate(proxy.upstream, owners, "toxiproxy"),
        }
    )
