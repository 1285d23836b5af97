"""Network faults through the deployment's Toxiproxy server: toxics and disabled proxies."""

from __future__ import annotations

from typing import Any

from harness.faults import rollback
from harness.faults.base import FaultContext
from harness.faults.targets import proxies_for
from harness.spec.faults import ProxyDownFault, ToxicFault


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

    def rollback_entry(self) -> dict[str, Any]:
        url = self._ctx.deployment.toxiproxy_url or ""
        steps = [
            rollback.remove_toxic(self._ctx.state_path, url, proxy, self._toxic)
            for proxy in self._proxies
        ]
        return rollback.entry(self.name, "toxic", self._fault.target, steps)

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

    def rollback_entry(self) -> dict[str, Any]:
        url = self._ctx.deployment.toxiproxy_url or ""
        steps = [rollback.enable_proxy(self._ctx.state_path, url, p) for p in self._proxies]
        return rollback.entry(self.name, "proxy_down", self._fault.target, steps)

    def apply(self) -> None:
        for proxy in self._proxies:
            self._client.set_enabled(proxy, False)

    def revert(self) -> None:
        for proxy in self._proxies:
            self._client.set_enabled(proxy, True)
