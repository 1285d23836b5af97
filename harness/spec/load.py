"""`load:` — open-loop request rate, stages, connections, routes."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mesh_runtime.topology import Topology
from mesh_runtime.units import Duration

LATE_BOUND_MS = 10.0
"""A request that leaves more than this after its intended time was sent *late*."""
FELL_BEHIND_SHARE = 0.001
FELL_BEHIND_LAG_MS = 100.0
"""A phase in which more than FELL_BEHIND_SHARE of the requests left late, and the largest
lag passed FELL_BEHIND_LAG_MS, fell behind its schedule: its service time no longer
describes what users waited. A few sends a little late are the load host's scheduling
jitter (the disturbance probe measures it), not a load that fell behind."""


def fell_behind(late_share: float | None, max_lag_ms: float | None) -> bool:
    """Whether a phase with these figures fell behind its schedule (see FELL_BEHIND_LAG_MS)."""
    if late_share is None or max_lag_ms is None:
        return False
    return late_share > FELL_BEHIND_SHARE and max_lag_ms > FELL_BEHIND_LAG_MS


DEFAULT_MAX_CONNECTIONS = 1000
"""Enough for 100 RPS against a backend that hangs until a 10 s timeout."""
DEFAULT_IDLE_TIMEOUT_S = 30.0
"""How long connections grown for a backlog stay once the load no longer needs them."""
MIN_IDLE_TIMEOUT_S = 1.0


class SpecModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TcpRouteSpec(SpecModel):
    """A raw TCP exchange with a `protocol: tcp` service: connect (a new connection per
    request, through the ingress's sidecar), send, read the reply, close."""

    service: str
    """The `protocol: tcp` service of the topology the connection is for."""
    send: str = ""
    """The bytes to send (UTF-8), e.g. "GET k\n"."""
    expect: str | None = None
    """The reply must contain this text (read until it does, or the server closes)."""
    expect_bytes: int | None = Field(None, ge=1, le=64 * 1024 * 1024)
    """The reply must be at least this many bytes (read until it is)."""
    half_close: bool = True
    """Shut the sending side after `send` (the server sees EOF) and read until the
    server closes; false: close as soon as the expectation is met."""

    @model_validator(mode="after")
    def _ends(self) -> TcpRouteSpec:
        if not self.half_close and self.expect is None and self.expect_bytes is None:
            raise ValueError("without half_close a tcp route needs expect or expect_bytes")
        return self


class GrpcRouteSpec(SpecModel):
    """A unary gRPC call to a `protocol: grpc` service (through the ingress's sidecar,
    `:authority` naming the service); the record's status is the HTTP status its gRPC
    code stands for (OK 200, UNAVAILABLE 503, DEADLINE_EXCEEDED 504, ...)."""

    service: str
    """The `protocol: grpc` service of the topology the call is for."""
    method: str = Field("/meshproof.shop.Shop/Call", pattern=r"^/?[A-Za-z_][\w.]*/\w+$")
    """The full method, `/package.Service/Method` (the leading slash may be left out)."""
    message: Any = None
    """The request message as JSON (sent as its compact UTF-8 text); default `{}`."""
    message_base64: str | None = None
    """Or the request message's raw bytes, base64 (not both)."""
    metadata: dict[str, str] = {}
    """Extra metadata (lower-case names; not `grpc-*`, not pseudo-headers)."""
    deadline: Duration | None = None
    """The call's deadline (sent as `grpc-timeout`); default the load's `timeout`."""

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not name or name != name.lower() or name.startswith(("grpc-", ":")):
                raise ValueError(f"{name!r}: metadata names are lower case, not grpc-* or :*")
            if name.endswith("-bin"):
                raise ValueError(f"{name!r}: binary metadata is not supported")
        return value

    @model_validator(mode="after")
    def _one_message(self) -> GrpcRouteSpec:
        if self.message is not None and self.message_base64 is not None:
            raise ValueError("give message (JSON) or message_base64, not both")
        if self.message_base64 is not None:
            try:
                base64.b64decode(self.message_base64, validate=True)
            except binascii.Error as exc:
                raise ValueError(f"message_base64: not base64 ({exc})") from None
        return self

    @property
    def full_method(self) -> str:
        return self.method if self.method.startswith("/") else "/" + self.method

    def message_bytes(self) -> bytes:
        """The request message as sent."""
        if self.message_base64 is not None:
            return base64.b64decode(self.message_base64)
        value = {} if self.message is None else self.message
        return json.dumps(value, separators=(",", ":")).encode()


class RouteSpec(SpecModel):
    name: str = "root"
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    path: str = Field("/", pattern=r"^/")
    weight: float = Field(1.0, gt=0)
    headers: dict[str, str] = {}
    body: str = ""
    tcp: TcpRouteSpec | None = None
    """A raw TCP route instead of an HTTP request (method, path, headers, body unused)."""
    grpc: GrpcRouteSpec | None = None
    """A unary gRPC call instead of an HTTP request (method, path, headers, body unused)."""

    @model_validator(mode="after")
    def _tcp_alone(self) -> RouteSpec:
        if self.tcp is not None and self.grpc is not None:
            raise ValueError("a route is tcp or grpc, not both")
        kind = "tcp" if self.tcp is not None else "grpc" if self.grpc is not None else ""
        if kind:
            # by value, not by fields set: the load plan carries the spec as dumped JSON
            defaults = {"method": "GET", "path": "/", "headers": {}, "body": ""}
            http = [f for f, v in defaults.items() if getattr(self, f) != v]
            if http:
                raise ValueError(f"a {kind} route has no {', '.join(http)} (HTTP fields)")
        return self

    @property
    def entry(self) -> str | None:
        """The service a gRPC or TCP route calls at the ingress's sidecar; None: an HTTP
        route, which enters at the ingress."""
        if self.tcp is not None:
            return self.tcp.service
        return self.grpc.service if self.grpc is not None else None

    @property
    def label_method(self) -> str:
        """The record's `method`: the HTTP method, 'TCP' or 'GRPC'."""
        if self.tcp is not None:
            return "TCP"
        return "GRPC" if self.grpc is not None else self.method


class Stage(SpecModel):
    duration: Duration
    rps: float = Field(ge=0)
    """Target rate at the end of the stage; the rate ramps linearly from the previous one
    (the first stage ramps from `load.rps`, the warm-up rate)."""


class LoadSpec(SpecModel):
    rps: float = Field(100.0, gt=0, le=100_000)
    """Target request rate (open loop): requests are sent on schedule whether or not
    earlier ones have answered."""
    duration: Duration = 60.0
    """Measured duration, after warm-up. Ignored when stages are given."""
    warmup: Duration = 5.0
    """Load before measurement starts; not judged."""
    connections: int = Field(16, ge=1, le=10_000)
    """Connections open at the start. When every connection is waiting for an answer and a
    request is due, another connection opens at once (up to `max_connections`), so requests
    leave on time, as k6's constant-arrival-rate grows its VUs up to maxVUs."""
    max_connections: int | None = Field(None, ge=1, le=20_000)
    """Ceiling of the connections the load may grow to (all workers together); default
    1000, or `connections` when that is more. When it is reached, requests wait for a free
    connection and leave late: the run says so. Set it to `connections` for a closed pool."""
    idle_timeout: Duration = DEFAULT_IDLE_TIMEOUT_S
    """Connections opened beyond `connections` close again once the load has gone this long
    without needing them: the pool did not grow in that time, and no more requests were in
    flight together than the connections that stay (less one spare). Each closes after its
    answer is read, never with a request in flight, and one is opened again when requests
    fall due with every connection busy. 0 keeps every connection to the end."""
    workers: int = Field(1, ge=1, le=64)
    """Locust worker processes under one Locust master on this machine."""
    timeout: Duration = 10.0
    seed: int = 1
    """Seeds the weighted route choice, so a run's request mix can be repeated."""
    stages: list[Stage] = []
    routes: list[RouteSpec] = [RouteSpec()]

    @field_validator("idle_timeout")
    @classmethod
    def _idle_timeout(cls, value: float) -> float:
        if 0 < value < MIN_IDLE_TIMEOUT_S:
            raise ValueError(
                f"expected 0 (keep every connection) or at least {MIN_IDLE_TIMEOUT_S:g}s,"
                f" got {value:g}s"
            )
        return value

    @model_validator(mode="after")
    def _stages(self) -> LoadSpec:
        if not self.routes:
            raise ValueError("routes: at least one route is needed")
        names = [r.name for r in self.routes]
        if len(set(names)) != len(names):
            raise ValueError("routes: route names must be distinct")
        if self.connections < self.workers:
            raise ValueError(
                f"connections: {self.connections} is fewer than workers ({self.workers});"
                " each Locust worker needs at least one connection"
            )
        if self.max_connections is not None and self.max_connections < self.connections:
            raise ValueError(
                f"max_connections: {self.max_connections} is fewer than connections"
                f" ({self.connections}), the number the load starts with"
            )
        if self.stages and sum(s.duration for s in self.stages) <= 0:
            raise ValueError("stages: the stages must last longer than 0s")
        if not self.stages and self.duration <= 0:
            raise ValueError("duration: the load must last longer than 0s (the measured part)")
        return self

    @property
    def connection_ceiling(self) -> int:
        """The most connections the load may open (all workers together)."""
        if self.max_connections is not None:
            return self.max_connections
        return max(DEFAULT_MAX_CONNECTIONS, self.connections)

    @property
    def measured_duration(self) -> float:
        return sum(s.duration for s in self.stages) if self.stages else self.duration

    @property
    def total_duration(self) -> float:
        return self.warmup + self.measured_duration


def route_entries(routes: Sequence[RouteSpec]) -> dict[str, str]:
    """Route name -> the service a gRPC route calls at the ingress's sidecar: its trace
    starts there, not at the ingress (`harness.analysis.traces.trace_completeness`)."""
    return {route.name: route.grpc.service for route in routes if route.grpc is not None}


def tcp_route_problem(route: RouteSpec, topology: Topology) -> str:
    """Why a tcp route does not fit `topology` ('' when it does or is an HTTP route)."""
    return "" if route.tcp is None else _service_problem(route.tcp.service, "tcp", topology)


def grpc_route_problem(route: RouteSpec, topology: Topology) -> str:
    """Why a grpc route does not fit `topology` ('' when it does or is another route)."""
    return "" if route.grpc is None else _service_problem(route.grpc.service, "grpc", topology)


def _service_problem(service: str, wanted: Literal["tcp", "grpc"], topology: Topology) -> str:
    if service not in topology.services:
        return f"unknown service {service!r} (services: {', '.join(topology.services)})"
    protocol = topology.protocol(service)
    if protocol != wanted:
        return f"{service} speaks {protocol}; a {wanted} route needs a `protocol: {wanted}` service"
    return ""
