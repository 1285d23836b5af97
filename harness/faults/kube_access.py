"""May the kubernetes runtime's user make a run's faults? Asked before anything is deployed.

`refuse_denied_faults(faults, placement)` asks the API server (a SelfSubjectAccessReview
per call) every permission each fault's injector asks for again when it is built after
the deploy, with the same one-line FaultError: a run its user may not carry out is
refused before the shop is deployed, not after it. What needs the deployed objects (the
target exists, its patch builds) stays with the injectors (harness.faults.kube_place).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from harness.faults.kube_network import refuse_unless_policies
from harness.faults.kube_place import KubeLogin, KubePlace, refuse_if_denied
from harness.faults.kube_process import refuse_unless_exec
from harness.faults.kube_rollout import outage_as_scale, refuse_unless_deployments
from harness.spec.faults import ControlPlaneOutageFault, FaultSpec
from harness.spec.kube_faults import KubeFaultBase
from mesh_runtime.runtimes.deployment import KubernetesPlacement

Refusal = Callable[[FaultSpec, KubePlace], None]


def _outage(fault: FaultSpec, place: KubePlace) -> None:
    assert isinstance(fault, ControlPlaneOutageFault)
    refuse_if_denied(outage_as_scale(fault), place)


def _exec(fault: FaultSpec, place: KubePlace) -> None:
    refuse_unless_exec(fault.name, fault.kind, place)


REFUSALS: dict[str, Refusal] = {
    **{
        f"{what}_{how}": _exec
        for what in ("process", "container")
        for how in ("kill", "pause", "restart")
    },
    "network_disconnect": lambda fault, place: refuse_unless_policies(fault.name, place),
    "rolling_restart": lambda fault, place: refuse_unless_deployments(fault.name, place),
    "control_plane_outage": _outage,
}
"""The kubernetes runtime's own fault kinds that act through the API server (the
Kubernetes fault kinds are `refuse_if_denied`'s), each with its injector's check."""


def refuse_denied_faults(faults: Sequence[FaultSpec], placement: KubernetesPlacement) -> None:
    """FaultError (one line, the injector's) for the first fault whose calls RBAC denies the
    placement's user in its namespace; nothing is deployed or changed."""
    login = KubeLogin(kubeconfig=Path(placement.kubeconfig), context=placement.context)
    with login.connect() as kube:
        place = KubePlace(login=login, namespace=placement.namespace, run="", kube=kube)
        for fault in faults:
            if isinstance(fault, KubeFaultBase):
                refuse_if_denied(fault, place)
            elif fault.kind in REFUSALS:
                REFUSALS[fault.kind](fault, place)
