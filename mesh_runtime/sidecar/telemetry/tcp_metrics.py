"""Istio's TCP metrics: connections opened and closed, bytes each way, per label set.

`istio_tcp_received_bytes_total` counts the bytes of the request direction (downstream
to upstream), `istio_tcp_sent_bytes_total` those of the response direction, as Istio
defines them; both reporters (`source`: the caller's sidecar, `destination`: the
server's) count their own view. Bytes are added as they pass, so a scrape during a long
connection sees them. Rendered only in the `istio` dialect, and only once a connection
has been seen (an HTTP-only sidecar's /metrics is unchanged).

Connections closed by the idle timeout (`connectionPool.tcp.idleTimeout`; Envoy's tcp
stat `idle_timeout`) are the mesh's own `meshproof_tcp_idle_timeouts_total{reporter,
destination_service}`, in every dialect, likewise only once a connection was seen.
"""

from __future__ import annotations

from dataclasses import dataclass

from mesh_runtime.sidecar.telemetry.exposition import family, labels_text

TCP_LABELS: tuple[str, ...] = (
    "reporter",
    "source_workload",
    "source_canonical_service",
    "destination_workload",
    "destination_canonical_service",
    "destination_service",
    "destination_version",
    "request_protocol",
    "response_flags",
    "connection_security_policy",
)

TcpKey = tuple[str, str, str, str, str, str, str, str, str, str]
"""The values of `TCP_LABELS`, in order."""


@dataclass(frozen=True, slots=True)
class TcpConnectionLabels:
    """What one proxied connection is counted under."""

    reporter: str
    source_workload: str
    destination_workload: str
    destination_service: str
    destination_version: str
    response_flags: str = "-"
    connection_security_policy: str = "unknown"

    def key(self) -> TcpKey:
        return (
            self.reporter,
            self.source_workload,
            self.source_workload,
            self.destination_workload,
            self.destination_workload,
            self.destination_service,
            self.destination_version,
            "tcp",
            self.response_flags,
            self.connection_security_policy,
        )


_FAMILIES = (
    ("istio_tcp_connections_opened_total", "Total TCP connections opened."),
    ("istio_tcp_connections_closed_total", "Total TCP connections closed."),
    ("istio_tcp_received_bytes_total", "Bytes received during request in a TCP connection."),
    ("istio_tcp_sent_bytes_total", "Bytes sent during response in a TCP connection."),
)


IDLE_TIMEOUTS = "meshproof_tcp_idle_timeouts_total"


class TcpMetrics:
    """The four counters and the idle timeouts; single-threaded (the event loop's thread)."""

    def __init__(self) -> None:
        self._counters: tuple[dict[TcpKey, int], ...] = ({}, {}, {}, {})
        self._idle_timeouts: dict[tuple[str, str], int] = {}
        """(reporter, destination_service) -> connections the idle timeout closed."""

    def opened(self, key: TcpKey) -> None:
        self._add(0, key, 1)

    def closed(self, key: TcpKey) -> None:
        self._add(1, key, 1)

    def received(self, key: TcpKey, count: int) -> None:
        self._add(2, key, count)

    def sent(self, key: TcpKey, count: int) -> None:
        self._add(3, key, count)

    def idle_timeout(self, key: TcpKey) -> None:
        pair = (key[0], key[5])
        self._idle_timeouts[pair] = self._idle_timeouts.get(pair, 0) + 1

    def _add(self, which: int, key: TcpKey, count: int) -> None:
        counter = self._counters[which]
        counter[key] = counter.get(key, 0) + count

    def render(self, lines: list[str]) -> None:
        if not self._counters[0]:
            return
        for (name, help_text), counter in zip(_FAMILIES, self._counters, strict=True):
            family(lines, name, "counter", help_text)
            for key, value in sorted(counter.items()):
                lines.append(f"{name}{labels_text(*zip(TCP_LABELS, key, strict=True))} {value}")

    def render_own(self, lines: list[str]) -> None:
        """The mesh's own TCP family (every dialect), once a connection was seen."""
        if not self._counters[0]:
            return
        family(lines, IDLE_TIMEOUTS, "counter", "TCP connections closed by the idle timeout.")
        for (reporter, service), value in sorted(self._idle_timeouts.items()):
            labels = labels_text(("reporter", reporter), ("destination_service", service))
            lines.append(f"{IDLE_TIMEOUTS}{labels} {value}")

    def snapshot(self) -> dict[str, int]:
        """Totals for the admin /stats."""
        opened, closed, received, sent = (sum(c.values()) for c in self._counters)
        return {
            "opened": opened,
            "closed": closed,
            "received_bytes": received,
            "sent_bytes": sent,
            "idle_timeouts": sum(self._idle_timeouts.values()),
        }
