"""Traffic policies, named and shaped as Istio's DestinationRule and VirtualService.

Field names are Istio's camelCase so that people who know Istio read them at once;
Python code may use the same names. Durations are seconds (written '250ms' / '2s').
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mesh_runtime.config.security import AuthorizationPolicy, MtlsMode
from mesh_runtime.policy_rules import (
    GRPC_RETRY_ON,
    RETRY_ON_CONDITIONS,
    check_abort_status,
    check_retry_on,
    check_route_weights,
    check_string_match,
    retry_conditions,
)
from mesh_runtime.units import Duration, Percentage

__all__ = ["GRPC_RETRY_ON", "RETRY_ON_CONDITIONS"]


class PolicyModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- DestinationRule.trafficPolicy -------------------------------------------------


class LoadBalancer(PolicyModel):
    simple: Literal["ROUND_ROBIN", "LEAST_REQUEST", "RANDOM"] = "ROUND_ROBIN"


class TcpSettings(PolicyModel):
    maxConnections: int = Field(1024, ge=1)
    connectTimeout: Duration = 1.0
    idleTimeout: Duration = 3600.0
    """A proxied TCP connection with no bytes either way for this long is closed, both
    ends (Envoy's tcp_proxy idle_timeout, Istio's default 1 h); 0 disables it."""


class HttpSettings(PolicyModel):
    http1MaxPendingRequests: int = Field(1024, ge=0)
    """Requests allowed to wait for a pooled connection; more are answered 503 (flag UO)."""
    http2MaxRequests: int = Field(1024, ge=1)
    """Requests in flight to the whole upstream cluster at once (Envoy's max_requests)."""
    maxRequestsPerConnection: int = Field(0, ge=0)
    """Requests on one upstream connection before it is closed; 0 is unlimited."""
    maxConcurrentStreams: int = Field(2**31 - 1, ge=1)
    """Streams one HTTP/2 upstream connection carries at once (also below the peer's
    SETTINGS_MAX_CONCURRENT_STREAMS); more open another connection or wait."""
    idleTimeout: Duration = 60.0


class ConnectionPool(PolicyModel):
    tcp: TcpSettings = TcpSettings()
    http: HttpSettings = HttpSettings()


class OutlierDetection(PolicyModel):
    consecutive5xxErrors: int | None = Field(5, ge=0)
    """5xx answers in a row that eject a host; 0 or None disables this check."""
    consecutiveGatewayErrors: int | None = Field(None, ge=0)
    """502/503/504 and connect failures in a row that eject a host."""
    interval: Duration = 10.0
    baseEjectionTime: Duration = 30.0
    """Ejection lasts baseEjectionTime x number of times the host was ejected."""
    maxEjectionPercent: int = Field(10, ge=0, le=100)


class TrafficPolicy(PolicyModel):
    loadBalancer: LoadBalancer = LoadBalancer()
    connectionPool: ConnectionPool = ConnectionPool()
    outlierDetection: OutlierDetection | None = None


# --- VirtualService.http ------------------------------------------------------------


class StringMatch(PolicyModel):
    exact: str | None = None
    prefix: str | None = None
    regex: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> StringMatch:
        check_string_match(self.exact, self.prefix, self.regex)
        return self


class HTTPMatch(PolicyModel):
    uri: StringMatch | None = None
    method: StringMatch | None = None
    headers: dict[str, StringMatch] = {}


class RouteDestination(PolicyModel):
    subset: str | None = None
    """The version of the destination service ('v2'); None means every version."""
    weight: int = Field(100, ge=0, le=100)


class RetryBudget(PolicyModel):
    """Envoy's retry budget: retries in flight capped at a share of active requests.

    Envoy's own default floor is 3 retries in flight; Istio leaves retries unbounded by
    default. A floor of 10 keeps a partial failure of one replica fully masked at the
    modest rates of a single machine (a retry holds its place through its backoff and its
    try), while budgetPercent still bounds retries to a fifth of the load in an outage.
    """

    budgetPercent: Percentage = 20.0
    minRetryConcurrency: int = Field(10, ge=0)


class Retries(PolicyModel):
    attempts: int = Field(2, ge=0)
    """Retries after the first try (Istio's meaning): 2 means up to 3 tries."""
    perTryTimeout: Duration | None = None
    retryOn: str = "5xx,reset,connect-failure"
    retriableStatusCodes: list[int] = []
    backoffBaseInterval: Duration = 0.025
    backoffMaxInterval: Duration = 0.25
    budget: RetryBudget = RetryBudget()

    @field_validator("retryOn")
    @classmethod
    def _known_conditions(cls, value: str) -> str:
        return check_retry_on(value)

    @staticmethod
    def conditions_of(value: str) -> list[str]:
        return retry_conditions(value)

    @property
    def conditions(self) -> frozenset[str]:
        return frozenset(self.conditions_of(self.retryOn))


class FaultDelay(PolicyModel):
    fixedDelay: Duration
    percentage: Percentage = 100.0


class FaultAbort(PolicyModel):
    httpStatus: int | None = Field(None, ge=200, le=599)
    grpcStatus: int | None = Field(None, ge=1, le=16)
    """A gRPC call is answered trailers-only with this status (Istio's abort.grpcStatus)."""
    percentage: Percentage = 100.0

    @model_validator(mode="after")
    def _one_status(self) -> FaultAbort:
        check_abort_status(self.httpStatus, self.grpcStatus)
        return self


class Fault(PolicyModel):
    """Istio's HTTPFaultInjection, optionally only for requests whose headers match."""

    delay: FaultDelay | None = None
    abort: FaultAbort | None = None
    headers: dict[str, StringMatch] = {}


class HTTPRoute(PolicyModel):
    name: str = "default"
    match: list[HTTPMatch] = []
    """Any one match selects the route; no match entries means every request."""
    route: list[RouteDestination] = []
    """Weighted split between versions; empty means all endpoints of the service."""
    timeout: Duration | None = None
    retries: Retries | None = None
    fault: Fault | None = None

    @model_validator(mode="after")
    def _weights_sum(self) -> HTTPRoute:
        check_route_weights([d.weight for d in self.route])
        return self


class ServicePolicy(PolicyModel):
    """Everything the control plane may change about one destination service."""

    trafficPolicy: TrafficPolicy = TrafficPolicy()
    http: list[HTTPRoute] = [HTTPRoute()]
    """Routes tried in order; the first whose match fits the request is used."""
    mtls: MtlsMode | None = None
    """PeerAuthentication mode of this service's inbound listeners; None: the mesh's."""
    authorization: list[AuthorizationPolicy] = []
    """Istio AuthorizationPolicy specs enforced by this service's sidecars (inbound)."""
