"""Sample service misbehaviour through each instance's `/_behaviour` API."""

from __future__ import annotations

from typing import Any

from harness.faults import rollback
from harness.faults.base import FaultContext
from harness.faults.targets import instances_for
from harness.spec.faults import ServiceBehaviourFault
from mesh_runtime.runtimes.deployment import InstanceRecord

HOST = "127.0.0.1"


def behaviour_url(record: InstanceRecord) -> str:
    return f"http://{HOST}:{record.app_port}/_behaviour"


class ServiceBehaviourInjector:
    """Latency, errors, hangs or big bodies on one instance or every instance of a service;
    each instance's previous behaviour is read (GET) before the change and PUT back after."""

    def __init__(self, fault: ServiceBehaviourFault, ctx: FaultContext) -> None:
        self.name = fault.name
        self._fault = fault
        self._ctx = ctx
        self._urls = {
            r.instance: behaviour_url(r) for r in instances_for(ctx.deployment, fault.target)
        }
        self._change = dict(fault.params)
        self._previous: dict[str, dict[str, Any]] | None = None

    def rollback_entry(self) -> dict[str, Any]:
        steps = [
            rollback.restore_behaviour(self._ctx.state_path, instance, self._urls[instance], before)
            for instance, before in self._snapshot().items()
        ]
        return rollback.entry(self.name, "service_behaviour", self._fault.target, steps)

    def apply(self) -> None:
        self._snapshot()
        for url in self._urls.values():
            rollback.put_behaviour(url, self._change)

    def revert(self) -> None:
        for instance, before in self._snapshot().items():
            rollback.put_behaviour(self._urls[instance], before)

    def _snapshot(self) -> dict[str, dict[str, Any]]:
        if self._previous is None:
            self._previous = {i: rollback.get_behaviour(url) for i, url in self._urls.items()}
        return self._previous
