"""Each fault's target checked against the experiment's topology (`meshproof validate`).

The experiment file alone says a target is well formed (`catalog->inventory-0`,
`sidecar:catalog-1`); only the topology says it exists: the instance is there, the edge
goes through Toxiproxy, the split names versions the service has.
"""

from __future__ import annotations

from harness.errors import ExperimentError
from harness.spec.experiment import Experiment
from harness.spec.faults import MeshFaultFault, PolicyFault, TrafficSplitFault
from mesh_runtime.topology import Topology


def check_targets(experiment: Experiment, topology: Topology, source: str) -> None:
    """Every fault's target names a part of the topology; ExperimentError otherwise."""
    for index, fault in enumerate(experiment.faults):
        problem = target_problem(fault.kind, fault.target, topology)
        if problem:
            raise ExperimentError(source, f"faults[{index}].target", problem)
        if isinstance(fault, MeshFaultFault) and fault.route is not None:
            routes = route_names(experiment, topology, fault.target)
            if fault.route not in routes:
                raise ExperimentError(
                    source,
                    f"faults[{index}].route",
                    f"{fault.target} has no route {fault.route!r} (routes: {', '.join(routes)})",
                )
        if isinstance(fault, TrafficSplitFault):
            versions = [v.name for v in topology.services[fault.target].versions]
            unknown = sorted(set(fault.params) - set(versions))
            if unknown:
                raise ExperimentError(
                    source,
                    f"faults[{index}].params",
                    f"{fault.target} has no version {unknown[0]!r} (versions: {', '.join(versions)})",
                )


def route_names(experiment: Experiment, topology: Topology, target: str) -> list[str]:
    """The route names `target`'s policy has: the topology's, and any a policy fault of the
    experiment gives it."""
    service = target if target in topology.services else target.rpartition("-")[0]
    spec = topology.services.get(service)
    names = [r.name for r in spec.policy.http] if spec is not None else []
    for fault in experiment.faults:
        if isinstance(fault, PolicyFault) and fault.target == service:
            http = fault.params.get("http")
            names += [r.get("name", "default") for r in http or [] if isinstance(r, dict)]
    return sorted(set(names)) or ["default"]


PROCESS_KINDS = ("process_kill", "process_pause", "process_restart")
CONTAINER_KINDS = ("container_kill", "container_pause", "container_restart", "network_disconnect")
PLAIN_PARTS = ("control-plane", "toxiproxy", "trace-sink")
"""Containers a container fault may name without an instance (see harness.faults.container)."""


def target_problem(kind: str, target: str, topology: Topology) -> str:
    """Why `target` cannot be faulted with `kind` in `topology`, or '' if it can."""
    services = set(topology.services)
    instances = {i.name for i in topology.instances()}
    if kind in ("toxic", "proxy_down"):
        source, _, destination = target.partition("->")
        proxied = {e.name for e in topology.proxied_edges()}
        service = destination if destination in services else destination.rpartition("-")[0]
        if f"{source}->{service}" not in proxied:
            return f"edge {source}->{service} does not go through Toxiproxy (toxiproxy.edges)"
        if destination not in services and destination not in instances:
            return f"no instance {destination!r} in topology {topology.name}"
        return ""
    if kind in CONTAINER_KINDS and (target.startswith("container:") or target in PLAIN_PARTS):
        return ""  # a container's name is known once the docker runtime has started it
    if kind in (*PROCESS_KINDS, *CONTAINER_KINDS) and ":" in target:
        target = target.partition(":")[2]
    if kind in ("rolling_restart",) and target == "sidecars":
        return ""
    if kind == "control_plane_outage" or target == "control-plane":
        return ""
    if kind == "traffic_split":
        return "" if target in services else f"no service {target!r} in topology {topology.name}"
    if target in services or target in instances:
        return ""
    return f"no service or instance {target!r} in topology {topology.name}"
