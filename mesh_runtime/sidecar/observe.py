"""What the proxy tells telemetry: one small facade over metrics, spans and the access log.

The request paths call only this module, with a `RequestInfo` they fill as they go, so
the hot path does not know how spans are made or how metrics are labelled.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final, Protocol

from mesh_runtime.sidecar.grpc import final_status, is_grpc, messages_in
from mesh_runtime.sidecar.h2_request import StreamedBody
from mesh_runtime.sidecar.http1 import BodyStream, Request, Response
from mesh_runtime.sidecar.meshconfig import Endpoint
from mesh_runtime.sidecar.telemetry.accesslog import AccessLog, AccessLogEntry
from mesh_runtime.sidecar.telemetry.metrics import MeshMetrics
from mesh_runtime.sidecar.telemetry.tracing import (
    CLIENT,
    HTTP_METHOD,
    RETRY_ATTEMPT,
    SERVER,
    UPSTREAM_CLUSTER,
    UPSTREAM_INSTANCE,
    URL_PATH,
    SpanRecorder,
    extract,
)
from mesh_runtime.sidecar.wire import ensure_request_id

PEER_PRINCIPAL: Final = "peer.principal"
"""Span attribute: the caller's SPIFFE ID from its mTLS certificate (inbound)."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who this sidecar is: its service (workload), instance and version."""

    service: str
    instance: str
    version: str


@dataclass(slots=True, init=False)
class RequestInfo:
    """One request as metrics and the access log see it."""

    reporter: str
    method: str
    path: str
    request_id: str
    started: float
    """Wall-clock start (seconds since the epoch), for the access log."""
    bytes_received: int
    peer: str
    service: str
    instance: str
    version: str
    upstream_host: str | None
    route: str | None
    attempts: int
    trace_id: int | None
    """The span's trace id, put in hex only for an access log entry (most go unlogged)."""
    duration_ms: float
    security: str
    """connection_security_policy: 'mutual_tls', else 'none' (inbound) / 'unknown'."""
    principal: str
    """The peer's SPIFFE ID (inbound over mTLS), or the upstream's (outbound over mTLS)."""
    grpc: bool
    """A gRPC call (HTTP/2, content-type application/grpc): request_protocol 'grpc'."""
    request_messages: int
    """gRPC messages in the request body (of a buffered one; see `streamed`)."""
    streamed: StreamedBody | None
    """A streamed request body: its messages and bytes are counted as they pass."""
    open_span: Span | None
    """The CLIENT span of a gRPC call's last try, still open while its response body
    streams (its status comes in the trailers): `end_grpc_span` ends it."""

    def __init__(
        self,
        reporter: str,
        method: str,
        path: str,
        request_id: str,
        started: float,
        bytes_received: int = 0,
        grpc: bool = False,
        request_messages: int = 0,
        streamed: StreamedBody | None = None,
    ) -> None:
        # Written out, as Request's: the __init__ dataclass generates stays interpreted
        # under mypyc (one a request in each sidecar).
        self.reporter = reporter
        self.method = method
        self.path = path
        self.request_id = request_id
        self.started = started
        self.bytes_received = bytes_received
        self.peer = "unknown"
        self.service = ""
        self.instance = ""
        self.version = "unknown"
        self.upstream_host = None
        self.route = None
        self.attempts = 0
        self.trace_id = None
        self.duration_ms = 0.0
        self.security = ""
        self.principal = ""
        self.grpc = grpc
        self.request_messages = request_messages
        self.streamed = streamed
        self.open_span = None

    @staticmethod
    def outbound(request: Request) -> RequestInfo:
        return _request_info("source", request)

    @staticmethod
    def inbound(request: Request) -> RequestInfo:
        return _request_info("destination", request)


def _request_info(reporter: str, request: Request) -> RequestInfo:
    # RequestInfo by name, its arguments by position: mypyc calls the native constructor
    # then; `cls(...)` with keywords went through the type's generic call and argument
    # parsing (1 % of a sidecar pair's samples).
    grpc = request.http2 and is_grpc(request.headers)
    return RequestInfo(
        reporter,
        request.method.decode("latin-1"),
        request.path,
        ensure_request_id(request).decode("latin-1"),
        time.time(),
        len(request.body),
        grpc,
        messages_in(request.body) if grpc else 0,
        request.stream,
    )


class Span(Protocol):
    def traceparent(self) -> bytes | None:
        """The W3C traceparent to send on (this span as the parent of the next hop)."""

    def end(self, status: int, flags: str, grpc_status: int | None = None) -> None:
        """End with the answer's status (0: none), response flags and gRPC status."""


class Tracer(Protocol):
    def server_span(self, request: Request, info: RequestInfo) -> Span: ...

    def client_span(self, request: Request, info: RequestInfo, endpoint: Endpoint) -> Span: ...


class PassThroughSpan:
    """No tracing: the caller's traceparent goes on unchanged."""

    __slots__ = ("_traceparent",)

    def __init__(self, request: Request) -> None:
        self._traceparent = request.header(b"traceparent")

    def traceparent(self) -> bytes | None:
        return self._traceparent

    def end(self, status: int, flags: str, grpc_status: int | None = None) -> None:
        pass


class NoTracer:
    def server_span(self, request: Request, info: RequestInfo) -> Span:
        return PassThroughSpan(request)

    def client_span(self, request: Request, info: RequestInfo, endpoint: Endpoint) -> Span:
        return PassThroughSpan(request)


class ProxyTracer:
    """SERVER span per inbound request, CLIENT span per upstream try (W3C context)."""

    def __init__(self, recorder: SpanRecorder, service: str) -> None:
        self._recorder = recorder
        self._server_name = f"inbound {service}"

    def server_span(self, request: Request, info: RequestInfo) -> Span:
        attributes: dict[str, str | int] = {HTTP_METHOD: info.method, URL_PATH: info.path}
        if info.grpc:
            attributes.update(rpc_attributes(info.path))
        if info.principal:
            attributes[PEER_PRINCIPAL] = info.principal
        span = self._recorder.start_owned(
            self._server_name, SERVER, extract(request.headers), attributes
        )
        info.trace_id = span.trace_id
        return span

    def client_span(self, request: Request, info: RequestInfo, endpoint: Endpoint) -> Span:
        attributes: dict[str, str | int] = {
            HTTP_METHOD: info.method,
            URL_PATH: info.path,
            UPSTREAM_CLUSTER: info.service,
            UPSTREAM_INSTANCE: endpoint.instance,
            RETRY_ATTEMPT: info.attempts,
        }
        if info.grpc:
            attributes.update(rpc_attributes(info.path))
        span = self._recorder.start_owned(
            f"outbound {info.service}", CLIENT, extract(request.headers), attributes
        )
        info.trace_id = span.trace_id
        return span


class Observer:
    """Metrics, spans and access log of one sidecar."""

    def __init__(
        self,
        identity: Identity,
        metrics: MeshMetrics,
        tracer: Tracer | None = None,
        access_log: AccessLog | None = None,
    ) -> None:
        self.identity = identity
        self.metrics = metrics
        self._tracer: Tracer = tracer if tracer is not None else NoTracer()
        self._access_log = access_log if access_log is not None and access_log.enabled else None
        """None when there is nothing to write to: `AccessLog.enabled` is an interpreted
        property, not to be asked on every request (a closed log's `log` writes nothing)."""

    def server_span(self, request: Request, info: RequestInfo) -> Span:
        return self._tracer.server_span(request, info)

    def client_span(self, request: Request, info: RequestInfo, endpoint: Endpoint) -> Span:
        return self._tracer.client_span(request, info, endpoint)

    def request_done(self, info: RequestInfo, response: Response) -> None:
        me = self.identity
        if info.reporter == "source":
            source, destination = me.service, info.service or "unknown"
            service, version = info.service or "unknown", info.version
        else:
            source, destination = info.peer, me.service
            service, version = me.service, me.version
        self.metrics.record_request(
            reporter=info.reporter,
            source_workload=source,
            destination_workload=destination,
            destination_service=service,
            destination_version=version,
            response_code=response.status,
            response_flags=response.flags,
            connection_security_policy=info.security
            or ("unknown" if info.reporter == "source" else "none"),
            duration_ms=info.duration_ms,
            request_protocol="grpc" if info.grpc else "http",
            grpc_response_status=_grpc_label(info, response),
            messages=(_request_messages(info), _response_messages(response)) if info.grpc else None,
        )
        if self._access_log is not None:
            self._access_log.log(_entry(info, response))

    def retry(self, service: str) -> None:
        self.metrics.inc_retry(service)

    def ejection(self, service: str, instance: str) -> None:
        self.metrics.inc_ejection(service, instance)

    def overflow(self, service: str) -> None:
        self.metrics.inc_overflow(service)


def no_answer(flag: str) -> Response:
    """What a request nobody was left to answer is counted as (Envoy's): status 0, `flag`
    (DC: the caller's connection closed; DR: it reset its HTTP/2 stream)."""
    return Response(0, [], b"", flags=flag)


def end_grpc_span(span: Span, response: Response) -> None:
    """End a gRPC call's span with its final status (the trailers', else the head's)."""
    span.end(response.status, response.flags, final_status(response))


def rpc_attributes(path: str) -> dict[str, str | int]:
    """OpenTelemetry's rpc.* attributes of a gRPC call to `/package.Service/Method`."""
    service, _, method = path.lstrip("/").partition("/")
    return {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method}


def _request_messages(info: RequestInfo) -> int:
    stream = info.streamed
    if stream is None or stream.source.messages is None:
        return info.request_messages
    return stream.source.messages.count


def _response_messages(response: Response) -> int:
    body = response.body
    if isinstance(body, BodyStream) and body.messages is not None:
        return body.messages.count
    return 0


def _grpc_label(info: RequestInfo, response: Response) -> str:
    """grpc_response_status: the call's status from its trailers (or trailers-only head)."""
    if not info.grpc:
        return ""
    code = final_status(response)
    return "" if code is None else str(code)


def _entry(info: RequestInfo, response: Response) -> AccessLogEntry:
    body = response.body
    sent = len(body) if isinstance(body, bytes) else (response.content_length or 0)
    return AccessLogEntry(
        start_time=info.started,
        method=info.method,
        path=info.path,
        direction="outbound" if info.reporter == "source" else "inbound",
        response_code=response.status,
        duration_ms=info.duration_ms,
        response_flags=response.flags,
        bytes_received=info.bytes_received if info.streamed is None else info.streamed.size,
        bytes_sent=sent,
        upstream_host=info.upstream_host,
        upstream_cluster=info.service or None,
        route_name=info.route,
        attempts=max(info.attempts, 1),
        trace_id=f"{info.trace_id:032x}" if info.trace_id is not None else None,
        downstream_peer_principal=(info.principal or None) if info.reporter != "source" else None,
    )
