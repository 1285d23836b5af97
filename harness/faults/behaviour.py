"""Sample service misbehaviour through each instance's `/_behaviour` API; the rollback
step `restore_behaviour` PUTs an instance's previous behaviour back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import requests

from harness.errors import FaultError
from harness.faults.base import FaultContext
from harness.faults.steps import DeploymentStep, RollbackEntry, StepKind, StepTools
from harness.faults.targets import instances_for
from harness.spec.faults import ServiceBehaviourFault
from mesh_runtime.runtimes.deployment import InstanceRecord

HTTP_TIMEOUT_S = 5.0


class RestoreBehaviour(DeploymentStep):
    action: Literal["restore_behaviour"] = "restore_behaviour"
    instance: str
    admin_url: str
    behaviour: dict[str, Any]

    def describe(self) -> str:
        return f"restore the behaviour of {self.instance}"


def restore_behaviour(step: RestoreBehaviour, tools: StepTools) -> None:
    put_behaviour(step.admin_url, step.behaviour)


RESTORE_BEHAVIOUR = StepKind(RestoreBehaviour, restore_behaviour)


def behaviour_url(record: InstanceRecord) -> str:
    return f"http://{record.address}:{record.app_port}/_behaviour"


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

    def rollback_entry(self) -> RollbackEntry:
        steps = [
            RestoreBehaviour(
                state_file=self._ctx.state_path,
                instance=instance,
                admin_url=self._urls[instance],
                behaviour=before,
            )
            for instance, before in self._snapshot().items()
        ]
        return RollbackEntry(
            fault=self.name, kind="service_behaviour", target=self._fault.target, steps=steps
        )

    def apply(self) -> None:
        self._snapshot()
        for url in self._urls.values():
            put_behaviour(url, self._change)

    def revert(self) -> None:
        for instance, before in self._snapshot().items():
            put_behaviour(self._urls[instance], before)

    def _snapshot(self) -> dict[str, dict[str, Any]]:
        if self._previous is None:
            self._previous = {i: get_behaviour(url) for i, url in self._urls.items()}
        return self._previous


def get_behaviour(admin_url: str) -> dict[str, Any]:
    """GET a sample service instance's behaviour (`.../_behaviour`)."""
    response = _http("GET", admin_url, None)
    try:
        data = response.json()
    except ValueError:
        raise FaultError(f"GET {admin_url}: the answer was not JSON") from None
    if not isinstance(data, dict):
        raise FaultError(f"GET {admin_url}: expected a JSON object")
    return data


def put_behaviour(admin_url: str, behaviour: Mapping[str, Any]) -> None:
    _http("PUT", admin_url, dict(behaviour))


def _http(method: str, url: str, body: Any) -> requests.Response:
    try:
        response = requests.request(method, url, json=body, timeout=HTTP_TIMEOUT_S)
    except requests.RequestException as exc:
        raise FaultError(f"{method} {url}: {type(exc).__name__}; is the service running?") from None
    if response.status_code != 200:
        raise FaultError(f"{method} {url}: HTTP {response.status_code} {response.text[:200]}")
    return response
