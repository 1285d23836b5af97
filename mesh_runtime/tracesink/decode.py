"""OTLP trace export requests -> flat span records (the run directory's spans table).

Pure: bytes in, dicts out. Handles OTLP/HTTP protobuf and OTLP/HTTP JSON (whose trace
and span ids are hex strings, not protobuf JSON's base64).

The decoders give a record for every span; what the sink stores (`lines_from_protobuf`,
`drop_invalid_spans`) leaves out the spans whose ids OTLP calls invalid: of the wrong
length (trace_id 16 bytes, span_id 8, parent_span_id 8 or none) or all zero (trace_id,
span_id), and says how many and why: the answer's partial success. A parent_span_id of 8
zero bytes is OTLP's (and W3C's) "no id", which some SDKs and collectors send for a root:
every record and line has no parent for it (`""`, as for an empty one), as the Collector
reads it (`pcommon.SpanID.IsEmpty`); `drop_invalid_spans` clears it in the request too.
"""

from __future__ import annotations

import base64
import binascii
import json
import json.encoder
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.descriptor_pb2 import FieldDescriptorProto
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")
TRACE_ID_BYTES = 16
SPAN_ID_BYTES = 8
INVALID_TRACE_ID = bytes(TRACE_ID_BYTES)
INVALID_SPAN_ID = bytes(SPAN_ID_BYTES)
"""OTLP's invalid ids: all zero (W3C Trace Context's too); as a parent_span_id, none."""


class Lines(NamedTuple):
    """An export's spans as the spans file's lines, and the spans left out."""

    text: str
    spans: int
    rejected: int = 0
    """Spans left out: ids OTLP calls invalid (of the wrong length, or all zero)."""
    problem: str = ""
    """Why, for the partial success's error_message ('' when none was)."""
    zero_parents: int = 0
    """Spans stored as roots whose parent_span_id was 8 zero bytes (OTLP: none): the
    request itself still has them until `drop_invalid_spans` clears them."""


class BadExport(ValueError):
    """A body that is not a valid OTLP trace export request."""


def spans_from_request(request: ExportTraceServiceRequest) -> list[dict[str, Any]]:
    """One record per span: ids as lowercase hex, kind and status as names, attributes as a
    dict, service and instance from the resource's service.name / service.instance.id."""
    return _records(request, _attributes)


def records_from_protobuf(body: bytes) -> list[dict[str, Any]]:
    """`spans_from_request(request_from_protobuf(body))`, the same records and the same
    BadExport, at about half the CPU a span: the body is parsed with the Span's attributes
    left as their encoded bytes (`_RawAttributesRequest`) and each distinct encoded
    attribute is decoded once (`_attribute`), where protobuf's Python objects for a
    span's KeyValues and AnyValues were most of a span's cost. Anything the fast parse
    finds wrong is decided by the full parse."""
    try:
        return _records(_RawAttributesRequest.FromString(body), _raw_attributes)
    except DecodeError:
        return spans_from_request(request_from_protobuf(body))


def lines_from_protobuf(body: bytes) -> Lines:
    """The spans file's lines for a protobuf export and how many:
    `"".join(compact_json(r) + "\\n" for r in records_from_protobuf(body))` of the spans
    whose ids are valid (the others counted in `rejected`, `_id_problem`; an all-zero
    parent written as none and counted in `zero_parents`), the same text, written from a
    template per span: ids in hex need no escaping, the kind and status names and the
    resource's service and instance are escaped once, and a span's whole attributes
    object is written once per distinct list of encoded attributes (`_attributes_json`),
    which repeat span after span as the pairs in them do."""
    try:
        request = _RawAttributesRequest.FromString(body)
        lines: list[str] = []
        append = lines.append
        kinds, codes, string = _KIND_JSON, _STATUS_JSON, _json_string
        rejected, problem, zero_parents = 0, "", 0
        for resource_spans in request.resource_spans:
            service, instance = _identity(resource_spans.resource)
            who = f',"service":{string(service)},"instance":{string(instance)},"start_ns":'
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    trace_id, span_id, parent = span.trace_id, span.span_id, span.parent_span_id
                    if (
                        len(trace_id) != TRACE_ID_BYTES
                        or len(span_id) != SPAN_ID_BYTES
                        or (parent and len(parent) != SPAN_ID_BYTES)
                        or trace_id == INVALID_TRACE_ID
                        or span_id == INVALID_SPAN_ID
                    ):
                        rejected += 1
                        problem = problem or _id_problem(span)
                        _attributes_json(span.attributes)  # refused as the full parse would
                        continue
                    if parent == INVALID_SPAN_ID:  # OTLP's "no id": a root
                        parent = b""
                        zero_parents += 1
                    kind = span.kind
                    status = span.status.code
                    append(
                        f'{{"trace_id":"{trace_id.hex()}","span_id":"{span_id.hex()}"'
                        f',"parent_span_id":"{parent.hex()}"'
                        f',"name":{string(span.name)}'
                        f',"kind":{kinds.get(kind) or string(str(kind))}{who}'
                        f'{span.start_time_unix_nano},"end_ns":{span.end_time_unix_nano}'
                        f',"status_code":{codes.get(status) or string(str(status))}'
                        f',"attributes":{_attributes_json(span.attributes)}}}\n'
                    )
        message = _rejection(rejected, problem)
        return Lines("".join(lines), len(lines), rejected, message, zero_parents)
    except DecodeError:
        full = request_from_protobuf(body)
        zero_parents = sum(
            span.parent_span_id == INVALID_SPAN_ID
            for resource_spans in full.resource_spans
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        )
        rejected, message = drop_invalid_spans(full)
        records = spans_from_request(full)
        text = "".join([compact_json(r) + "\n" for r in records])
        return Lines(text, len(records), rejected, message, zero_parents)


def drop_invalid_spans(request: Any) -> tuple[int, str]:
    """Remove from `request` (in place) the spans whose ids OTLP calls invalid
    (`_id_problem`) and clear a parent_span_id of 8 zero bytes (OTLP's "no id": the span
    is a root, sent on as one); how many were removed and why (the partial success's
    error_message; '' when none was)."""
    rejected, problem = 0, ""
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            spans = scope_spans.spans
            problems = []
            for span in spans:
                if span.parent_span_id == INVALID_SPAN_ID:
                    span.parent_span_id = b""
                problems.append(_id_problem(span))
            if not any(problems):
                continue
            rejected += len(problems) - problems.count("")
            problem = problem or next(filter(None, problems))
            kept = [_copy(span) for span, wrong in zip(spans, problems, strict=True) if not wrong]
            del spans[:]
            spans.extend(kept)
    return rejected, _rejection(rejected, problem)


def _copy(span: Any) -> Any:
    copy = type(span)()
    copy.CopyFrom(span)
    return copy


def _id_problem(span: Any) -> str:
    """What OTLP finds wrong with a span's ids: "'name', has a trace_id of 3 bytes (OTLP:
    16)", or "... of all zeros (OTLP: invalid)"; '' when nothing."""
    name = span.name[:64]
    for field, invalid in (("trace_id", INVALID_TRACE_ID), ("span_id", INVALID_SPAN_ID)):
        value = getattr(span, field)
        if len(value) != len(invalid):
            return f"{name!r}, has a {field} of {len(value)} bytes (OTLP: {len(invalid)})"
        if value == invalid:
            return f"{name!r}, has a {field} of all zeros (OTLP: invalid)"
    got = len(span.parent_span_id)
    if got and got != SPAN_ID_BYTES:
        return f"{name!r}, has a parent_span_id of {got} bytes (OTLP: 8 or none)"
    return ""


def _rejection(rejected: int, problem: str) -> str:
    """The partial success's error_message for `rejected` spans, the first's `problem`."""
    if not rejected:
        return ""
    spans = "span" if rejected == 1 else "spans"
    return f"{rejected} {spans} rejected for invalid ids; the first, {problem}"


def _records(request: Any, attributes: Callable[[Any], dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    append = out.append
    for resource_spans in request.resource_spans:
        service, instance = _identity(resource_spans.resource)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:  # the record built here: no call per span
                kind = span.kind
                status = span.status.code
                parent = span.parent_span_id
                append(
                    {
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_span_id": "" if parent == INVALID_SPAN_ID else parent.hex(),
                        "name": span.name,
                        "kind": _SPAN_KINDS.get(kind) or str(kind),
                        "service": service,
                        "instance": instance,
                        "start_ns": span.start_time_unix_nano,
                        "end_ns": span.end_time_unix_nano,
                        "status_code": _STATUS_CODES.get(status) or str(status),
                        "attributes": attributes(span.attributes),
                    }
                )
    return out


def request_from_protobuf(body: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise BadExport(f"not an OTLP protobuf ExportTraceServiceRequest: {exc}") from None
    return request


def request_from_json(body: bytes) -> ExportTraceServiceRequest:
    """OTLP/HTTP JSON: hex ids are turned into protobuf JSON's base64 before parsing."""
    try:
        document = json.loads(body)
        if not isinstance(document, dict):
            raise BadExport("expected a JSON object with resourceSpans")
        for holder in _id_holders(document):
            for key in _ID_FIELDS:
                if isinstance(holder.get(key), str):
                    holder[key] = _hex_to_base64(holder[key])
        return json_format.ParseDict(
            document, ExportTraceServiceRequest(), ignore_unknown_fields=True
        )
    except (ValueError, json_format.ParseError, RecursionError, OverflowError) as exc:
        # RecursionError: nested deeper than the parsers recurse; OverflowError: an
        # Infinity where an integer goes
        if isinstance(exc, BadExport):
            raise
        raise BadExport(f"not an OTLP JSON ExportTraceServiceRequest: {exc}") from None


def _id_holders(document: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every span and span link object of an OTLP JSON document."""
    for resource_spans in _list(document, "resourceSpans", "resource_spans"):
        for scope_spans in _list(resource_spans, "scopeSpans", "scope_spans"):
            for span in _list(scope_spans, "spans"):
                if isinstance(span, dict):
                    yield span
                    yield from (link for link in _list(span, "links") if isinstance(link, dict))


def _list(obj: Any, *keys: str) -> list[Any]:
    if not isinstance(obj, dict):
        return []
    for key in keys:
        value = obj.get(key)
        if isinstance(value, list):
            return value
    return []


def _hex_to_base64(value: str) -> str:
    try:
        return base64.b64encode(bytes.fromhex(value)).decode()
    except ValueError:
        raise BadExport(f"expected a hex trace or span id, got {value!r}") from None


def _identity(resource: Resource) -> tuple[str, str]:
    attributes = _attributes(resource.attributes)
    return str(attributes.get("service.name", "")), str(attributes.get("service.instance.id", ""))


def _compact_encoder() -> Callable[[Any], str]:
    """json.dumps(record, separators=(",", ":")), its C encoder made once: a kept
    JSONEncoder's `encode` still makes a C encoder per call through two Python frames
    (about 2 us of a span's 10). No check for circular references: a record is a tree of
    what the decoder built."""
    encoder = json.JSONEncoder(separators=(",", ":"))
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator: the Python encoder, made once
        return encoder.encode
    # JSONEncoder.iterencode's own call (markers None: no circular check; indent None, the
    # separators, sort_keys, skipkeys, allow_nan as the encoder has them).
    chunks = make(None, encoder.default, _json_string, None, ":", ",", False, False, True)
    return lambda record: "".join(chunks(record, 0))


_json_string: Callable[[str], str] = json.encoder.encode_basestring_ascii
"""A string as the compact encoder writes it (quoted, all but ASCII escaped)."""
compact_json = _compact_encoder()
"""A span record as one line of the spans file (without its newline)."""


def _enum_names(enum: Any, prefix: str) -> dict[int, str]:
    """{1: 'INTERNAL', 2: 'SERVER', ...} from SPAN_KIND_*; an unknown number (open enums)
    is written as its digits."""
    return {number: str(name).removeprefix(prefix) for name, number in enum.items()}


# Looked up per span: protobuf's `Name()` costs more than the rest of a record's fields.
_SPAN_KINDS = _enum_names(Span.SpanKind, "SPAN_KIND_")
_STATUS_CODES = _enum_names(Status.StatusCode, "STATUS_CODE_")
_KIND_JSON = {number: _json_string(name) for number, name in _SPAN_KINDS.items()}
_STATUS_JSON = {number: _json_string(name) for number, name in _STATUS_CODES.items()}


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:  # a loop, not a comprehension over _value: most values are strings
        value = pair.value
        kind = value.WhichOneof("value")
        out[pair.key] = value.string_value if kind == "string_value" else _other(value, kind)
    return out


_ATTRIBUTE_CACHE_SIZE = 4096
_CACHED_BYTES = 1024
"""Only encoded attributes up to this size are cached (the repeating pairs are small): a
cache of large values held up to 4096 of them, each as big as an export may be."""
_attributes_texts: dict[tuple[bytes, ...], str] = {}
"""A span's attributes object as JSON text by its encoded attributes."""


def _attributes_json(encoded: Iterable[bytes]) -> str:
    key = tuple(encoded)
    text = _attributes_texts.get(key)
    if text is None:
        text = compact_json(_raw_attributes(key))
        if sum(map(len, key)) > 4 * _CACHED_BYTES:  # a span's few pairs: about 500 bytes
            return text
        if len(_attributes_texts) >= _ATTRIBUTE_CACHE_SIZE:
            _attributes_texts.clear()
        _attributes_texts[key] = text
    return text


_decoded_attributes: dict[bytes, tuple[str, Any]] = {}
"""(key, value) by an encoded KeyValue whose value is immutable (a string, a number, a
bool, None): the same few pairs (method, path, upstream, status) come in span after span."""


def _raw_attributes(encoded: Iterable[bytes]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    cache = _decoded_attributes
    for raw in encoded:
        pair = cache.get(raw)
        if pair is None:
            pair = _attribute(raw)
        out[pair[0]] = pair[1]
    return out


def _attribute(raw: bytes) -> tuple[str, Any]:
    """One encoded KeyValue decoded (DecodeError as the full parse would raise it)."""
    pair = KeyValue.FromString(raw)
    value = pair.value
    kind = value.WhichOneof("value")
    if kind == "array_value" or kind == "kvlist_value":  # mutable: a new one per span
        return pair.key, _other(value, kind)
    decoded = pair.key, value.string_value if kind == "string_value" else _other(value, kind)
    if len(raw) > _CACHED_BYTES:
        return decoded
    if len(_decoded_attributes) >= _ATTRIBUTE_CACHE_SIZE:
        _decoded_attributes.clear()
    _decoded_attributes[raw] = decoded
    return decoded


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    return _other(value, kind)


def _other(value: AnyValue, kind: str | None) -> Any:
    """A value that is not a string: None, an array, a kvlist, bytes (hex) or a number."""
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return binascii.hexlify(value.bytes_value).decode()
    return getattr(value, kind)


def _raw_attributes_request() -> Any:
    """A message class that parses an ExportTraceServiceRequest as it is, except that each
    Span's `attributes` (field 9, repeated KeyValue) are kept as their encoded bytes: a
    copy of trace.proto in its own package, Span.attributes made `repeated bytes` (the same
    wire type, length-delimited), and a request message with `resource_spans` (1). Every
    other field keeps its type, so the parse checks and merges all else as the full one."""
    old = f".{trace_pb2.DESCRIPTOR.package}."
    package = "meshproof.tracesink.raw_attributes"
    proto = descriptor_pb2.FileDescriptorProto()
    trace_pb2.DESCRIPTOR.CopyToProto(proto)
    proto.name = "meshproof/tracesink/raw_attributes.proto"
    proto.package = package
    proto.ClearField("options")

    def retarget(message: descriptor_pb2.DescriptorProto) -> None:
        for field in message.field:
            if field.type_name.startswith(old):
                field.type_name = f".{package}.{field.type_name.removeprefix(old)}"
        for nested in message.nested_type:
            retarget(nested)

    for message in proto.message_type:
        retarget(message)
    [span] = [m for m in proto.message_type if m.name == "Span"]
    [attributes] = [f for f in span.field if f.name == "attributes" and f.number == 9]
    attributes.type = FieldDescriptorProto.TYPE_BYTES
    attributes.ClearField("type_name")
    request = proto.message_type.add(name="ExportRequest")
    request.field.add(
        name="resource_spans",
        number=1,
        label=FieldDescriptorProto.LABEL_REPEATED,
        type=FieldDescriptorProto.TYPE_MESSAGE,
        type_name=f".{package}.ResourceSpans",
    )
    pool = descriptor_pool.Default()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{package}.ExportRequest"))


_RawAttributesRequest = _raw_attributes_request()
