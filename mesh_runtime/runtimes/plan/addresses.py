"""Where every part listens and how it is reached: each instance's ports, one Toxiproxy
proxy per proxied edge and destination instance, the ingress URLs (HTTP, tcp, grpc), the
OTLP endpoint and the initial mesh config that routes through all of them. Pure."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mesh_runtime.config.mesh import MeshConfig
from mesh_runtime.control.build import build_mesh_config
from mesh_runtime.runtimes.deployment import InstanceRecord, ProxyRecord
from mesh_runtime.runtimes.plan.spec import HOST, proxy_name
from mesh_runtime.topology import Topology


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


def instance_records(
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


def proxy_records(
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


def initial_mesh_config(
    topology: Topology, instances: list[InstanceRecord], proxies: list[ProxyRecord]
) -> MeshConfig:
    inbound = {
        r.instance: f"{HOST}:{r.inbound_port if r.inbound_port is not None else r.app_port}"
        for r in instances
    }
    via = {(p.edge.split("->")[0], p.instance): p.listen for p in proxies}
    return build_mesh_config(topology, inbound, via)


def ingress_url(topology: Topology, instances: list[InstanceRecord]) -> str:
    entry = next(r for r in instances if r.service == topology.ingress)
    port = entry.inbound_port if entry.inbound_port is not None else entry.app_port
    return f"http://{HOST}:{port}"
