"""The deployment's Services: one per address owner (instance pods, control plane,
Toxiproxy, trace sink) with its ports, and one per topology service on port 80. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from mesh_runtime.runtimes.docker.naming import DEPLOYMENT_LABEL, PART_LABEL
from mesh_runtime.runtimes.docker.specs import ContainerPlan, ContainerSpec
from mesh_runtime.runtimes.kubernetes.meta import Manifest, Meta

INGRESS_PORT = 80


def services(cplan: ContainerPlan, meta: Meta) -> list[Manifest]:
    """A Service per address owner (instance pods, control plane, Toxiproxy, trace sink)
    with its ports, and one per topology service on port 80."""
    out = []
    for spec in cplan.containers:
        if spec.role == "pod":
            ports = pod_ports(cplan, spec)
        elif spec.pod is None:
            ports = {port_name(spec, key): port for key, port in spec.ports.items()}
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


def port_name(spec: ContainerSpec, key: str) -> str:
    return "http" if key == "port" else key


def _part(spec: ContainerSpec) -> str:
    """The part label of a pod: its instance for an instance pod, else the part's name."""
    return spec.alias if spec.role == "pod" and spec.alias else spec.name


def pod_ports(cplan: ContainerPlan, pod: ContainerSpec) -> dict[str, int]:
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
