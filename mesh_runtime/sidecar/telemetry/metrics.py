"""The sidecar's metrics, with Istio's standard names and labels, in Prometheus text format.

A small registry of plain dicts keyed by label tuples: recording a request is a tuple,
one dict look-up (its series' histogram, whose count is the request counter: the 12-item
key is hashed once) and a bisect, cheap enough for every request. Rendering (the scrape)
does the formatting. Exposition format 0.0.4, `# HELP` and `# TYPE` for every family.

The metrics dialect (`--metrics-dialect`) changes only the rendering: `istio` (the
default, Istio's names, as ever), `linkerd` or `envoy` (`telemetry/dialects.py`); the
mesh's own `meshproof_*` families are in every dialect. Recording is the same for all
(Linkerd's latency buckets are chosen when the registry is made).
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any, Final

from mesh_runtime.sidecar.telemetry.dialects import (
    LINKERD_LATENCY_BUCKETS_MS,
    MetricsDialect,
    render_dialect,
)
from mesh_runtime.sidecar.telemetry.exposition import (
    Histogram,
    RequestKey,
    family,
    histogram_lines,
    labels_text,
    number,
)
from mesh_runtime.sidecar.telemetry.tcp_metrics import TcpMetrics

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"

ISTIO_DURATION_BUCKETS_MS: tuple[float, ...] = (
    0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
    30000, 60000, 300000, 600000, 1800000, 3600000,
)  # fmt: skip
"""Istio's default buckets for istio_request_duration_milliseconds."""

REQUEST_LABELS: tuple[str, ...] = (
    "reporter",
    "source_workload",
    "source_canonical_service",
    "destination_workload",
    "destination_canonical_service",
    "destination_service",
    "destination_version",
    "response_code",
    "response_flags",
    "connection_security_policy",
    "request_protocol",
    "grpc_response_status",
)


class MeshMetrics:
    """Every metric one sidecar exports; single-threaded (the event loop's thread)."""

    def __init__(
        self,
        buckets_ms: tuple[float, ...] | None = None,
        *,
        dialect: MetricsDialect = "istio",
        workload: str = "",
    ) -> None:
        if buckets_ms is None:
            linkerd = dialect == "linkerd"
            buckets_ms = LINKERD_LATENCY_BUCKETS_MS if linkerd else ISTIO_DURATION_BUCKETS_MS
        self.dialect: MetricsDialect = dialect
        self.workload = workload
        """The sidecar's own service (Linkerd's `deployment`, Envoy's `local_cluster`)."""
        self._buckets = tuple(float(b) for b in buckets_ms)
        self._durations: dict[RequestKey, Histogram] = {}
        """Per request series: its duration histogram, whose count is istio_requests_total."""
        self._request_messages: dict[RequestKey, int] = {}
        self._response_messages: dict[RequestKey, int] = {}
        self._retries: dict[str, int] = {}
        self._ejections: dict[tuple[str, str], int] = {}
        self._overflows: dict[str, int] = {}
        self._active: dict[str, int] = {}
        self._config_version = 0
        self.tcp = TcpMetrics()
        """Istio's TCP connection and byte counters (`protocol: tcp` services)."""
        self._label_text: dict[RequestKey, str] = {}
        """Rendered label sets, made once per series rather than once per scrape."""

    def record_request(
        self,
        *,
        reporter: str,
        source_workload: str,
        destination_workload: str,
        destination_service: str,
        destination_version: str,
        response_code: int,
        response_flags: str,
        connection_security_policy: str,
        duration_ms: float,
        source_canonical_service: str | None = None,
        destination_canonical_service: str | None = None,
        request_protocol: str = "http",
        grpc_response_status: str = "",
        messages: tuple[int, int] | None = None,
    ) -> None:
        """Count one request and its duration; canonical services default to the workloads."""
        key: RequestKey = (
            reporter,
            source_workload,
            source_canonical_service or source_workload,
            destination_workload,
            destination_canonical_service or destination_workload,
            destination_service,
            destination_version,
            response_code,
            response_flags,
            connection_security_policy,
            request_protocol,
            grpc_response_status,
        )
        histogram = self._durations.get(key)
        if histogram is None:
            histogram = self._durations[key] = Histogram(len(self._buckets))
        histogram.counts[bisect_left(self._buckets, duration_ms)] += 1
        histogram.total += duration_ms
        if messages is not None:  # a gRPC call: its request and response messages
            sent, received = messages
            self._request_messages[key] = self._request_messages.get(key, 0) + sent
            self._response_messages[key] = self._response_messages.get(key, 0) + received

    def inc_retry(self, destination_service: str) -> None:
        self._retries[destination_service] = self._retries.get(destination_service, 0) + 1

    def inc_ejection(self, destination_service: str, instance: str) -> None:
        key = (destination_service, instance)
        self._ejections[key] = self._ejections.get(key, 0) + 1

    def inc_overflow(self, destination_service: str) -> None:
        self._overflows[destination_service] = self._overflows.get(destination_service, 0) + 1

    def set_config_version(self, version: int) -> None:
        self._config_version = version

    def set_active_requests(self, destination_service: str, count: int) -> None:
        self._active[destination_service] = count

    # Read-only views for the other dialects' renderers (telemetry/dialects.py).
    @property
    def buckets(self) -> tuple[float, ...]:
        return self._buckets

    @property
    def requests(self) -> dict[RequestKey, int]:
        """Requests per series (made at each call: for rendering, not per request)."""
        return {key: sum(h.counts) for key, h in self._durations.items()}

    @property
    def durations(self) -> dict[RequestKey, Histogram]:
        return self._durations

    @property
    def retries(self) -> dict[str, int]:
        return self._retries

    @property
    def ejections(self) -> dict[tuple[str, str], int]:
        return self._ejections

    @property
    def overflows(self) -> dict[str, int]:
        return self._overflows

    def render(self) -> bytes:
        """Every family in Prometheus text exposition format 0.0.4, in the dialect's names."""
        lines: list[str] = []
        if self.dialect == "istio":
            self._render_requests(lines)
            self._render_durations(lines)
            self.tcp.render(lines)
        else:
            render_dialect(self, lines)
        self._render_own(lines)
        lines.append("")
        return "\n".join(lines).encode("utf-8")

    def _render_own(self, lines: list[str]) -> None:
        """The mesh's own families (`meshproof_*`), in every dialect."""
        family(lines, "meshproof_retries_total", "counter", "Retries sent to an upstream service.")
        for service, value in sorted(self._retries.items()):
            lines.append(
                f"meshproof_retries_total{labels_text(('destination_service', service))} {value}"
            )
        family(
            lines,
            "meshproof_outlier_ejections_total",
            "counter",
            "Hosts ejected by outlier detection.",
        )
        for (service, instance), value in sorted(self._ejections.items()):
            labels = labels_text(("destination_service", service), ("instance", instance))
            lines.append(f"meshproof_outlier_ejections_total{labels} {value}")
        family(
            lines,
            "meshproof_overflow_total",
            "counter",
            "Requests refused by a circuit breaker limit (flag UO).",
        )
        for service, value in sorted(self._overflows.items()):
            lines.append(
                f"meshproof_overflow_total{labels_text(('destination_service', service))} {value}"
            )
        family(lines, "meshproof_config_version", "gauge", "Version of the mesh config in use.")
        lines.append(f"meshproof_config_version {self._config_version}")
        family(
            lines,
            "meshproof_upstream_active_requests",
            "gauge",
            "Requests in flight to an upstream service.",
        )
        for service, value in sorted(self._active.items()):
            labels = labels_text(("destination_service", service))
            lines.append(f"meshproof_upstream_active_requests{labels} {value}")
        self.tcp.render_own(lines)

    def _render_requests(self, lines: list[str]) -> None:
        family(lines, "istio_requests_total", "counter", "Requests handled by the sidecar.")
        for key, value in sorted(self.requests.items()):
            lines.append(f"istio_requests_total{{{self._labels_of(key)}}} {value}")
        streams = (
            ("istio_request_messages_total", "gRPC messages sent by the client.", self._request_messages),
            ("istio_response_messages_total", "gRPC messages sent by the server.", self._response_messages),
        )  # fmt: skip
        for name, help_text, counts in streams:
            if counts:  # only once a gRPC call was seen
                family(lines, name, "counter", help_text)
                for key, value in sorted(counts.items()):
                    lines.append(f"{name}{{{self._labels_of(key)}}} {value}")

    def _render_durations(self, lines: list[str]) -> None:
        name = "istio_request_duration_milliseconds"
        family(lines, name, "histogram", "Request duration in milliseconds.")
        bounds = [number(b) for b in self._buckets] + ["+Inf"]
        for key, histogram in sorted(self._durations.items(), key=lambda item: item[0]):
            histogram_lines(lines, name, self._labels_of(key), histogram, bounds)

    def _labels_of(self, key: RequestKey) -> str:
        text = self._label_text.get(key)
        if text is None:
            pairs = zip(REQUEST_LABELS, (str(v) for v in key), strict=True)
            text = self._label_text[key] = labels_text(*pairs)[1:-1]
        return text

    def snapshot(self) -> dict[str, Any]:
        """Counters as plain JSON for the admin API's /stats."""
        by_code: dict[str, int] = {}
        by_flags: dict[str, int] = {}
        by_service: dict[str, int] = {}
        total = 0
        for key, value in self.requests.items():
            total += value
            by_code[str(key[7])] = by_code.get(str(key[7]), 0) + value
            by_flags[key[8]] = by_flags.get(key[8], 0) + value
            by_service[key[5]] = by_service.get(key[5], 0) + value
        ejections: dict[str, dict[str, int]] = {}
        for (service, instance), value in self._ejections.items():
            ejections.setdefault(service, {})[instance] = value
        return {
            "config_version": self._config_version,
            "requests": {
                "total": total,
                "by_response_code": by_code,
                "by_response_flags": by_flags,
                "by_destination_service": by_service,
            },
            "retries": dict(self._retries),
            "outlier_ejections": ejections,
            "overflows": dict(self._overflows),
            "upstream_active_requests": dict(self._active),
            "tcp": self.tcp.snapshot(),
        }
