"""Tracing for a sample service: one SERVER span per request, W3C trace context, OTLP.

Spans are made by the sidecar's own light recorder and exported from the event loop by
its OTLP/HTTP exporter (`mesh_runtime.sidecar.telemetry`): the OpenTelemetry SDK's span
machinery and its export thread cost a sample service more CPU than serving the request
did. Nothing global is touched: each service owns its recorder and exporter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from mesh_runtime.sidecar.telemetry.export import SpanExporter
from mesh_runtime.sidecar.telemetry.otlp import SpanEncoder
from mesh_runtime.sidecar.telemetry.tracing import (
    HTTP_METHOD,
    SERVER,
    URL_PATH,
    Attributes,
    ProxySpan,
    SpanRecorder,
    extract,
)

Span = ProxySpan
TRACER_NAME = "meshproof.services"
FLUSH_TIMEOUT_S = 5.0
"""How long a stopping service keeps sending its last spans."""
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
    """Starts the SERVER span of each request and names it as the parent of downstream
    calls; `start()` (in the loop) runs the export, `shutdown()` sends what is left."""

    def __init__(self, identity: ServiceIdentity, otlp_endpoint: str | None) -> None:
        resource = {
            "service.name": identity.service,
            "service.instance.id": identity.instance,
            "service.version": identity.version,
            "telemetry.sdk.language": "python",
            "telemetry.sdk.name": "meshproof",
        }
        self._exporter = (
            SpanExporter(traces_url(otlp_endpoint), SpanEncoder(resource, TRACER_NAME))
            if otlp_endpoint
            else None
        )
        self._recorder = SpanRecorder(self._exporter.add if self._exporter else None)
        self._runner: asyncio.Task[None] | None = None
        self._span_name = f"{identity.service} handle"

    def start(self) -> None:
        """Start exporting (from the running loop)."""
        if self._exporter is not None and self._runner is None:
            self._runner = asyncio.get_running_loop().create_task(self._exporter.run())

    async def flush(self, timeout_s: float) -> dict[str, object]:
        """Send every span ended so far now: `{"flushed": bool, "tracing": counts | None}`
        (`flushed` false when the endpoint did not take them within `timeout_s`)."""
        if self._exporter is None:
            return {"flushed": True, "tracing": None}
        flushed = await self._exporter.flush(timeout_s)
        return {"flushed": flushed, "tracing": self._exporter.summary()}

    async def shutdown(self) -> None:
        """Send the spans still queued (within `FLUSH_TIMEOUT_S`) and stop exporting."""
        if self._exporter is not None:
            await self._exporter.shutdown(FLUSH_TIMEOUT_S, self._runner)
            self._runner = None

    def start_server_span(
        self, headers: Iterable[tuple[bytes, bytes]], method: str, path: str
    ) -> Span:
        """A SERVER span, child of the incoming `traceparent` when there is one."""
        attributes: Attributes = {HTTP_METHOD: method, URL_PATH: path}
        # The span keeps this dict (made for it alone) rather than a copy of it.
        return self._recorder.start_owned(self._span_name, SERVER, extract(headers), attributes)

    def start_rpc_span(self, metadata: Mapping[str, str], full_method: str) -> Span:
        """A SERVER span of a gRPC call (`/package.Service/Method`), child of the
        `traceparent` in its metadata when there is one."""
        rpc_service, _, rpc_method = full_method.lstrip("/").rpartition("/")
        parent = extract((k.encode("latin-1"), v.encode("latin-1")) for k, v in metadata.items())
        attributes: Attributes = {
            "rpc.system": "grpc",
            "rpc.service": rpc_service,
            "rpc.method": rpc_method,
        }
        return self._recorder.start_server_span(self._span_name, parent, attributes)

    @staticmethod
    def outgoing_headers(span: Span) -> dict[str, str]:
        """`traceparent` (and `tracestate`) naming `span` as the parent of a downstream call."""
        headers = {"traceparent": span.traceparent().decode()}
        if span.tracestate:
            headers["tracestate"] = span.tracestate
        return headers

    @staticmethod
    def finish(span: Span, status: int) -> None:
        """End the span with the answer's status (5xx: an error)."""
        span.end(status)

    @staticmethod
    def finish_rpc(span: Span, code: int) -> None:
        """End a gRPC call's span (HTTP 200, as every gRPC answer is, with its code); as
        OpenTelemetry's gRPC conventions say, a server span is an error for UNKNOWN,
        DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE and DATA_LOSS only."""
        span.end(200, grpc_status=code)
