"""The fault-kind registry: every fault kind, with its spec model, injector and rollback.

A kind is one `FaultKind` line in `REGISTRY` below:

    FaultKind("toxic", ToxicFault, ToxicInjector, steps=(REMOVE_TOXIC,))

- the spec model (`harness.spec.faults`) checks the file's `params` and carries the kind's
  target rule (`topology_problem`), so that `meshproof validate` checks a file without
  loading any injector;
- the injector factory, `(fault, FaultContext) -> Injector`, is called with the validated
  model (`make_injector`);
- the rollback step types its injector writes into `rollback_entry()`, each a `StepKind`
  (a `RollbackStep` model discriminated by its `action`, and the function that carries it
  out), which is how `meshproof recover` undoes the fault from the ledger alone;
- `background`: apply() takes longer than an instant and runs in a thread of its own.

Why here and not in the spec: the spec layer must not import injectors (they bring the
runtimes, HTTP, Docker and Kubernetes clients), while the injectors import the spec's
models. So the spec lists its models once (the `FaultSpec` union, from which
`FAULT_KINDS` is read) and this registry, above it, binds each kind to the rest; a unit
test checks that every spec kind is registered here and nothing else is. A new kind: its
model in the `FaultSpec` union, its injector and steps in a module of `harness.faults`, and
its line below.

`REGISTRY` is built once at import and never changes (no kind registers itself later).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from harness.errors import FaultError
from harness.faults.base import FaultContext, Injector, per_runtime
from harness.faults.behaviour import RESTORE_BEHAVIOUR, ServiceBehaviourInjector
from harness.faults.container import (
    CONNECT_NETWORK,
    START_CONTAINER,
    UNPAUSE_CONTAINER,
    ContainerInjector,
)
from harness.faults.kube import (
    KUBE_POD_DELETED,
    RESTORE_KUBE_OBJECT,
    ConsulPolicyInjector,
    DeploymentScaleInjector,
    IstioFaultInjector,
    IstioPolicyInjector,
    IstioTrafficSplitInjector,
    LinkerdPolicyInjector,
    LinkerdRouteSplitInjector,
    PodDeleteInjector,
)
from harness.faults.kube_network import KubeNetworkDisconnectInjector
from harness.faults.kube_place import in_place
from harness.faults.kube_process import (
    KUBE_CONTAINER_READY,
    KUBE_RESUME_PROCESSES,
    KubeContainerInjector,
)
from harness.faults.kube_rollout import (
    FINISH_KUBE_ROLLOUT,
    KubeControlPlaneOutageInjector,
    KubeRollingRestartInjector,
)
from harness.faults.mesh import (
    RESTORE_POLICY,
    MeshFaultInjector,
    PolicyInjector,
    TrafficSplitInjector,
)
from harness.faults.network import ENABLE_PROXY, REMOVE_TOXIC, ProxyDownInjector, ToxicInjector
from harness.faults.process import (
    ENSURE_RUNNING,
    RESUME_PROCESS,
    ControlPlaneOutageInjector,
    ProcessKillInjector,
    ProcessPauseInjector,
    ProcessRestartInjector,
    RollingRestartInjector,
)
from harness.faults.steps import RollbackStep, StepKind
from harness.spec.faults import (
    ContainerFault,
    ControlPlaneOutageFault,
    FaultBase,
    FaultSpec,
    MeshFaultFault,
    PolicyFault,
    ProcessFault,
    ProxyDownFault,
    RollingRestartFault,
    ServiceBehaviourFault,
    ToxicFault,
    TrafficSplitFault,
    kinds_of,
)
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

F = TypeVar("F", bound=FaultBase)


@dataclass(frozen=True)
class FaultKind(Generic[F]):
    """One fault kind: its name, spec model, injector factory and rollback step types."""

    name: str
    model: type[F]
    injector: Callable[[F, FaultContext], Injector]
    steps: tuple[StepKind[Any], ...]
    background: bool = False

    def __post_init__(self) -> None:
        if self.name not in kinds_of(self.model):
            raise ValueError(f"fault kind {self.name!r}: {self.model.__name__} does not take it")


class FaultKinds:
    """The registered kinds, looked up by kind name and by rollback step action."""

    def __init__(self, *kinds: FaultKind[Any]) -> None:
        self._kinds: dict[str, FaultKind[Any]] = {}
        self._steps: dict[str, StepKind[Any]] = {}
        for kind in kinds:
            if kind.name in self._kinds:
                raise ValueError(f"fault kind {kind.name!r} registered twice")
            self._kinds[kind.name] = kind
            for step in kind.steps:
                known = self._steps.setdefault(step.action, step)
                if known != step:
                    raise ValueError(f"rollback step {step.action!r} registered twice")

    def names(self) -> list[str]:
        return list(self._kinds)

    def kind(self, name: str) -> FaultKind[Any]:
        try:
            return self._kinds[name]
        except KeyError:
            raise FaultError(f"no injector for fault kind {name!r}") from None

    def make_injector(self, fault: FaultSpec, ctx: FaultContext) -> Injector:
        """The injector for `fault`'s kind; its target is resolved (and checked) here."""
        kind = self._kinds.get(fault.kind)
        if kind is None:
            raise FaultError(f"fault {fault.name!r}: no injector for kind {fault.kind!r}")
        return kind.injector(fault, ctx)

    def step_kinds(self) -> list[StepKind[Any]]:
        return list(self._steps.values())

    def actions(self) -> list[str]:
        """The rollback step actions of every registered kind."""
        return list(self._steps)

    def step_kind(self, step: RollbackStep) -> StepKind[Any]:
        """The registered type of a parsed step (its executor is `.run`)."""
        return self._step_kind_of(step.action)

    def parse_step(self, raw: Mapping[str, Any]) -> RollbackStep:
        """A step as the ledger holds it, as its typed model; FaultError if it is none."""
        action = raw.get("action")
        kind = self._step_kind_of(action)
        try:
            return kind.model.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise FaultError(f"rollback step {action}: {where}: {first['msg']}") from None

    def _step_kind_of(self, action: object) -> StepKind[Any]:
        kind = self._steps.get(action) if isinstance(action, str) else None
        if kind is None:
            raise FaultError(f"unknown rollback step {action!r}")
        return kind


REGISTRY = FaultKinds(
    FaultKind("toxic", ToxicFault, ToxicInjector, (REMOVE_TOXIC,)),
    FaultKind("proxy_down", ProxyDownFault, ProxyDownInjector, (ENABLE_PROXY,)),
    FaultKind("mesh_fault", MeshFaultFault, MeshFaultInjector, (RESTORE_POLICY,)),
    FaultKind("policy", PolicyFault, PolicyInjector, (RESTORE_POLICY,)),
    FaultKind("traffic_split", TrafficSplitFault, TrafficSplitInjector, (RESTORE_POLICY,)),
    FaultKind(
        "service_behaviour", ServiceBehaviourFault, ServiceBehaviourInjector, (RESTORE_BEHAVIOUR,)
    ),
    FaultKind(
        "process_kill",
        ProcessFault,
        per_runtime(ProcessKillInjector, KubeContainerInjector),
        (ENSURE_RUNNING, KUBE_CONTAINER_READY),
    ),
    FaultKind(
        "process_pause",
        ProcessFault,
        per_runtime(ProcessPauseInjector, KubeContainerInjector),
        (RESUME_PROCESS, KUBE_RESUME_PROCESSES),
    ),
    FaultKind(
        "process_restart",
        ProcessFault,
        per_runtime(ProcessRestartInjector, KubeContainerInjector),
        (ENSURE_RUNNING, KUBE_CONTAINER_READY),
    ),
    FaultKind(
        "rolling_restart",
        RollingRestartFault,
        per_runtime(RollingRestartInjector, KubeRollingRestartInjector),
        (ENSURE_RUNNING, FINISH_KUBE_ROLLOUT),
        background=True,
    ),
    FaultKind(
        "control_plane_outage",
        ControlPlaneOutageFault,
        per_runtime(ControlPlaneOutageInjector, KubeControlPlaneOutageInjector),
        (ENSURE_RUNNING, RESTORE_KUBE_OBJECT),
    ),
    FaultKind(
        "container_kill",
        ContainerFault,
        per_runtime(ContainerInjector, KubeContainerInjector),
        (START_CONTAINER, KUBE_CONTAINER_READY),
    ),
    FaultKind(
        "container_pause",
        ContainerFault,
        per_runtime(ContainerInjector, KubeContainerInjector),
        (UNPAUSE_CONTAINER, KUBE_RESUME_PROCESSES),
    ),
    FaultKind(
        "container_restart",
        ContainerFault,
        per_runtime(ContainerInjector, KubeContainerInjector),
        (START_CONTAINER, KUBE_CONTAINER_READY),
    ),
    FaultKind(
        "network_disconnect",
        ContainerFault,
        per_runtime(ContainerInjector, KubeNetworkDisconnectInjector),
        (CONNECT_NETWORK, RESTORE_KUBE_OBJECT),
    ),
    FaultKind("istio_fault", IstioFaultFault, in_place(IstioFaultInjector), (RESTORE_KUBE_OBJECT,)),
    FaultKind(
        "istio_policy", IstioPolicyFault, in_place(IstioPolicyInjector), (RESTORE_KUBE_OBJECT,)
    ),
    FaultKind(
        "istio_traffic_split",
        IstioTrafficSplitFault,
        in_place(IstioTrafficSplitInjector),
        (RESTORE_KUBE_OBJECT,),
    ),
    FaultKind(
        "linkerd_policy",
        LinkerdPolicyFault,
        in_place(LinkerdPolicyInjector),
        (RESTORE_KUBE_OBJECT,),
    ),
    FaultKind(
        "linkerd_route_split",
        LinkerdRouteSplitFault,
        in_place(LinkerdRouteSplitInjector),
        (RESTORE_KUBE_OBJECT,),
    ),
    FaultKind(
        "consul_policy", ConsulPolicyFault, in_place(ConsulPolicyInjector), (RESTORE_KUBE_OBJECT,)
    ),
    FaultKind("pod_delete", PodDeleteFault, in_place(PodDeleteInjector), (KUBE_POD_DELETED,)),
    FaultKind(
        "deployment_scale",
        DeploymentScaleFault,
        in_place(DeploymentScaleInjector),
        (RESTORE_KUBE_OBJECT,),
    ),
)


def make_injector(fault: FaultSpec, ctx: FaultContext) -> Injector:
    """The registered injector for `fault`'s kind; its target is resolved (and checked) here."""
    return REGISTRY.make_injector(fault, ctx)
