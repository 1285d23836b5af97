"""Where a fault lands: a fault's `target` resolved against the deployment. Pure.

- an edge 'frontend->catalog' is every Toxiproxy proxy on it, one per catalog instance;
  an endpoint 'frontend->catalog-1' is the one proxy in front of that instance;
- a service 'catalog' is every instance of it, an instance 'catalog-1' is itself;
- a process 'sidecar:catalog-0', 'service:catalog-0' or 'control-plane' is the name of
  its entry in the deployment's process table.
"""

from __future__ import annotations

from harness.errors import FaultError
from mesh_runtime.runtimes.deployment import Deployment, InstanceRecord, ProxyRecord
from mesh_runtime.runtimes.plan import sidecar_name


def proxies_for(deployment: Deployment, target: str) -> list[ProxyRecord]:
    """The proxies a toxic or proxy_down on `target` ('a->b' or 'a->b-1') acts on."""
    source, _, destination = target.partition("->")
    edge = f"{source}->{destination}"
    on_edge = [p for p in deployment.proxies if p.edge == edge]
    if on_edge:
        return on_edge
    endpoint = [
        p
        for p in deployment.proxies
        if p.instance == destination and p.edge.startswith(f"{source}->")
    ]
    if endpoint:
        return endpoint
    edges = sorted({p.edge for p in deployment.proxies})
    known = ", ".join(edges) if edges else "none; list edges under toxiproxy.edges in the topology"
    raise FaultError(f"target {target!r}: no Toxiproxy proxy on that edge (proxied edges: {known})")


def instances_for(deployment: Deployment, target: str) -> list[InstanceRecord]:
    """The instances of service `target`, or the one instance named `target`."""
    of_service = [r for r in deployment.instances if r.service == target]
    if of_service:
        return of_service
    named = [r for r in deployment.instances if r.instance == target]
    if named:
        return named
    services = sorted({r.service for r in deployment.instances})
    raise FaultError(
        f"target {target!r}: no such service or instance (services: {', '.join(services)})"
    )


def service_of(deployment: Deployment, target: str) -> str:
    """The service named `target` (a policy's target must be a service, not an instance)."""
    services = sorted({r.service for r in deployment.instances})
    if target not in services:
        raise FaultError(f"target {target!r}: no such service (services: {', '.join(services)})")
    return target


def process_name(deployment: Deployment, target: str) -> str:
    """The process-table name of 'sidecar:<instance>', 'service:<instance>' or 'control-plane'."""
    role, _, instance = target.partition(":")
    if target == "control-plane":
        name = "control-plane"
    elif role == "sidecar":
        name = sidecar_name(instance)
    elif role == "service":
        name = instance
    else:
        raise FaultError(
            f"target {target!r}: expected 'sidecar:<instance>', 'service:<instance>' or "
            "'control-plane'"
        )
    known = {p.name for p in deployment.processes}
    if name not in known:
        raise FaultError(f"target {target!r}: the deployment runs no process {name!r}")
    return name


def sidecars_for(deployment: Deployment, target: str) -> list[str]:
    """Sidecar process names, in deployment order: all ('sidecars') or one service's."""
    sidecars = [p.name for p in deployment.processes if p.role == "sidecar"]
    if target in ("sidecars", "all"):
        chosen = sidecars
    else:
        names = {sidecar_name(r.instance) for r in instances_for(deployment, target)}
        chosen = [name for name in sidecars if name in names]
    if not chosen:
        raise FaultError(f"target {target!r}: no sidecars to restart (is the mesh mode no-mesh?)")
    return chosen
