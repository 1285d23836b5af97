"""Which faults the kubernetes runtime carries out, and why it refuses the others. Pure.

On `target.runtime: kubernetes` (or `run --runtime kubernetes`) the faults that act
through the mesh's own APIs work as on every runtime: toxics and proxies (the in-cluster
Toxiproxy's API), L7 faults and policies (the control plane's API), service behaviour (each
instance's `/_behaviour`, at its Service). So do the Kubernetes kinds that act on the
runtime's own workloads: `pod_delete` (its label selector narrowed to the deployment's
pods) and `deployment_scale` (an instance's or a part's Deployment), in the deployment's
namespace. `rolling_restart` is a rollout restart of each instance's Deployment in turn and
`control_plane_outage` the control plane's Deployment scaled to 0 for its duration
(harness.faults.kube_rollout). The process and container faults (kill, pause, restart)
signal the target container's processes from inside its pod, through `pods/exec`
(harness.faults.kube_process). `network_disconnect` is a deny-all NetworkPolicy on the
target's pod (harness.faults.kube_network). The other meshes' API kinds are refused with
the reason and what to use instead (the reference mesh takes no Istio, Linkerd or Consul
object).
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.spec.fault_base import FaultBase, FieldProblem
from harness.spec.kube_faults import DeploymentScaleFault, KubeFaultBase, PodDeleteFault
from harness.spec.targets import PLAIN_PARTS, part_problem
from mesh_runtime.topology import Topology

RUNTIME = "kubernetes"
PARTS = (*PLAIN_PARTS, "prometheus")
"""The runtime's own Deployments besides one per instance."""

COMPARE_ON_KUBERNETES = (
    "the kubernetes runtime deploys one copy of a topology per namespace (the objects are"
    " named after its instances), so no second deployment runs beside it; run the other"
    " mode as its own experiment and `meshproof compare` the two runs"
)

REFUSED: dict[str, str] = {}
"""Kinds the kubernetes runtime refuses -> why, and what to use instead."""


def kubernetes_problem(
    fault: FaultBase, topology: Topology, faults: Sequence[FaultBase]
) -> FieldProblem | None:
    """Why `fault` cannot be carried out by the kubernetes runtime on `topology`, or None."""
    kind = str(getattr(fault, "kind", ""))
    if kind in REFUSED:
        return ("kind", f"{kind} on the kubernetes runtime: {REFUSED[kind]}")
    if not isinstance(fault, KubeFaultBase):
        return fault.topology_problem(topology, faults)
    if not isinstance(fault, PodDeleteFault | DeploymentScaleFault):
        return (
            "kind",
            f"{fault.kind} goes through another mesh's API objects; the reference mesh takes"
            " its policies from its control plane: use mesh_fault, policy or traffic_split",
        )
    if fault.namespace is not None:
        return (
            "namespace",
            "the kubernetes runtime's faults act in the deployment's own namespace"
            " (run --namespace): leave namespace out",
        )
    if isinstance(fault, DeploymentScaleFault) and fault.target not in PARTS:
        problem = part_problem(fault.target, topology)
        if problem or fault.target in topology.services:
            return (
                "target",
                f"expected an instance of topology {topology.name} (each has its own"
                f" Deployment) or one of {', '.join(PARTS)}, got {fault.target!r}",
            )
    return None
