"""W3C trace context on raw header lists, and the proxy's span recorder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from mesh_runtime.sidecar.telemetry import tracing
from mesh_runtime.sidecar.telemetry.tracing import (
    SpanRecorder,
    extract,
    inject,
    make_tracer_provider,
    parse_traceparent,
    trace_id_of,
    traceparent_for,
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
PARENT = f"00-{TRACE_ID}-{SPAN_ID}-01".encode()


@pytest.fixture
def recorded() -> Iterator[tuple[SpanRecorder, InMemorySpanExporter]]:
    provider = make_tracer_provider("catalog", "catalog-0", "v1", otlp_endpoint=None)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield SpanRecorder(provider), exporter
    provider.shutdown()


def remote_parent(headers: tracing.Headers) -> trace.SpanContext:
    return trace.get_current_span(extract(headers)).get_span_context()


def test_extract_reads_traceparent_case_insensitively() -> None:
    """A Traceparent header in any case yields the remote parent's ids and flags."""
    ctx = remote_parent([(b"Host", b"catalog"), (b"TraceParent", PARENT)])
    assert f"{ctx.trace_id:032x}" == TRACE_ID
    assert f"{ctx.span_id:016x}" == SPAN_ID
    assert ctx.trace_flags.sampled
    assert ctx.is_remote


def test_extract_without_header_gives_no_parent() -> None:
    """No traceparent means an empty context, so a new trace starts."""
    assert not remote_parent([(b"host", b"catalog")]).is_valid


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
    assert not remote_parent([(b"traceparent", value)]).is_valid


def test_future_version_with_extra_fields_is_accepted() -> None:
    """A higher version may append fields; the known ones are still read."""
    value = b"01-" + TRACE_ID.encode() + b"-" + SPAN_ID.encode() + b"-00-whatever"
    assert parse_traceparent(value) == (int(TRACE_ID, 16), int(SPAN_ID, 16), 0)


def test_round_trip_keeps_trace_id_and_tracestate(
    recorded: tuple[SpanRecorder, InMemorySpanExporter],
) -> None:
    """extract -> server span -> inject carries the trace id, a new parent id and tracestate."""
    recorder, _ = recorded
    incoming = [(b"traceparent", PARENT), (b"tracestate", b"vendor=abc,other=1")]
    span = recorder.start_server_span("GET /items", extract(incoming))
    outgoing: tracing.Headers = [(b"host", b"catalog"), (b"TRACEPARENT", b"stale")]
    inject(outgoing, span)
    names = [name for name, _ in outgoing]
    assert names.count(b"traceparent") == 1 and b"TRACEPARENT" not in names
    ctx = remote_parent(outgoing)
    assert f"{ctx.trace_id:032x}" == TRACE_ID
    assert ctx.span_id == span.get_span_context().span_id != int(SPAN_ID, 16)
    assert ctx.trace_state.get("vendor") == "abc" and ctx.trace_state.get("other") == "1"
    assert dict(outgoing)[b"host"] == b"catalog"
    span.end()


def test_traceparent_for_formats_w3c(recorded: tuple[SpanRecorder, InMemorySpanExporter]) -> None:
    """traceparent_for gives version 00, the ids in lower-case hex, and the flags."""
    recorder, _ = recorded
    span = recorder.start_server_span("GET", extract([(b"traceparent", PARENT)]))
    header = traceparent_for(span)
    assert header.startswith(f"00-{TRACE_ID}-".encode())
    assert header.endswith(b"-01") and len(header) == 55
    assert trace_id_of(span) == TRACE_ID
    span.end()


def test_server_and_client_spans_form_one_trace(
    recorded: tuple[SpanRecorder, InMemorySpanExporter],
) -> None:
    """SERVER span under the remote parent, CLIENT span under the server span, attributes kept."""
    recorder, exporter = recorded
    server = recorder.start_server_span(
        "GET /items",
        extract([(b"traceparent", PARENT)]),
        {tracing.HTTP_METHOD: "GET", tracing.URL_PATH: "/items"},
    )
    client = recorder.start_client_span(
        "GET catalog",
        server,
        {
            tracing.UPSTREAM_CLUSTER: "catalog",
            tracing.UPSTREAM_INSTANCE: "catalog-1",
            tracing.RETRY_ATTEMPT: 1,
        },
    )
    SpanRecorder.finish(client, 503, "URX")
    SpanRecorder.finish(server, 200)
    by_kind: dict[SpanKind, ReadableSpan] = {s.kind: s for s in exporter.get_finished_spans()}
    srv, cli = by_kind[SpanKind.SERVER], by_kind[SpanKind.CLIENT]
    assert srv.parent is not None and srv.parent.span_id == int(SPAN_ID, 16)
    assert cli.parent is not None and cli.parent.span_id == srv.context.span_id
    assert cli.context.trace_id == srv.context.trace_id == int(TRACE_ID, 16)
    assert cli.attributes is not None and srv.attributes is not None
    assert cli.attributes[tracing.HTTP_STATUS] == 503
    assert cli.attributes[tracing.RESPONSE_FLAGS] == "URX"
    assert cli.attributes[tracing.RETRY_ATTEMPT] == 1
    assert cli.status.status_code is StatusCode.ERROR
    assert srv.attributes[tracing.HTTP_STATUS] == 200
    assert srv.status.status_code is StatusCode.UNSET


def test_resource_names_the_sidecar(recorded: tuple[SpanRecorder, InMemorySpanExporter]) -> None:
    """Spans carry service.name, service.instance.id and service.version."""
    recorder, exporter = recorded
    SpanRecorder.finish(recorder.start_server_span("GET", None), 200)
    (span,) = exporter.get_finished_spans()
    attributes = span.resource.attributes
    assert attributes["service.name"] == "catalog"
    assert attributes["service.instance.id"] == "catalog-0"
    assert attributes["service.version"] == "v1"


def test_no_parent_starts_a_new_trace(recorded: tuple[SpanRecorder, InMemorySpanExporter]) -> None:
    """A request without trace context gets a new root SERVER span."""
    recorder, exporter = recorded
    SpanRecorder.finish(recorder.start_server_span("GET", extract([])), None)
    (span,) = exporter.get_finished_spans()
    assert span.parent is None
    assert span.status.status_code is StatusCode.ERROR


def test_tracing_off_passes_the_incoming_context_through() -> None:
    """With no provider, inject forwards the caller's traceparent unchanged."""
    recorder = SpanRecorder(None)
    span = recorder.start_server_span("GET", extract([(b"traceparent", PARENT)]))
    client = recorder.start_client_span("GET", span)
    assert not client.is_recording()
    headers: tracing.Headers = []
    inject(headers, client)
    assert headers == [(b"traceparent", PARENT)]


def test_tracing_off_without_context_adds_nothing() -> None:
    """With no provider and no incoming context, no trace header is invented."""
    recorder = SpanRecorder(None)
    span = recorder.start_server_span("GET", extract([]))
    headers: tracing.Headers = [(b"host", b"x")]
    inject(headers, span)
    assert headers == [(b"host", b"x")]
    assert trace_id_of(span) == ""


def test_provider_is_not_installed_globally() -> None:
    """make_tracer_provider leaves the global tracer provider alone."""
    provider = make_tracer_provider("a", "a-0", "v1", otlp_endpoint=None)
    try:
        assert trace.get_tracer_provider() is not provider
    finally:
        provider.shutdown()
    assert isinstance(provider, TracerProvider)
