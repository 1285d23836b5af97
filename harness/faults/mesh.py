"""L7 faults and policy changes through the control plane.

Each one reads the service's current policy first (that is what its rollback restores,
exactly), changes it, and waits until every sidecar runs the new config version, so that
the fault is in force when apply() returns and gone when revert() returns.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from harness.errors import FaultError
from harness.faults import rollback
from harness.faults.base import FaultContext
from harness.faults.policies import with_fault, with_split
from harness.faults.targets import service_of
from harness.spec.faults import MeshFaultFault, PolicyFault, TrafficSplitFault
from mesh_runtime.config.policy import ServicePolicy


class _PolicyChange(ABC):
    """Shared by the three: snapshot, change, wait for the push; revert restores the snapshot."""

    kind = ""

    def __init__(self, name: str, target: str, ctx: FaultContext) -> None:
        self.name = name
        self._ctx = ctx
        self._control = ctx.need_control(self.kind)
        self._service = service_of(ctx.deployment, target)
        self._previous: ServicePolicy | None = None

    def rollback_entry(self) -> dict[str, Any]:
        previous = self._snapshot().model_dump(mode="json")
        url = self._ctx.deployment.control_url or ""
        step = rollback.restore_policy(self._ctx.state_path, url, self._service, previous)
        return rollback.entry(self.name, self.kind, self._service, [step])

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
