"""L7 faults and policy changes through the control plane.

Each one reads the service's current policy first (that is what its rollback restores,
exactly), changes it, and waits until every sidecar runs the new config version, so that
the fault is in force when apply() returns and gone when revert() returns. The rollback
step `restore_policy` puts the snapshot back; the control plane's token is read from the
deployment's state file, never written into the step.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Literal

from harness.errors import FaultError
from harness.faults.base import FaultContext
from harness.faults.policies import with_fault, with_split
from harness.faults.steps import DeploymentStep, RollbackEntry, StepKind, StepTools
from harness.faults.targets import service_of
from harness.spec.faults import MeshFaultFault, PolicyFault, TrafficSplitFault
from mesh_runtime.config.policy import ServicePolicy
from mesh_runtime.control.client import ControlPlaneClient
from mesh_runtime.runtimes import deployment as state


class RestorePolicy(DeploymentStep):
    action: Literal["restore_policy"] = "restore_policy"
    control_url: str
    service: str
    policy: dict[str, Any]

    def describe(self) -> str:
        return f"restore the policy of {self.service}"


def restore_policy(step: RestorePolicy, tools: StepTools) -> None:
    token = state.load(step.state_file).control_token
    with ControlPlaneClient(step.control_url, token) as client:
        client.put_policy(step.service, step.policy)


RESTORE_POLICY = StepKind(RestorePolicy, restore_policy)


class _PolicyChange(ABC):
    """Shared by the three: snapshot, change, wait for the push; revert restores the snapshot."""

    kind = ""

    def __init__(self, name: str, target: str, ctx: FaultContext) -> None:
        self.name = name
        self._ctx = ctx
        self._control = ctx.need_control(self.kind)
        self._service = service_of(ctx.deployment, target)
        self._previous: ServicePolicy | None = None

    def rollback_entry(self) -> RollbackEntry:
        step = RestorePolicy(
            state_file=self._ctx.state_path,
            control_url=self._ctx.deployment.control_url or "",
            service=self._service,
            policy=self._snapshot().model_dump(mode="json"),
        )
        return RollbackEntry(fault=self.name, kind=self.kind, target=self._service, steps=[step])

    def apply(self) -> None:
        version = self._change(self._snapshot())
        self._wait(version)

    def revert(self) -> None:
        version = self._control.put_policy(self._service, self._snapshot())
        self._wait(version)

    @abstractmethod
    def _change(self, previous: ServicePolicy) -> int:
        """Put the faulted policy in place; the new config version."""

    def _snapshot(self) -> ServicePolicy:
        if self._previous is None:
            services = self._control.config().services
            if self._service not in services:
                raise FaultError(f"the control plane has no service {self._service!r}")
            self._previous = services[self._service].policy
        return self._previous

    def _wait(self, version: int) -> None:
        self._control.wait_for_version(
            version, self._ctx.sidecar_instances(), timeout=self._ctx.push_timeout
        )


class MeshFaultInjector(_PolicyChange):
    """Istio's VirtualService fault (delay / abort) on a service's routes."""

    kind = "mesh_fault"

    def __init__(self, fault: MeshFaultFault, ctx: FaultContext) -> None:
        super().__init__(fault.name, fault.target, ctx)
        self._fault = fault

    def _change(self, previous: ServicePolicy) -> int:
        changed = with_fault(previous, self._fault.params, self._fault.route)
        return self._control.put_policy(self._service, changed)


class PolicyInjector(_PolicyChange):
    """A JSON merge patch of a service's policy (retries off, a tighter timeout, ...)."""

    kind = "policy"

    def __init__(self, fault: PolicyFault, ctx: FaultContext) -> None:
        super().__init__(fault.name, fault.target, ctx)
        self._patch = fault.params

    def _change(self, previous: ServicePolicy) -> int:
        return self._control.patch_policy(self._service, self._patch)


class TrafficSplitInjector(_PolicyChange):
    """The first route's destinations become weighted version subsets (a canary step)."""

    kind = "traffic_split"

    def __init__(self, fault: TrafficSplitFault, ctx: FaultContext) -> None:
        super().__init__(fault.name, fault.target, ctx)
        self._weights = dict(fault.params)
        self._versions = {r.version for r in ctx.deployment.instances if r.service == self._service}

    def _change(self, previous: ServicePolicy) -> int:
        changed = with_split(previous, self._weights, self._versions)
        return self._control.put_policy(self._service, changed)
