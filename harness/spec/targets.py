"""Target rules: whether a fault's target names a part of the topology. Pure.

The experiment file alone says a target is well formed (`catalog->inventory-0`,
`sidecar:catalog-1`); only the topology says it exists: the instance is there, the edge
goes through Toxiproxy. Each fault model (`harness.spec.faults`) picks its kind's rule in
its `topology_problem`; `meshproof validate` checks every fault with it
(`harness.spec.check`). A rule answers why `target` cannot be faulted in `topology`, or ''
when it can.
"""

from __future__ import annotations

from mesh_runtime.topology import Topology

PLAIN_PARTS = ("control-plane", "toxiproxy", "trace-sink")
"""Containers a container fault may name without an instance (see harness.faults.container)."""


def edge_problem(target: str, topology: Topology) -> str:
    """An edge 'a->b' or endpoint 'a->b-1' that goes through Toxiproxy (toxic, proxy_down)."""
    source, _, destination = target.partition("->")
    services = set(topology.services)
    proxied = {e.name for e in topology.proxied_edges()}
    service = destination if destination in services else destination.rpartition("-")[0]
    if f"{source}->{service}" not in proxied:
        return f"edge {source}->{service} does not go through Toxiproxy (toxiproxy.edges)"
    if destination not in services and destination not in _instances(topology):
        return f"no instance {destination!r} in topology {topology.name}"
    return ""


def part_problem(target: str, topology: Topology) -> str:
    """A service, an instance, or 'control-plane'."""
    if target == "control-plane":
        return ""
    if target in topology.services or target in _instances(topology):
        return ""
    return f"no service or instance {target!r} in topology {topology.name}"


def process_problem(target: str, topology: Topology) -> str:
    """'sidecar:<instance>', 'service:<instance>' or 'control-plane': the part after ':'."""
    return part_problem(target.partition(":")[2] if ":" in target else target, topology)


def container_problem(target: str, topology: Topology) -> str:
    """A process's target, or 'container:<name>' / a plain part, whose container is known
    only once the docker runtime has started it."""
    if target.startswith("container:") or target in PLAIN_PARTS:
        return ""
    return process_problem(target, topology)


def sidecars_problem(target: str, topology: Topology) -> str:
    """'sidecars' (every one), or a part whose sidecars are meant."""
    return "" if target == "sidecars" else part_problem(target, topology)


def service_problem(target: str, topology: Topology) -> str:
    """A service, not an instance."""
    if target in topology.services:
        return ""
    return f"no service {target!r} in topology {topology.name}"


def tcp_service_of(target: str, topology: Topology) -> str:
    """The `protocol: tcp` service `target` (a service or an instance) belongs to, or ''."""
    services = topology.services
    service = target if target in services else target.rpartition("-")[0]
    if service in services and services[service].protocol == "tcp":
        return service
    return ""


def no_problem(target: str, topology: Topology) -> str:
    """Any target (the kind has one fixed part, e.g. the control plane)."""
    return ""


def _instances(topology: Topology) -> set[str]:
    return {i.name for i in topology.instances()}
