"""Network faults through the deployment's Toxiproxy server: toxics and disabled proxies;
their rollback steps `remove_toxic` and `enable_proxy`."""

from __future__ import annotations

from typing import Literal

from harness.faults.base import FaultContext
from harness.faults.steps import DeploymentStep, RollbackEntry, StepKind, StepTools
from harness.faults.targets import proxies_for
from harness.spec.faults import ProxyDownFault, ToxicFault
from mesh_runtime.runtimes.toxiproxy import ToxiproxyClient


class RemoveToxic(DeploymentStep):
    action: Literal["remove_toxic"] = "remove_toxic"
    toxiproxy_url: str
    proxy: str
    toxic: str

    def describe(self) -> str:
        return f"remove toxic {self.toxic} from proxy {self.proxy}"


class EnableProxy(DeploymentStep):
    action: Literal["enable_proxy"] = "enable_proxy"
    toxiproxy_url: str
    proxy: str

    def describe(self) -> str:
        return f"enable proxy {self.proxy}"


def remove_toxic(step: RemoveToxic, tools: StepTools) -> None:
    client = ToxiproxyClient(step.toxiproxy_url)
    present = {t.get("name") for t in client.toxics(step.proxy)}
    if step.toxic in present:
        client.remove_toxic(step.proxy, step.toxic)


def enable_proxy(step: EnableProxy, tools: StepTools) -> None:
    ToxiproxyClient(step.toxiproxy_url).set_enabled(step.proxy, True)


REMOVE_TOXIC = StepKind(RemoveToxic, remove_toxic)
ENABLE_PROXY = StepKind(EnableProxy, enable_proxy)


def toxic_name(fault_name: str) -> str:
    """The toxic's name on every proxy: the fault's, so that Toxiproxy's API shows whose it is."""
    return f"meshproof-{fault_name}"


class ToxicInjector:
    """A toxic (latency, bandwidth, reset_peer, ...) on every proxy of an edge or endpoint."""

    def __init__(self, fault: ToxicFault, ctx: FaultContext) -> None:
        self.name = fault.name
        self._fault = fault
        self._ctx = ctx
        self._client = ctx.need_toxiproxy("a toxic")
        self._proxies = [p.name for p in proxies_for(ctx.deployment, fault.target)]
        self._toxic = toxic_name(fault.name)

    def rollback_entry(self) -> RollbackEntry:
        url = self._ctx.deployment.toxiproxy_url or ""
        steps = [
            RemoveToxic(
                state_file=self._ctx.state_path, toxiproxy_url=url, proxy=proxy, toxic=self._toxic
            )
            for proxy in self._proxies
        ]
        return RollbackEntry(fault=self.name, kind="toxic", target=self._fault.target, steps=steps)

    def apply(self) -> None:
        params = self._fault.params
        for proxy in self._proxies:
            self._client.add_toxic(
                proxy,
                name=self._toxic,
                type=params.type,
                stream=params.stream,
                toxicity=params.toxicity,
                attributes=dict(params.attributes),
            )

    def revert(self) -> None:
        for proxy in self._proxies:
            present = {t.get("name") for t in self._client.toxics(proxy)}
            if self._toxic in present:
                self._client.remove_toxic(proxy, self._toxic)


class ProxyDownInjector:
    """The proxies of an edge or endpoint disabled: connections to them are refused."""

    def __init__(self, fault: ProxyDownFault, ctx: FaultContext) -> None:
        self.name = fault.name
        self._fault = fault
        self._ctx = ctx
        self._client = ctx.need_toxiproxy("proxy_down")
        self._proxies = [p.name for p in proxies_for(ctx.deployment, fault.target)]

    def rollback_entry(self) -> RollbackEntry:
        url = self._ctx.deployment.toxiproxy_url or ""
        steps = [
            EnableProxy(state_file=self._ctx.state_path, toxiproxy_url=url, proxy=proxy)
            for proxy in self._proxies
        ]
        return RollbackEntry(
            fault=self.name, kind="proxy_down", target=self._fault.target, steps=steps
        )

    def apply(self) -> None:
        for proxy in self._proxies:
            self._client.set_enabled(proxy, False)

    def revert(self) -> None:
        for proxy in self._proxies:
            self._client.set_enabled(proxy, True)
