"""What a Kubernetes fault would send to the API server, for `run --dry-run`. Pure.

    for line in planned_calls(fault, "shop"):
        print(line)
    # apply  GET    /apis/networking.istio.io/v1/namespaces/shop/virtualservices  (the VirtualService serving host catalog)
    # apply  PATCH  /apis/.../virtualservices/<it>  merge patch at the resourceVersion read: ...
    # revert GET    /apis/.../virtualservices/<it>
    # revert PUT    /apis/.../virtualservices/<it>  the snapshot, at the resourceVersion just read

Nothing is read to say it: an object found only by a search is written `<it>`.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.kube.state import MARK_ANNOTATION
from harness.kube.targets import (
    CONSUL_OBJECTS,
    HTTP_ROUTE_OBJECTS,
    ISTIO_POLICY_OBJECTS,
    LINKERD_POLICY_OBJECTS,
    object_target,
)
from harness.spec.faults import FaultSpec
from harness.spec.kube_faults import (
    ConsulPolicyFault,
    DeploymentScaleFault,
    IstioFaultFault,
    IstioPolicyFault,
    IstioTrafficSplitFault,
    KubeFaultBase,
    LinkerdPolicyFault,
    LinkerdRouteSplitFault,
    PodDeleteFault,
)
from mesh_runtime.kube.resources import (
    DEPLOYMENT,
    DESTINATION_RULE,
    NETWORK_POLICY,
    POD,
    VIRTUAL_SERVICE,
    Resource,
)
from mesh_runtime.units import format_duration

FOUND = "<it>"


def faults_plan(
    faults: Sequence[FaultSpec | KubeFaultBase],
    namespaces: Sequence[str],
    kubernetes_runtime: bool = False,
) -> list[str]:
    """`run --dry-run`'s lines: each fault in timeline order, with the Kubernetes API calls
    it would make (in its namespace: its own, else the first of `namespaces`). On the
    kubernetes runtime (`kubernetes_runtime`) the process, container, rollout and outage
    faults act through the API server too, on the deployment's own pods and Deployments."""
    lines: list[str] = []
    for fault in sorted(faults, key=lambda f: f.at):
        until = f" for {format_duration(fault.duration)}" if fault.duration else " to the end"
        lines.append(
            f"fault {fault.name} ({fault.kind} on {fault.target}) at {format_duration(fault.at)}{until}:"
        )
        namespace = getattr(fault, "namespace", None) or (
            namespaces[0] if namespaces else "<namespace>"
        )
        if isinstance(fault, KubeFaultBase):
            lines.extend(f"  {call}" for call in planned_calls(fault, namespace))
        elif kubernetes_runtime and fault.kind in RUNTIME_KINDS:
            lines.extend(f"  {call}" for call in runtime_calls(fault.kind, namespace))
        else:
            lines.append("  no Kubernetes API call (it acts on the reference mesh's parts)")
    return lines


_SIGNALS = {"kill": "KILL", "pause": "STOP", "restart": "TERM (KILL after 10 s)"}
RUNTIME_KINDS = frozenset(
    {f"{what}_{how}" for what in ("process", "container") for how in _SIGNALS}
    | {"rolling_restart", "control_plane_outage", "network_disconnect"}
)
"""The kubernetes runtime's faults that are not Kubernetes fault kinds but still act
through the API server (`harness.faults.kube_process`, `harness.faults.kube_rollout`)."""


def runtime_calls(kind: str, namespace: str) -> list[str]:
    """The API calls of one of `RUNTIME_KINDS` on the kubernetes runtime, apply and revert."""
    pods, deployments = POD.path(namespace), DEPLOYMENT.path(namespace)
    if kind == "rolling_restart":
        return [
            _call("apply", "GET", f"{deployments}/{FOUND}", "each instance's, the snapshot"),
            _call(
                "apply",
                "PATCH",
                f"{deployments}/{FOUND}",
                "pod template annotation "
                "kubectl.kubernetes.io/restartedAt, one Deployment at a time",
            ),
            _call("apply", "GET", f"{deployments}/{FOUND}", "until its rollout is complete"),
            "(revert: nothing for a completed rollout; the snapshot back on one never completed)",
        ]
    if kind == "control_plane_outage":
        path = DEPLOYMENT.path(namespace, "control-plane")
        return [
            _call("apply", "GET", path, "the snapshot: spec, labels, annotations, resourceVersion"),
            _call("apply", "PATCH", path, "merge patch: spec.replicas = 0"),
            _call("revert", "GET", path, "unchanged since the fault's patch?"),
            _call("revert", "PUT", path, "the snapshot; then GET until its pod is Ready"),
        ]
    exec_path = f"{pods}/{FOUND}/exec"
    if kind == "network_disconnect":
        return _network_disconnect(namespace, pods, exec_path)
    how = kind.split("_", 1)[1]
    lines = [
        _call("apply", "GET", pods, "the target's pod, by the deployment's labels"),
        _call("apply", "POST", exec_path, "list the target container's processes"),
        _call("apply", "POST", exec_path, f"kill -{_SIGNALS[how]} those processes"),
    ]
    if how == "pause":
        lines.append(_call("revert", "POST", exec_path, "kill -CONT the processes paused"))
    else:
        lines.append(
            _call(
                "revert",
                "GET",
                f"{pods}/{FOUND}",
                "until the kubelet restarted the container and it is ready",
            )
        )
    return lines


def _network_disconnect(namespace: str, pods: str, exec_path: str) -> list[str]:
    policies = NETWORK_POLICY.path(namespace)
    return [
        _call("apply", "GET", pods, "the target's pod and another to connect from, by labels"),
        _call("apply", "POST", exec_path, "a new connection to the target's pod: it connects"),
        _call(
            "apply",
            "POST",
            policies,
            "a NetworkPolicy: the target's pod, Ingress and Egress, no rule",
        ),
        _call(
            "apply", "POST", exec_path, "until a new connection fails (else: deleted, fault fails)"
        ),
        _call("revert", "DELETE", f"{policies}/{FOUND}", "the policy, at the version just read"),
        _call("revert", "POST", exec_path, "until a new connection succeeds again"),
    ]


def planned_calls(fault: KubeFaultBase, namespace: str) -> list[str]:
    """Every API call the fault would make, in order: apply, then revert."""
    if isinstance(fault, PodDeleteFault):
        return _pod_delete(fault, namespace)
    resource, name, find, what = _object(fault)
    path = (
        resource.path(namespace, name) if name != FOUND else f"{resource.path(namespace)}/{FOUND}"
    )
    lines = []
    if find:
        lines.append(_call("apply", "GET", resource.path(namespace), find))
    else:
        lines.append(
            _call("apply", "GET", path, "the snapshot: spec, labels, annotations, resourceVersion")
        )
    if isinstance(fault, IstioTrafficSplitFault):
        lines.append(_call("apply", "GET", DESTINATION_RULE.path(namespace), "the subsets exist"))
    patch = f"merge patch at the resourceVersion read: {what}; annotation {MARK_ANNOTATION}"
    lines.append(_call("apply", "PATCH", path, patch))
    lines.append(_call("revert", "GET", path, "unchanged since the fault's patch?"))
    lines.append(_call("revert", "PUT", path, "the snapshot, at the resourceVersion just read"))
    if isinstance(fault, IstioFaultFault) and fault.virtual_service is None:
        made = VIRTUAL_SERVICE.path(namespace, f"meshproof-{fault.name}".lower())
        lines.append(
            f"(when no VirtualService serves {fault.target}: apply POST {VIRTUAL_SERVICE.path(namespace)}, "
            f"revert GET and DELETE {made})"
        )
    return lines


def permissions(fault: KubeFaultBase) -> list[tuple[str, Resource]]:
    """Every (verb, resource) RBAC must allow the fault in its namespace, apply and revert
    (rollback is a PUT: `update`)."""
    if isinstance(fault, PodDeleteFault):
        return [("list", POD), ("delete", POD)]
    resource, _, find, _ = _object(fault)
    needed = [("list" if find else "get", resource), ("get", resource)]
    needed += [("patch", resource), ("update", resource)]
    if isinstance(fault, IstioTrafficSplitFault):
        needed.append(("list", DESTINATION_RULE))
    if isinstance(fault, IstioFaultFault) and fault.virtual_service is None:
        needed += [("create", VIRTUAL_SERVICE), ("delete", VIRTUAL_SERVICE)]
    return list(dict.fromkeys(needed))


def _object(fault: KubeFaultBase) -> tuple[Resource, str, str, str]:
    """(resource, name, why a list is read first or '', what the patch changes)."""
    if isinstance(fault, IstioFaultFault):
        fault_text = "spec.http[].fault"
        if fault.virtual_service is not None:
            return VIRTUAL_SERVICE, fault.virtual_service, "", fault_text
        return VIRTUAL_SERVICE, FOUND, f"the VirtualService serving host {fault.target}", fault_text
    if isinstance(fault, IstioPolicyFault):
        resource, name = object_target(fault.target, ISTIO_POLICY_OBJECTS)
        where = "spec.http[]" if fault.params.on_route else "spec.trafficPolicy"
        return resource, name, "", f"{where} {', '.join(sorted(fault.params.patch))}"
    if isinstance(fault, IstioTrafficSplitFault):
        return VIRTUAL_SERVICE, fault.target, "", "spec.http[].route weights"
    if isinstance(fault, LinkerdPolicyFault):
        resource, name = object_target(fault.target, LINKERD_POLICY_OBJECTS)
        return resource, name, "", "annotations " + ", ".join(sorted(fault.params.annotations))
    if isinstance(fault, LinkerdRouteSplitFault):
        resource, name = object_target(fault.target, HTTP_ROUTE_OBJECTS)
        return resource, name, "", f"spec.rules[{fault.params.rule}].backendRefs"
    if isinstance(fault, ConsulPolicyFault):
        resource, name = object_target(fault.target, CONSUL_OBJECTS)
        return resource, name, "", "spec " + ", ".join(sorted(fault.params.patch))
    if isinstance(fault, DeploymentScaleFault):
        return DEPLOYMENT, fault.target, "", f"spec.replicas = {fault.params.replicas}"
    raise ValueError(f"no plan for fault kind {fault.kind!r}")


def _pod_delete(fault: PodDeleteFault, namespace: str) -> list[str]:
    how_many = (
        f"{fault.params.count} pod(s)"
        if fault.params.count is not None
        else f"{fault.params.percentage:g} % of the pods"
    )
    return [
        _call("apply", "GET", POD.path(namespace), f"labelSelector={fault.target}"),
        _call(
            "apply",
            "DELETE",
            f"{POD.path(namespace)}/{FOUND}",
            f"{how_many}, each with its uid and resourceVersion as preconditions",
        ),
        "(revert: nothing; each pod's controller replaces it)",
    ]


def _call(when: str, verb: str, path: str, why: str) -> str:
    return f"{when:<6} {verb:<6} {path}  ({why})"


def role_rules(faults: Sequence[KubeFaultBase]) -> list[dict[str, list[str]]]:
    """The rules of an RBAC Role allowing exactly what `faults` need, one per resource."""
    verbs: dict[Resource, list[str]] = {}
    for fault in faults:
        for verb, resource in permissions(fault):
            if verb not in verbs.setdefault(resource, []):
                verbs[resource].append(verb)
    return [
        {"apiGroups": [resource.group], "resources": [resource.plural], "verbs": sorted(found)}
        for resource, found in sorted(verbs.items(), key=lambda item: str(item[0]))
    ]
