"""Faults made through the Kubernetes API, on a mesh meshproof did not deploy.

Each kind changes API objects of one namespace (`namespace`, else the first of the
target file's `kubernetes.namespaces`; any other is refused by validate):

    istio_fault          target: a host ('catalog'); HTTP delay / abort on its
                         VirtualService's routes (`virtual_service` names one; a host
                         without one gets a VirtualService meshproof makes and deletes)
    istio_policy         target: 'virtualservice/<name>' (retries, timeout of its routes) or
                         'destinationrule/<name>' (connectionPool, outlierDetection)
    istio_traffic_split  target: a VirtualService; a route's weights between subsets
    linkerd_policy       target: 'service/<name>' or 'httproute/<name>'; Linkerd's retry
                         and timeout annotations
    linkerd_route_split  target: an HTTPRoute ('httproute/<name>', or
                         'httproute.policy.linkerd.io/<name>'); a rule's weighted backends
    consul_policy        target: 'servicerouter/<name>', 'serviceresolver/<name>' or
                         'servicedefaults/<name>'; a merge patch of its spec
    pod_delete           target: a label selector ('app=catalog'); count or percentage
    deployment_scale     target: a Deployment; spec.replicas, back at the end

The params models are the patch builders' own (`harness.kube.patches`), so a file that
validates is not refused later for its shape; the API server may still refuse a value
its CRD's schema forbids (one line, the field named).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Literal

from pydantic import AfterValidator, field_validator, model_validator

from harness.kube.patches.consul import ConsulPolicyParams
from harness.kube.patches.istio import (
    CLIENT_SIDE_FAULT_WARNING,
    IstioFaultParams,
    IstioPolicyParams,
    IstioTrafficSplitParams,
)
from harness.kube.patches.linkerd import LinkerdPolicyParams, LinkerdRouteSplitParams
from harness.kube.patches.workloads import DeploymentScaleParams, PodDeleteParams
from harness.kube.targets import (
    CONSUL_OBJECTS,
    HTTP_ROUTE_OBJECTS,
    ISTIO_POLICY_OBJECTS,
    LINKERD_POLICY_OBJECTS,
    is_name,
    namespace_problem,
    object_target,
)
from harness.spec.external_rules import kubernetes_problem
from harness.spec.fault_base import FaultBase, FieldProblem
from mesh_runtime.kube.resources import Resource
from mesh_runtime.target import TargetFile
from mesh_runtime.topology import Topology

_SELECTOR_TERM = (
    r"[A-Za-z0-9./_-]+(\s*(=|==|!=)\s*[A-Za-z0-9._-]*|\s+(in|notin)\s+\(.*\))?|![A-Za-z0-9./_-]+"
)


class KubeFaultBase(FaultBase):
    """What every Kubernetes fault has: the namespace of the objects it changes."""

    kind: str
    target: str
    namespace: str | None = None
    """The objects' namespace; the first of the target file's kubernetes.namespaces when none."""

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str | None) -> str | None:
        if value is not None and not is_name(value):
            raise ValueError(f"expected a Kubernetes namespace name, got {value!r}")
        return value

    def topology_problem(
        self, topology: Topology, faults: Sequence[FaultBase]
    ) -> FieldProblem | None:
        """Checked against a topology only when the experiment targets the reference mesh
        meshproof deploys, which these kinds cannot reach: refused. (Against an external
        target the namespace is checked, `namespace_problem`; the objects themselves when
        the fault reads them.)"""
        own = self.kind in ("pod_delete", "deployment_scale")
        return (
            "kind",
            f"{self.kind} goes through the Kubernetes API of a mesh meshproof did not deploy:"
            " it needs an external target with kubernetes: (target: {external: FILE}, or"
            " run --target FILE)"
            + (", or the kubernetes runtime (target.runtime: kubernetes)" if own else ""),
        )

    def namespace_problem(self, allowed: Sequence[str]) -> FieldProblem | None:
        """('namespace', why) when the target's namespace list does not allow this fault."""
        problem = namespace_problem(self.namespace, allowed)
        return ("namespace", problem) if problem else None

    def warnings(self) -> list[str]:
        """What `validate` should say about this fault besides refusing it."""
        return []

    def changes(self) -> str | None:
        """The object it changes and restores, `<kind>/<name>`, as far as the file says
        (None: it restores nothing, or which object is known only from the API)."""
        return self.target.lower() if "/" in self.target else None

    def external_problem(self, target: TargetFile) -> FieldProblem | None:
        """Another mesh's API kind, a target without `kubernetes:`, or a namespace outside
        its list (`harness.spec.external_rules.kubernetes_problem`)."""
        return kubernetes_problem(self.kind, self.namespace_problem, target)


def _object_name(value: str) -> str:
    if not is_name(value):
        raise ValueError(f"expected a Kubernetes object name, got {value!r}")
    return value


ObjectName = Annotated[str, AfterValidator(_object_name)]
"""A Kubernetes object name (or a host, for istio_fault)."""


def _linkerd_object(value: str) -> str:
    return _kind_and_name(value, LINKERD_POLICY_OBJECTS)


def _http_route(value: str) -> str:
    return _kind_and_name(value, HTTP_ROUTE_OBJECTS)


def _consul_object(value: str) -> str:
    return _kind_and_name(value, CONSUL_OBJECTS)


def _kind_and_name(value: str, kinds: Mapping[str, Resource]) -> str:
    object_target(value, kinds)  # raises ValueError saying the shapes it takes
    return value


LinkerdObject = Annotated[str, AfterValidator(_linkerd_object)]
"""'service/<name>' or 'httproute/<name>' (Gateway API or Linkerd's)."""
HttpRouteObject = Annotated[str, AfterValidator(_http_route)]
"""'httproute/<name>' (Gateway API) or 'httproute.policy.linkerd.io/<name>'."""
ConsulObject = Annotated[str, AfterValidator(_consul_object)]
"""'servicerouter/<name>', 'serviceresolver/<name>' or 'servicedefaults/<name>'."""


class IstioFaultFault(KubeFaultBase):
    kind: Literal["istio_fault"]
    target: ObjectName
    """The host whose VirtualService routes get the fault ('catalog')."""
    virtual_service: str | None = None
    """This VirtualService; the one whose hosts name the target when none."""
    params: IstioFaultParams

    def warnings(self) -> list[str]:
        return [CLIENT_SIDE_FAULT_WARNING]

    def changes(self) -> str | None:
        if self.virtual_service is not None:
            return f"virtualservice/{self.virtual_service}"
        return f"virtualservice/(the one serving host {self.target})"


class IstioPolicyFault(KubeFaultBase):
    kind: Literal["istio_policy"]
    target: str
    params: IstioPolicyParams

    @model_validator(mode="after")
    def _object(self) -> IstioPolicyFault:
        resource, _ = object_target(self.target, ISTIO_POLICY_OBJECTS)
        on_route = resource.kind == "VirtualService"
        if on_route != self.params.on_route:
            keys = (
                "retries / timeout" if self.params.on_route else "connectionPool / outlierDetection"
            )
            raise ValueError(f"{keys} cannot be set on a {resource.kind}")
        return self


class IstioTrafficSplitFault(KubeFaultBase):
    kind: Literal["istio_traffic_split"]
    target: ObjectName
    """The VirtualService."""
    params: IstioTrafficSplitParams

    def changes(self) -> str | None:
        return f"virtualservice/{self.target}"


class LinkerdPolicyFault(KubeFaultBase):
    kind: Literal["linkerd_policy"]
    target: LinkerdObject
    params: LinkerdPolicyParams


class LinkerdRouteSplitFault(KubeFaultBase):
    kind: Literal["linkerd_route_split"]
    target: HttpRouteObject
    params: LinkerdRouteSplitParams


class ConsulPolicyFault(KubeFaultBase):
    kind: Literal["consul_policy"]
    target: ConsulObject
    params: ConsulPolicyParams


class PodDeleteFault(KubeFaultBase):
    kind: Literal["pod_delete"]
    target: str
    """A label selector, as kubectl takes one: 'app=catalog', 'app=catalog,version!=v2'."""
    params: PodDeleteParams

    @field_validator("target")
    @classmethod
    def _selector(cls, value: str) -> str:
        terms = [t.strip() for t in _split_selector(value)]
        if not value.strip() or not all(re.fullmatch(_SELECTOR_TERM, t) for t in terms):
            raise ValueError(f"expected a label selector like 'app=catalog', got {value!r}")
        return value

    def changes(self) -> str | None:
        return None  # deleted pods are replaced by their controllers, not restored


class DeploymentScaleFault(KubeFaultBase):
    kind: Literal["deployment_scale"]
    target: ObjectName
    """The Deployment."""
    params: DeploymentScaleParams

    def changes(self) -> str | None:
        return f"deployment/{self.target}"


def _split_selector(value: str) -> list[str]:
    """Split on commas outside parentheses (`version in (v1,v2)` is one term)."""
    terms, depth, start = [], 0, 0
    for index, char in enumerate(value):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(value[start:index])
            start = index + 1
    terms.append(value[start:])
    return terms


def interleaved_changes(faults: Sequence[FaultBase]) -> list[tuple[int, str]]:
    """(index, warning) for each Kubernetes fault that changes the object an earlier one
    changes while it is on, without one lying inside the other: the first to end finds the
    other's change on the object, and its rollback refuses (one inside the other unwinds
    in order)."""
    kube = [(i, f) for i, f in enumerate(faults) if isinstance(f, KubeFaultBase) and f.changes()]
    found: list[tuple[int, str]] = []
    for later, (j, second) in enumerate(kube):
        for i, first in kube[:later]:
            same = (first.changes(), first.namespace) == (second.changes(), second.namespace)
            if same and _interleaved(first, second):
                found.append(
                    (
                        j,
                        f"changes {second.changes()} as faults[{i}] ({first.name!r}) does, and"
                        " their times overlap without one inside the other: the first to end"
                        " finds the other's change and its rollback refuses; run them one"
                        " after the other, or one inside the other",
                    )
                )
    return found


def _interleaved(a: FaultBase, b: FaultBase) -> bool:
    a_end = a.at + a.duration if a.duration is not None else float("inf")
    b_end = b.at + b.duration if b.duration is not None else float("inf")
    overlap = a.at < b_end and b.at < a_end
    nested = (a.at <= b.at and b_end <= a_end) or (b.at <= a.at and a_end <= b_end)
    return overlap and not nested
