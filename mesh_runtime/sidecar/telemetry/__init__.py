"""The sidecar's telemetry: Istio-named metrics, OTLP spans, a JSON access log."""

from mesh_runtime.sidecar.telemetry.accesslog import AccessLog, AccessLogEntry
from mesh_runtime.sidecar.telemetry.export import SpanExporter
from mesh_runtime.sidecar.telemetry.flags import join_flags
from mesh_runtime.sidecar.telemetry.metrics import CONTENT_TYPE, MeshMetrics
from mesh_runtime.sidecar.telemetry.otlp import SpanEncoder
from mesh_runtime.sidecar.telemetry.tracing import (
    ProxySpan,
    SpanRecorder,
    TraceContext,
    extract,
    inject,
)

__all__ = [
    "CONTENT_TYPE",
    "AccessLog",
    "AccessLogEntry",
    "MeshMetrics",
    "ProxySpan",
    "SpanEncoder",
    "SpanExporter",
    "SpanRecorder",
    "TraceContext",
    "extract",
    "inject",
    "join_flags",
]
