"""The trace sink process receives spans from the real OTel SDK exporter."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, set_span_in_context

from mesh_runtime.runtimes.ports import fresh_port
from tests.conftest import answers_200, poll, stop_group

pytestmark = pytest.mark.integration


@dataclass
class Sink:
    url: str
    out: Path


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[Sink]:
    port = fresh_port()
    out = tmp_path / "spans" / "spans.jsonl"
    command = [sys.executable, "-m", "mesh_runtime.tracesink", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        poll(lambda: answers_200(f"{url}/ready", process), 15, 0.05, "trace sink ready")
        yield Sink(url=url, out=out)
    finally:
        stop_group(process)


def _records(out: Path) -> list[dict[str, Any]]:
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text().splitlines()]


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_spans_sent_by_the_sdk_exporter_land_in_the_file(
    sink: Sink, compression: Compression
) -> None:
    """A parent and a child span exported over OTLP/HTTP protobuf become two JSON lines."""
    resource = Resource.create({"service.name": "cart", "service.instance.id": "cart-0"})
    provider = TracerProvider(resource=resource)
    exporter = OTLPSpanExporter(endpoint=f"{sink.url}/v1/traces", compression=compression)
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=100))
    tracer = provider.get_tracer("test")
    parent = tracer.start_span("cart handle", kind=SpanKind.SERVER)
    child = tracer.start_span("GET inventory", context=set_span_in_context(parent))
    child.end()
    parent.end()
    provider.force_flush()
    poll(lambda: len(_records(sink.out)) == 2, 10, 0.05, "two spans in the file")
    records = {r["name"]: r for r in _records(sink.out)}
    server, client = records["cart handle"], records["GET inventory"]
    assert server["trace_id"] == f"{parent.get_span_context().trace_id:032x}"
    assert server["parent_span_id"] == "" and client["parent_span_id"] == server["span_id"]
    assert (server["kind"], server["service"], server["instance"]) == ("SERVER", "cart", "cart-0")
    assert requests.get(f"{sink.url}/stats", timeout=5).json()["spans"] == 2
    provider.shutdown()


def test_json_exports_are_accepted_and_bad_bodies_rejected(sink: Sink) -> None:
    """OTLP JSON is stored (and `GET /spans` is the file); garbage is 400, other content
    types 415; nothing bad is written."""
    span = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "eee19b7ec3c1b174",
        "name": "inventory handle",
        "kind": 2,
        "startTimeUnixNano": "1",
        "endTimeUnixNano": "2",
    }
    document = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    assert requests.get(f"{sink.url}/spans", timeout=5).content == b""  # none yet
    ok = requests.post(f"{sink.url}/v1/traces", json=document, timeout=5)
    assert ok.status_code == 200 and ok.json() == {}
    bad = requests.post(
        f"{sink.url}/v1/traces",
        data=b"\xff\xff garbage",
        headers={"Content-Type": "application/x-protobuf"},
        timeout=5,
    )
    assert bad.status_code == 400
    text = requests.post(f"{sink.url}/v1/traces", data=b"x", timeout=5)
    assert text.status_code == 415
    assert [r["span_id"] for r in _records(sink.out)] == ["eee19b7ec3c1b174"]
    assert requests.get(f"{sink.url}/spans", timeout=5).content == sink.out.read_bytes()
    assert requests.get(f"{sink.url}/stats", timeout=5).json() == {
        "spans": 1,
        "requests": 1,
        "rejected": 2,
        "rejected_spans": 0,
        "forward": None,
    }
