"""The sidecar's telemetry: Istio-named metrics, OpenTelemetry spans, a JSON access log."""

from mesh_runtime.sidecar.telemetry.flags import join_flags
from mesh_runtime.sidecar.telemetry.metrics import CONTENT_TYPE, MeshMetrics

__all__ = [
    "CONTENT_TYPE",
    "MeshMetrics",
    "join_flags",
]
