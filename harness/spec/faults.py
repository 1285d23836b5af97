"""`faults:` — what goes wrong, where, when and for how long.

Every fault has a `name` (phases are named after it: `during:<name>`), a `kind`, a
`target`, `at` (offset from the end of warm-up) and an optional `duration` (none: it
stays until the end of the run). Each kind's `params` are checked by a model of their
own, the one its injector's input is checked by, so a file that validates is not refused
after deploy: the toxic's attributes per Toxiproxy type, Istio's HTTPFaultInjection
(`mesh_runtime.config.policy.Fault`), a JSON merge patch that must give a valid
`ServicePolicy`, a partial `Behaviour` of the sample service (`harness.spec.params`);
kinds without parameters take none. Each model's `topology_problem` is its kind's target
rule (`harness.spec.targets`), checked by `meshproof validate` against the topology.
The kinds made through the Kubernetes API (istio_fault, ..., deployment_scale) are
modelled in `harness.spec.kube_faults`.

`FaultSpec` lists the models once; `FAULT_MODELS` and `FAULT_KINDS` are read from it. A
kind's injector and rollback are registered beside it in `harness.faults.kinds` (this
layer never imports injectors: validating a file loads no Docker, Kubernetes or HTTP
client).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, get_args

from pydantic import (
    AfterValidator,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from harness.spec.external_rules import proxy_problem
from harness.spec.fault_base import FaultBase, FaultModel, FieldProblem
from harness.spec.kube_faults import (
    ConsulPolicyFault,
    DeploymentScaleFault,
    IstioFaultFault,
    IstioPolicyFault,
    IstioTrafficSplitFault,
    LinkerdPolicyFault,
    LinkerdRouteSplitFault,
    PodDeleteFault,
)
from harness.spec.params import TOXIC_ATTRIBUTES, behaviour_change, policy_patch
from harness.spec.targets import (
    container_problem,
    edge_problem,
    no_problem,
    part_problem,
    process_problem,
    service_problem,
    sidecars_problem,
    tcp_service_of,
)
from mesh_runtime.config.policy import Fault
from mesh_runtime.target import TargetFile
from mesh_runtime.topology import Topology
from mesh_runtime.units import Duration
from mesh_runtime.validation import NestedProblem

_EDGE = re.compile(r"^[a-z][a-z0-9-]*->[a-z][a-z0-9-]*$")
_PROCESS = re.compile(r"^(sidecar|service|container):[a-z][a-z0-9-]*$|^control-plane$")

TOXIC_TYPES = (
    "latency",
    "bandwidth",
    "slow_close",
    "timeout",
    "reset_peer",
    "slicer",
    "limit_data",
)


class NoParams(FaultModel):
    """The params of a kind that takes none."""


def _on_target(problem: str) -> FieldProblem | None:
    return ("target", problem) if problem else None


L4_INSTEAD = "use a toxic or proxy_down on an edge to it (toxiproxy.edges)"


def _tcp_problem(target: str, topology: Topology, what: str) -> FieldProblem | None:
    """A fault the sidecars' L4 proxy (or the tcp app) of a `protocol: tcp` service never
    applies: `what` says why, in a clause."""
    service = tcp_service_of(target, topology)
    return _on_target(f"{service} speaks tcp: {what}; {L4_INSTEAD}") if service else None


TargetRule = Callable[[str, Topology], str]
"""A kind's target rule from `harness.spec.targets`: why `target` is not one, or ''."""


class RuleFault(FaultBase):
    """A kind whose target is checked by one rule (`target_rule`) and nothing else."""

    target_rule: ClassVar[TargetRule]
    if TYPE_CHECKING:  # each kind declares its own `target` field (the fields' order stays)
        target: str

    def topology_problem(
        self, topology: Topology, faults: Sequence[FaultBase]
    ) -> FieldProblem | None:
        return _on_target(type(self).target_rule(self.target, topology))


class EdgeFault(RuleFault):
    """A kind acting on a Toxiproxy proxy: an edge, or one endpoint of it."""

    target_rule = edge_problem

    def external_problem(self, target: TargetFile) -> FieldProblem | None:
        return _on_target(proxy_problem(self.target, target))


class ToxicParams(FaultModel):
    type: Literal[
        "latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data"
    ]
    stream: Literal["upstream", "downstream"] = "downstream"
    toxicity: float = Field(1.0, ge=0.0, le=1.0)
    attributes: dict[str, int] = {}
    """Toxiproxy's own attributes of the type (`TOXIC_ATTRIBUTES`)."""

    @model_validator(mode="after")
    def _attributes(self) -> ToxicParams:
        model = TOXIC_ATTRIBUTES[self.type]
        try:
            model.model_validate(self.attributes)
        except ValidationError as exc:
            inner = NestedProblem.of(exc, self.attributes, model)
            raise NestedProblem(f"attributes.{inner.path}", str(inner)) from None
        return self


def _edge_target(value: str) -> str:
    if not _EDGE.match(value):
        raise ValueError(
            "expected an edge like 'frontend->catalog' or one endpoint like 'frontend->catalog-1'"
        )
    return value


EdgeTarget = Annotated[str, AfterValidator(_edge_target)]
"""A Toxiproxy edge, 'frontend->catalog', or one endpoint of it, 'frontend->catalog-1'."""


class ToxicFault(EdgeFault):
    """A Toxiproxy toxic on an edge, or on one endpoint of it ('frontend->catalog-1')."""

    kind: Literal["toxic"]
    target: EdgeTarget
    params: ToxicParams


class ProxyDownFault(EdgeFault):
    """The Toxiproxy proxy of an edge (or one endpoint) disabled: connections refused."""

    kind: Literal["proxy_down"]
    target: EdgeTarget
    params: NoParams = NoParams()


class MeshFaultFault(FaultBase):
    """The mesh's own L7 fault (Istio VirtualService fault) on a service's routes."""

    kind: Literal["mesh_fault"]
    target: str
    route: str | None = None
    """Only this route of the service; every route when none."""
    params: Fault

    @field_validator("params")
    @classmethod
    def _does_something(cls, value: Fault) -> Fault:
        if value.delay is None and value.abort is None:
            raise ValueError("expected delay, abort or both (Istio's HTTPFaultInjection)")
        return value

    def topology_problem(
        self, topology: Topology, faults: Sequence[FaultBase]
    ) -> FieldProblem | None:
        problem = _on_target(part_problem(self.target, topology)) or _tcp_problem(
            self.target,
            topology,
            "a mesh_fault is HTTP fault injection, which the sidecars' L4 proxy of a tcp"
            " service never applies",
        )
        if problem is None and self.route is not None:
            routes = route_names(faults, topology, self.target)
            if self.route not in routes:
                return (
                    "route",
                    f"{self.target} has no route {self.route!r} (routes: {', '.join(routes)})",
                )
        return problem


class PolicyFault(RuleFault):
    """A change to a service's policy (JSON merge patch of its ServicePolicy)."""

    kind: Literal["policy"]
    target: str
    params: dict[str, Any]
    target_rule = part_problem

    @field_validator("params")
    @classmethod
    def _patch(cls, value: dict[str, Any]) -> dict[str, Any]:
        return policy_patch(value)

    def topology_problem(
        self, topology: Topology, faults: Sequence[FaultBase]
    ) -> FieldProblem | None:
        problem = super().topology_problem(topology, faults)
        if problem is None and "http" in self.params:
            service = tcp_service_of(self.target, topology)
            if service:
                return (
                    "params.http",
                    f"{service} speaks tcp: its sidecars proxy it at L4 and use only"
                    " trafficPolicy (loadBalancer, connectionPool.tcp, outlierDetection);"
                    " http routes (retries, timeout, fault) never apply",
                )
        return problem


class TrafficSplitFault(FaultBase):
    """Weights between a service's versions, e.g. {v1: 90, v2: 10} (a canary step)."""

    kind: Literal["traffic_split"]
    target: str
    params: dict[str, int]

    @field_validator("params")
    @classmethod
    def _weights(cls, value: dict[str, int]) -> dict[str, int]:
        if not value or sum(value.values()) != 100 or min(value.values()) < 0:
            raise ValueError("expected version weights adding up to 100, like {v1: 90, v2: 10}")
        return value

    def topology_problem(
        self, topology: Topology, faults: Sequence[FaultBase]
    ) -> FieldProblem | None:
        problem = _on_target(service_problem(self.target, topology))
        if problem is None:
            versions = [v.name for v in topology.services[self.target].versions]
            unknown = sorted(set(self.params) - set(versions))
            if unknown:
                return (
                    "params",
                    f"{self.target} has no version {unknown[0]!r} (versions: {', '.join(versions)})",
                )
        return problem


class ServiceBehaviourFault(RuleFault):
    """A sample service instance (or every instance of a service) misbehaves."""

    kind: Literal["service_behaviour"]
    target: str
    params: dict[str, Any]
    """Fields of `mesh_runtime.services.behaviour.Behaviour` to change."""
    target_rule = part_problem

    @field_validator("params")
    @classmethod
    def _change(cls, value: dict[str, Any]) -> dict[str, Any]:
        return behaviour_change(value)

    def topology_problem(
        self, topology: Topology, faults: Sequence[FaultBase]
    ) -> FieldProblem | None:
        return super().topology_problem(topology, faults) or _tcp_problem(
            self.target,
            topology,
            "its key-value store has no behaviour API (latency, errors, hang are the HTTP"
            " and gRPC sample services')",
        )


class ProcessFault(RuleFault):
    """kill (restarted when the duration ends), pause (SIGSTOP, SIGCONT when it ends),
    restart; target 'sidecar:catalog-0', 'service:catalog-0' or 'control-plane'."""

    kind: Literal["process_kill", "process_pause", "process_restart"]
    target: str
    params: NoParams = NoParams()
    target_rule = process_problem

    @field_validator("target")
    @classmethod
    def _process(cls, value: str) -> str:
        if not _PROCESS.match(value):
            raise ValueError(
                "expected 'sidecar:<instance>', 'service:<instance>' or 'control-plane'"
            )
        return value


class RollingRestartParams(FaultModel):
    interval: Duration = 2.0
    """Pause between one instance ready again and the next one's restart."""


class RollingRestartFault(RuleFault):
    """Every sidecar (target 'sidecars') or every sidecar of one service restarted, one at
    a time: the shape of a mesh upgrade."""

    kind: Literal["rolling_restart"]
    target: str = "sidecars"
    params: RollingRestartParams = RollingRestartParams()
    target_rule = sidecars_problem


class ControlPlaneOutageFault(RuleFault):
    """The control plane is killed for `duration` and started again."""

    kind: Literal["control_plane_outage"]
    target: str = "control-plane"
    params: NoParams = NoParams()
    target_rule = no_problem


class ContainerFault(RuleFault):
    """Docker runtime only: kill, pause (freeze / thaw), restart, network disconnect."""

    kind: Literal["container_kill", "container_pause", "container_restart", "network_disconnect"]
    target: str
    params: NoParams = NoParams()
    target_rule = container_problem


FaultSpec = Annotated[
    ToxicFault
    | ProxyDownFault
    | MeshFaultFault
    | PolicyFault
    | TrafficSplitFault
    | ServiceBehaviourFault
    | ProcessFault
    | RollingRestartFault
    | ControlPlaneOutageFault
    | ContainerFault
    | IstioFaultFault
    | IstioPolicyFault
    | IstioTrafficSplitFault
    | LinkerdPolicyFault
    | LinkerdRouteSplitFault
    | ConsulPolicyFault
    | PodDeleteFault
    | DeploymentScaleFault,
    Field(discriminator="kind"),
]

FAULT_MODELS: tuple[type[FaultBase], ...] = get_args(get_args(FaultSpec)[0])
"""The fault models, one per family of kinds: the union above is their one list."""


def kinds_of(model: type[FaultBase]) -> tuple[str, ...]:
    """The kind names a fault model takes (its `kind` Literal)."""
    return get_args(model.model_fields["kind"].annotation)


FAULT_KINDS = tuple(kind for model in FAULT_MODELS for kind in kinds_of(model))
"""Every fault kind, in the order of the models (an injector for each: harness.faults.kinds)."""


def route_names(faults: Sequence[FaultBase], topology: Topology, target: str) -> list[str]:
    """The route names `target`'s policy has: the topology's, and any a policy fault of the
    experiment gives it."""
    service = target if target in topology.services else target.rpartition("-")[0]
    spec = topology.services.get(service)
    names = [r.name for r in spec.policy.http] if spec is not None else []
    for fault in faults:
        if isinstance(fault, PolicyFault) and fault.target == service:
            http = fault.params.get("http")
            names += [r.get("name", "default") for r in http or [] if isinstance(r, dict)]
    return sorted(set(names)) or ["default"]
