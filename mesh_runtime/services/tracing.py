"""OpenTelemetry for a sample service: one SERVER span per request, W3C trace context.

Nothing global is touched: the service owns its TracerProvider and propagator, so two
services in one test process cannot step on each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACES_PATH = "/v1/traces"


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL: a bare base URL gets '/v1/traces' appended."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{endpoint!r}: expected a URL like http://127.0.0.1:4318")
    if parts.path in ("", "/"):
        return endpoint.rstrip("/") + TRACES_PATH
    return endpoint


@dataclass(frozen=True)
class ServiceIdentity:
    service: str
    instance: str
    version: str


class ServiceTracer:
    """Starts the SERVER span of each request and injects context into downstream calls."""

    def __init__(self, identity: ServiceIdentity, otlp_endpoint: str | None) -> None:
        resource = Resource.create(
            {
                "service.name": identity.service,
                "service.instance.id": identity.instance,
                "service.version": identity.version,
            }
        )
        self._provider = TracerProvider(resource=resource)
        if otlp_endpoint:
            exporter = OTLPSpanExporter(endpoint=traces_url(otlp_endpoint), timeout=5)
            self._provider.add_span_processor(
                BatchSpanProcessor(exporter, max_queue_size=8192, schedule_delay_millis=500)
            )
        self._tracer = self._provider.get_tracer("meshproof.services")
        self._propagator = TraceContextTextMapPropagator()
        self._span_name = f"{identity.service} handle"

    def start_server_span(self, headers: Mapping[str, str], method: str, path: str) -> Span:
        """A SERVER span, child of the incoming `traceparent` when there is one."""
        parent = self._propagator.extract(headers)
        return self._tracer.start_span(
            self._span_name,
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": path},
        )

    def start_rpc_span(self, metadata: Mapping[str, str], full_method: str) -> Span:
        """A SERVER span of a gRPC call (`/package.Service/Method`), child of the
        `traceparent` in its metadata when there is one."""
        rpc_service, _, rpc_method = full_method.lstrip("/").rpartition("/")
        parent = self._propagator.extract(metadata)
        attributes = {"rpc.system": "grpc", "rpc.service": rpc_service, "rpc.method": rpc_method}
        return self._tracer.start_span(
            self._span_name, context=parent, kind=SpanKind.SERVER, attributes=attributes
        )

    def outgoing_headers(self, span: Span) -> dict[str, str]:
        """`traceparent` (and `tracestate`) naming `span` as the parent of a downstream call."""
        carrier: dict[str, str] = {}
        self._propagator.inject(carrier, context=trace.set_span_in_context(span, Context()))
        return carrier

    @staticmethod
    def finish(span: Span, status: int, failure: str | None = None) -> None:
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR, failure))
        span.end()

    @staticmethod
    def finish_rpc(span: Span, code: int, failure: str | None = None) -> None:
        """End a gRPC call's span; as OpenTelemetry's gRPC conventions say, a server span
        is an error for UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE
        and DATA_LOSS only."""
        span.set_attribute("rpc.grpc.status_code", code)
        if code in (2, 4, 12, 13, 14, 15):
            span.set_status(Status(StatusCode.ERROR, failure))
        span.end()

    def shutdown(self) -> None:
        """Flush spans still queued and stop the exporter thread."""
        self._provider.shutdown()
