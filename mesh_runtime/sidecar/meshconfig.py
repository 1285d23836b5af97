"""The mesh configuration as the sidecar holds it: frozen dataclasses, no pydantic.

The same fields, defaults and rules as `mesh_runtime.config`'s pydantic models (the one
schema of the pushed config; the control plane, the harness and `meshproof validate`
use those), read by `mesh_runtime.sidecar.config_reader` from the JSON the control plane
pushes or a `--config` file. The sidecar does not import pydantic: its models and core
cost about 10 MB of resident memory per sidecar (issue 17). tests/unit/sidecar/
test_meshconfig_mirror.py holds the two schemas to each other, field by field.

Bounds are field metadata (`ge`, `le`) that the reader checks; the rules no type states
are `mesh_runtime.policy_rules`, called from `__post_init__` as the models' validators do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from mesh_runtime.policy_rules import (
    MtlsMode,
    check_abort_status,
    check_methods,
    check_patterns,
    check_retry_on,
    check_route_weights,
    check_string_match,
    retry_conditions,
)

Duration = Annotated[float, "duration"]
"""Seconds; '250ms' / '30s' in the pushed JSON (mesh_runtime.units.Duration's form)."""
Percentage = Annotated[float, "percentage"]
Protocol = Literal["http", "grpc", "tcp"]


def bounded(default: Any, ge: int | None = None, le: int | None = None) -> Any:
    """A field with a default and the bounds the reader checks (pydantic's Field(ge, le))."""
    return field(default=default, metadata={"ge": ge, "le": le})


# --- security: PeerAuthentication / AuthorizationPolicy -----------------------------


@dataclass(frozen=True)
class Source:
    principals: list[str] = field(default_factory=list)
    notPrincipals: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_patterns(self.principals)
        check_patterns(self.notPrincipals)


@dataclass(frozen=True)
class Operation:
    methods: list[str] = field(default_factory=list)
    notMethods: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    notPaths: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_methods([*self.methods, *self.notMethods])
        check_patterns(self.paths)
        check_patterns(self.notPaths)


@dataclass(frozen=True)
class RuleFrom:
    source: Source = field(default_factory=Source)


@dataclass(frozen=True)
class RuleTo:
    operation: Operation = field(default_factory=Operation)


@dataclass(frozen=True)
class Rule:
    from_: list[RuleFrom] = field(default_factory=list, metadata={"alias": "from"})
    to: list[RuleTo] = field(default_factory=list)


@dataclass(frozen=True)
class AuthorizationPolicy:
    name: str = "default"
    action: Literal["ALLOW", "DENY"] = "ALLOW"
    rules: list[Rule] = field(default_factory=list)


# --- DestinationRule.trafficPolicy --------------------------------------------------


@dataclass(frozen=True)
class LoadBalancer:
    simple: Literal["ROUND_ROBIN", "LEAST_REQUEST", "RANDOM"] = "ROUND_ROBIN"


@dataclass(frozen=True)
class TcpSettings:
    maxConnections: int = bounded(1024, ge=1)
    connectTimeout: Duration = 1.0
    idleTimeout: Duration = 3600.0
    """No bytes either way for this long closes a proxied TCP connection; 0: never."""


@dataclass(frozen=True)
class HttpSettings:
    http1MaxPendingRequests: int = bounded(1024, ge=0)
    http2MaxRequests: int = bounded(1024, ge=1)
    maxRequestsPerConnection: int = bounded(0, ge=0)
    maxConcurrentStreams: int = bounded(2**31 - 1, ge=1)
    idleTimeout: Duration = 60.0


@dataclass(frozen=True)
class ConnectionPool:
    tcp: TcpSettings = field(default_factory=TcpSettings)
    http: HttpSettings = field(default_factory=HttpSettings)


@dataclass(frozen=True)
class OutlierDetection:
    consecutive5xxErrors: int | None = bounded(5, ge=0)
    consecutiveGatewayErrors: int | None = bounded(None, ge=0)
    interval: Duration = 10.0
    baseEjectionTime: Duration = 30.0
    maxEjectionPercent: int = bounded(10, ge=0, le=100)


@dataclass(frozen=True)
class TrafficPolicy:
    loadBalancer: LoadBalancer = field(default_factory=LoadBalancer)
    connectionPool: ConnectionPool = field(default_factory=ConnectionPool)
    outlierDetection: OutlierDetection | None = None


# --- VirtualService.http ------------------------------------------------------------


@dataclass(frozen=True)
class StringMatch:
    exact: str | None = None
    prefix: str | None = None
    regex: str | None = None

    def __post_init__(self) -> None:
        check_string_match(self.exact, self.prefix, self.regex)


@dataclass(frozen=True)
class HTTPMatch:
    uri: StringMatch | None = None
    method: StringMatch | None = None
    headers: dict[str, StringMatch] = field(default_factory=dict)


@dataclass(frozen=True)
class RouteDestination:
    subset: str | None = None
    weight: int = bounded(100, ge=0, le=100)


@dataclass(frozen=True)
class RetryBudget:
    budgetPercent: Percentage = 20.0
    minRetryConcurrency: int = bounded(10, ge=0)


@dataclass(frozen=True)
class Retries:
    attempts: int = bounded(2, ge=0)
    perTryTimeout: Duration | None = None
    retryOn: str = "5xx,reset,connect-failure"
    retriableStatusCodes: list[int] = field(default_factory=list)
    backoffBaseInterval: Duration = 0.025
    backoffMaxInterval: Duration = 0.25
    budget: RetryBudget = field(default_factory=RetryBudget)

    def __post_init__(self) -> None:
        check_retry_on(self.retryOn)

    @property
    def conditions(self) -> frozenset[str]:
        return frozenset(retry_conditions(self.retryOn))


@dataclass(frozen=True)
class FaultDelay:
    fixedDelay: Duration
    percentage: Percentage = 100.0


@dataclass(frozen=True)
class FaultAbort:
    httpStatus: int | None = bounded(None, ge=200, le=599)
    grpcStatus: int | None = bounded(None, ge=1, le=16)
    percentage: Percentage = 100.0

    def __post_init__(self) -> None:
        check_abort_status(self.httpStatus, self.grpcStatus)


@dataclass(frozen=True)
class Fault:
    delay: FaultDelay | None = None
    abort: FaultAbort | None = None
    headers: dict[str, StringMatch] = field(default_factory=dict)


@dataclass(frozen=True)
class HTTPRoute:
    name: str = "default"
    match: list[HTTPMatch] = field(default_factory=list)
    route: list[RouteDestination] = field(default_factory=list)
    timeout: Duration | None = None
    retries: Retries | None = None
    fault: Fault | None = None

    def __post_init__(self) -> None:
        check_route_weights([d.weight for d in self.route])


def _default_routes() -> list[HTTPRoute]:
    return [HTTPRoute()]


@dataclass(frozen=True)
class ServicePolicy:
    trafficPolicy: TrafficPolicy = field(default_factory=TrafficPolicy)
    http: list[HTTPRoute] = field(default_factory=_default_routes)
    mtls: MtlsMode | None = None
    authorization: list[AuthorizationPolicy] = field(default_factory=list)


# --- the pushed config ---------------------------------------------------------------


@dataclass(frozen=True)
class MeshSettings:
    trustDomain: str = "meshproof.local"
    mtls: MtlsMode = "DISABLE"


@dataclass(frozen=True)
class Endpoint:
    instance: str
    version: str
    address: str
    via: dict[str, str] = field(default_factory=dict)

    def address_for(self, source: str) -> str:
        """Where a sidecar of `source` should connect to reach this endpoint."""
        return self.via.get(source, self.address)


@dataclass(frozen=True)
class ServiceEntry:
    name: str
    protocol: Protocol = "http"
    endpoints: list[Endpoint] = field(default_factory=list)
    policy: ServicePolicy = field(default_factory=ServicePolicy)
    egress: list[str] | None = None
    """The services this service's sidecars send to (mesh_runtime.config.scope)."""


@dataclass(frozen=True)
class MeshConfig:
    version: int = 0
    mesh: MeshSettings = field(default_factory=MeshSettings)
    services: dict[str, ServiceEntry] = field(default_factory=dict)
