"""Bad OTLP/HTTP input at a real trace sink: a 4xx that says why, no traceback, no span."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from mesh_runtime.runtimes.ports import fresh_port
from tests.conftest import answers_200, poll, stop_group

pytestmark = pytest.mark.integration

PROTOBUF = "application/x-protobuf"
SPAN = (
    b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": '
    b'"5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "kind": KIND}]}]}]}'
)


@dataclass
class Sink:
    url: str
    out: Path
    log: Path


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[Sink]:
    port, out, log = fresh_port(), tmp_path / "spans.jsonl", tmp_path / "sink.log"
    command = [sys.executable, "-m", "mesh_runtime.tracesink", "--port", str(port)]
    with log.open("wb") as sink_log:
        process = subprocess.Popen(
            [*command, "--out", str(out)],
            stdout=sink_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        poll(lambda: answers_200(f"{url}/ready", process), 15, 0.05, "trace sink ready")
        yield Sink(url, out, log)
    finally:
        stop_group(process)


def _post(sink: Sink, body: bytes, content_type: str, encoding: str = "") -> requests.Response:
    headers = {"Content-Type": content_type}
    if encoding:
        headers["Content-Encoding"] = encoding
    return requests.post(f"{sink.url}/v1/traces", data=body, headers=headers, timeout=10)


@pytest.mark.parametrize(
    ("body", "content_type", "encoding", "status"),
    [
        (b"\x0a\x00", PROTOBUF, "gzip", 400),  # not gzip
        (gzip.compress(b"\x0a\x00")[:-4], PROTOBUF, "gzip", 400),  # cut short (was a 200)
        (b"\x0a\x00" * 50, PROTOBUF, "deflate", 400),  # not deflate (at times unanswered)
        (gzip.compress(b"\x0a\x00"), PROTOBUF, "snappy", 415),  # an encoding it cannot undo
        (b"\x0a\x00", PROTOBUF, "snappy", 415),  # (read as plain, this one was a 200)
        (b"[" * 100_000, "application/json", "", 400),  # nested too deep
        (SPAN.replace(b"KIND", b"Infinity"), "application/json", "", 400),  # not an integer
    ],
)
def test_bad_bodies_are_refused_with_a_reason(
    sink: Sink, body: bytes, content_type: str, encoding: str, status: int
) -> None:
    """Each bad body gets its 4xx with a message (they were 500s with tracebacks, or a 200
    for a body whose encoding was never undone); nothing is written, no traceback logged,
    and the sink goes on."""
    response = _post(sink, body, content_type, encoding)
    assert response.status_code == status
    if content_type != PROTOBUF:
        assert response.json()["message"]
    assert requests.get(f"{sink.url}/stats", timeout=5).json()["rejected"] == 1
    assert not sink.out.exists() or sink.out.read_bytes() == b""
    good = _post(sink, SPAN.replace(b"KIND", b"2"), "application/json")
    assert good.status_code == 200  # and the sink goes on
    assert "Traceback" not in sink.log.read_text(errors="replace")


@pytest.mark.parametrize("wbits", [15, -15, 31], ids=["deflate", "raw deflate", "gzip"])
def test_a_compressed_export_is_taken(sink: Sink, wbits: int) -> None:
    """deflate as RFC 9110 has it (zlib), raw deflate (as some clients send it) and gzip."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, wbits)
    body = compressor.compress(SPAN.replace(b"KIND", b"2")) + compressor.flush()
    encoding = "gzip" if wbits > 15 else "deflate"
    assert _post(sink, body, "application/json", encoding).status_code == 200
    assert len(sink.out.read_bytes().splitlines()) == 1


def test_a_gzip_bomb_is_refused_at_the_size_limit(sink: Sink) -> None:
    """1 GiB of zeros in 1 MiB of gzip is 413 at the 64 MiB limit, not read whole (a guard:
    the body is undone at most to the limit)."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    body = b"".join(deflate.compress(zeros) for _ in range(1024)) + deflate.flush()
    assert _post(sink, body, PROTOBUF, "gzip").status_code == 413
    assert "Traceback" not in sink.log.read_text(errors="replace")


def _export_with_bad_ids() -> bytes:
    """One valid root span, one valid child and three whose ids have the wrong length."""
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    trace = bytes.fromhex("5b8efff798038103d269b633813fc60c")
    shapes = [
        ("root", trace, b"\x01" * 8, b""),
        ("child", trace, b"\x02" * 8, b"\x01" * 8),
        ("short trace", trace[:3], b"\x03" * 8, b""),
        ("long span", trace, b"\x04" * 9, b""),
        ("short parent", trace, b"\x05" * 8, b"\x01" * 4),
    ]
    for name, trace_id, span_id, parent in shapes:
        spans.add(name=name, trace_id=trace_id, span_id=span_id, parent_span_id=parent)
    return request.SerializeToString()


def test_spans_with_ids_of_the_wrong_length_are_a_partial_success(sink: Sink) -> None:
    """OTLP's ids are 16 bytes (trace), 8 (span) and 8 or none (parent): the spans whose
    ids are not are left out and named in the answer's partial_success (count and why),
    the valid ones of the same export are stored (all five were stored as given)."""
    response = _post(sink, _export_with_bad_ids(), PROTOBUF)
    assert response.status_code == 200
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 3
    assert partial.error_message.startswith(
        "3 spans rejected for invalid ids; the first, 'short trace',"
        " has a trace_id of 3 bytes (OTLP: 16)"
    )
    assert [json.loads(line)["name"] for line in sink.out.read_text().splitlines()] == [
        "root",
        "child",
    ]
    stats = requests.get(f"{sink.url}/stats", timeout=5).json()
    assert (stats["spans"], stats["rejected"], stats["rejected_spans"]) == (2, 0, 3)


def test_a_json_span_with_a_short_id_is_a_partial_success(sink: Sink) -> None:
    """OTLP/JSON alike: a 4-hex-digit spanId is rejected in `partialSuccess`, the export's
    valid span is kept; a fully valid export is still answered `{}`."""
    good = json.loads(SPAN.replace(b"KIND", b"2"))
    bad = json.loads(SPAN.replace(b"KIND", b"2").replace(b'"eee19b7ec3c1b174"', b'"eee1"'))
    good["resourceSpans"][0]["scopeSpans"][0]["spans"] += bad["resourceSpans"][0]["scopeSpans"][0][
        "spans"
    ]
    response = _post(sink, json.dumps(good).encode(), "application/json")
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert int(partial["rejectedSpans"]) == 1
    assert "span_id of 2 bytes (OTLP: 8)" in partial["errorMessage"]
    assert [json.loads(line)["span_id"] for line in sink.out.read_text().splitlines()] == [
        "eee19b7ec3c1b174"
    ]
    assert _post(sink, SPAN.replace(b"KIND", b"2"), "application/json").json() == {}
    assert "Traceback" not in sink.log.read_text(errors="replace")
