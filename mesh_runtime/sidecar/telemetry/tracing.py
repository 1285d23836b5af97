"""The proxy's spans and W3C trace context, on the raw header lists of the HTTP layer.

The sidecar records its spans itself, as Envoy does, rather than through the generic
OpenTelemetry SDK: it makes exactly two shapes of span (a SERVER span per inbound
request, a CLIENT span per upstream try), and the SDK's per-span machinery (contexts,
bounded attribute maps, processor chains) and its export thread cost more CPU than the
proxying itself and stalled the event loop on the GIL. A `ProxySpan` is a small slotted
record; when it ends it goes to the recorder's `on_end` (the OTLP exporter, which
encodes it at once, see `otlp`). Sampling is the SDK default, parent-based always-on: a
span under a parent that was not sampled is not recorded, but still gets its own id so
the next hop sees a well-formed traceparent.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from mesh_runtime.grpc_codes import http_status_of

Headers = list[tuple[bytes, bytes]]
AttributeValue = str | int
Attributes = dict[str, AttributeValue]

TRACER_NAME: Final = "meshproof.sidecar"

# Attribute names on the proxy's spans.
HTTP_METHOD: Final = "http.request.method"
URL_PATH: Final = "url.path"
HTTP_STATUS: Final = "http.response.status_code"
GRPC_STATUS: Final = "rpc.grpc.status_code"
UPSTREAM_CLUSTER: Final = "upstream_cluster"
UPSTREAM_INSTANCE: Final = "upstream.instance"
RESPONSE_FLAGS: Final = "response_flags"
RETRY_ATTEMPT: Final = "retry.attempt"

# OTLP's SpanKind numbers.
SERVER: Final = 2
CLIENT: Final = 3

SAMPLED: Final = 0x01

_TRACEPARENT: Final = b"traceparent"
_TRACESTATE: Final = b"tracestate"
# W3C trace-context level 1: version-traceid-parentid-flags, lower-case hex; versions
# above 00 may carry more fields after a dash.
_TRACEPARENT_FORMAT: Final = re.compile(
    rb"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?"
)
_HEX_CLASS: Final = bytes(
    ord("x") if byte in b"0123456789abcdef" else byte if byte == ord("-") else ord("?")
    for byte in range(256)
)
"""A translate table: lower-case hex digits to 'x', '-' to itself, anything else to '?'."""
_SHAPE_OF_55: Final = b"xx-" + b"x" * 32 + b"-" + b"x" * 16 + b"-xx"
"""The one shape of a 55-byte traceparent the format takes (every version-00 one)."""
_HEX_VALUE: Final = bytes(
    int(chr(byte), 16) if chr(byte) in "0123456789abcdef" else 0 for byte in range(256)
)
"""A lower-case hex digit's value, by its byte."""
_HEX_OF_BYTE: Final = tuple(f"{byte:02x}" for byte in range(256))


@dataclass(slots=True, init=False)
class TraceContext:
    """The remote parent a request carried: ids, flags and the raw tracestate (not
    changed once made)."""

    trace_id: int
    span_id: int
    flags: int
    tracestate: str

    def __init__(self, trace_id: int, span_id: int, flags: int, tracestate: str = "") -> None:
        # Written out: a frozen dataclass's generated __init__ is interpreted Python and
        # sets each field through object.__setattr__ (one a request in each sidecar).
        self.trace_id = trace_id
        self.span_id = span_id
        self.flags = flags
        self.tracestate = tracestate

    @property
    def sampled(self) -> bool:
        return bool(self.flags & SAMPLED)


def parse_traceparent(value: bytes) -> tuple[int, int, int] | None:
    """(trace_id, span_id, flags) from a traceparent header, or None if it is not valid."""
    if len(value) == 55 and value.translate(_HEX_CLASS) == _SHAPE_OF_55:
        # Read by position, with no match object or groups: the regex was 1-2 % of a sidecar
        # pair's samples, and 55 bytes are what every version-00 traceparent is. Such a
        # value has nothing to strip; the flags are read by table, not a third `int()`.
        if value[0] == 0x66 and value[1] == 0x66:  # version ff
            return None
        trace_id = int(value[3:35], 16)
        span_id = int(value[36:52], 16)
        if trace_id == 0 or span_id == 0:
            return None
        return trace_id, span_id, _HEX_VALUE[value[53]] << 4 | _HEX_VALUE[value[54]]
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


def extract(headers: Iterable[tuple[bytes, bytes]]) -> TraceContext | None:
    """The remote parent in `traceparent` / `tracestate`; None when absent or invalid."""
    traceparent: bytes | None = None
    tracestate: list[str] | None = None  # made only for a tracestate header (most have none)
    for name, value in headers:
        size = len(name)
        # Names come lower-case from the HTTP layer; `lower()` only for another 't' name.
        if size == 11 and (
            name == _TRACEPARENT or (name[0] | 0x20 == 0x74 and name.lower() == _TRACEPARENT)
        ):
            traceparent = value
        elif size == 10 and (
            name == _TRACESTATE or (name[0] | 0x20 == 0x74 and name.lower() == _TRACESTATE)
        ):
            if tracestate is None:
                tracestate = []
            tracestate.append(value.decode("latin-1").strip())
    if traceparent is None:
        return None
    parsed = parse_traceparent(traceparent)
    if parsed is None:
        return None
    trace_id, span_id, flags = parsed
    state = ",".join([t for t in tracestate if t]) if tracestate is not None else ""
    return TraceContext(trace_id, span_id, flags & 0xFF, state)


class ProxySpan:
    """One span of the proxy: ids, name, kind, times, attributes, error status."""

    __slots__ = (
        "_clock",
        "_on_end",
        "attributes",
        "end_ns",
        "error",
        "flags",
        "kind",
        "name",
        "parent_id",
        "parent_remote",
        "recording",
        "span_id",
        "start_ns",
        "trace_id",
        "tracestate",
    )

    def __init__(
        self,
        name: str,
        kind: int,
        ids: tuple[int, int, int],
        parent: TraceContext | ProxySpan | None,
        attributes: Attributes,
        on_end: Callable[[ProxySpan], None] | None,
        clock: Callable[[], int],
    ) -> None:
        self.trace_id: int
        self.span_id: int
        self.parent_id: int
        self.trace_id, self.span_id, self.parent_id = ids
        self.flags: int = parent.flags if parent is not None else SAMPLED
        self.tracestate: str = parent.tracestate if parent is not None else ""
        self.parent_remote = isinstance(parent, TraceContext)
        self.recording = bool(self.flags & SAMPLED)
        self.name = name
        self.kind = kind
        self.attributes = attributes
        self.error = False
        self._on_end = on_end
        self._clock = clock
        self.start_ns = clock()
        self.end_ns = 0

    def traceparent(self) -> bytes:
        """The W3C traceparent naming this span as the parent of the next hop."""
        # The ids' bytes in hex and one f-string: `b"00-%032x-..." %` went through the generic
        # formatter (1.7 % of a sidecar pair's samples). Ids fit 128 and 64 bits and the
        # flags a byte: they come from `parse_traceparent` (`extract` masks the flags) or
        # from the recorder's generator.
        ids = (self.trace_id.to_bytes(16, "big") + self.span_id.to_bytes(8, "big")).hex()
        return f"00-{ids[:32]}-{ids[32:]}-{_HEX_OF_BYTE[self.flags]}".encode()

    @property
    def trace_id_hex(self) -> str:
        return f"{self.trace_id:032x}"

    def end(self, status: int, flags: str = "-", grpc_status: int | None = None) -> None:
        """Record the outcome (status 0: no answer) and hand the span on; 5xx is an error.
        A gRPC call's `grpc_status` is `rpc.grpc.status_code`; the span is an error when
        that code stands for a 5xx (UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL,
        UNAVAILABLE, DATA_LOSS: OpenTelemetry's server errors)."""
        if self.end_ns:
            return
        self.end_ns = self._clock()
        if status:
            self.attributes[HTTP_STATUS] = status
        if flags != "-":
            self.attributes[RESPONSE_FLAGS] = flags
        self.error = not status or status >= 500
        if grpc_status is not None:
            self.attributes[GRPC_STATUS] = grpc_status
            self.error = self.error or http_status_of(grpc_status) >= 500
        if self.recording and self._on_end is not None:
            self._on_end(self)


def inject(headers: Headers, span: ProxySpan) -> None:
    """Set `traceparent` (and `tracestate`, kept as received) in `headers` to `span`."""
    headers[:] = [
        (name, value)
        for name, value in headers
        if not (len(name) in (10, 11) and name.lower() in (_TRACEPARENT, _TRACESTATE))
    ]
    headers.append((_TRACEPARENT, span.traceparent()))
    if span.tracestate:
        headers.append((_TRACESTATE, span.tracestate.encode("latin-1")))


class SpanRecorder:
    """Starts the proxy's spans: SERVER per inbound request, CLIENT per upstream try.

    Ended, sampled spans go to `on_end`. Ids come from the recorder's own generator,
    seeded from the OS (never the sidecar's seeded one: two sidecars must not collide).
    """

    __slots__ = ("_clock", "_on_end", "_random")

    def __init__(
        self,
        on_end: Callable[[ProxySpan], None] | None,
        clock: Callable[[], int] = time.time_ns,
        rng: random.Random | None = None,
    ) -> None:
        self._on_end = on_end
        self._clock = clock
        self._random = rng if rng is not None else random.Random(os.urandom(16))

    def start_server_span(
        self, name: str, parent: TraceContext | None, attributes: Attributes | None = None
    ) -> ProxySpan:
        """A SERVER span under the remote parent of an inbound request."""
        return self._start(name, SERVER, parent, attributes)

    def start_client_span(
        self,
        name: str,
        parent: ProxySpan | TraceContext | None,
        attributes: Attributes | None = None,
    ) -> ProxySpan:
        """A CLIENT span for one upstream try, the child of `parent` (span or context)."""
        return self._start(name, CLIENT, parent, attributes)

    def _start(
        self,
        name: str,
        kind: int,
        parent: ProxySpan | TraceContext | None,
        attributes: Attributes | None,
    ) -> ProxySpan:
        return self.start_owned(name, kind, parent, dict(attributes or {}))

    def start_owned(
        self,
        name: str,
        kind: int,
        parent: ProxySpan | TraceContext | None,
        attributes: Attributes,
    ) -> ProxySpan:
        """A span of `kind` (SERVER, CLIENT) that keeps `attributes` itself, not a copy:
        for a dict made for this span alone (`end` adds to it). The proxy's tracer makes
        one a span; copying it again was a second dict a span."""
        rng = self._random  # its method called, not taken: a bound method made a span
        span_id = rng.getrandbits(64) or 1
        if parent is None:
            ids = (rng.getrandbits(128) or 1, span_id, 0)
        else:
            ids = (parent.trace_id, span_id, parent.span_id)
        return ProxySpan(name, kind, ids, parent, attributes, self._on_end, self._clock)
