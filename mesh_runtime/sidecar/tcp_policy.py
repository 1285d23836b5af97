"""The decisions of L4 proxying, pure: which endpoint a new connection goes to, or why none.

Per connection (Envoy's tcp_proxy): the circuit breaker's `connectionPool.tcp.maxConnections`
first (over it: flag UO), then the healthy endpoints (outlier detection) through the
service's load balancer (none: flag UH). `active` is the open connections per instance,
so LEAST_REQUEST balances connections.
"""

from __future__ import annotations

from dataclasses import dataclass

from mesh_runtime.sidecar.state import ServiceRuntime

OVERFLOW = "UO"
NO_HEALTHY_UPSTREAM = "UH"
CONNECT_FAILURE = "UF"


@dataclass(frozen=True, slots=True)
class TcpUpstream:
    instance: str
    version: str
    address: str
    """host:port to connect to (a Toxiproxy proxy on a proxied edge)."""


def choose_upstream(
    svc: ServiceRuntime, source: str, open_connections: int, now: float
) -> TcpUpstream | str:
    """Where a new connection from `source`'s sidecar to `svc` goes, or the flag refusing it."""
    limit = svc.entry.policy.trafficPolicy.connectionPool.tcp.maxConnections
    if open_connections >= limit:
        return OVERFLOW
    names = svc.instances(None)
    if svc.outlier is not None:
        names = svc.outlier.healthy(names, now)
    chosen = svc.balancer.pick(names, svc.active)
    if chosen is None:
        return NO_HEALTHY_UPSTREAM
    endpoint = svc.endpoints[chosen]
    return TcpUpstream(chosen, endpoint.version, endpoint.address_for(source))
