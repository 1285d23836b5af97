"""The sidecar's telemetry: Istio-named metrics, OpenTelemetry spans, a JSON access log."""

from mesh_runtime.sidecar.telemetry.accesslog import AccessLog, AccessLogEntry
from mesh_runtime.sidecar.telemetry.flags import join_flags
from mesh_runtime.sidecar.telemetry.metrics import CONTENT_TYPE, MeshMetrics
from mesh_runtime.sidecar.telemetry.tracing import (
    SpanRecorder,
    extract,
    inject,
    make_tracer_provider,
    trace_id_of,
    traceparent_for,
)

__all__ = [
    "CONTENT_TYPE",
    "AccessLog",
    "AccessLogEntry",
    "MeshMetrics",
    "SpanRecorder",
    "extract",
    "inject",
    "join_flags",
    "make_tracer_provider",
    "trace_id_of",
    "traceparent_for",
]
