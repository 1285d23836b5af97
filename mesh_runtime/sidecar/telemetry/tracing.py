"""OpenTelemetry for one sidecar process: the tracer provider, W3C trace context, spans.

No global provider is installed: the sidecar owns its provider and passes a SpanRecorder
to the proxy. Trace context is read from and written to the raw header lists the
sidecar's HTTP layer uses, `[(b"name", b"value"), ...]`, without a framework.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_INSTANCE_ID, SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.trace.span import TraceFlags, TraceState
from opentelemetry.util.types import AttributeValue

Headers = list[tuple[bytes, bytes]]
Attributes = Mapping[str, AttributeValue]

TRACER_NAME = "meshproof.sidecar"

# Attribute names on the proxy's spans.
HTTP_METHOD = "http.request.method"
URL_PATH = "url.path"
HTTP_STATUS = "http.response.status_code"
UPSTREAM_CLUSTER = "upstream_cluster"
UPSTREAM_INSTANCE = "upstream.instance"
RESPONSE_FLAGS = "response_flags"
RETRY_ATTEMPT = "retry.attempt"

_TRACEPARENT = b"traceparent"
_TRACESTATE = b"tracestate"
# W3C trace-context level 1: version-traceid-parentid-flags, lower-case hex; versions
# above 00 may carry more fields after a dash.
_TRACEPARENT_FORMAT = re.compile(
    rb"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?"
)


def make_tracer_provider(
    service: str, instance: str, version: str, otlp_endpoint: str | None
) -> TracerProvider:
    """A provider for this sidecar; spans go by OTLP/HTTP to `otlp_endpoint` if given.

    The owner calls `provider.shutdown()` when draining, which flushes queued spans.
    """
    resource = Resource.create(
        {SERVICE_NAME: service, SERVICE_INSTANCE_ID: instance, SERVICE_VERSION: version}
    )
    provider = TracerProvider(resource=resource)
    if otlp_endpoint:
        exporter = OTLPSpanExporter(endpoint=otlp_endpoint, timeout=5.0)
        provider.add_span_processor(
            BatchSpanProcessor(
                exporter,
                max_queue_size=16384,
                schedule_delay_millis=1000,
                max_export_batch_size=1024,
            )
        )
    return provider


def parse_traceparent(value: bytes) -> tuple[int, int, int] | None:
    """(trace_id, span_id, flags) from a traceparent header, or None if it is not valid."""
    match = _TRACEPARENT_FORMAT.fullmatch(value.strip())
    if match is None:
        return None
    version, trace_hex, span_hex, flags_hex, rest = match.groups()
    if version == b"ff" or (version == b"00" and rest is not None):
        return None
    trace_id = int(trace_hex, 16)
    span_id = int(span_hex, 16)
    if trace_id == 0 or span_id == 0:
        return None
    return trace_id, span_id, int(flags_hex, 16)


def extract(headers: Iterable[tuple[bytes, bytes]]) -> Context:
    """The remote parent in `traceparent` / `tracestate`; an empty Context when absent."""
    traceparent: bytes | None = None
    tracestate: list[str] = []
    for name, value in headers:
        size = len(name)
        if size == 11 and name.lower() == _TRACEPARENT:
            traceparent = value
        elif size == 10 and name.lower() == _TRACESTATE:
            tracestate.append(value.decode("latin-1"))
    if traceparent is None:
        return Context()
    parsed = parse_traceparent(traceparent)
    if parsed is None:
        return Context()
    trace_id, span_id, flags = parsed
    span_context = SpanContext(
        trace_id=trace_id,
        span_id=span_id,
        is_remote=True,
        trace_flags=TraceFlags(flags & 0xFF),
        trace_state=TraceState.from_header(tracestate) if tracestate else TraceState(),
    )
    return trace.set_span_in_context(NonRecordingSpan(span_context))


def traceparent_for(span: Span) -> bytes:
    """The W3C traceparent naming `span` as the parent."""
    ctx = span.get_span_context()
    return b"00-%032x-%016x-%02x" % (ctx.trace_id, ctx.span_id, ctx.trace_flags)


def trace_id_of(span: Span) -> str:
    """The span's trace id as 32 hex digits, or '' for an invalid span."""
    ctx = span.get_span_context()
    return f"{ctx.trace_id:032x}" if ctx.is_valid else ""


def inject(headers: Headers, span: Span) -> None:
    """Set `traceparent` (and `tracestate`, kept as received) in `headers` to `span`.

    An invalid span (tracing off and no incoming context) leaves the headers untouched.
    """
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return
    headers[:] = [
        (name, value)
        for name, value in headers
        if not (len(name) in (10, 11) and name.lower() in (_TRACEPARENT, _TRACESTATE))
    ]
    headers.append((_TRACEPARENT, traceparent_for(span)))
    if ctx.trace_state:
        headers.append((_TRACESTATE, ctx.trace_state.to_header().encode("latin-1")))


class SpanRecorder:
    """Starts the proxy's spans: SERVER per inbound request, CLIENT per upstream try.

    With no provider (tracing off) spans are non-recording and carry the incoming
    context through unchanged, so propagation still works.
    """

    __slots__ = ("_tracer",)

    def __init__(self, provider: TracerProvider | None, version: str = "") -> None:
        self._tracer: trace.Tracer = (
            provider.get_tracer(TRACER_NAME, version)
            if provider is not None
            else trace.NoOpTracer()
        )

    def start_server_span(
        self, name: str, parent_ctx: Context | None, attributes: Attributes | None = None
    ) -> Span:
        """A SERVER span under the remote parent of an inbound request."""
        return self._tracer.start_span(
            name, context=parent_ctx, kind=SpanKind.SERVER, attributes=attributes
        )

    def start_client_span(
        self, name: str, parent: Span | Context | None, attributes: Attributes | None = None
    ) -> Span:
        """A CLIENT span for one upstream try, the child of `parent` (span or context)."""
        context = trace.set_span_in_context(parent) if isinstance(parent, Span) else parent
        return self._tracer.start_span(
            name, context=context, kind=SpanKind.CLIENT, attributes=attributes
        )

    @staticmethod
    def finish(span: Span, status_code: int | None, response_flags: str = "-") -> None:
        """Record the outcome and end the span; 5xx or no answer marks it as an error."""
        if not span.is_recording():
            return
        if status_code is not None:
            span.set_attribute(HTTP_STATUS, status_code)
        if response_flags != "-":
            span.set_attribute(RESPONSE_FLAGS, response_flags)
        if status_code is None or status_code >= 500:
            span.set_status(Status(StatusCode.ERROR))
        span.end()
