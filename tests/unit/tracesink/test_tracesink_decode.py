"""spans_from_request: OTLP export requests (from the OTel SDK's own encoder) -> records."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

from harness.bench.tracesink import random_exports, sidecar_exports
from mesh_runtime.tracesink import decode
from mesh_runtime.tracesink.decode import (
    BadExport,
    drop_invalid_spans,
    lines_from_protobuf,
    records_from_protobuf,
    request_from_json,
    request_from_protobuf,
    spans_from_request,
)


def _finished_spans() -> list[ReadableSpan]:
    """A SERVER span of catalog-1 with a CLIENT child and an INTERNAL grandchild."""
    exporter = InMemorySpanExporter()
    resource = Resource.create(
        {"service.name": "catalog", "service.instance.id": "catalog-1", "service.version": "v2"}
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    server = tracer.start_span("catalog handle", kind=SpanKind.SERVER)
    server.set_attribute("http.response.status_code", 503)
    server.set_attribute("flags", [True, False])
    server.set_status(Status(StatusCode.ERROR, "boom"))
    client = tracer.start_span("GET", context=set_span_in_context(server), kind=SpanKind.CLIENT)
    client.set_attribute("peer", "cart")
    child = tracer.start_span("work", context=set_span_in_context(client))
    child.set_attribute("ratio", 0.5)
    for span in (child, client, server):
        span.end()
    return list(exporter.get_finished_spans())


def test_records_carry_ids_kind_identity_times_status_and_attributes() -> None:
    """Every span becomes one record with hex ids, names for kind/status and attributes."""
    spans = _finished_spans()
    records = spans_from_request(encode_spans(spans))
    assert len(records) == 3
    by_name = {r["name"]: r for r in records}
    server, client, child = by_name["catalog handle"], by_name["GET"], by_name["work"]
    source = {s.name: s for s in spans}["catalog handle"]
    assert server["trace_id"] == f"{source.context.trace_id:032x}"
    assert server["span_id"] == f"{source.context.span_id:016x}"
    assert server["parent_span_id"] == ""
    assert client["parent_span_id"] == server["span_id"]
    assert child["parent_span_id"] == client["span_id"]
    assert {r["trace_id"] for r in records} == {server["trace_id"]}
    assert (server["kind"], client["kind"], child["kind"]) == ("SERVER", "CLIENT", "INTERNAL")
    assert (server["service"], server["instance"]) == ("catalog", "catalog-1")
    assert server["status_code"] == "ERROR" and client["status_code"] == "UNSET"
    assert server["start_ns"] == source.start_time and server["end_ns"] == source.end_time
    assert server["attributes"] == {"http.response.status_code": 503, "flags": [True, False]}
    assert child["attributes"] == {"ratio": 0.5}
    assert json.loads(json.dumps(records)) == records


def test_protobuf_bytes_round_trip() -> None:
    """The serialised request decodes to the same records; garbage is BadExport."""
    request = encode_spans(_finished_spans())
    assert spans_from_request(request_from_protobuf(request.SerializeToString())) == (
        spans_from_request(request)
    )
    with pytest.raises(BadExport):
        request_from_protobuf(b"\xff\xff\xff not protobuf")


def test_otlp_json_with_hex_ids_decodes() -> None:
    """OTLP/HTTP JSON (hex ids, enum numbers, string int values) decodes like protobuf."""
    document = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"stringValue": "cart"}},
                        {"key": "service.instance.id", "value": {"stringValue": "cart-0"}},
                    ]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "x"},
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "parentSpanId": "eee19b7ec3c1b173",
                                "name": "cart handle",
                                "kind": 2,
                                "startTimeUnixNano": "1544712660000000000",
                                "endTimeUnixNano": "1544712661000000000",
                                "attributes": [{"key": "n", "value": {"intValue": "3"}}],
                                "status": {"code": 1},
                                "links": [
                                    {
                                        "traceId": "5b8efff798038103d269b633813fc60d",
                                        "spanId": "00f067aa0ba902b7",
                                    }
                                ],
                            }
                        ],
                    }
                ],
            }
        ]
    }
    [record] = spans_from_request(request_from_json(json.dumps(document).encode()))
    assert record == {
        "trace_id": "5b8efff798038103d269b633813fc60c",
        "span_id": "eee19b7ec3c1b174",
        "parent_span_id": "eee19b7ec3c1b173",
        "name": "cart handle",
        "kind": "SERVER",
        "service": "cart",
        "instance": "cart-0",
        "start_ns": 1544712660000000000,
        "end_ns": 1544712661000000000,
        "status_code": "OK",
        "attributes": {"n": 3},
    }


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1]",
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}',
        b"[" * 100_000,
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"kind": Infinity}]}]}]}',
    ],
)
def test_bad_json_is_bad_export(body: bytes) -> None:
    """Malformed JSON, a non-object, a non-hex id, nesting deeper than the parser recurses
    (RecursionError) or Infinity for an integer (OverflowError) is reported as BadExport."""
    with pytest.raises(BadExport):
        request_from_json(body)


def test_a_kind_or_status_code_unknown_to_the_schema_is_kept_as_its_number() -> None:
    """OTLP's enums are open: a kind or status code newer than our schema is written as
    its digits, not dropped and not an error."""
    request = encode_spans(_finished_spans())
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.kind = 9
    span.status.code = 7
    record = spans_from_request(request_from_protobuf(request.SerializeToString()))[0]
    assert (record["kind"], record["status_code"]) == ("9", "7")


def test_the_fast_protobuf_path_gives_the_full_parse_records_for_random_spans() -> None:
    """records_from_protobuf (attributes kept encoded, each decoded once) gives the records
    the full parse does, for spans of every shape: each attribute type, nested arrays and
    kvlists, repeated keys, unknown kinds and status codes, events, links. (As JSON text:
    a NaN attribute is not equal to itself.)"""
    for body in random_exports(60, seed=3):
        fast = json.dumps(records_from_protobuf(body))
        assert fast == json.dumps(spans_from_request(request_from_protobuf(body)))
    sidecar = sidecar_exports(2, seed=4)[0]
    assert records_from_protobuf(sidecar) == spans_from_request(request_from_protobuf(sidecar))


def _valid_ids(record: dict[str, Any]) -> bool:
    lengths = len(record["trace_id"]), len(record["span_id"]), len(record["parent_span_id"])
    return lengths in ((32, 16, 0), (32, 16, 16))


def test_the_spans_file_lines_are_the_records_as_compact_json() -> None:
    """lines_from_protobuf writes what json.dumps with compact separators makes of each
    record of the full parse whose ids are valid, a line each, for random spans of every
    shape and for the sidecar's; each export twice (the second from the caches)."""
    for body in [*random_exports(60, seed=5), *sidecar_exports(3, seed=6)] * 2:
        records = spans_from_request(request_from_protobuf(body))
        valid = [r for r in records if _valid_ids(r)]
        compact = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in valid)
        lines = lines_from_protobuf(body)
        assert lines[:3] == (compact, len(valid), len(records) - len(valid))


def test_the_benchmarks_random_spans_for_comparing_two_sinks_have_valid_ids() -> None:
    """The trace sink bench compares an older sink's spans file with this one's byte for
    byte: its random spans must be ones both store (an older sink stored invalid ids this
    one refuses, and `make bench` failed on that difference)."""
    bodies = random_exports(60, seed=18, invalid_ids=False)
    assert sum(lines_from_protobuf(body).rejected for body in bodies) == 0
    assert sum(lines_from_protobuf(body).rejected for body in random_exports(60, seed=18)) > 0


def test_the_fast_protobuf_path_refuses_what_the_full_parse_refuses_alike() -> None:
    """An attribute the fast parse leaves encoded and that is not valid (a key that is not
    UTF-8) is refused with the full parse's own message; so is garbage."""
    bad_key = b"\x0a\x02\xff\xfe"  # KeyValue.key (1): two bytes that are not UTF-8
    span = b"\x4a" + bytes([len(bad_key)]) + bad_key  # Span.attributes (9)
    scope_spans = b"\x12" + bytes([len(span)]) + span  # ScopeSpans.spans (2)
    resource_spans = b"\x12" + bytes([len(scope_spans)]) + scope_spans  # scope_spans (2)
    body = b"\x0a" + bytes([len(resource_spans)]) + resource_spans
    for garbage in (body, b"\xff\xff\xff not protobuf"):
        with pytest.raises(BadExport) as full:
            request_from_protobuf(garbage)
        with pytest.raises(BadExport) as fast:
            records_from_protobuf(garbage)
        with pytest.raises(BadExport) as lines:
            lines_from_protobuf(garbage)
        assert str(fast.value) == str(lines.value) == str(full.value)


def test_large_attributes_are_not_kept_in_the_decoding_caches() -> None:
    """Exports each with a distinct 64 KiB attribute leave nothing that size in the caches
    of decoded pairs and of attribute texts (they held up to 4096 of any size: memory
    without bound); the records are the same."""
    for n in range(3):
        request = ExportTraceServiceRequest()
        span = request.resource_spans.add().scope_spans.add().spans.add()
        span.trace_id, span.span_id, span.name = b"\x07" * 16, b"\x01" * 8, "big"
        pair = span.attributes.add(key="blob")
        pair.value.string_value = f"{n}" + "x" * 65536
        body = request.SerializeToString()
        lines, count = lines_from_protobuf(body)[:2]
        assert count == 1 and json.loads(lines)["attributes"]["blob"] == pair.value.string_value
        assert records_from_protobuf(body)[0]["attributes"]["blob"] == pair.value.string_value
    assert all(len(raw) < 65536 for raw in decode._decoded_attributes)
    assert all(sum(map(len, key)) < 65536 for key in decode._attributes_texts)


def _export(*shapes: tuple[str, bytes, bytes, bytes]) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    for name, trace_id, span_id, parent in shapes:
        spans.add(name=name, trace_id=trace_id, span_id=span_id, parent_span_id=parent)
    return request


TRACE, SPAN_A, SPAN_B = b"\x07" * 16, b"\x01" * 8, b"\x02" * 8
ZERO_TRACE, ZERO_SPAN = bytes(16), bytes(8)


@pytest.mark.parametrize(
    ("shape", "problem"),
    [
        (("t", TRACE[:3], SPAN_A, b""), "'t', has a trace_id of 3 bytes (OTLP: 16)"),
        (("t", b"", SPAN_A, b""), "'t', has a trace_id of 0 bytes (OTLP: 16)"),
        (("s", TRACE, SPAN_A + b"\x00", b""), "'s', has a span_id of 9 bytes (OTLP: 8)"),
        (("s", TRACE, b"", b""), "'s', has a span_id of 0 bytes (OTLP: 8)"),
        (
            ("p", TRACE, SPAN_A, SPAN_B[:4]),
            "'p', has a parent_span_id of 4 bytes (OTLP: 8 or none)",
        ),
        (("p", TRACE, SPAN_A, bytes(4)), "'p', has a parent_span_id of 4 bytes (OTLP: 8 or none)"),
        (("p", TRACE, SPAN_A, bytes(9)), "'p', has a parent_span_id of 9 bytes (OTLP: 8 or none)"),
        (
            ("p", TRACE, SPAN_A, bytes(16)),
            "'p', has a parent_span_id of 16 bytes (OTLP: 8 or none)",
        ),
        (("t", ZERO_TRACE, SPAN_A, b""), "'t', has a trace_id of all zeros (OTLP: invalid)"),
        (("s", TRACE, ZERO_SPAN, b""), "'s', has a span_id of all zeros (OTLP: invalid)"),
        (("b", ZERO_TRACE, ZERO_SPAN, b""), "'b', has a trace_id of all zeros (OTLP: invalid)"),
    ],
)
def test_a_span_with_an_invalid_id_is_left_out(
    shape: tuple[str, bytes, bytes, bytes], problem: str
) -> None:
    """OTLP's trace_id is 16 bytes, span_id 8, parent_span_id 8 or none, and neither id
    all zeros: a span whose id is not is not a line of the spans file but counted, with
    why, by the protobuf path and by drop_invalid_spans alike; the valid root and child of
    the same export are kept (every span was written as given)."""
    request = _export(("root", TRACE, SPAN_A, b""), shape, ("child", TRACE, SPAN_B, SPAN_A))
    lines = lines_from_protobuf(request.SerializeToString())
    assert [json.loads(line)["name"] for line in lines.text.splitlines()] == ["root", "child"]
    assert (lines.spans, lines.rejected) == (2, 1)
    assert lines.problem == f"1 span rejected for invalid ids; the first, {problem}"
    assert drop_invalid_spans(request) == (1, lines.problem)
    assert [span.name for span in request.resource_spans[0].scope_spans[0].spans] == [
        "root",
        "child",
    ]


def test_drop_invalid_spans_counts_every_one_and_names_the_first() -> None:
    """Of an OTLP/JSON export, every span with a bad id is removed and counted; the message
    names the first; an export with none is left as it was."""
    spans = [
        {"traceId": TRACE.hex(), "spanId": SPAN_A.hex(), "name": "ok"},
        {"traceId": "abcd", "spanId": SPAN_A.hex(), "name": "first"},
        {"traceId": TRACE.hex(), "spanId": "01", "name": "second"},
    ]
    request = _json_request(spans)
    rejected, message = drop_invalid_spans(request)
    assert rejected == 2
    assert message.startswith("2 spans rejected for invalid ids; the first, 'first'")
    assert [r["name"] for r in spans_from_request(request)] == ["ok"]
    assert drop_invalid_spans(request) == (0, "")


def test_an_otlp_json_span_with_all_zero_ids_is_left_out() -> None:
    """OTLP/JSON's hex ids of zeros only are refused as the protobuf ones are."""
    spans = [
        {"traceId": TRACE.hex(), "spanId": SPAN_A.hex(), "name": "ok"},
        {"traceId": "0" * 32, "spanId": SPAN_A.hex(), "name": "zero trace"},
        {"traceId": TRACE.hex(), "spanId": "0" * 16, "name": "zero span"},
    ]
    request = _json_request(spans)
    rejected, message = drop_invalid_spans(request)
    assert rejected == 2
    assert message == (
        "2 spans rejected for invalid ids; the first, 'zero trace', has a trace_id of all"
        " zeros (OTLP: invalid)"
    )
    assert [r["name"] for r in spans_from_request(request)] == ["ok"]


def test_a_root_with_an_all_zero_parent_is_stored_as_a_root() -> None:
    """A parent_span_id of 8 zero bytes (OTLP's "no id", sent by some SDKs and collectors
    for a root) is written as none, the line the same span with an empty parent makes,
    by the protobuf path, the full parse and drop_invalid_spans alike (which clears it in
    the request the forwarder sends); a real child keeps its parent. (It was stored as a
    child of span "0000000000000000": an orphan whose parent never came.)"""
    request = _export(("root", TRACE, SPAN_A, ZERO_SPAN), ("child", TRACE, SPAN_B, SPAN_A))
    body = request.SerializeToString()
    lines = lines_from_protobuf(body)
    stored = [json.loads(line) for line in lines.text.splitlines()]
    assert [(r["name"], r["parent_span_id"]) for r in stored] == [
        ("root", ""),
        ("child", SPAN_A.hex()),
    ]
    assert (lines.spans, lines.rejected, lines.problem, lines.zero_parents) == (2, 0, "", 1)
    empty = _export(("root", TRACE, SPAN_A, b""), ("child", TRACE, SPAN_B, SPAN_A))
    assert lines.text == lines_from_protobuf(empty.SerializeToString()).text
    assert records_from_protobuf(body) == spans_from_request(request) == stored
    assert drop_invalid_spans(request) == (0, "")
    spans = request.resource_spans[0].scope_spans[0].spans
    assert [span.parent_span_id for span in spans] == [b"", SPAN_A]
    assert request == empty


def test_an_otlp_json_root_with_an_all_zero_parent_is_stored_as_a_root() -> None:
    """OTLP/JSON's parentSpanId of 16 hex zeros is none, as the protobuf one is; one of
    zeros of another length is still refused."""
    spans = [
        {"traceId": TRACE.hex(), "spanId": SPAN_A.hex(), "parentSpanId": "0" * 16, "name": "r"},
        {"traceId": TRACE.hex(), "spanId": SPAN_B.hex(), "parentSpanId": SPAN_A.hex(), "name": "c"},
        {"traceId": TRACE.hex(), "spanId": SPAN_B.hex(), "parentSpanId": "0" * 8, "name": "p"},
        {"traceId": TRACE.hex(), "spanId": SPAN_B.hex(), "parentSpanId": "0" * 32, "name": "q"},
    ]
    request = _json_request(spans)
    rejected, message = drop_invalid_spans(request)
    assert rejected == 2
    assert message == (
        "2 spans rejected for invalid ids; the first, 'p', has a parent_span_id of 4 bytes"
        " (OTLP: 8 or none)"
    )
    records = spans_from_request(request)
    assert [(r["name"], r["parent_span_id"]) for r in records] == [("r", ""), ("c", SPAN_A.hex())]
    assert request.resource_spans[0].scope_spans[0].spans[0].parent_span_id == b""


def _json_request(spans: list[dict[str, str]]) -> Any:
    """An OTLP/JSON export of `spans` in one resource and scope, decoded."""
    document = {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}
    return request_from_json(json.dumps(document).encode())
