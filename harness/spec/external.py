"""An experiment checked against an external target (a mesh meshproof did not deploy).

Nothing of such a mesh is meshproof's to kill, pause or reconfigure through the reference
control plane, so the fault kinds that need the reference mesh are refused here, by
`validate`, before anything runs; network faults need the target's Toxiproxy and a proxy
on the edge; a fault that names a Kubernetes namespace must name one the target file
allows. Pure: the files alone decide.
"""

from __future__ import annotations

from harness.errors import ExperimentError
from harness.spec.experiment import Experiment
from harness.spec.faults import FaultSpec
from harness.spec.lint import SpecWarning
from mesh_runtime.target import TargetFile

REFERENCE_MESH_KINDS = frozenset(
    {
        "mesh_fault",
        "policy",
        "traffic_split",
        "service_behaviour",
        "process_kill",
        "process_pause",
        "process_restart",
        "rolling_restart",
        "control_plane_outage",
        "container_kill",
        "container_pause",
        "container_restart",
        "network_disconnect",
    }
)
"""Fault kinds that act on the reference mesh's control plane, sample services, processes
or containers: none of them can touch a mesh someone else runs."""
NETWORK_KINDS = frozenset({"toxic", "proxy_down"})
MESH_OF_KIND_PREFIX: dict[str, tuple[str, ...]] = {
    "istio_": ("istio", "meshproof"),
    "linkerd_": ("linkerd",),
    "consul_": ("consul",),
}
"""A mesh's own fault kinds act on its API objects: Istio's also on the reference mesh,
whose control plane can read them."""
REFERENCE_ROLLBACKS = frozenset({"policy", "service_behaviour"})


def check_external(experiment: Experiment, target: TargetFile, source: str) -> None:
    """ExperimentError (one line) when `experiment` cannot run against `target` as written."""
    if experiment.target.compare_to is not None:
        raise ExperimentError(
            source,
            "target.compare_to",
            f"an external target ({target.name}) is not deployed by meshproof, so it cannot"
            " be deployed again in another mode",
        )
    if experiment.target.mode != "mesh":
        raise ExperimentError(
            source, "target.mode", f"an external target ({target.name}) is a mesh as it runs"
        )
    for index, fault in enumerate(experiment.faults):
        problem, field = fault_problem(fault, target)
        if problem:
            raise ExperimentError(source, f"faults[{index}].{field}", problem)
    for index, rollback in enumerate(experiment.rollbacks):
        if rollback.kind in REFERENCE_ROLLBACKS:
            raise ExperimentError(
                source,
                f"rollbacks[{index}].kind",
                f"{rollback.kind} needs the reference mesh meshproof deploys; the target"
                f" {target.name} is an external {target.mesh} mesh",
            )


def external_warnings(experiment: Experiment, source: str) -> list[SpecWarning]:
    """What validate says about faults on an external mesh besides refusing them (a
    Kubernetes kind's own `warnings()`: Istio turns off retries on a faulted route...)."""
    found: list[SpecWarning] = []
    for index, fault in enumerate(experiment.faults):
        own = getattr(fault, "warnings", None)
        if callable(own):
            found.extend(SpecWarning(source, f"faults[{index}]", text) for text in own())
    return found


def fault_problem(fault: FaultSpec, target: TargetFile) -> tuple[str, str]:
    """Why `fault` cannot act on `target` and the field at fault, or ('', '')."""
    if fault.kind in REFERENCE_MESH_KINDS:
        return (
            f"{fault.kind} needs the reference mesh meshproof deploys (its control plane,"
            f" sample services, processes or containers); the target {target.name} is an"
            f" external {target.mesh} mesh: use network faults (toxic, proxy_down) or the"
            " mesh's own API",
            "kind",
        )
    if fault.kind in NETWORK_KINDS:
        return edge_problem(fault.target, target), "target"
    meshes = next((m for p, m in MESH_OF_KIND_PREFIX.items() if fault.kind.startswith(p)), None)
    if meshes is not None and target.mesh not in meshes:
        return (
            f"{fault.kind} changes {meshes[0]}'s API objects; the target {target.name} is a"
            f" {target.mesh} mesh",
            "kind",
        )
    kube_rule = getattr(fault, "namespace_problem", None)  # the Kubernetes kinds' own rule
    if callable(kube_rule):
        if target.kubernetes is None:
            return (
                f"{fault.kind} goes through the Kubernetes API; the target {target.name} has no"
                " kubernetes: section",
                "kind",
            )
        found = kube_rule(target.kubernetes.namespaces)
        return (found[1], found[0]) if found else ("", "")
    return "", ""


def edge_problem(edge: str, target: TargetFile) -> str:
    """Why no Toxiproxy proxy of `target` stands on `edge` ('a->b' or 'a->b-1'), or ''."""
    if target.toxiproxy is None:
        return f"the target {target.name} has no Toxiproxy (toxiproxy: in its file)"
    proxies = target.toxiproxy.proxies
    source, _, destination = edge.partition("->")
    if any(p.edge == edge for p in proxies):
        return ""
    if any(p.instance == destination and p.edge.startswith(f"{source}->") for p in proxies):
        return ""
    endpoints = {f"{p.edge.partition('->')[0]}->{p.instance}" for p in proxies if p.instance}
    known = sorted({p.edge for p in proxies} | endpoints)
    listed = ", ".join(known) if known else "none"
    return f"no Toxiproxy proxy of the target {target.name} stands on {edge} (proxied: {listed})"
