"""Istio's TCP counters in the sidecar's /metrics text."""

from __future__ import annotations

from mesh_runtime.sidecar.telemetry import MeshMetrics
from mesh_runtime.sidecar.telemetry.tcp_metrics import TcpConnectionLabels


def test_tcp_families_carry_istios_labels_and_counts() -> None:
    """Opened, closed and bytes each way are rendered per label set with request_protocol tcp."""
    metrics = MeshMetrics()
    key = TcpConnectionLabels("source", "cart", "kv", "kv", "v1").key()
    metrics.tcp.opened(key)
    metrics.tcp.received(key, 10)
    metrics.tcp.received(key, 5)
    metrics.tcp.sent(key, 7)
    metrics.tcp.closed(key)
    text = metrics.render().decode()
    labels = (
        'reporter="source",source_workload="cart",source_canonical_service="cart",'
        'destination_workload="kv",destination_canonical_service="kv",destination_service="kv",'
        'destination_version="v1",request_protocol="tcp",response_flags="-",'
        'connection_security_policy="unknown"'
    )
    assert f"istio_tcp_connections_opened_total{{{labels}}} 1" in text
    assert f"istio_tcp_connections_closed_total{{{labels}}} 1" in text
    assert f"istio_tcp_received_bytes_total{{{labels}}} 15" in text
    assert f"istio_tcp_sent_bytes_total{{{labels}}} 7" in text
    assert "# TYPE istio_tcp_sent_bytes_total counter" in text
    assert metrics.tcp.snapshot() == {
        "opened": 1,
        "closed": 1,
        "received_bytes": 15,
        "sent_bytes": 7,
        "idle_timeouts": 0,
    }


def test_an_http_only_sidecar_renders_no_tcp_family() -> None:
    """Without a TCP connection the families are absent (HTTP sidecars' /metrics unchanged)."""
    assert "istio_tcp" not in MeshMetrics().render().decode()


def test_other_dialects_leave_the_istio_tcp_names_out() -> None:
    """Linkerd's and Envoy's renderings do not carry Istio's TCP names."""
    metrics = MeshMetrics(dialect="linkerd")
    metrics.tcp.opened(TcpConnectionLabels("source", "a", "b", "b", "v1").key())
    assert "istio_tcp" not in metrics.render().decode()


def test_idle_timeouts_are_counted_per_reporter_and_destination_in_every_dialect() -> None:
    """A connection the idle timeout closed is meshproof_tcp_idle_timeouts_total{reporter,
    destination_service} (Envoy's tcp stat idle_timeout) and /stats tcp.idle_timeouts."""
    for dialect in ("istio", "linkerd", "envoy"):
        metrics = MeshMetrics(dialect=dialect)  # type: ignore[arg-type]
        key = TcpConnectionLabels("source", "cart", "kv", "kv", "v1").key()
        metrics.tcp.opened(key)
        metrics.tcp.idle_timeout(key)
        metrics.tcp.idle_timeout(key)
        text = metrics.render().decode()
        assert "# TYPE meshproof_tcp_idle_timeouts_total counter" in text, dialect
        series = 'meshproof_tcp_idle_timeouts_total{reporter="source",destination_service="kv"}'
        assert f"{series} 2" in text, dialect
        assert metrics.snapshot()["tcp"]["idle_timeouts"] == 2


def test_an_http_only_sidecar_renders_no_idle_timeout_family() -> None:
    """Without a TCP connection the mesh's TCP family is absent too."""
    assert "meshproof_tcp" not in MeshMetrics().render().decode()
