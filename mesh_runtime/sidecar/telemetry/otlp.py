"""OTLP/protobuf encoding of the proxy's spans, by hand, for their one fixed shape.

An export request is `ExportTraceServiceRequest { resource_spans { resource, scope_spans
{ scope, spans... } } }`. The resource and the scope are the same for every span of a
sidecar, so they are encoded once; each span is encoded when it ends (a few microseconds
of the event loop's time, spread evenly over the requests), and an export request is
those bytes joined under the two pre-encoded headers. No protobuf runtime is involved;
the tests decode the output with the official `opentelemetry-proto` classes.

Wire format: a field is a varint key `(number << 3) | wire_type`, then a varint (type
0), 8 little-endian bytes (type 1), a varint length and the bytes (type 2), or 4
little-endian bytes (type 5).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Final

from mesh_runtime.sidecar.telemetry.tracing import AttributeValue, ProxySpan

_FLAGS: Final = struct.Struct("<BBI")
"""A fixed32 field after its two-byte key (field 16)."""

# Span.flags: bit 8 says whether the parent's remoteness is known, bit 9 that it is remote.
_HAS_IS_REMOTE: Final = 0x100
_IS_REMOTE: Final = 0x200

_FLAGS_FIELDS: Final = tuple(
    _FLAGS.pack(0x85, 0x01, _HAS_IS_REMOTE | (_IS_REMOTE if remote else 0) | trace_flags)
    for remote in (False, True)
    for trace_flags in range(256)
)
"""Span.flags (16), fixed32, encoded at `256 * parent_remote + trace flags`: a tuple index
a span instead of a `struct.pack` call."""

_STATUS_ERROR: Final = b"\x7a\x02\x18\x02"
"""Span.status (15) = Status { code (3) = STATUS_CODE_ERROR (2) }."""


def varint(value: int) -> bytes:
    """Protobuf's base-128 varint of a non-negative integer (negative: two's complement)."""
    if value < 0:
        value += 1 << 64
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (strings, bytes, embedded messages)."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def any_value(value: AttributeValue | bool | float) -> bytes:
    """An AnyValue: string_value (1), bool_value (2), int_value (3) or double_value (4)."""
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):
        return b"\x18" + varint(value)
    if isinstance(value, float):
        return b"\x21" + struct.pack("<d", value)
    return field(1, value.encode("utf-8"))


def key_value(key: str, value: AttributeValue | bool | float) -> bytes:
    """A KeyValue message's bytes: key (1), value (2)."""
    return field(1, key.encode("utf-8")) + field(2, any_value(value))


class SpanEncoder:
    """Encodes spans and wraps them into export requests for one resource and scope.

    Attribute pairs repeat across requests (method, path, upstream, status), so each
    encoded `KeyValue` field is kept in a bounded cache and most spans are assembled from
    a few look-ups, two id conversions and one `struct.pack` for the times. The cache
    holds at most `cache_size` fields, each at most `max_cached_field` bytes: a value
    that is new on every request (a path with an id or a query, up to the 8 KiB a request
    line may have) would otherwise fill it with fields that never repeat, up to 4096 x
    (8 KiB of field + 8 KiB of key) a sidecar; a long field costs its copy either way.
    """

    def __init__(
        self,
        resource: Mapping[str, AttributeValue],
        scope_name: str,
        scope_version: str = "",
        cache_size: int = 1024,
        max_cached_field: int = 256,
    ) -> None:
        attributes = b"".join(field(1, key_value(k, v)) for k, v in resource.items())
        self._resource = field(1, attributes)  # ResourceSpans.resource (1)
        scope = field(1, scope_name.encode()) + (
            field(2, scope_version.encode()) if scope_version else b""
        )
        self._scope = field(1, scope)  # ScopeSpans.scope (1)
        self._cache_size = cache_size
        self._max_cached_field = max_cached_field
        self._fields: dict[str, dict[AttributeValue, bytes]] = {}
        """Encoded `Span.attributes` fields by name, then value: two look-ups on hashes the
        strings keep (the names are constants), not a (name, value) tuple made and hashed
        for each attribute."""
        self._cached = 0
        """Entries in `_fields`, all of them dropped when it reaches `cache_size`."""
        self._names: dict[int, dict[str, bytes]] = {}
        """Encoded `Span.name` and `Span.kind` fields by kind, then name."""

    def span(self, span: ProxySpan) -> bytes:
        """One `Span` message (without its field key)."""
        parts = [
            b"\x0a\x10",  # trace_id (1), 16 bytes
            span.trace_id.to_bytes(16, "big"),
            b"\x12\x08",  # span_id (2), 8 bytes
            span.span_id.to_bytes(8, "big"),
        ]
        if span.tracestate:
            parts.append(field(3, span.tracestate.encode("latin-1")))
        if span.parent_id:
            parts += (b"\x22\x08", span.parent_id.to_bytes(8, "big"))  # parent_span_id (4)
        parts.append(self._name_kind(span.name, span.kind))
        # start_time_unix_nano (7) and end_time_unix_nano (8), fixed64 each (int.to_bytes is
        # native code where compiled; a struct's pack is a method call)
        parts.append(b"\x39")
        parts.append(span.start_ns.to_bytes(8, "little"))
        parts.append(b"\x41")
        parts.append(span.end_ns.to_bytes(8, "little"))
        fields = self._fields
        for name, value in span.attributes.items():
            by_value = fields.get(name)
            encoded = by_value.get(value) if by_value is not None else None
            if encoded is None or isinstance(value, bool):
                encoded = self._attribute(name, value)
            parts.append(encoded)
        if span.error:
            parts.append(_STATUS_ERROR)
        parts.append(_FLAGS_FIELDS[(256 if span.parent_remote else 0) + (span.flags & 0xFF)])
        return b"".join(parts)

    def request(self, spans: Sequence[bytes]) -> bytes:
        """An `ExportTraceServiceRequest` holding `spans` (each from `span`)."""
        spans_field = b"".join(b"\x12" + varint(len(s)) + s for s in spans)  # ScopeSpans.spans (2)
        scope_spans = field(2, self._scope + spans_field)  # ResourceSpans.scope_spans (2)
        return field(1, self._resource + scope_spans)  # resource_spans (1)

    def _attribute(self, name: str, value: AttributeValue) -> bytes:
        encoded = field(9, key_value(name, value))  # Span.attributes (9)
        # True == 1: never share a cache slot with ints
        if not isinstance(value, bool) and len(encoded) <= self._max_cached_field:
            if self._cached >= self._cache_size:
                self._fields.clear()
                self._cached = 0
            by_value = self._fields.get(name)
            if by_value is None:
                by_value = self._fields[name] = {}
            by_value[value] = encoded
            self._cached += 1
        return encoded

    def _name_kind(self, name: str, kind: int) -> bytes:
        by_name = self._names.get(kind)
        encoded = by_name.get(name) if by_name is not None else None
        if encoded is None:
            encoded = field(5, name.encode("utf-8")) + b"\x30" + varint(kind)  # name (5), kind (6)
            if by_name is None or len(by_name) >= self._cache_size:
                by_name = self._names[kind] = {}
            by_name[name] = encoded
        return encoded
