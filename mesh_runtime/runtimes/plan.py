"""The deployment plan: every process, port, command line and proxy, decided up front.

Pure: fed a Topology, a mode and a port allocator, it returns values; nothing here starts
a process or opens a socket. The local runtime carries the plan out in `start_order`:
trace sink and Toxiproxy, the control plane, then services and their sidecars from the
leaves of the call graph up, Prometheus last.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mesh_runtime.config.mesh import MeshConfig
from mesh_runtime.control.build import build_mesh_config
from mesh_runtime.runtimes.deployment import (
    InstanceRecord,
    KubernetesSource,
    ProcessRecord,
    ProxyRecord,
    Role,
)
from mesh_runtime.runtimes.prometheus import prometheus_command
from mesh_runtime.runtimes.toxiproxy import toxiproxy_command
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


@dataclass(frozen=True)
class PlanFiles:
    """The files a deployment keeps in its work dir."""

    work_dir: Path

    @property
    def logs(self) -> Path:
        return self.work_dir / "logs"

    @property
    def mesh_config(self) -> Path:
        return self.work_dir / "mesh-config.json"

    @property
    def control_token(self) -> Path:
        return self.work_dir / "control-token"

    @property
    def admin_token(self) -> Path:
        """The bearer token every sidecar's admin /config_dump and /stats require."""
        return self.work_dir / "admin-token"

    @property
    def ca_dir(self) -> Path:
        """The control plane's CA: its root (key 0600) and the bootstrap secret."""
        return self.work_dir / "ca"

    @property
    def bootstrap_secret(self) -> Path:
        """The secret the services' bootstrap credentials derive from (the CA's only)."""
        return self.ca_dir / "bootstrap-secret"

    @property
    def credentials(self) -> Path:
        return self.work_dir / "credentials"

    def credential(self, instance: str) -> Path:
        """The bootstrap credential of `instance`'s service, handed to its sidecar only."""
        return self.credentials / instance

    @property
    def control_state(self) -> Path:
        """The control plane's own record of its config, so a restart resumes it."""
        return self.work_dir / "control-state.json"

    @property
    def spans(self) -> Path:
        return self.work_dir / "spans.jsonl"

    @property
    def prometheus_config(self) -> Path:
        return self.work_dir / "prometheus.yml"

    @property
    def prometheus_data(self) -> Path:
        return self.work_dir / "prometheus-data"

    def log(self, process_name: str) -> Path:
        return self.logs / f"{process_name}.log"


def ready_url(role: Role, ports: Mapping[str, int]) -> str:
    port_name, path = _READY[role]
    return f"http://{HOST}:{ports[port_name]}{path}"


def sidecar_name(instance: str) -> str:
    """The process name of an instance's sidecar: 'catalog-0' -> 'catalog-0-sidecar'."""
    return f"{instance}-sidecar"


def proxy_name(source: str, instance: str) -> str:
    return f"{source}--{instance}"


def service_levels(topology: Topology) -> list[list[str]]:
    """Services grouped by height in the call graph: leaves first, the ingress last."""
    graph = topology.call_graph()
    heights: dict[str, int] = {}

    def height(name: str) -> int:
        if name not in heights:
            heights[name] = 1 + max((height(c) for c in graph[name]), default=-1)
        return heights[name]

    for name in graph:
        height(name)
    top = max(heights.values(), default=-1)
    return [[n for n in graph if heights[n] == level] for level in range(top + 1)]


def make_plan(
    topology: Topology,
    *,
    topology_file: str,
    mode: MeshMode,
    allocate_port: Callable[[], int],
    work_dir: Path,
    tools: Tools,
    otlp_endpoint: str | None = None,
    config_source: KubernetesSource | None = None,
) -> Plan:
    """The whole plan for `topology` in `mode`; ports come from `allocate_port`.

    With `config_source` the control plane takes its policies from Istio objects in
    Kubernetes instead of the topology."""
    files = PlanFiles(work_dir)
    mesh = mode == "mesh"
    port = {role: allocate_port() for role in ("trace-sink", "toxiproxy", "prometheus")}
    control_port = allocate_port() if mesh else None
    instances = _instance_records(topology, mesh, allocate_port)
    proxies = _proxies(topology, instances, mesh, allocate_port)
    sink = otlp_endpoint is None
    otlp = otlp_endpoint or otlp_url(port["trace-sink"])
    control_url = f"http://{HOST}:{control_port}" if control_port else None
    first: list[ProcessSpec] = []
    if sink:
        first.append(_trace_sink(tools, port["trace-sink"], files))
    first.append(_toxiproxy(tools, port["toxiproxy"]))
    stages: list[tuple[ProcessSpec, ...]] = [tuple(first)]
    if control_port is not None:
        stages.append((_control_plane(tools, control_port, files, config_source),))
    by_instance = {r.instance: r for r in instances}
    for level in service_levels(topology):
        stage: list[ProcessSpec] = []
        for inst in topology.instances():
            if inst.service not in level:
                continue
            record = by_instance[inst.name]
            stage.append(_service(topology, tools, record, instances, proxies, otlp))
            if control_url:
                dialect = topology.metrics.dialect
                stage.append(_sidecar(tools, record, control_url, otlp, files, dialect))
        stages.append(tuple(stage))
    stages.append((_prometheus(tools, port["prometheus"], files),))
    return Plan(
        topology=topology,
        topology_file=topology_file,
        mode=mode,
        work_dir=work_dir,
        stages=tuple(stages),
        instances=tuple(instances),
        proxies=tuple(proxies),
        mesh_config=_mesh_config(topology, instances, proxies),
        ingress_url=_ingress_url(topology, instances),
        tcp_ingress=tcp_ingress(topology, instances),
        grpc_ingress=grpc_ingress(topology, instances),
        control_url=control_url,
        toxiproxy_url=f"http://{HOST}:{port['toxiproxy']}",
        prometheus_url=f"http://{HOST}:{port['prometheus']}",
        otlp_endpoint=otlp,
        trace_file=files.spans if sink else None,
        config_source=config_source if mesh else None,
    )


def otlp_url(port: int) -> str:
    """The OTLP/HTTP traces endpoint of the trace sink on `port`."""
    return f"http://{HOST}:{port}/v1/traces"


def tcp_destinations(topology: Topology, service: str) -> list[str]:
    """The tcp services a sidecar of `service` listens for: its tcp callees; on the
    ingress every tcp service (the load's TCP routes enter there, as through a gateway)."""
    tcp = [name for name, spec in topology.services.items() if spec.protocol == "tcp"]
    if service == topology.ingress:
        return tcp
    return [callee for callee in topology.services[service].calls if callee in tcp]


def tcp_ingress(topology: Topology, instances: Sequence[InstanceRecord]) -> dict[str, str]:
    """tcp service -> host:port of the first ingress instance's sidecar listener for it;
    in no-mesh mode the service's first instance itself."""
    entry = next(r for r in instances if r.service == topology.ingress)
    out: dict[str, str] = {}
    for name, spec in topology.services.items():
        if spec.protocol != "tcp":
            continue
        if name in entry.tcp_ports:
            out[name] = f"{HOST}:{entry.tcp_ports[name]}"
        else:
            first = next((r for r in instances if r.service == name), None)
            if first is not None:
                out[name] = f"{HOST}:{first.app_port}"
    return out


def grpc_ingress(topology: Topology, instances: Sequence[InstanceRecord]) -> dict[str, str]:
    """grpc service -> host:port of the first ingress instance's sidecar outbound listener
    (the call's `:authority` names the service, as an app's own call does); in no-mesh
    mode the service's first instance itself."""
    entry = next(r for r in instances if r.service == topology.ingress)
    out: dict[str, str] = {}
    for name, spec in topology.services.items():
        if spec.protocol != "grpc":
            continue
        first = next((r for r in instances if r.service == name), None)
        if entry.gateway_port is not None:
            out[name] = f"{HOST}:{entry.gateway_port}"
        elif first is not None:
            out[name] = f"{HOST}:{first.app_port}"
    return out


def _instance_records(
    topology: Topology, mesh: bool, allocate_port: Callable[[], int]
) -> list[InstanceRecord]:
    records = []
    for inst in topology.instances():
        app = allocate_port()
        sidecar = (allocate_port(), allocate_port(), allocate_port()) if mesh else (None,) * 3
        tcp = tcp_destinations(topology, inst.service) if mesh else []
        records.append(
            InstanceRecord(
                service=inst.service,
                instance=inst.name,
                version=inst.version,
                app_port=app,
                inbound_port=sidecar[0],
                outbound_port=sidecar[1],
                admin_port=sidecar[2],
                tcp_ports={name: allocate_port() for name in tcp},
                gateway_port=allocate_port() if mesh and _gateway(topology, inst.service) else None,
            )
        )
    return records


def _gateway(topology: Topology, service: str) -> bool:
    """Whether `service`'s sidecars take the load's gRPC routes: the ingress's, when the
    mesh has gRPC services."""
    has_grpc = any(spec.protocol == "grpc" for spec in topology.services.values())
    return has_grpc and service == topology.ingress


def _proxies(
    topology: Topology,
    instances: list[InstanceRecord],
    mesh: bool,
    allocate_port: Callable[[], int],
) -> list[ProxyRecord]:
    """One proxy per (source service, destination instance) on every proxied edge."""
    out = []
    for edge in topology.proxied_edges():
        for record in instances:
            if record.service != edge.destination:
                continue
            upstream_port = record.inbound_port if mesh else record.app_port
            out.append(
                ProxyRecord(
                    name=proxy_name(edge.source, record.instance),
                    edge=edge.name,
                    instance=record.instance,
                    listen=f"{HOST}:{allocate_port()}",
                    upstream=f"{HOST}:{upstream_port}",
                )
            )
    return out


def _mesh_config(
    topology: Topology, instances: list[InstanceRecord], proxies: list[ProxyRecord]
) -> MeshConfig:
    inbound = {
        r.instance: f"{HOST}:{r.inbound_port if r.inbound_port is not None else r.app_port}"
        for r in instances
    }
    via = {(p.edge.split("->")[0], p.instance): p.listen for p in proxies}
    return build_mesh_config(topology, inbound, via)


def _ingress_url(topology: Topology, instances: list[InstanceRecord]) -> str:
    entry = next(r for r in instances if r.service == topology.ingress)
    port = entry.inbound_port if entry.inbound_port is not None else entry.app_port
    return f"http://{HOST}:{port}"


def _python(tools: Tools, module: str, *args: str) -> tuple[str, ...]:
    return (tools.python, "-m", module, *args)


def _trace_sink(tools: Tools, port: int, files: PlanFiles) -> ProcessSpec:
    command = _python(
        tools, "mesh_runtime.tracesink", "--port", str(port), "--out", str(files.spans)
    )
    return ProcessSpec("trace-sink", "trace-sink", command, {"port": port})


def _toxiproxy(tools: Tools, port: int) -> ProcessSpec:
    command = toxiproxy_command(tools.toxiproxy, port, HOST)
    return ProcessSpec("toxiproxy", "toxiproxy", tuple(command), {"port": port})


def _control_plane(
    tools: Tools, port: int, files: PlanFiles, source: KubernetesSource | None = None
) -> ProcessSpec:
    command = _python(
        tools,
        "mesh_runtime.control",
        "--config",
        str(files.mesh_config),
        "--port",
        str(port),
        "--token-file",
        str(files.control_token),
        "--state-file",
        str(files.control_state),
        "--ca-dir",
        str(files.ca_dir),
        "--bootstrap-secret-file",
        str(files.bootstrap_secret),
    )
    if source is not None:
        command += ("--kubeconfig", source.kubeconfig, "--namespace", source.namespace)
        command += ("--kube-context", source.context) if source.context else ()
    return ProcessSpec("control-plane", "control-plane", command, {"port": port})


def _prometheus(tools: Tools, port: int, files: PlanFiles) -> ProcessSpec:
    command = prometheus_command(
        tools.prometheus, files.prometheus_config, files.prometheus_data, port
    )
    return ProcessSpec("prometheus", "prometheus", tuple(command), {"port": port})


def _service(
    topology: Topology,
    tools: Tools,
    record: InstanceRecord,
    instances: list[InstanceRecord],
    proxies: list[ProxyRecord],
    otlp: str,
) -> ProcessSpec:
    args = ["--service", record.service, "--instance", record.instance]
    args += ["--version", record.version, "--port", str(record.app_port)]
    spec = topology.services[record.service]
    if spec.protocol == "tcp":
        command = _python(tools, "mesh_runtime.services.kv", *args)
        return ProcessSpec(record.instance, "service", command, {"port": record.app_port})
    if spec.protocol == "grpc":
        args += ["--protocol", "grpc"]
    calls = spec.calls
    if calls:
        args += ["--calls", ",".join(calls)]
        tcp = {c for c in calls if topology.protocol(c) == "tcp"}
        grpc = [c for c in calls if topology.protocol(c) == "grpc"]
        if grpc:
            args += ["--grpc", ",".join(grpc)]
        if record.outbound_port is not None:
            args += ["--via", f"{HOST}:{record.outbound_port}"]
            for callee in calls:
                if callee in tcp:
                    args += ["--tcp", f"{callee}={HOST}:{record.tcp_ports[callee]}"]
        else:
            for callee in calls:
                targets = _direct_targets(record.service, callee, instances, proxies)
                flag = "--tcp" if callee in tcp else "--direct"
                args += [flag, f"{callee}={','.join(targets)}"]
    args += ["--otlp-endpoint", otlp]
    command = _python(tools, "mesh_runtime.services", *args)
    return ProcessSpec(record.instance, "service", command, {"port": record.app_port})


def _direct_targets(
    source: str, callee: str, instances: list[InstanceRecord], proxies: list[ProxyRecord]
) -> list[str]:
    """No-mesh addresses of `callee`'s instances, through a proxy where the edge has one."""
    via = {p.instance: p.listen for p in proxies if p.edge == f"{source}->{callee}"}
    return [via.get(r.instance, f"{HOST}:{r.app_port}") for r in instances if r.service == callee]


def _sidecar(
    tools: Tools,
    record: InstanceRecord,
    control_url: str,
    otlp: str,
    files: PlanFiles,
    metrics_dialect: str = "istio",
) -> ProcessSpec:
    ports = {
        "inbound": record.inbound_port or 0,
        "outbound": record.outbound_port or 0,
        "admin": record.admin_port or 0,
    }
    args = ["--service", record.service, "--instance", record.instance]
    args += ["--version", record.version]
    args += ["--inbound-port", str(ports["inbound"]), "--outbound-port", str(ports["outbound"])]
    args += ["--app-port", str(record.app_port), "--admin-port", str(ports["admin"])]
    args += ["--control-plane", control_url, "--otlp-endpoint", otlp]
    if tools.sidecar:
        command = (*tools.sidecar, *args)  # another sidecar program: only the base contract
    else:
        args += ["--bootstrap-token-file", str(files.credential(record.instance))]
        args += ["--admin-token-file", str(files.admin_token)]
        if metrics_dialect != "istio":  # the default: today's command lines unchanged
            args += ["--metrics-dialect", metrics_dialect]
        for service, port in record.tcp_ports.items():
            args += ["--tcp-outbound", f"{service}={port}"]
        if record.gateway_port is not None:
            args += ["--gateway-port", str(record.gateway_port)]
        command = _python(tools, "mesh_runtime.sidecar", *args)
    return ProcessSpec(sidecar_name(record.instance), "sidecar", command, ports)
