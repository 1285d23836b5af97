"""W3C trace context on raw header lists, and the proxy's span recorder."""

from __future__ import annotations

import random

import pytest

from mesh_runtime.sidecar.telemetry import tracing
from mesh_runtime.sidecar.telemetry.tracing import (
    CLIENT,
    SERVER,
    ProxySpan,
    SpanRecorder,
    TraceContext,
    extract,
    inject,
    parse_traceparent,
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
PARENT = f"00-{TRACE_ID}-{SPAN_ID}-01".encode()


def recorder() -> tuple[SpanRecorder, list[ProxySpan]]:
    ended: list[ProxySpan] = []
    clock = iter(range(1_000, 1_000_000, 1_000))
    return SpanRecorder(ended.append, lambda: next(clock), random.Random(7)), ended


def remote(headers: tracing.Headers) -> TraceContext:
    ctx = extract(headers)
    assert ctx is not None
    return ctx


def test_extract_reads_traceparent_case_insensitively() -> None:
    """A Traceparent header in any case yields the remote parent's ids and flags."""
    ctx = remote([(b"Host", b"catalog"), (b"TraceParent", PARENT)])
    assert f"{ctx.trace_id:032x}" == TRACE_ID
    assert f"{ctx.span_id:016x}" == SPAN_ID
    assert ctx.sampled


def test_extract_without_header_gives_no_parent() -> None:
    """No traceparent means no parent, so a new trace starts."""
    assert extract([(b"host", b"catalog")]) is None


@pytest.mark.parametrize(
    "value",
    [
        b"00-" + TRACE_ID.upper().encode() + b"-" + SPAN_ID.encode() + b"-01",
        b"00-" + b"0" * 32 + b"-" + SPAN_ID.encode() + b"-01",
        b"00-" + TRACE_ID.encode() + b"-" + b"0" * 16 + b"-01",
        b"ff-" + TRACE_ID.encode() + b"-" + SPAN_ID.encode() + b"-01",
        PARENT + b"-extra",
        b"00-abc-def-01",
        b"garbage",
        b"",
    ],
)
def test_invalid_traceparent_is_ignored(value: bytes) -> None:
    """Upper-case hex, zero ids, version ff, extra fields on version 00 and garbage are dropped."""
    assert parse_traceparent(value) is None
    assert extract([(b"traceparent", value)]) is None


def test_future_version_with_extra_fields_is_accepted() -> None:
    """A higher version may append fields; the known ones are still read."""
    value = b"01-" + TRACE_ID.encode() + b"-" + SPAN_ID.encode() + b"-00-whatever"
    assert parse_traceparent(value) == (int(TRACE_ID, 16), int(SPAN_ID, 16), 0)


def test_round_trip_keeps_trace_id_and_tracestate() -> None:
    """extract -> server span -> inject carries the trace id, a new parent id and tracestate."""
    spans, _ = recorder()
    incoming = [(b"traceparent", PARENT), (b"tracestate", b"vendor=abc"), (b"tracestate", b"o=1")]
    span = spans.start_server_span("GET /items", extract(incoming))
    outgoing: tracing.Headers = [(b"host", b"catalog"), (b"TRACEPARENT", b"stale")]
    inject(outgoing, span)
    names = [name for name, _ in outgoing]
    assert names.count(b"traceparent") == 1 and b"TRACEPARENT" not in names
    ctx = remote(outgoing)
    assert f"{ctx.trace_id:032x}" == TRACE_ID
    assert ctx.span_id == span.span_id != int(SPAN_ID, 16)
    assert ctx.tracestate == "vendor=abc,o=1"
    assert dict(outgoing)[b"host"] == b"catalog"


def test_traceparent_formats_w3c() -> None:
    """A span's traceparent is version 00, the ids in lower-case hex, and the flags."""
    spans, _ = recorder()
    span = spans.start_server_span("GET", extract([(b"traceparent", PARENT)]))
    header = span.traceparent()
    assert header.startswith(f"00-{TRACE_ID}-".encode())
    assert header.endswith(b"-01") and len(header) == 55
    assert span.trace_id_hex == TRACE_ID


def test_server_and_client_spans_form_one_trace() -> None:
    """SERVER span under the remote parent, CLIENT span under the server span, attributes kept."""
    spans, ended = recorder()
    server = spans.start_server_span(
        "GET /items",
        extract([(b"traceparent", PARENT)]),
        {tracing.HTTP_METHOD: "GET", tracing.URL_PATH: "/items"},
    )
    client = spans.start_client_span(
        "GET catalog",
        server,
        {tracing.UPSTREAM_CLUSTER: "catalog", tracing.RETRY_ATTEMPT: 1},
    )
    client.end(503, "URX")
    server.end(200)
    by_kind = {s.kind: s for s in ended}
    srv, cli = by_kind[SERVER], by_kind[CLIENT]
    assert srv.parent_id == int(SPAN_ID, 16) and srv.parent_remote
    assert cli.parent_id == srv.span_id and not cli.parent_remote
    assert cli.trace_id == srv.trace_id == int(TRACE_ID, 16)
    assert cli.attributes[tracing.HTTP_STATUS] == 503
    assert cli.attributes[tracing.RESPONSE_FLAGS] == "URX"
    assert cli.attributes[tracing.RETRY_ATTEMPT] == 1
    assert cli.error
    assert srv.attributes[tracing.HTTP_STATUS] == 200
    assert tracing.RESPONSE_FLAGS not in srv.attributes
    assert not srv.error
    assert srv.start_ns < cli.start_ns < cli.end_ns < srv.end_ns


def test_no_parent_starts_a_new_trace() -> None:
    """A request without trace context gets a new root span; no answer marks it an error."""
    spans, ended = recorder()
    spans.start_server_span("GET", extract([])).end(0)
    (span,) = ended
    assert span.parent_id == 0 and span.trace_id != 0
    assert span.error and tracing.HTTP_STATUS not in span.attributes


def test_unsampled_parent_is_propagated_but_not_recorded() -> None:
    """Under a parent with the sampled flag off the span gets its own id, keeps flag 00
    and is not handed on (parent-based sampling, the SDK's default)."""
    spans, ended = recorder()
    parent = f"00-{TRACE_ID}-{SPAN_ID}-00".encode()
    span = spans.start_server_span("GET", extract([(b"traceparent", parent)]))
    span.end(200)
    assert ended == []
    assert span.traceparent().endswith(b"-00")
    assert span.span_id != int(SPAN_ID, 16)


def test_a_span_ends_once() -> None:
    """Ending a span twice hands it on once, with the first outcome."""
    spans, ended = recorder()
    span = spans.start_client_span("GET", None)
    span.end(200)
    span.end(503, "UC")
    assert len(ended) == 1 and ended[0].attributes[tracing.HTTP_STATUS] == 200


def test_ids_differ_between_recorders() -> None:
    """Two recorders made without a generator draw different ids (seeded from the OS)."""
    first = SpanRecorder(None).start_server_span("GET", None)
    second = SpanRecorder(None).start_server_span("GET", None)
    assert first.trace_id != second.trace_id and first.span_id != second.span_id


@pytest.mark.parametrize(
    ("code", "error"),
    [(0, False), (5, False), (8, False), (1, False), (14, True), (4, True), (13, True), (2, True)],
)
def test_a_grpc_calls_span_carries_its_status_code(code: int, error: bool) -> None:
    """rpc.grpc.status_code is set; the span is an error only for OpenTelemetry's server
    error codes (UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE,
    DATA_LOSS), not for OK or client-side codes, though :status is 200 throughout."""
    spans, ended = recorder()
    span = spans.start_server_span("inbound catalog", None, {})
    span.end(200, "-", code)
    assert ended == [span]
    assert span.attributes["rpc.grpc.status_code"] == code
    assert span.error is error


def test_a_span_without_grpc_status_has_no_rpc_code() -> None:
    """An HTTP request's span gets no rpc.grpc.status_code."""
    spans, _ = recorder()
    span = spans.start_client_span("outbound catalog", None, {})
    span.end(503, "UO")
    assert "rpc.grpc.status_code" not in span.attributes and span.error
