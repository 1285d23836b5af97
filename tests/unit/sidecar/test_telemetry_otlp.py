"""The hand-made OTLP/protobuf encoding, read back with the official protobuf classes."""

from __future__ import annotations

import random
import tracemalloc

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from mesh_runtime.sidecar.telemetry import tracing
from mesh_runtime.sidecar.telemetry.otlp import SpanEncoder, any_value, varint
from mesh_runtime.sidecar.telemetry.tracing import ProxySpan, SpanRecorder, extract
from mesh_runtime.tracesink import spans_from_request

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
RESOURCE = {"service.name": "catalog", "service.instance.id": "catalog-0", "service.version": "v1"}


def ended_pair() -> list[ProxySpan]:
    ended: list[ProxySpan] = []
    clock = iter(range(1_700_000_000_000_000_000, 1_800_000_000_000_000_000, 1_000_000))
    spans = SpanRecorder(ended.append, lambda: next(clock), random.Random(3))
    incoming = [
        (b"traceparent", f"00-{TRACE_ID}-{SPAN_ID}-01".encode()),
        (b"tracestate", b"vendor=abc"),
    ]
    server = spans.start_server_span(
        "inbound catalog",
        extract(incoming),
        {tracing.HTTP_METHOD: "GET", tracing.URL_PATH: "/items/é"},
    )
    client = spans.start_client_span(
        "outbound inventory",
        server,
        {tracing.UPSTREAM_CLUSTER: "inventory", tracing.RETRY_ATTEMPT: 2},
    )
    client.end(0, "UF")
    server.end(200)
    return ended


def decode(body: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    return request


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**32, 2**63 - 1, -1, -(2**63)])
def test_varint_matches_protobuf(value: int) -> None:
    """Varints (negative ints as 10-byte two's complement) parse back to the same int64."""
    parsed = AnyValue()
    parsed.ParseFromString(b"\x18" + varint(value))
    assert parsed.int_value == value


@pytest.mark.parametrize("value", ["", "text", "ünïcode", True, False, 0, -5, 10**12, 2.5])
def test_any_value_round_trips(value: str | bool | int | float) -> None:
    """Every attribute type the proxy uses decodes to the same value and type."""
    parsed = AnyValue()
    parsed.ParseFromString(any_value(value))
    kind = parsed.WhichOneof("value")
    expected = {bool: "bool_value", int: "int_value", float: "double_value", str: "string_value"}
    assert kind == expected[type(value)]
    assert getattr(parsed, kind) == value


def test_spans_decode_with_every_field() -> None:
    """Ids, parent, tracestate, name, kind, times, attributes, status and flags all read back."""
    server, client = sorted(ended_pair(), key=lambda s: s.kind)
    encoder = SpanEncoder(RESOURCE, "meshproof.sidecar", "1")
    request = decode(encoder.request([encoder.span(server), encoder.span(client)]))
    (resource_spans,) = request.resource_spans
    attributes = {kv.key: kv.value.string_value for kv in resource_spans.resource.attributes}
    assert attributes == RESOURCE
    (scope_spans,) = resource_spans.scope_spans
    assert scope_spans.scope.name == "meshproof.sidecar" and scope_spans.scope.version == "1"
    srv, cli = scope_spans.spans
    assert srv.trace_id.hex() == cli.trace_id.hex() == TRACE_ID
    assert srv.parent_span_id.hex() == SPAN_ID and srv.span_id == server.span_id.to_bytes(8, "big")
    assert cli.parent_span_id == srv.span_id
    assert srv.trace_state == cli.trace_state == "vendor=abc"
    assert (srv.name, srv.kind) == ("inbound catalog", Span.SPAN_KIND_SERVER)
    assert (cli.name, cli.kind) == ("outbound inventory", Span.SPAN_KIND_CLIENT)
    assert (srv.start_time_unix_nano, srv.end_time_unix_nano) == (server.start_ns, server.end_ns)
    assert srv.status.code == Status.STATUS_CODE_UNSET
    assert cli.status.code == Status.STATUS_CODE_ERROR
    assert srv.flags == 0x301 and cli.flags == 0x101  # remote parent / local parent, sampled


def test_the_trace_sink_reads_the_export() -> None:
    """The trace sink's decoder turns an export into the records the analysis uses."""
    encoder = SpanEncoder(RESOURCE, "meshproof.sidecar")
    body = encoder.request([encoder.span(s) for s in ended_pair()])
    records = {r["kind"]: r for r in spans_from_request(decode(body))}
    server, client = records["SERVER"], records["CLIENT"]
    assert server["service"] == "catalog" and server["instance"] == "catalog-0"
    assert server["attributes"] == {
        "http.request.method": "GET",
        "url.path": "/items/é",
        "http.response.status_code": 200,
    }
    assert client["attributes"] == {
        "upstream_cluster": "inventory",
        "retry.attempt": 2,
        "response_flags": "UF",
    }
    assert client["status_code"] == "ERROR" and server["status_code"] == "UNSET"
    assert client["parent_span_id"] == server["span_id"]


def test_an_empty_export_is_valid() -> None:
    """A request with no spans still decodes (one resource, one empty scope)."""
    request = decode(SpanEncoder(RESOURCE, "s").request([]))
    assert len(request.resource_spans[0].scope_spans[0].spans) == 0


def retained_by_encoding(paths: list[str]) -> int:
    """Bytes an encoder still holds (tracemalloc) after encoding one span per path."""
    encoder = SpanEncoder(RESOURCE, "s")
    recorder = SpanRecorder(None, lambda: 1, random.Random(4))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for path in paths:
            span = recorder.start_owned("inbound catalog", tracing.SERVER, None, {})
            span.attributes[tracing.URL_PATH] = path
            span.end(200)
            encoder.span(span)
        del span, path
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_paths_new_on_every_request_are_not_kept() -> None:
    """Spans whose path is new each time (4 KiB, as a long query may be) leave the encoder
    holding little (3000 of them kept 12.6 MB in its cache before)."""
    paths = [f"/search/{n}?" + "q" * 4096 for n in range(3000)]
    assert retained_by_encoding(paths) < 256 * 1024


def test_short_paths_new_on_every_request_keep_a_small_cache() -> None:
    """Short paths new on every request (an id in the path) fill the cache up to its bound
    of entries and no further: at most ~92 KB whatever the count (4095 kept 366 KB before)."""
    paths = [f"/items/{n:08d}" for n in range(4095)]
    assert retained_by_encoding(paths) < 128 * 1024
