"""Spans, trace context and upstream headers byte for byte as session 13's code made them.

The hot path's encoders were rewritten for the compiled build (session 14: no tuple keys,
one-pass filters, fewer calls); the functions below restate the code before that
(af7c4c9) without its caches, as the reference, and each test feeds both the same random
inputs.
"""

from __future__ import annotations

import random
import re
import struct

from mesh_runtime.sidecar.http1 import Headers, Request
from mesh_runtime.sidecar.http1_wire import HOP_BY_HOP, encode_request_head, end_to_end
from mesh_runtime.sidecar.telemetry.otlp import SpanEncoder, field, key_value
from mesh_runtime.sidecar.telemetry.tracing import (
    ProxySpan,
    TraceContext,
    extract,
    parse_traceparent,
)
from mesh_runtime.sidecar.wire import PEER_HEADER, upstream_headers

ROUNDS = 1000

# --- session 13's code (af7c4c9), the reference ---------------------------------------

_OLD_FORMAT = re.compile(rb"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")


def old_parse_traceparent(value: bytes) -> tuple[int, int, int] | None:
    match = _OLD_FORMAT.fullmatch(value.strip())
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


def old_extract(headers: Headers) -> TraceContext | None:
    traceparent: bytes | None = None
    tracestate: list[str] = []
    for name, value in headers:
        if name.lower() == b"traceparent":
            traceparent = value
        elif name.lower() == b"tracestate":
            tracestate.append(value.decode("latin-1").strip())
    parsed = old_parse_traceparent(traceparent) if traceparent is not None else None
    if parsed is None:
        return None
    trace_id, span_id, flags = parsed
    return TraceContext(trace_id, span_id, flags & 0xFF, ",".join(t for t in tracestate if t))


def old_traceparent(span: ProxySpan) -> bytes:
    ids = (span.trace_id.to_bytes(16, "big") + span.span_id.to_bytes(8, "big")).hex()
    return f"00-{ids[:32]}-{ids[32:]}-{span.flags:02x}".encode()


def old_span(span: ProxySpan) -> bytes:
    parts = [b"\x0a\x10", span.trace_id.to_bytes(16, "big")]
    parts += [b"\x12\x08", span.span_id.to_bytes(8, "big")]
    if span.tracestate:
        parts.append(field(3, span.tracestate.encode("latin-1")))
    if span.parent_id:
        parts += (b"\x22\x08", span.parent_id.to_bytes(8, "big"))
    parts.append(field(5, span.name.encode("utf-8")) + b"\x30" + bytes([span.kind]))
    parts += [b"\x39", span.start_ns.to_bytes(8, "little")]
    parts += [b"\x41", span.end_ns.to_bytes(8, "little")]
    parts += [field(9, key_value(k, v)) for k, v in span.attributes.items()]
    if span.error:
        parts.append(b"\x7a\x02\x18\x02")
    flags = 0x100 | (0x200 if span.parent_remote else 0) | span.flags
    parts.append(struct.pack("<BBI", 0x85, 0x01, flags))
    return b"".join(parts)


def old_upstream_headers(
    request: Request, traceparent: bytes | None, source: str | None
) -> Headers:
    replaced = {b"traceparent", PEER_HEADER}
    headers = [(k, v) for k, v in end_to_end(request.headers) if k not in replaced]
    if traceparent is not None:
        headers.append((b"traceparent", traceparent))
    if source:
        headers.append((PEER_HEADER, source.encode()))
    return headers


def old_request_head(method: bytes, target: bytes, headers: Headers, body_len: int) -> bytes:
    lines = [method, b" ", target, b" HTTP/1.1\r\n"]
    for key, value in headers:
        lines += [key, b": ", value, b"\r\n"]
    if body_len or method in {b"POST", b"PUT", b"PATCH"}:
        lines += [b"content-length: ", str(body_len).encode(), b"\r\n"]
    lines.append(b"\r\n")
    return b"".join(lines)


# --- random inputs ---------------------------------------------------------------------


def hex_digits(rng: random.Random, count: int) -> bytes:
    alphabet = b"0123456789abcdef" if rng.random() < 0.9 else b"0123456789abcdefABCDEF-gx "
    return bytes(rng.choice(alphabet) for _ in range(count))


def random_traceparent(rng: random.Random) -> bytes:
    """Mostly well-formed, some zero ids, odd versions, extra fields, stray bytes."""
    version = rng.choice([b"00", b"00", b"00", b"01", b"cc", b"ff", hex_digits(rng, 2)])
    trace = b"0" * 32 if rng.random() < 0.05 else hex_digits(rng, 32)
    span = b"0" * 16 if rng.random() < 0.05 else hex_digits(rng, 16)
    value = b"-".join([version, trace, span, hex_digits(rng, 2)])
    if rng.random() < 0.1:
        value += rng.choice([b"-", b"-x", b"-what-ever", b"x"])
    if rng.random() < 0.1:
        value = rng.choice([b" ", b"\t", b""]) + value + rng.choice([b" ", b"", b"\r"])
    if rng.random() < 0.05:
        cut = rng.randrange(len(value))
        value = value[:cut] + value[cut + 1 :]
    return value


NAMES = [b"host", b"user-agent", b"content-type", b"x-request-id", b"accept", b"te", b"x-b3"]
NAMES += [*HOP_BY_HOP, b"traceparent", b"tracestate", PEER_HEADER, b"Traceparent"]
NAMES += [b"TRACESTATE", b"tracepar-nt", b"xraceparent", b"uracestate", b"connection"]


def random_headers(rng: random.Random) -> Headers:
    headers = []
    for _ in range(rng.randrange(12)):
        name = rng.choice(NAMES)
        if name == b"connection":
            value = b", ".join(rng.sample([b"keep-alive", b"x-b3", b"accept", b"close"], 2))
        elif name.lower() == b"traceparent":
            value = random_traceparent(rng)
        else:
            value = rng.choice([b"a=1", b" b=2 ", b"", b"v", b"\xe9t\xe9"])
        headers.append((name, value))
    return headers


def random_span(rng: random.Random) -> ProxySpan:
    parent = None
    if rng.random() < 0.7:
        state = rng.choice(["", "", "vendor=abc", "a=1,b=2"])
        parent = TraceContext(rng.getrandbits(128) or 1, rng.getrandbits(64) or 1, 0, state)
        parent.flags = rng.randrange(256)
    ids = (rng.getrandbits(128) or 1, rng.getrandbits(64) or 1, rng.getrandbits(64))
    attributes: dict[str, str | int] = {}
    for _ in range(rng.randrange(8)):
        name = rng.choice(["http.request.method", "url.path", "retry.attempt", "x", "ü"])
        attributes[name] = rng.choice(
            [rng.choice(["GET", "/a", "é" * rng.randrange(200), "1"]), rng.randrange(-3, 300)]
        )
    name = rng.choice(["inbound a", "outbound b", "é" * rng.randrange(1, 200)])
    span = ProxySpan(name, rng.choice([2, 3]), ids, parent, attributes, None, lambda: 0)
    span.start_ns = rng.getrandbits(63)
    span.end_ns = span.start_ns + rng.getrandbits(40)
    span.error = rng.random() < 0.2
    return span


# --- the comparisons -------------------------------------------------------------------


def test_traceparents_parse_as_before() -> None:
    """Valid, invalid and odd traceparents give the same ids (or None) as the old parser."""
    rng = random.Random(14)
    for _ in range(ROUNDS):
        value = random_traceparent(rng)
        assert parse_traceparent(value) == old_parse_traceparent(value), value


def test_trace_context_is_read_as_before() -> None:
    """`extract` finds the same parent and tracestate in random header lists."""
    rng = random.Random(15)
    for _ in range(ROUNDS):
        headers = random_headers(rng)
        new, old = extract(headers), old_extract(headers)
        assert (new is None) == (old is None), headers
        if new is not None and old is not None:
            assert (new.trace_id, new.span_id, new.flags, new.tracestate) == (
                old.trace_id,
                old.span_id,
                old.flags,
                old.tracestate,
            ), headers


def test_outgoing_traceparents_are_formatted_as_before() -> None:
    """A span's traceparent is the old one for random ids and every flags byte."""
    rng = random.Random(16)
    for _ in range(ROUNDS):
        span = random_span(rng)
        assert span.traceparent() == old_traceparent(span)


def test_spans_encode_as_before() -> None:
    """Random spans through one encoder (its caches warm, refilled and cleared) give the
    old bytes."""
    rng = random.Random(17)
    encoder = SpanEncoder({"service.name": "a"}, "meshproof.sidecar", cache_size=64)
    for _ in range(ROUNDS):
        span = random_span(rng)
        assert encoder.span(span) == old_span(span)


def test_upstream_headers_are_built_as_before() -> None:
    """The headers sent upstream are the old ones, in the same order, for random lists."""
    rng = random.Random(18)
    for _ in range(ROUNDS):
        request = Request(b"GET", b"/", random_headers(rng), b"")
        traceparent = rng.choice([None, random_traceparent(rng)])
        source = rng.choice([None, "", "frontend"])
        assert upstream_headers(request, traceparent, source) == old_upstream_headers(
            request, traceparent, source
        )


def test_request_heads_are_written_as_before() -> None:
    """The request head sent upstream is the old one for random methods, lengths, headers."""
    rng = random.Random(19)
    for _ in range(ROUNDS):
        method = rng.choice([b"GET", b"POST", b"PUT", b"PATCH", b"HEAD", b"DELETE"])
        headers = random_headers(rng)
        body_len = rng.choice([0, 0, 1, 1024, rng.getrandbits(40)])
        assert encode_request_head(method, b"/a?b", headers, body_len) == old_request_head(
            method, b"/a?b", headers, body_len
        )
