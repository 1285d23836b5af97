"""The trace sink sends every span it receives on to another OTLP/HTTP endpoint."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from mesh_runtime.runtimes.ports import fresh_port
from tests.conftest import answers_200, poll, stop_group
from tests.unit.tracesink.test_tracesink_forward_queue import export_request

pytestmark = pytest.mark.integration


class Backend:
    """A real OTLP/HTTP endpoint on 127.0.0.1 that keeps what it accepts (the user's)."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.status = 200
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                if 200 <= backend.status < 300:
                    backend.requests.append(request)
                self.send_response(backend.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def resources(self) -> list[dict[str, str]]:
        return [
            {kv.key: kv.value.string_value for kv in group.resource.attributes}
            for request in self.requests
            for group in request.resource_spans
            for _ in (s for scope in group.scope_spans for s in scope.spans)
        ]


@pytest.fixture
def backend() -> Iterator[Backend]:
    found = Backend()
    yield found
    found.server.shutdown()


def _start_sink(tmp_path: Path, *extra: str) -> tuple[str, subprocess.Popen[bytes]]:
    port = fresh_port()
    command = [sys.executable, "-m", "mesh_runtime.tracesink", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--out", str(tmp_path / "spans.jsonl"), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    poll(lambda: answers_200(f"{url}/ready", process), 15, 0.05, "trace sink ready")
    return url, process


def _export(sink: str, service: str, spans: int) -> float:
    """POST one OTLP/protobuf export of `spans` spans; how long the sink took to answer."""
    started = time.monotonic()
    _post(sink, export_request(service, spans))
    return time.monotonic() - started


def _post(sink: str, request: ExportTraceServiceRequest) -> None:
    """POST one OTLP/protobuf export; the sink answers 200."""
    answer = requests.post(
        f"{sink}/v1/traces",
        data=request.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
        timeout=5,
    )
    assert answer.status_code == 200


def _forward(sink: str) -> dict[str, Any]:
    stats = requests.get(f"{sink}/stats", timeout=5).json()["forward"]
    assert isinstance(stats, dict)
    return stats


def test_spans_reach_the_endpoint_with_the_run_id(tmp_path: Path, backend: Backend) -> None:
    """--forward: every span received is sent on, its resource marked with the run id."""
    sink, process = _start_sink(
        tmp_path, "--forward", backend.url, "--forward-attribute", "meshproof.run.id=run-7"
    )
    try:
        _export(sink, "cart", 3)
        _export(sink, "catalog", 2)
        poll(lambda: _forward(sink)["sent"] == 5, 10, 0.05, "five spans sent on")
        resources = backend.resources()
        assert len(resources) == 5
        assert {r["meshproof.run.id"] for r in resources} == {"run-7"}
        assert sorted({r["service.name"] for r in resources}) == ["cart", "catalog"]
        stats = _forward(sink)
        assert (stats["dropped"], stats["failed"], stats["queued"]) == (0, 0, 0)
        assert len((tmp_path / "spans.jsonl").read_text().splitlines()) == 5
    finally:
        stop_group(process)


def test_failures_are_tried_again_and_never_slow_the_receiver(
    tmp_path: Path, backend: Backend
) -> None:
    """An endpoint that answers 503 gets the batch again once it answers 200 (no span
    lost); a 400 refuses a batch for good (counted failed); spans for an endpoint that is
    gone stay queued while the sink keeps taking exports at once. PUT /forward switches
    the endpoint, a bad one is 400."""
    sink, process = _start_sink(tmp_path)
    try:
        assert requests.get(f"{sink}/stats", timeout=5).json()["forward"] is None
        bad = requests.put(f"{sink}/forward", json={"url": "ftp://x"}, timeout=5)
        assert bad.status_code == 400 and "OTLP/HTTP URL" in bad.json()["error"]
        backend.status = 503
        body = {"url": backend.url, "attributes": {"meshproof.run.id": "r"}}
        assert requests.put(f"{sink}/forward", json=body, timeout=5).status_code == 200
        _export(sink, "cart", 4)
        poll(lambda: _forward(sink)["failed_exports"] >= 2, 10, 0.05, "two tries failed")
        stats = _forward(sink)
        assert stats["last_error"].startswith("HTTP 503") and stats["failing"] >= 2
        assert (stats["failed"], stats["sent"], stats["queued"] + stats["in_flight"]) == (0, 0, 4)
        backend.status = 200
        poll(lambda: _forward(sink)["sent"] == 4, 10, 0.05, "the four spans sent on")
        assert _forward(sink)["failing"] == 0 and len(backend.resources()) == 4

        backend.status = 400
        _export(sink, "cart", 3)
        poll(lambda: _forward(sink)["failed"] == 3, 10, 0.05, "three spans refused")
        assert _forward(sink)["failing"] == 0 and _forward(sink)["queued"] == 0

        gone = f"http://127.0.0.1:{fresh_port()}/v1/traces"
        requests.put(f"{sink}/forward", json={"url": gone}, timeout=5).raise_for_status()
        answers = [_export(sink, "cart", 50) for _ in range(20)]
        poll(lambda: _forward(sink)["failing"] >= 2, 20, 0.05, "two tries failed")
        stats = _forward(sink)
        assert stats["sent"] == 0 and stats["failed"] == 0
        assert stats["queued"] + stats["in_flight"] == 1000
        assert max(answers) < 1.0, answers
        assert len((tmp_path / "spans.jsonl").read_text().splitlines()) == 1007
    finally:
        stop_group(process)


def test_a_bad_forward_option_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mesh_runtime.tracesink",
            "--port",
            "1",
            "--out",
            str(tmp_path / "s.jsonl"),
            "--forward",
            "collector:4318",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "OTLP/HTTP URL" in done.stderr


def test_the_run_side_waits_for_the_queue_and_reads_the_counts(
    tmp_path: Path, backend: Backend
) -> None:
    """harness.observe.forward: start through PUT /forward, finish once the queue is empty
    (the counts as run.json keeps them); a sink that never forwarded says so."""
    from harness.observe.forward import ForwardingUnavailable, finish_forwarding, start_forwarding

    sink, process = _start_sink(tmp_path)
    try:
        with pytest.raises(ForwardingUnavailable, match="never started"):
            finish_forwarding(sink, timeout_s=1)
        start_forwarding(sink, backend.url, "run-9")
        _export(sink, "cart", 7)
        record = finish_forwarding(sink, timeout_s=10)
        assert (record.sent, record.lost, record.attributes) == (
            7,
            0,
            {"meshproof.run.id": "run-9"},
        )
    finally:
        stop_group(process)


def test_spans_with_invalid_ids_are_not_sent_on(tmp_path: Path, backend: Backend) -> None:
    """A span the sink rejects for an invalid id (of the wrong length) is not forwarded; the
    valid spans of its export are."""
    sink, process = _start_sink(tmp_path, "--forward", backend.url)
    try:
        request = export_request("cart", 3)
        spans = request.resource_spans[0].scope_spans[0].spans
        spans[0].trace_id, spans[2].span_id = b"\x01" * 3, b"\x02" * 9
        _post(sink, request)
        poll(lambda: _forward(sink)["sent"] == 1, 10, 0.05, "the valid span sent on")
        sent = [
            s.name
            for r in backend.requests
            for g in r.resource_spans
            for sc in g.scope_spans
            for s in sc.spans
        ]
        assert sent == [spans[1].name]
        assert _forward(sink)["queued"] == 0
    finally:
        stop_group(process)


def test_a_root_with_an_all_zero_parent_is_sent_on_as_a_root(
    tmp_path: Path, backend: Backend
) -> None:
    """A span whose parent_span_id is 8 zero bytes (OTLP's "no id") is sent on with none,
    as it is stored; a real child keeps its parent."""
    sink, process = _start_sink(tmp_path, "--forward", backend.url)
    try:
        request = export_request("cart", 2)
        root, child = request.resource_spans[0].scope_spans[0].spans
        root.parent_span_id, child.parent_span_id = bytes(8), root.span_id
        _post(sink, request)
        poll(lambda: _forward(sink)["sent"] == 2, 10, 0.05, "both spans sent on")
        sent = [
            (s.name, s.parent_span_id)
            for r in backend.requests
            for g in r.resource_spans
            for sc in g.scope_spans
            for s in sc.spans
        ]
        assert sent == [(root.name, b""), (child.name, root.span_id)]
    finally:
        stop_group(process)
