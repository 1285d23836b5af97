"""The runtime objects a MeshConfig turns into, swapped atomically on each new version.

For every destination service the sidecar keeps a `ServiceRuntime`: compiled routes, a
balancer, a circuit breaker, an outlier detector, retry budgets and one keep-alive pool
per endpoint. A new config version builds a new `MeshState`, carrying over the stateful
parts (breaker counts, ejections, pools) of services that stay, so a policy change does
not reset ejections or drop warm connections.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from mesh_runtime.errors import InvalidInput
from mesh_runtime.sidecar.endpoint_pool import EndpointPool
from mesh_runtime.sidecar.meshconfig import (
    AuthorizationPolicy,
    Endpoint,
    HTTPRoute,
    MeshConfig,
    ServiceEntry,
)
from mesh_runtime.sidecar.policy import (
    Balancer,
    CircuitBreaker,
    OutlierDetector,
    RetryBudget,
    RouteTable,
    make_balancer,
)


class ServiceRuntime:
    """One destination service's runtime. A plain class with a written-out `__init__`,
    not a dataclass: compiled by mypyc (a hot module) its attributes are native, and a
    dataclass's generated `__init__` would stay interpreted."""

    __slots__ = (
        "active",
        "balancer",
        "breaker",
        "budgets",
        "by_subset",
        "endpoints",
        "entry",
        "in_flight",
        "name",
        "outlier",
        "pools",
        "routes",
    )

    def __init__(
        self,
        name: str,
        entry: ServiceEntry,
        routes: RouteTable,
        balancer: Balancer,
        breaker: CircuitBreaker,
        outlier: OutlierDetector | None,
        endpoints: dict[str, Endpoint],
        pools: dict[str, EndpointPool],
        by_subset: dict[str | None, list[str]],
        active: dict[str, int] | None = None,
    ) -> None:
        self.name = name
        self.entry = entry
        self.routes = routes
        self.balancer = balancer
        self.breaker = breaker
        self.outlier = outlier
        self.endpoints = endpoints
        """Instance name -> endpoint."""
        self.pools = pools
        """Instance name -> its keep-alive pool."""
        self.by_subset = by_subset
        """Version (None: all) -> instance names, in config order."""
        self.budgets: dict[str, RetryBudget] = {}
        """Route name -> its retry budget (fresh each config version)."""
        self.active: dict[str, int] = active if active is not None else {}
        """Instance name -> requests in flight (least-request balancing reads it)."""
        self.in_flight = 0

    @property
    def connect_timeout(self) -> float:
        return self.entry.policy.trafficPolicy.connectionPool.tcp.connectTimeout

    @property
    def idle_timeout(self) -> float:
        """Seconds without bytes either way that close a proxied TCP connection (0: never)."""
        return self.entry.policy.trafficPolicy.connectionPool.tcp.idleTimeout

    def instances(self, subset: str | None) -> list[str]:
        names = self.by_subset.get(subset)
        if names is None:
            return []
        return names

    def open_connections(self) -> int:
        return sum(pool.open for pool in self.pools.values())

    def pending_requests(self) -> int:
        return sum(pool.pending for pool in self.pools.values())

    def budget_for(self, route: HTTPRoute) -> RetryBudget | None:
        if route.retries is None:
            return None
        budget = self.budgets.get(route.name)
        if budget is None:
            budget = self.budgets[route.name] = RetryBudget(route.retries.budget)
        return budget


class MeshState:
    __slots__ = ("config", "services")

    def __init__(self, config: MeshConfig, services: dict[str, ServiceRuntime]) -> None:
        self.config = config
        self.services = services


def build_state(
    config: MeshConfig,
    source: str,
    previous: MeshState | None,
    rng: random.Random,
) -> MeshState:
    """The runtime for `config`, reusing what `previous` had for the same services."""
    old = previous.services if previous is not None else {}
    services = {
        name: _service_runtime(entry, source, old.get(name), rng)
        for name, entry in config.services.items()
    }
    for name, runtime in old.items():
        kept = services.get(name)
        for instance, pool in runtime.pools.items():
            if kept is None or kept.pools.get(instance) is not pool:
                pool.close_all()
    return MeshState(config, services)


def _service_runtime(
    entry: ServiceEntry, source: str, old: ServiceRuntime | None, rng: random.Random
) -> ServiceRuntime:
    policy = entry.policy.trafficPolicy
    names = [e.instance for e in entry.endpoints]
    if old is not None and old.entry.policy.trafficPolicy.loadBalancer == policy.loadBalancer:
        balancer = old.balancer
    else:
        balancer = make_balancer(policy.loadBalancer, rng)
    if old is not None:
        breaker = old.breaker
        breaker.update(policy.connectionPool)
    else:
        breaker = CircuitBreaker(policy.connectionPool)
    outlier = _outlier(entry, old, names)
    runtime = ServiceRuntime(
        name=entry.name,
        entry=entry,
        routes=RouteTable(entry.policy.http),
        balancer=balancer,
        breaker=breaker,
        outlier=outlier,
        endpoints={e.instance: e for e in entry.endpoints},
        pools=_pools(entry.endpoints, source, old),
        by_subset=_subsets(entry.endpoints),
        active={name: (old.active.get(name, 0) if old else 0) for name in names},
    )
    if old is not None:
        runtime.in_flight = old.in_flight
    return runtime


def _outlier(
    entry: ServiceEntry, old: ServiceRuntime | None, names: list[str]
) -> OutlierDetector | None:
    policy = entry.policy.trafficPolicy.outlierDetection
    if policy is None:
        return None
    detector = old.outlier if old is not None else None
    if detector is None:
        detector = OutlierDetector(policy)
    else:
        detector.update(policy)
    detector.set_instances(names)
    return detector


def _pools(
    endpoints: Sequence[Endpoint], source: str, old: ServiceRuntime | None
) -> dict[str, EndpointPool]:
    pools: dict[str, EndpointPool] = {}
    for endpoint in endpoints:
        host, port = split_address(endpoint.address_for(source))
        previous = old.pools.get(endpoint.instance) if old is not None else None
        if previous is not None and (previous.host, previous.port) == (host, port):
            pools[endpoint.instance] = previous
        else:
            pools[endpoint.instance] = EndpointPool(host, port)
    return pools


def configure_pools(runtime: ServiceRuntime) -> None:
    """Copy the connection-pool settings of the policy onto every endpoint pool."""
    http = runtime.entry.policy.trafficPolicy.connectionPool.http
    for pool in runtime.pools.values():
        pool.max_requests_per_connection = http.maxRequestsPerConnection
        pool.max_concurrent_streams = http.maxConcurrentStreams
        pool.idle_timeout = http.idleTimeout


def _subsets(endpoints: Sequence[Endpoint]) -> dict[str | None, list[str]]:
    subsets: dict[str | None, list[str]] = {None: [e.instance for e in endpoints]}
    for endpoint in endpoints:
        subsets.setdefault(endpoint.version, []).append(endpoint.instance)
    return subsets


def split_address(address: str) -> tuple[str, int]:
    """('127.0.0.1', 8080) from '127.0.0.1:8080' (and '[::1]:8080')."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidInput(
            "mesh config", "endpoints.address", f"expected host:port, got {address!r}"
        )
    return host.strip("[]"), int(port)


class StateHolder:
    """The current MeshState; replaced whole, so a request sees one version throughout."""

    def __init__(self, source: str, rng: random.Random) -> None:
        self.source = source
        self.current: MeshState | None = None
        self._rng = rng

    def speaks_h2(self, service: str) -> bool:
        """Whether `service`'s apps take HTTP/2 (its protocol is grpc): a sidecar passes an
        HTTP/2 request on to its app as HTTP/2 only then, else as HTTP/1.1 (Istio's choice
        by port protocol); sidecar to sidecar keeps the client's protocol."""
        state = self.current
        entry = state.config.services.get(service) if state is not None else None
        return entry is not None and entry.protocol == "grpc"

    def knows(self, service: str) -> bool:
        """Whether the current config has a service of that name."""
        state = self.current
        return state is not None and service in state.config.services

    def authorization(self, service: str) -> Sequence[AuthorizationPolicy]:
        """`service`'s authorization policies in the current config (the inbound listener
        asks on every request: here, compiled, rather than in `security`)."""
        state = self.current
        if state is None:
            return ()
        entry = state.config.services.get(service)
        return entry.policy.authorization if entry is not None else ()

    def apply(self, config: MeshConfig) -> MeshState:
        state = build_state(config, self.source, self.current, self._rng)
        for runtime in state.services.values():
            configure_pools(runtime)
        self.current = state
        return state
