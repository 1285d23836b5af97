"""A request its caller gives up on is still counted, as Envoy counts it: status 0 with
flag DC (the caller's connection closed) or DR (it reset its HTTP/2 stream), in
istio_requests_total and the access log, its spans ended; and a try the route's timeout
cuts off ends its CLIENT span with UT. Before, such a request vanished from metrics, the
access log and traces: a gRPC deadline fault (the client cancels at its deadline) showed
almost no errors in the mesh's own metrics.

The upstream is a socket in the test that reads a request and never answers.
"""

from __future__ import annotations

import json
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from h2.errors import ErrorCodes
from h2_client import H2Client
from sidecar_mesh import endpoint, mesh_config, metric_sum, request
from sidecar_procs import PYTHON, Processes, Sidecar, ready_200, wait_until

from mesh_runtime.runtimes.ports import fresh_port

pytestmark = pytest.mark.integration


class SilentUpstream:
    """Accepts, reads a request head, never answers; says when a head arrived and when
    the sidecar closed the connection."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", fresh_port()))
        self.port = int(self.server.getsockname()[1])
        self.got_request = threading.Event()
        self.closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    def _hold(self, conn: socket.socket) -> None:
        with conn:
            seen = b""
            while True:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    self.closed.set()
                    return
                seen += chunk
                if b"\r\n\r\n" in seen:
                    self.got_request.set()

    def stop(self) -> None:
        self.server.close()


@pytest.fixture
def silent() -> Iterator[SilentUpstream]:
    upstream = SilentUpstream()
    try:
        yield upstream
    finally:
        upstream.stop()


def _client(procs: Processes, upstream: int, route: dict[str, Any], extra: list[str]) -> Sidecar:
    config = mesh_config(
        {"catalog": {"endpoints": [endpoint("catalog-0", upstream)], "policy": {"http": [route]}}}
    )
    return procs.sidecar("frontend", "frontend-0", fresh_port(), config, extra=extra)


def _counted(car: Sidecar, **labels: str) -> float:
    return metric_sum(car.metrics(), "istio_requests_total", **labels)


def _log(path: Path) -> list[dict[str, Any]]:
    text = path.read_text() if path.exists() else ""
    return [json.loads(line) for line in text.splitlines()]


def _hang_up(port: int, upstream: SilentUpstream, host: str = "catalog") -> None:
    """A GET that reaches the upstream, then the caller closes its connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET /slow HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        assert upstream.got_request.wait(10), "the request never reached the upstream"


def test_a_caller_hanging_up_is_counted_0_dc_at_the_outbound(
    procs: Processes, silent: SilentUpstream, tmp_path: Path
) -> None:
    log = tmp_path / "access.jsonl"
    client = _client(procs, silent.port, {"timeout": "30s"}, ["--access-log", str(log)])
    _hang_up(client.outbound, silent)
    wait_until(
        lambda: _counted(client, reporter="source", response_code="0", response_flags="DC") == 1,
        10,
        "the hung-up request counted 0 DC",
    )
    assert silent.closed.wait(10), "the sidecar kept the abandoned upstream request open"
    wait_until(lambda: len(_log(log)) == 1, 5, "its access log line")
    line = _log(log)[0]
    assert (line["response_code"], line["response_flags"]) == (0, "DC")
    assert line["path"] == "/slow"


def test_a_caller_hanging_up_is_counted_0_dc_at_the_inbound(
    procs: Processes, silent: SilentUpstream
) -> None:
    inbound = fresh_port()
    config = mesh_config({"catalog": {"endpoints": [endpoint("catalog-0", inbound)]}})
    server = procs.sidecar(
        "catalog", "catalog-0", silent.port, config, ports=(inbound, fresh_port(), fresh_port())
    )
    _hang_up(server.inbound, silent)
    wait_until(
        lambda: (
            _counted(server, reporter="destination", response_code="0", response_flags="DC") == 1
        ),
        10,
        "the hung-up request counted 0 DC",
    )
    assert silent.closed.wait(10)


def test_a_reset_http2_stream_is_counted_0_dr_and_the_connection_serves_on(
    procs: Processes, silent: SilentUpstream
) -> None:
    """A gRPC client cancelling at its deadline resets its stream (RST_STREAM CANCEL). The
    request goes on upstream as HTTP/2 (the protocol is kept), so only its stream ends
    there: the upstream connection stays."""
    client = _client(procs, silent.port, {"timeout": "30s"}, [])
    with H2Client(client.outbound) as h2:
        stream_id = h2.conn.get_next_available_stream_id()
        fields = [(":method", "GET"), (":scheme", "http"), (":authority", "catalog")]
        h2.conn.send_headers(stream_id, [*fields, (":path", "/slow")], end_stream=True)
        h2.sock.sendall(h2.conn.data_to_send())
        assert silent.got_request.wait(10)
        h2.conn.reset_stream(stream_id, ErrorCodes.CANCEL)
        h2.sock.sendall(h2.conn.data_to_send())
        wait_until(
            lambda: _counted(client, response_code="0", response_flags="DR") == 1,
            10,
            "the reset stream counted 0 DR",
        )
        assert _counted(client, response_flags="DC") == 0
        assert h2.goaway is None  # one stream reset, the connection serves on


def test_a_try_the_route_timeout_cuts_off_ends_its_span_ut(
    procs: Processes, silent: SilentUpstream, tmp_path: Path
) -> None:
    """504 UT to the caller, and the try's CLIENT span ended too: flagged UT, an error."""
    sink_port, spans_file = fresh_port(), tmp_path / "spans.jsonl"
    argv = [PYTHON, "-m", "mesh_runtime.tracesink", "--port", str(sink_port)]
    procs.spawn("tracesink", [*argv, "--out", str(spans_file)])
    wait_until(ready_200(sink_port, "/ready"), 15, "trace sink")
    otlp = ["--otlp-endpoint", f"http://127.0.0.1:{sink_port}/v1/traces"]
    config = mesh_config(
        {
            "catalog": {
                "endpoints": [endpoint("catalog-0", silent.port)],
                "policy": {"http": [{"timeout": "300ms"}]},
            }
        }
    )
    client = procs.sidecar("frontend", "frontend-0", fresh_port(), config, extra=otlp, tracing=True)
    status, _, _ = request(client.outbound, "GET", "/slow", "catalog")
    assert status == 504
    client.proc.popen.send_signal(signal.SIGTERM)  # its spans are flushed on the way out
    assert client.proc.popen.wait(10) == 0
    wait_until(lambda: spans_file.exists() and spans_file.read_text().strip() != "", 10, "spans")
    spans = [json.loads(line) for line in spans_file.read_text().splitlines() if line.strip()]
    tries = [s for s in spans if s["kind"] == "CLIENT"]
    assert len(tries) == 1, spans
    assert tries[0]["attributes"]["response_flags"] == "UT", tries[0]
    assert "http.response.status_code" not in tries[0]["attributes"]  # no answer came
    assert tries[0]["status_code"] == "ERROR", tries[0]
